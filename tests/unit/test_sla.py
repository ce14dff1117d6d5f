"""The monthly SLA review's computation (module_utils/sla.py) and its rendering (selfops report sla): the month's
window and error budget, each service's verdict, the incidents and deployments read from files the collection's
own writers wrote."""
import argparse
import calendar
import json

import pytest

from ansible_collections.selfology.ops.plugins.module_utils import audit, incidents, sla
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError

from selfops import reports
from selfops.cli import build_parser, main
from selfops.runner import Run, TaskResult

NOW = calendar.timegm((2026, 12, 2, 0, 30, 0))  # 2026-12-02T00:30:00Z
OCTOBER = sla.month_window("2026-10", NOW)


def utc(*parts):
    return calendar.timegm(parts + (0,) * (6 - len(parts)))


# ---- the month

@pytest.mark.parametrize("month, days, budget", [
    ("2026-10", 31, 44.64), ("2026-11", 30, 43.2), ("2026-02", 28, 40.32), ("2024-02", 29, 41.76),
    ("2026-04", 30, 43.2), ("1999-12", 31, 44.64),
])
def test_the_budget_is_a_share_of_the_months_real_length(month, days, budget):
    window = sla.month_window(month, NOW)
    assert (window["days"], window["month_minutes"], window["minutes"]) == (days, days * 1440, days * 1440)
    assert window["complete"] is True and window["end"] - window["start"] == days * 86400
    assert sla.budget_minutes(0.999, window["month_minutes"]) == budget


def test_a_past_month_runs_from_its_first_midnight_to_the_next_months_in_utc():
    assert OCTOBER["month"] == "2026-10"
    assert (OCTOBER["start"], OCTOBER["end"]) == (utc(2026, 10, 1), utc(2026, 11, 1))
    december = sla.month_window("2025-12", NOW)
    assert (december["start"], december["end"]) == (utc(2025, 12, 1), utc(2026, 1, 1))


def test_previous_is_the_month_before_the_current_one_also_across_a_new_year():
    assert sla.month_window("previous", NOW)["month"] == "2026-11"
    assert sla.month_window("previous", utc(2027, 1, 1, 5))["month"] == "2026-12"
    assert sla.month_window("previous", NOW)["complete"] is True


@pytest.mark.parametrize("month", ["", None, "2026-12"])
def test_the_current_month_is_reported_up_to_now(month):
    window = sla.month_window(month, NOW + 0.9)
    assert window["month"] == "2026-12" and window["complete"] is False
    assert (window["start"], window["end"]) == (utc(2026, 12, 1), NOW)
    assert window["minutes"] == 24 * 60 + 30 and window["month_minutes"] == 31 * 1440


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026-1", "26-10", "2026/10", "2026-10-01", " 2026-10",
                                   "october", "1969-12", 202610])
def test_a_month_not_written_yyyy_mm_is_refused(month):
    with pytest.raises(SelfologyError, match=r"month must be YYYY-MM \(UTC\) from 1970-01, such as 2026-12"):
        sla.month_window(month, NOW)


@pytest.mark.parametrize("month", ["2027-01", "2026-12"])
def test_a_month_that_has_not_begun_is_refused(month):
    at = utc(2026, 11, 30, 23, 59) if month == "2026-12" else NOW
    with pytest.raises(SelfologyError, match=rf"{month} has not begun \(it is 2026-1\d-\d\d \d\d:\d\d UTC\)"):
        sla.month_window(month, at)


# ---- the verdict of one service

def test_half_an_hour_down_in_a_31_day_month_is_ok_to_the_minute():
    verdict = sla.judge("question-selection", 30, 44640, OCTOBER, 0.999, 0.75,
                        dict(recorded_minutes=40000, raw_minutes=4640))
    assert verdict == {
        "service": "question-selection", "status": "ok", "down_minutes": 30, "observed_minutes": 44640,
        "unobserved_minutes": 0, "availability": 0.99932796, "availability_pct": 99.9328,
        "budget_used_minutes": 30, "budget_left_minutes": 14.64, "budget_used_pct": 67.2,
        "sources": {"recorded_minutes": 40000, "raw_minutes": 4640}, "findings": []}


def test_fifty_minutes_misses_the_sla():
    verdict = sla.judge("analysis-worker", 50, 44640, OCTOBER, 0.999, 0.75)
    assert verdict["status"] == "critical" and verdict["availability_pct"] == 99.888
    assert (verdict["budget_used_pct"], verdict["budget_left_minutes"]) == (112.0, -5.36)
    assert verdict["findings"] == ["analysis-worker missed the 2026-10 SLA of 99.9 %: 50 minutes down, over the error "
                                   "budget of 44.64 minutes"]


