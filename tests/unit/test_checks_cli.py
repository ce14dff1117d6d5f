"""selfops check and selfops maintenance: arguments, exit codes and output, with the playbook run replaced."""
import json

import pytest

from selfops import checks as cli_checks
from selfops.cli import build_parser, main
from selfops.runner import Run, TaskResult


@pytest.mark.parametrize("argv", [
    ["check"],
    ["check", "weekly"],
    ["maintenance", "weekly", "--older-than", "30 days"],
    ["maintenance", "weekly", "--older-than", "30d; VACUUM FULL"],
    ["maintenance", "weekly", "--older-than", "0d"],
    ["maintenance", "disk", "--older-than", "-1d"],
    ["maintenance", "redis-flushdb", "--db", "nine"],
    ["maintenance", "redis-flushdb", "--db", "-1"],
    ["maintenance", "vacuum"],
])
def test_bad_usage_exits_2_before_anything_runs(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_defaults_follow_the_runbook():
    weekly = build_parser().parse_args(["maintenance", "weekly"])
    assert (weekly.older_than, weekly.check) == ("30d", False)
    disk = build_parser().parse_args(["maintenance", "disk"])
    assert (disk.older_than, disk.vacuum_full) == ("90d", False)
    flush = build_parser().parse_args(["maintenance", "redis-flushdb"])
    assert (flush.db, flush.confirm_flushdb, flush.allow_pending_events) == (0, "", False)


def check(name, status, message="m", **extra):
    return dict({"name": name, "title": name.capitalize(), "status": status, "message": message, "figures": {}}, **extra)


def report(*statuses):
    names = ["services", "outbox", "stream", "consumers", "logs", "redis_memory"]
    found = [check(n, s) for n, s in zip(names, statuses)] + [
        check("alerts", "ok", "not configured (set checks_alertmanager_url to read Alertmanager)", skipped=True)]
    order = ["ok", "warning", "critical"]
    worst = max((c["status"] for c in found), key=order.index)
    return {"status": worst, "exit_code": order.index(worst), "checks": found, "host": "localhost",
            "started": "2026-11-29T09:00:00+00:00", "report_path": "/tmp/reports/daily-20261129-090000.md",
            "failing": [c["name"] for c in found if c["status"] != "ok"]}


def fake_run(monkeypatch, facts=None, rc=0, extra=()):
    seen = {}

    def run_playbook(name, **kwargs):
        seen.update(kwargs, name=name)
        results = [TaskResult("localhost", "ansible.builtin.set_fact", "Decide", "ok", {"ansible_facts": facts})] \
            if facts else []
        return Run(rc=rc, status="successful" if rc == 0 else "failed", results=results + list(extra))
    monkeypatch.setattr(cli_checks, "run_playbook", run_playbook)
    return seen


@pytest.mark.parametrize("statuses, code", [
    (["ok"] * 6, 0),
    (["ok", "warning", "ok", "ok", "ok", "ok"], 1),
    (["critical", "critical", "ok", "ok", "warning", "ok"], 2),
])
def test_check_daily_exits_with_the_worst_status(monkeypatch, capsys, statuses, code):
    seen = fake_run(monkeypatch, {"checks_daily_report": report(*statuses)})
    assert main(["check", "daily", "-q"]) == code
    out = capsys.readouterr().out
    assert seen["name"] == "check_daily"
    assert out.startswith("Daily Checklist - localhost - 2026-11-29T09:00:00+00:00")
    assert "Report: /tmp/reports/daily-20261129-090000.md" in out
    assert "➖ Alerts:" in out
    if code == 0:
        assert "✅ All morning checks passed" in out
    elif code == 2:
        assert "❌ CRITICAL: services (critical), outbox (critical), logs (warning)" in out


def test_check_daily_that_could_not_run_is_critical(monkeypatch, capsys):
    fake_run(monkeypatch, None, rc=2)
    assert main(["check", "daily", "-q"]) == 2
    assert "the morning checks did not run" in capsys.readouterr().err


def test_check_daily_json(monkeypatch, capsys):
    fake_run(monkeypatch, {"checks_daily_report": report("ok", "critical")})
    assert main(["check", "daily", "--json"]) == 2
    payload = json.loads(capsys.readouterr().out)
    assert payload["status"] == "critical" and payload["exit_code"] == 2
    assert payload["hosts"]["localhost"]["failing"] == ["outbox"]


def test_log_samples_are_shown_under_the_logs_check():
    found = report(*["ok"] * 4, "warning", "ok")
    found["checks"][4]["figures"] = {"containers": {"selfology-outbox-relay-blue": {
        "errors": 2, "samples": ["ERROR relay batch failed: ConnectionError()"]}}}
    text = cli_checks.render_daily(found)
    assert "selfology-outbox-relay-blue: ERROR relay batch failed: ConnectionError()" in text


def test_weekly_passes_the_age_and_check_mode_and_says_when_nothing_moved(monkeypatch, capsys):
    memory = {"name": "redis_memory", "status": "ok", "message": "3.9M of maxmemory 256.0M used (1.5%)"}
    archive = TaskResult("localhost", "selfology.ops.outbox_archive", "Archive", "ok",
                         {"moved": 0, "batches": 0, "archive_table": "selfology.event_outbox_archive"})
    seen = fake_run(monkeypatch, {"maintenance_redis_memory": memory}, extra=[archive])
    assert main(["maintenance", "weekly", "-q", "--older-than", "6w", "--check"]) == 0
    assert seen["extravars"] == {"maintenance_archive_older_than": "6w"} and seen["check"] is True
    out = capsys.readouterr().out
    assert "nothing to archive (no event published more than 6w ago)" in out
    assert "VACUUM ANALYZE: not run in check mode" in out


def test_weekly_exits_1_when_redis_memory_is_high(monkeypatch, capsys):
    memory = {"name": "redis_memory", "status": "warning", "message": "220.0M of maxmemory 256.0M used (85.9%)"}
    fake_run(monkeypatch, {"maintenance_redis_memory": memory})
    assert main(["maintenance", "weekly", "-q"]) == 1
    assert "raise Redis maxmemory" in capsys.readouterr().out


def test_flushdb_refusal_says_what_to_confirm(monkeypatch, capsys):
    # The refusal and its reason are the module's (selfology.ops.redis_flushdb), no longer worked out here.
    plan = {"target": "127.0.0.1:16379/9", "db": 9, "dbsize": 3, "safe": True,
            "stream_message": "the event stream selfology:events is not in db 9"}
    refused = TaskResult("localhost", "selfology.ops.redis_flushdb", "FLUSHDB", "failed",
                         {"plan": plan, "refused": "confirmation", "msg": "refusing to flush 127.0.0.1:16379/9"})
    seen = fake_run(monkeypatch, None, rc=2, extra=[refused])
    assert main(["maintenance", "redis-flushdb", "--db", "9", "-q"]) == 1
    assert seen["extravars"] == {"maintenance_flushdb_db": 9, "maintenance_flushdb_confirm": "",
                                 "maintenance_flushdb_allow_pending": False}
    out = capsys.readouterr().out
    assert "Keys in db 9 (DBSIZE): 3" in out
    assert "Refused: to flush these 3 keys, pass --confirm-flushdb 127.0.0.1:16379/9" in out
