"""deploy_lock, audit_log and notify_telegram run through real Ansible on localhost.

These need no lab containers: files live in tmp_path and the Bot API is a local stand-in.
"""
import contextlib
import json
import os
import socket


from lab import run_module

from ansible_collections.selfology.ops.plugins.module_utils import audit, lock

LOCK = "selfology.ops.deploy_lock"
AUDIT = "selfology.ops.audit_log"
TELEGRAM = "selfology.ops.notify_telegram"
TOKEN = "987654321:AAF-integration_Secret-token"


# deploy_lock

def alive():
    """Holder options naming this test process: a holder that is running (each run_module is a
    playbook of its own, so without them the next call would find a holder that is gone)."""
    return dict(holder_pid=os.getpid(), holder_start=lock.process_start(os.getpid()))


def test_lock_lifecycle(tmp_path):
    path = str(tmp_path / "deploy.lock")
    taken = run_module(LOCK, dict(path=path, owner="alice@laptop", action="deploy", version="1.2.0", **alive()))
    assert not taken.get("failed") and taken["changed"] and taken["acquired"] and taken["broken"] is None
    token = taken["lock"]["token"]
    assert lock.read_lock(path)["token"] == token

    refused = run_module(LOCK, dict(path=path, owner="bob@desk", action="switch"))
    assert refused["failed"] and not refused["acquired"]
    assert refused["msg"].startswith("deploy lock held by alice@laptop since ")
    assert "(deploy 1.2.0, expires " in refused["msg"] and refused["lock"]["owner"] == "alice@laptop"

    live = run_module(LOCK, dict(path=path, owner="bob@desk", action="switch", force=True, reason="hurry"))
    assert live["failed"] and "held by alice@laptop" in live["msg"], "a switch never breaks a live lock"
    assert lock.read_lock(path)["token"] == token

    wrong = run_module(LOCK, dict(path=path, state="absent", token="not-the-token"))
    assert wrong["failed"] and "not released" in wrong["msg"] and os.path.exists(path)

    released = run_module(LOCK, dict(path=path, state="absent", token=token))
    assert not released.get("failed") and released["changed"] and not os.path.exists(path)
    again = run_module(LOCK, dict(path=path, state="absent", token=token))
    assert not again.get("failed") and not again["changed"]


def test_lock_force_needs_reason_and_breaks_only_stale_locks(tmp_path):
    path = str(tmp_path / "deploy.lock")
    run_module(LOCK, dict(path=path, owner="alice@laptop", action="deploy", ttl=1, **alive()))
    no_reason = run_module(LOCK, dict(path=path, owner="bob@desk", action="rollback", force=True))
    assert no_reason["failed"] and "reason" in no_reason["msg"]
    # A lock in the format before leases (no lease, no process start time), long expired.
    with open(path) as handle:
        stale = json.load(handle)
    for key in ("lease", "start"):
        stale.pop(key, None)
    stale["expires"] = "2000-01-01T00:00:00Z"
    with open(path, "w") as handle:
        json.dump(stale, handle)
    refused = run_module(LOCK, dict(path=path, owner="bob@desk", action="rollback"))
    assert refused["failed"] and "expired but still refused" in refused["msg"]
    broken = run_module(LOCK, dict(path=path, owner="bob@desk", action="rollback", force=True,
                                   reason="deploy crashed"))
    assert not broken.get("failed") and broken["acquired"]
    assert broken["broken"]["previous"]["owner"] == "alice@laptop" and broken["broken"]["reason"] == "deploy crashed"
    assert lock.read_lock(path)["owner"] == "bob@desk"


def test_lock_check_mode_changes_nothing(tmp_path):
    path = str(tmp_path / "deploy.lock")
    result = run_module(LOCK, dict(path=path, owner="alice@laptop", action="deploy", **alive()), check=True)
    assert not result.get("failed") and result["changed"] and result["acquired"]
    assert not os.path.exists(path)


# audit_log

def test_audit_log_appends_entries(tmp_path):
    path = str(tmp_path / "audit" / "audit.jsonl")
    args = dict(path=path, action="switch", outcome="success", who="alice@laptop", version="1.2.0",
                slots_before={"active": "blue"}, slots_after={"active": "green"},
                gates=[{"name": "service_response", "passed": True, "message": "4 services answered",
                        "duration_ms": 12.5, "title": "Service response check"}],
                duration_s=42.7, details={"lock": {"owner": "alice@laptop", "token": "abc123"},
                                          "db_password": "hunter2"})
    result = run_module(AUDIT, args)
    assert not result.get("failed") and result["changed"]
    assert result["entry"]["details"] == {"lock": {"owner": "alice@laptop", "token": "********"},
                                          "db_password": "********"}
    run_module(AUDIT, dict(path=path, action="cleanup", outcome="noop"))
    entries, skipped = audit.read_entries(path)
    assert skipped == 0 and [e["action"] for e in entries] == ["switch", "cleanup"]
    assert entries[0] == result["entry"]
    with open(path) as handle:
        text = handle.read()
    assert "hunter2" not in text and "abc123" not in text
    assert oct(os.stat(path).st_mode & 0o777) == "0o640"


def test_audit_log_check_mode_writes_nothing(tmp_path):
    path = str(tmp_path / "audit.jsonl")
    result = run_module(AUDIT, dict(path=path, action="deploy", outcome="refused"), check=True)
    assert not result.get("failed") and result["changed"]
    assert json.loads(result["line"]) == result["entry"] and result["entry"]["outcome"] == "refused"
    assert not os.path.exists(path)


# notify_telegram

@contextlib.contextmanager
def refused_port():
    """A local port that is bound but not listening, for as long as the block lasts: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def telegram_args(api_url, **extra):
    return dict(dict(api_url=api_url, token=TOKEN, chat_id="-100123", text="Deployment v1.2.0 successful"), **extra)


def test_telegram_sends(bot_api):
    result = run_module(TELEGRAM, telegram_args(bot_api.url))
    assert not result.get("failed") and result["changed"] and result["sent"] and result["message_id"] == 77
    assert bot_api.requests == [dict(path="/bot%s/sendMessage" % TOKEN, content_type="application/json", body={
        "chat_id": "-100123", "text": "Deployment v1.2.0 successful", "disable_web_page_preview": True})]


def test_telegram_check_mode_sends_nothing(bot_api):
    result = run_module(TELEGRAM, telegram_args(bot_api.url), check=True)
    assert not result.get("failed") and not result["sent"] and result["text"] == "Deployment v1.2.0 successful"
    assert bot_api.requests == []


def test_telegram_failure_warns_without_the_token(bot_api):
    bot_api.answer = (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    result = run_module(TELEGRAM, telegram_args(bot_api.url))
    assert not result.get("failed") and not result["changed"] and not result["sent"]
    assert any("answered 401" in warning for warning in result["warnings"])
    assert "AAF-integration" not in json.dumps(result)

    strict = run_module(TELEGRAM, telegram_args(bot_api.url, fail_on_error=True))
    assert strict["failed"] and "Unauthorized" in strict["msg"]
    assert "AAF-integration" not in json.dumps(strict)


def test_telegram_unreachable_api_warns_without_the_token():
    with refused_port() as port:
        result = run_module(TELEGRAM, telegram_args("http://127.0.0.1:%d" % port, timeout=3))
    assert not result.get("failed") and not result["sent"]
    assert "did not answer" in result["error"]
    assert "AAF-integration" not in json.dumps(result)
