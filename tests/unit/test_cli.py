import pytest

from selfops import render
from selfops.cli import build_parser


@pytest.mark.parametrize("argv", [
    ["lab", "image", "1.0; rm -rf /"],
    ["lab", "image", "has space"],
    ["smoke", "--slot", "purple"],
    ["smoke", "--version", "$(reboot)"],
    ["lab", "image", "2.0.0", "--fault", "explode"],
    ["nosuchcommand"],
])
def test_bad_usage_exits_2_before_anything_runs(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_inventory_and_extra_vars_pass_through():
    args = build_parser().parse_args(["status", "-i", "inventory/production", "-e", "a=1", "-e", "@vars.yml"])
    assert str(args.inventory) == "inventory/production"
    assert args.extra_vars == ["a=1", "@vars.yml"]


def test_status_is_rendered_like_the_runbook():
    info = {"active_slot": "blue", "inactive_slot": "green", "slots": {
        "blue": {"present": True, "version": "1.0.0", "services": [
            {"container": "selfology-question-selection-blue", "health": "healthy"},
            {"container": "selfology-outbox-relay-blue", "health": "unhealthy"}]},
        "green": {"present": False, "version": None, "services": []}}}
    text = render.status(None, info)
    assert text.splitlines()[:2] == ["Active Slot:   blue", "Inactive Slot: green"]
    assert "BLUE SLOT SERVICES (1.0.0):" in text
    assert "  selfology-outbox-relay-blue:       unhealthy" in text
    assert "GREEN SLOT SERVICES: not deployed" in text


def test_smoke_failures_name_the_check():
    res = {"slot": "green", "checks": [
        {"title": "Redis connectivity", "passed": False, "message": "Redis at x is unreachable", "duration_ms": 3}]}
    assert "❌ Redis connectivity FAILED (3 ms): Redis at x is unreachable" in render.smoke(None, res)


def test_history_leaves_out_lines_that_are_not_json(tmp_path):
    # Reading the log moved into the collection (selfology.ops.audit_info); the CLI renders its result.
    from ansible_collections.selfology.ops.plugins.modules import audit_info
    log = tmp_path / "audit.log"
    log.write_text('{"action": "deploy"}\n{"action": "sw\n\n{"action": "switch"}\n')
    res = audit_info.run({"path": str(log), "lines": 20, "action": None}, False)
    assert res["entries"] == [{"action": "deploy"}, {"action": "switch"}]
    assert (res["torn"], res["exists"], res["changed"]) == (1, True, False)
    assert audit_info.run({"path": str(log), "lines": 1, "action": None}, True)["entries"] == [{"action": "switch"}]
    missing = audit_info.run({"path": str(tmp_path / "none.log"), "lines": 5, "action": None}, False)
    assert (missing["entries"], missing["torn"], missing["exists"]) == ([], 0, False)