@pytest.mark.parametrize("down, status", [(33, "ok"), (34, "warning"), (44, "warning"), (45, "critical")])
def test_the_status_follows_the_budget_used(down, status):
    # 75 % of 44.64 minutes is 33.48
    assert sla.judge("outbox-relay", down, 44640, OCTOBER, 0.999, 0.75)["status"] == status


def test_thirty_six_minutes_uses_over_three_quarters_of_the_budget():
    verdict = sla.judge("outbox-relay", 36, 44640, OCTOBER, 0.999, 0.75)
    assert verdict["status"] == "warning" and verdict["budget_used_pct"] == 80.6
    assert verdict["findings"] == ["outbox-relay used 80.6 % of the 2026-10 error budget: 36 of 44.64 minutes down"]


def test_minutes_nobody_observed_that_could_spend_the_budget_make_a_warning():
    ok = sla.judge("session-management", 12, 44630, OCTOBER, 0.999, 0.75)
    assert ok["status"] == "ok" and ok["unobserved_minutes"] == 10
    # unobserved minutes count as up in the availability: 1 - 12 / 44640
    assert ok["availability_pct"] == 99.9731
    unsure = sla.judge("session-management", 12, 44600, OCTOBER, 0.999, 0.75)
    assert unsure["status"] == "warning" and unsure["unobserved_minutes"] == 40
    assert "40 minutes of 2026-10 were not observed" in unsure["findings"][0]
    nothing = sla.judge("session-management", 0, 0, OCTOBER, 0.999, 0.75)
    assert nothing["status"] == "warning" and nothing["unobserved_minutes"] == 44640
    assert nothing["availability_pct"] is None


def test_in_the_current_month_a_spent_budget_is_already_a_missed_sla():
    window = sla.month_window("", NOW)  # 1470 minutes into December
    verdict = sla.judge("analysis-worker", 45, 1470, window, 0.999, 0.75)
    assert verdict["status"] == "critical" and verdict["budget_left_minutes"] == -0.36
    assert "with the month not over yet" in verdict["findings"][0]
    early = sla.judge("analysis-worker", 3, 1470, window, 0.999, 0.75)
    assert early["status"] == "ok" and early["availability_pct"] == round((1 - 3 / 1470) * 100, 4)


def test_the_target_and_the_warning_share_are_parameters():
    assert sla.judge("x", 30, 44640, OCTOBER, 0.9995, 0.75)["status"] == "critical"  # budget 22.32
    assert sla.judge("x", 30, 44640, OCTOBER, 0.999, 0.5)["status"] == "warning"
    for bad in (dict(target=1.0), dict(target=0), dict(budget_warning=0), dict(services=["a", "a"]), dict(services=[])):
        settings = dict(services=["a"], target=0.999, budget_warning=0.75, worst_count=5)
        settings.update(bad)
        with pytest.raises(SelfologyError):
            sla.check_settings(**settings)


# ---- the queries

def test_the_ranges_select_the_minutes_that_end_inside_the_window():
    queries = sla.recorded_queries(31 * 86400)
    assert queries == {
        "first": "min by (service) (min_over_time((time() + 0 * selfology:sla_down:1m)[2678399999ms:1m]))",
        "down": "sum by (service) (sum_over_time(selfology:sla_down:1m[2678399999ms]))",
        "observed": "sum by (service) (count_over_time(selfology:sla_down:1m[2678399999ms]))"}
    assert sla.raw_queries("up", 3600) == {"down": "sum_over_time((up)[3599999ms:1m])",
                                           "observed": "count_over_time((up)[3599999ms:1m])"}


@pytest.mark.parametrize("first, until", [
    (None, utc(2026, 11, 1)),                             # never recorded: raw all along
    (utc(2026, 10, 20, 0, 1), utc(2026, 10, 20)),         # a recorded sample from 00:00:01-00:01:00 on
    (utc(2026, 10, 1, 0, 1), utc(2026, 10, 1)),           # recorded from the month's first minute: no raw part
])
def test_the_raw_part_stops_a_minute_before_the_first_recorded_one(first, until):
    assert sla.raw_until(first, utc(2026, 11, 1)) == until


# ---- incidents and deployments

