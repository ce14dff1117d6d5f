"""The audit log: whole lines from concurrent writers, no secrets, a reader that survives damage."""
import json
import multiprocessing
import os
import stat

import pytest

from ansible_collections.selfology.ops.plugins.module_utils import audit
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "log" / "selfology-ops" / "audit.jsonl")


def test_entry_has_the_given_fields_and_a_utc_time():
    entry = audit.build_entry("switch", "success", who="alice@laptop", version="1.2.0",
                              slots_before={"active": "blue"}, slots_after={"active": "green"},
                              gates=[{"name": "smoke", "passed": True, "message": "ok", "duration_ms": 1.5,
                                      "title": "dropped", "services": [1, 2]}],
                              duration_s=4.2, details={"note": "first green"})
    assert list(entry) == ["at", "action", "outcome", "who", "version", "slots_before", "slots_after", "gates",
                           "duration_s", "details"]
    assert entry["at"].endswith("Z") and entry["at"][10] == "T"
    assert entry["gates"] == [{"name": "smoke", "passed": True, "message": "ok", "duration_ms": 1.5}]
    assert list(audit.build_entry("cleanup", "noop")) == ["at", "action", "outcome"]


@pytest.mark.parametrize("gates", [[{"passed": True}], ["smoke"]])
def test_gates_need_a_name(gates):
    with pytest.raises(SelfologyError, match="gate needs a name"):
        audit.build_entry("deploy", "failed", gates=gates)


def test_unknown_outcome_is_refused():
    with pytest.raises(SelfologyError, match="unknown outcome"):
        audit.build_entry("deploy", "maybe")


def test_secrets_are_redacted_at_any_depth():
    entry = audit.build_entry("deploy", "success", details={
        "Password": "hunter2", "db": {"login_password": "pw", "host": "db1"}, "TOKEN": "t",
        "lock": {"token": "abc", "owner": "alice"}, "client_secret": "s", "items": [{"api_key": "k"}],
        "reason": "stale lock",
    })
    line = audit.entry_line(entry)
    for secret in ("hunter2", '"pw"', '"t"', "abc", '"s"', '"k"'):
        assert secret not in line
    details = entry["details"]
    assert details["Password"] == details["TOKEN"] == details["client_secret"] == "********"
    assert details["db"] == {"login_password": "********", "host": "db1"}
    assert details["lock"] == {"token": "********", "owner": "alice"}
    assert details["items"] == [{"api_key": "********"}] and details["reason"] == "stale lock"


def test_append_creates_private_dir_and_file(path):
    old = os.umask(0)
    try:
        line = audit.append_entry(path, audit.build_entry("deploy", "success"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(os.path.dirname(os.path.dirname(path))).st_mode) == 0o750
    with open(path) as handle:
        assert handle.read() == line
    assert line.endswith("\n") and line.count("\n") == 1


def _writer(path, writer, count, barrier):
    barrier.wait()
    for i in range(count):
        audit.append_entry(path, audit.build_entry(
            "deploy", "success", who="writer-%d" % writer, details={"i": i, "padding": "x" * (200 + 97 * i)}))


def test_concurrent_appends_give_whole_lines(path):
    writers, count = 6, 150
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(writers)
    procs = [context.Process(target=_writer, args=(path, w, count, barrier)) for w in range(writers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    with open(path) as handle:
        lines = handle.read().split("\n")
    assert lines[-1] == "", "the log ends with a newline"
    entries = [json.loads(line) for line in lines[:-1]]  # every line is whole JSON
    assert len(entries) == writers * count
    for writer in range(writers):
        mine = [e["details"]["i"] for e in entries if e["who"] == "writer-%d" % writer]
        assert mine == list(range(count)), "each writer's lines are all there, in its order"
    history = audit.read_entries(path)
    assert history.skipped == 0 and len(history.entries) == writers * count


def test_read_entries_skips_and_counts_malformed_lines(path):
    for i, action in enumerate(["deploy", "switch", "deploy", "rollback", "deploy"]):
        audit.append_entry(path, audit.build_entry(action, "success", version="1.%d.0" % i))
        if i == 1:
            with open(path, "ab") as handle:
                handle.write(b'{"action": "deploy", "outc\n[1, 2]\n\n\xff\xfe not utf-8\n')
    with open(path, "ab") as handle:
        handle.write(b'{"action": "deploy", "outcome": "succ')  # a torn last line
    history = audit.read_entries(path)
    assert [e["version"] for e in history.entries] == ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"]
    assert history.skipped == 4
    entries, skipped = audit.read_entries(path, limit=2, action="deploy")
    assert [e["version"] for e in entries] == ["1.2.0", "1.4.0"] and skipped == 4
    assert audit.read_entries(path, limit=0).entries == []


def test_read_entries_of_a_missing_log(tmp_path):
    assert audit.read_entries(str(tmp_path / "none.jsonl")) == ([], 0)
