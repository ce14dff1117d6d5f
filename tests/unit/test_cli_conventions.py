"""The conventions operators expect of selfops: global options before or after the subcommand, --version,
--check on every command that changes something, --limit and -v passed to ansible-playbook; the outcome is
the play's (the CLI maps it to an exit code)."""
import json
import re

import pytest

from selfops import checks as cli_checks
from selfops import cli
from selfops.cli import build_parser, main
from selfops.runner import Run, TaskResult


def fake(monkeypatch, rc=0, results=(), stats=None, module=cli):
    seen = []

    def run_playbook(name, **kwargs):
        seen.append(dict(kwargs, name=name))
        return Run(rc=rc, status="successful" if rc == 0 else "failed", results=list(results), stats=stats or {})
    monkeypatch.setattr(module, "run_playbook", run_playbook)
    return seen


@pytest.mark.parametrize("argv", [
    ["-i", "inventory/production", "status"],
    ["status", "-i", "inventory/production"],
    ["--inventory", "inventory/production", "-q", "status"],
])
def test_global_options_work_before_or_after_the_subcommand(argv):
    args = build_parser().parse_args(argv)
    assert str(args.inventory) == "inventory/production" and args.command == "status"


def test_options_on_both_sides_add_up_and_the_later_value_wins():
    args = build_parser().parse_args(["-e", "a=1", "-i", "one", "-v", "--json", "check", "daily", "-e", "b=2",
                                      "-i", "two", "-vv", "--limit", "web1"])
    assert args.extra_vars == ["a=1", "b=2"]
    assert str(args.inventory) == "two" and args.verbose == 3 and args.json and args.limit == "web1"
    plain = build_parser().parse_args(["lab", "up"])
    assert (plain.inventory, plain.extra_vars, plain.verbose, plain.json, plain.quiet, plain.limit) == (
        None, [], 0, False, False, None)


def test_version_is_the_collections(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--version"])
    assert exc.value.code == 0
    version = re.search(r"^version: (\S+)$", (cli.collection.root() / "galaxy.yml").read_text(), re.M).group(1)
    assert capsys.readouterr().out.strip() == f"selfops {version} (selfology.ops)"


def test_limit_and_verbosity_reach_ansible_playbook(monkeypatch):
    seen = fake(monkeypatch)
    main(["-l", "n8n-server", "-vv", "status", "-q"])
    assert (seen[0]["limit"], seen[0]["verbosity"], seen[0]["check"]) == ("n8n-server", 2, False)


def slot_info(healthy=True):
    return TaskResult("localhost", "selfology.ops.slot_info", "Read both slots", "ok", {
        "active_slot": "blue", "inactive_slot": "green", "drift": [], "slots": {
            "blue": {"present": True, "healthy": healthy, "version": "1.0.0", "services": [
                {"container": "selfology-analysis-worker-blue", "health": "healthy" if healthy else "exited"}]},
            "green": {"present": False, "version": None, "services": []}}})


@pytest.mark.parametrize("rc, code", [(0, 0), (2, 1)])
def test_status_exits_1_exactly_when_the_play_failed(monkeypatch, capsys, rc, code):
    # Even an unhealthy slot_info result: the play (roles/status) decides, with status_fail_on_problems.
    fake(monkeypatch, rc=rc, results=[slot_info(healthy=False)])
    assert main(["status", "-q"]) == code
    assert "selfology-analysis-worker-blue: exited" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["deploy", "1.2.0"], ["switch"], ["rollback"], ["cleanup"],
                                     ["scale", "analysis-worker", "2"]])
def test_every_changing_command_takes_check(monkeypatch, command):
    seen = fake(monkeypatch, results=[slot_info()])
    main([*command, "--check", "-q"])
    assert seen[0]["check"] is True and seen[0]["name"] == command[0]
    seen.clear()
    main([*command, "-q"])
    assert seen[0]["check"] is False