def write_incident(directory, kind, severity, started, minutes, resolved=True, service=None):
    step = {"name": "Fix A: restart", "result": "ok" if resolved else "failed", "started": started,
            "duration_s": minutes * 60}
    incident = {"kind": kind, "severity": severity, "impact": "users", "started": started, "steps": [step],
                "service": service}
    if resolved:
        incident["resolved_by"] = "Fix A: restart"
    return incidents.write_report(str(directory), incident, now=incidents.parse_time(started))


def test_the_worst_incidents_of_the_month_come_first(tmp_path):
    write_incident(tmp_path, "service-down", "P0", "2026-10-24T14:01:00Z", 29, service="analysis-worker")
    write_incident(tmp_path, "error-rate", "P1", "2026-10-05T10:00:00Z", 45)
    write_incident(tmp_path, "service-down", "P0", "2026-10-10T03:00:00Z", 20, resolved=False,
                   service="analysis-worker")
    write_incident(tmp_path, "backlog", "P1", "2026-10-31T23:59:59Z", 1)
    write_incident(tmp_path, "service-down", "P0", "2026-09-30T23:59:59Z", 300)  # September
    write_incident(tmp_path, "service-down", "P0", "2026-11-01T00:00:00Z", 300)  # November
    (tmp_path / "notes.json").write_text("[1, 2]")
    (tmp_path / "torn.json").write_text("{")
    found = sla.month_incidents(str(tmp_path), OCTOBER["start"], OCTOBER["end"], 3)
    assert found["count"] == 4 and found["unreadable"] == 2
    assert found["by_severity"] == {"P0": 2, "P1": 2, "P2": 0, "P3": 0}
    assert [(i["severity"], i["started"], i["duration_s"], i["status"]) for i in found["worst"]] == [
        ("P0", "2026-10-24T14:01:00.000Z", 1740.0, "resolved"),
        ("P0", "2026-10-10T03:00:00.000Z", 1200.0, "unresolved"),
        ("P1", "2026-10-05T10:00:00.000Z", 2700.0, "resolved")]
    assert found["worst"][0]["report"] == str(tmp_path / "20261024_140100_service_down.md")
    assert found["worst"][0]["title"] == "Service down: analysis-worker"
    assert sla.month_incidents(str(tmp_path / "none"), OCTOBER["start"], OCTOBER["end"], 3)["count"] == 0


def test_the_deployments_are_the_switches_and_rollbacks_of_the_month(tmp_path):
    log = str(tmp_path / "audit.log")

    def entry(at, action, outcome="success", frm="blue", to="green", version="1.3.0"):
        audit.append_entry(log, audit.build_entry(
            action, outcome, who="alice@laptop", at=at, slots_before={"active": frm},
            slots_after={"active": to, "versions": {to: version}}))

    entry("2026-09-30T23:59:59.000000Z", "switch")
    entry("2026-10-03T10:00:00.000000Z", "deploy")
    entry("2026-10-03T10:05:00.000000Z", "switch")
    entry("2026-10-24T14:20:00.000000Z", "rollback", frm="green", to="blue", version="1.2.0")
    entry("2026-10-25T09:00:00.000000Z", "switch", outcome="refused", frm="blue", to="blue", version="1.2.0")
    entry("2026-11-01T00:00:00.000000Z", "switch")
    with open(log, "a", encoding="utf-8") as handle:
        handle.write("{torn\n")
    found = sla.month_deployments(log, OCTOBER["start"], OCTOBER["end"], ["switch", "rollback"])
    assert found["count"] == 3 and found["failed"] == 1 and found["torn"] == 1
    assert found["by_action"] == {"switch": 2, "rollback": 1}
    assert found["entries"][1] == {"at": "2026-10-24T14:20:00.000000Z", "action": "rollback", "outcome": "success",
                                   "who": "alice@laptop", "from_slot": "green", "to_slot": "blue", "version": "1.2.0"}
    assert sla.month_deployments(str(tmp_path / "none.log"), OCTOBER["start"], OCTOBER["end"], ["switch"])["count"] == 0


# ---- the report and its rendering

FIGURES = {"question-selection": dict(down=30, observed=44630, recorded_minutes=17280, raw_minutes=27350),
           "analysis-worker": dict(down=50, observed=44630, recorded_minutes=17280, raw_minutes=27350),
           "outbox-relay": dict(down=36, observed=44630, recorded_minutes=17280, raw_minutes=27350)}