def test_switch_check_prints_the_plan_from_the_modules_results(monkeypatch, capsys):
    results = [slot_info(),
               TaskResult("localhost", "selfology.ops.lb_route", "Route", "ok", {
                   "changed": True, "slot_before": "blue", "slot": "green",
                   "commands": ["set map /etc/selfology-lb/slot.map active green"]}),
               TaskResult("localhost", "selfology.ops.slot_state", "Record", "ok", {"changed": True, "diff": {
                   "before": {"active": "blue", "previous": None, "redis_active_slot": "blue"},
                   "after": {"active": "green", "previous": "blue", "redis_active_slot": "green"}}})]
    fake(monkeypatch, results=results)
    assert main(["switch", "--check", "-q"]) == 0
    out = capsys.readouterr().out
    assert "Plan for switch on localhost (check mode: nothing is changed)" in out
    assert "  would send: set map /etc/selfology-lb/slot.map active green" in out
    assert "  active: blue → green" in out and "  redis_active_slot: blue → green" in out
    assert "Containers: none would start or go" in out
    assert "✅ switch would go ahead" in out


def test_cleanup_check_json_names_the_containers_that_would_go(monkeypatch, capsys):
    removed = TaskResult("localhost", "selfology.ops.slot_deploy", "Remove", "ok", {
        "changed": True, "actions": [{"name": "selfology-outbox-relay-green", "action": "remove"}]})
    fake(monkeypatch, results=[slot_info(), removed])
    assert main(["cleanup", "--check", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["check_mode"] is True
    assert payload["hosts"]["localhost"]["containers"] == [{"name": "selfology-outbox-relay-green", "action": "remove"}]


@pytest.mark.parametrize("status, code", [("ok", 0), ("warning", 1), ("critical", 2)])
def test_check_daily_exits_with_the_status_the_play_reported(monkeypatch, capsys, status, code):
    fake(monkeypatch, rc=2 if status == "critical" else 0, module=cli_checks,
         stats={"checks_daily": {"localhost": {"status": status, "exit_code": code}}})
    assert main(["check", "daily", "--json"]) == code
    assert json.loads(capsys.readouterr().out)["status"] == status


def test_weekly_exit_follows_the_reported_finding(monkeypatch, capsys):
    memory = TaskResult("localhost", "selfology.ops.redis_memory_info", "Check Redis memory", "ok",
                        {"name": "redis_memory", "status": "warning", "message": "220.0M of maxmemory 256.0M used"})
    fake(monkeypatch, results=[memory], module=cli_checks,
         stats={"maintenance_weekly": {"localhost": {"name": "redis_memory", "status": "warning"}}})
    assert main(["maintenance", "weekly", "-q"]) == 1
    assert "Redis memory check: 220.0M of maxmemory 256.0M used" in capsys.readouterr().out


@pytest.mark.parametrize("res, expected", [
    ({"changed": True, "flushed": True, "deleted": 3}, "✅ Flushed db 9: 3 keys"),
    ({"changed": False, "flushed": False, "deleted": 0, "empty": True}, None),
    ({"failed": True, "refused": "unsafe"}, "--allow-pending-events as well"),
    ({"failed": True, "refused": "changed"}, "changed between the check and the flush"),
])
def test_flushdb_renders_what_the_module_decided(monkeypatch, capsys, res, expected):
    plan = {"target": "127.0.0.1:16379/9", "db": 9, "dbsize": 0 if res.get("empty") else 3, "safe": True,
            "stream_message": "the event stream selfology:events is not in db 9"}
    fake(monkeypatch, rc=2 if res.get("failed") else 0, module=cli_checks, results=[
        TaskResult("localhost", "selfology.ops.redis_flushdb", "FLUSHDB", "failed" if res.get("failed") else "ok",
                   dict(res, plan=plan))])
    main(["maintenance", "redis-flushdb", "--db", "9", "-q", "--confirm-flushdb", "127.0.0.1:16379/9"])
    out = capsys.readouterr().out
    assert (expected or "Nothing to flush: db 9 is empty") in out