NO_INCIDENTS = {"worst": [], "count": 0, "by_severity": {}, "unreadable": 0}
NO_DEPLOYMENTS = {"entries": [], "count": 0, "by_action": {"switch": 0, "rollback": 0}, "failed": 0, "torn": 0}


def test_the_report_is_as_bad_as_its_worst_service():
    report = sla.build_report(OCTOBER, FIGURES, 0.999, 0.75, NO_INCIDENTS, NO_DEPLOYMENTS)
    assert (report["status"], report["exit_code"]) == ("critical", 2)
    assert [s["status"] for s in report["services"]] == ["ok", "critical", "warning"]
    assert report["budget_minutes"] == 44.64 and report["target_pct"] == 99.9
    assert (report["start"], report["end"]) == ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")
    assert report["minutes"] == 44640
    # outbox-relay: over three quarters of the budget, and with the 10 unobserved minutes it could be spent
    assert len(report["findings"]) == 3 and report["findings"][0].startswith("analysis-worker missed")
    # a second computation of the same figures is the same document (the report file does not change)
    again = sla.build_report(OCTOBER, FIGURES, 0.999, 0.75, NO_INCIDENTS, NO_DEPLOYMENTS)
    assert json.dumps(again, sort_keys=True) == json.dumps(report, sort_keys=True)


def test_the_cli_renders_the_months_figures():
    deployments = dict(NO_DEPLOYMENTS, count=1, by_action={"switch": 1, "rollback": 0}, entries=[
        {"at": "2026-10-03T10:05:00Z", "action": "switch", "outcome": "success", "who": "alice", "from_slot": "blue",
         "to_slot": "green", "version": "1.3.0"}])
    report = sla.build_report(OCTOBER, FIGURES, 0.999, 0.75, NO_INCIDENTS, deployments)
    text = reports.render_sla("localhost", report, "/state/reports/sla_2026-10.json")
    assert text.splitlines()[0] == "SLA - localhost - October 2026 (31 days, complete)"
    assert "  Target 99.9 %: error budget 44.64 min for the month" in text
    assert "  ❌ analysis-worker:     99.8880 %    50 min down  budget 112 % used, 5.36 min over" in text
    assert "  ✅ question-selection:  99.9328 %    30 min down  budget 67.2 % used, 14.64 min left" in text
    assert "10 min without data in Prometheus" in text
    assert "  2026-10-03T10:05:00Z switch blue → green (1.3.0): success by alice" in text
    assert "Report: /state/reports/sla_2026-10.json" in text
    assert "❌ analysis-worker missed the 2026-10 SLA" in text


def test_the_cli_refuses_a_future_month_or_another_form_before_running_anything(capsys):
    for value in ("2999-01", "2026-1", "last"):
        with pytest.raises(argparse.ArgumentTypeError):
            reports.month_arg(value)
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["report", "sla", "--month", value])
        assert exc.value.code == 2
    assert "2999-01 has not begun" in capsys.readouterr().err
    args = build_parser().parse_args(["report", "sla", "--month", "2026-10", "--json"])
    assert (args.command, args.report_command, args.month, args.json) == ("report", "sla", "2026-10", True)
    assert build_parser().parse_args(["report", "sla"]).month == ""


@pytest.mark.parametrize("status, code", [("ok", 0), ("warning", 1), ("critical", 2), (None, 2)])
def test_report_sla_exits_with_the_status_the_play_reported(monkeypatch, capsys, status, code):
    report = sla.build_report(OCTOBER, {"question-selection": FIGURES["question-selection"]}, 0.999, 0.75,
                              NO_INCIDENTS, NO_DEPLOYMENTS)
    results = [TaskResult("localhost", "selfology.ops.sla_report_info", "Measure", "ok",
                          {"status": report["status"], "report": report, "month": "2026-10"})] if status else []
    stats = {"sla_report": {"localhost": {"status": status, "report_path": "/r/sla_2026-10.json"}}} if status else {}
    seen = []

    def run_playbook(name, **kwargs):
        seen.append(dict(kwargs, name=name))
        return Run(rc=2 if code == 2 else 0, status="failed" if code == 2 else "successful", results=results,
                   stats=stats)
    monkeypatch.setattr(reports, "_execute", lambda args, playbook, extravars=None: run_playbook(
        playbook, extravars=extravars))
    assert main(["report", "sla", "--month", "2026-10", "--json"]) == code
    payload = json.loads(capsys.readouterr().out)
    assert payload["exit_code"] == code and seen[0]["name"] == "report_sla"
    assert seen[0]["extravars"] == {"sla_month": "2026-10"}
