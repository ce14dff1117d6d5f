"""The status logic of the morning checks and of maintenance (plugins/module_utils/checks.py): figures and
thresholds in, ok / warning / critical out."""
from pathlib import Path

import pytest
import yaml

from ansible_collections.selfology.ops.plugins.module_utils import checks
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.checks import (
    alerts_check, consumers_check, dashboards_check, daily_checks, disk_usage, flushdb_plan, logs_check, outbox_check,
    parse_log_scan, redis_memory_check, services_check, stream_check, threshold_status, worst)

THRESHOLDS = {
    "outbox_pending": {"warning": 100, "critical": 1000},
    "outbox_age": {"warning": 300, "critical": 3600},
    "stream_lag": {"warning": 100, "critical": 1000},
    "stream_pending_age": {"warning": 300, "critical": 1800},
    "log_errors": {"warning": 1, "critical": 1000},
    "redis_memory_pct": {"warning": 80, "critical": 95},
}


# thresholds -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (0, "ok"), (99, "ok"), (100, "warning"), (500, "warning"), (1000, "warning"), (1001, "critical"),
    (10 ** 9, "critical"), (None, "ok"), ("1500", "critical"),
])
def test_outbox_thresholds_follow_the_runbook(value, expected):
    # runbook: pending "Should be < 100"; "Action if pending > 1000"
    assert threshold_status(value, 100, 1000) == expected


def test_thresholds_given_as_template_strings_are_numbers():
    assert threshold_status(81.5, "80", "95") == "warning"
    assert threshold_status(95.1, "80.0", "95") == "critical"


def test_inverted_or_non_numeric_thresholds_are_refused():
    with pytest.raises(SelfologyError, match="above the critical"):
        threshold_status(5, 1000, 100)
    with pytest.raises(SelfologyError, match="numbers"):
        threshold_status(5, "lots", 100)


def test_the_worst_status_wins():
    assert worst(["ok", "warning", "ok"]) == "warning"
    assert worst(["warning", "critical", "ok"]) == "critical"
    assert worst([]) == "ok"
    with pytest.raises(SelfologyError):
        worst(["ok", "fine"])


# outbox -----------------------------------------------------------------------------------------

def outbox(pending=0, published=10, failed=0, age=None):
    return {"counts": {"pending": pending, "published": published, "failed": failed},
            "oldest_pending_age_seconds": age, "pending_by_type": {"answer.submitted": pending} if pending else {},
            "oldest_pending": []}


def test_outbox_backlog_is_critical_and_says_how_old():
    check = outbox_check(outbox(pending=1500, age=42.0), THRESHOLDS)
    assert check["status"] == "critical"
    assert check["message"].startswith("1500 pending")
    assert "oldest pending 42s old" in check["message"]
    assert check["figures"]["pending"] == 1500


def test_outbox_few_pending_is_ok_but_old_pending_rows_are_not():
    assert outbox_check(outbox(pending=5, age=0.3), THRESHOLDS)["status"] == "ok"
    stuck = outbox_check(outbox(pending=5, age=4000), THRESHOLDS)
    assert stuck["status"] == "critical"
    assert "oldest pending 67m old" in stuck["message"]


def test_outbox_failed_rows_are_a_warning():
    check = outbox_check(outbox(failed=2), THRESHOLDS)
    assert check["status"] == "warning"
    assert "2 failed rows will never be published" in check["message"]


def test_an_unreadable_outbox_is_critical_with_the_module_message():
    check = outbox_check({"failed": False, "msg": "PostgreSQL at 127.0.0.1:15432 is unreachable: timeout"}, THRESHOLDS)
    assert check["status"] == "critical"
    assert "unreachable" in check["message"]
    assert outbox_check({"skipped": True}, THRESHOLDS)["status"] == "critical"


# stream -----------------------------------------------------------------------------------------

def stream(lag=0, lag_known=True, pending=0, pending_age=None, consumers=(), exists=True, groups=None):
    group = {"name": "analysis-workers", "lag": lag if lag_known else None, "lag_known": lag_known,
             "pending": pending, "oldest_pending_age_s": pending_age, "oldest_pending_id": "1-0" if pending else None,
             "last_delivered_id": "5-0", "consumer_list": list(consumers)}
    return {"stream": "selfology:events", "exists": exists, "length": 12, "last_entry_age_s": 1.0,
            "last_generated_id": "5-0", "groups": [group] if groups is None else groups}


def test_stream_lag_unknown_is_reported_as_unknown_not_as_zero():
    check = stream_check(stream(lag_known=False), "analysis-workers", THRESHOLDS)
    assert "lag unknown" in check["message"]
    assert check["figures"]["lag"] is None and check["figures"]["lag_known"] is False
    assert check["status"] == "ok"


@pytest.mark.parametrize("kwargs, expected", [
    ({}, "ok"), ({"lag": 150}, "warning"), ({"lag": 5000}, "critical"),
    ({"pending": 3, "pending_age": 12}, "ok"), ({"pending": 3, "pending_age": 400}, "warning"),
    ({"pending": 3, "pending_age": 7200}, "critical"),
])
def test_stream_lag_and_oldest_pending_entry(kwargs, expected):
    assert stream_check(stream(**kwargs), "analysis-workers", THRESHOLDS)["status"] == expected


def test_a_missing_group_is_critical_and_a_missing_stream_a_warning():
    assert stream_check(stream(groups=[]), "analysis-workers", THRESHOLDS)["status"] == "critical"
    assert stream_check(stream(exists=False), "analysis-workers", THRESHOLDS)["status"] == "warning"


def consumer(name, dead=False, pending=0):
    return {"name": name, "dead": dead, "pending": pending, "idle_ms": 900000 if dead else 10}


def test_dead_consumers_holding_entries_strand_them():
    s = stream(consumers=[consumer("selfology-analysis-worker-blue"),
                          consumer("selfology-analysis-worker-green", dead=True, pending=4)])
    check = consumers_check(s, "analysis-workers", {"selfology-analysis-worker-blue": "running"})
    assert check["status"] == "critical"
    assert check["figures"]["stranded_pending"] == 4
    assert "selfology-analysis-worker-green (4)" in check["message"]


def test_a_dead_consumer_whose_container_runs_is_a_standby_and_one_gone_is_a_warning():
    s = stream(consumers=[consumer("selfology-analysis-worker-blue"),
                          consumer("selfology-analysis-worker-green", dead=True)])
    standby = consumers_check(s, "analysis-workers", {"selfology-analysis-worker-blue": "running",
                                                      "selfology-analysis-worker-green": "running"})
    assert standby["status"] == "ok" and standby["figures"]["standby"] == ["selfology-analysis-worker-green"]
    gone = consumers_check(s, "analysis-workers", {"selfology-analysis-worker-blue": "running"})
    assert gone["status"] == "warning"
    assert "delete_consumers" in gone["message"]


# services ---------------------------------------------------------------------------------------

def slot(name, healthy=True, present=True, version="1.0.0", bad=None):
    services = []
    for service in ("question-selection", "outbox-relay"):
        container = f"selfology-{service}-{name}"
        if not present:
            services.append({"container": container, "state": "missing", "health": "missing"})
        elif bad == service:
            services.append({"container": container, "state": "exited", "health": "none"})
        else:
            services.append({"container": container, "state": "running", "health": "healthy" if healthy else "unhealthy"})
    return {"version": version if present else None, "present": present, "services": services,
            "healthy": present and healthy and bad is None}


def slots(active="blue", blue=None, green=None, drift=()):
    return {"active_slot": active, "inactive_slot": "green" if active == "blue" else "blue",
            "slots": {"blue": blue or slot("blue"), "green": green or slot("green", present=False)},
            "drift": list(drift)}


def test_healthy_active_slot_and_undeployed_standby_are_ok():
    check = services_check(slots())
    assert check["status"] == "ok"
    assert check["message"] == "blue active 2/2 healthy (1.0.0); green not deployed"
    assert check["figures"]["slots"]["green"]["unhealthy"] == []


def test_a_stopped_service_of_the_active_slot_is_critical_and_named():
    check = services_check(slots(blue=slot("blue", bad="outbox-relay")))
    assert check["status"] == "critical"
    assert "selfology-outbox-relay-blue is exited" in check["message"]


def test_an_unhealthy_standby_slot_or_drift_is_a_warning():
    assert services_check(slots(green=slot("green", healthy=False)))["status"] == "warning"
    drifting = services_check(slots(drift=["the load balancer sends traffic to green but the recorded active slot is blue"]))
    assert drifting["status"] == "warning" and "drift:" in drifting["message"]


def test_no_active_slot_is_critical():
    assert services_check(slots(active=None))["status"] == "critical"


# logs -------------------------------------------------------------------------------------------

SCAN = "\n".join([
    "R\tselfology-outbox-relay-blue\trunning",
    "S\tselfology-outbox-relay-blue\t2026-11-29T07:00:01 outbox-relay-blue ERROR relay batch failed: ConnectionError()",
    "S\tselfology-outbox-relay-blue\tTraceback (most recent call last):\twith a tab",
    "C\tselfology-outbox-relay-blue\t7",
    "R\tselfology-question-selection-blue\trunning",
    "C\tselfology-question-selection-blue\t0",
    "R\tselfology-analysis-worker-green\texited",
    "C\tselfology-analysis-worker-green\t0",
    "E\tselfology-analysis-worker-green\tdocker logs failed",
    "some noise the parser skips",
])


def test_the_log_scan_is_parsed_per_container():
    parsed = parse_log_scan(SCAN)
    relay = parsed["selfology-outbox-relay-blue"]
    assert relay["errors"] == 7 and relay["state"] == "running"
    assert relay["samples"][1] == "Traceback (most recent call last):\twith a tab"
    assert parsed["selfology-analysis-worker-green"]["error"] == "docker logs failed"
    assert set(parsed) == {"selfology-outbox-relay-blue", "selfology-question-selection-blue",
                           "selfology-analysis-worker-green"}


def test_error_lines_warn_and_name_the_container():
    check = logs_check({"stdout": SCAN, "rc": 0}, THRESHOLDS)
    assert check["status"] == "warning"
    assert check["message"].startswith("7 error lines in the last 24h: selfology-outbox-relay-blue 7")
    assert "logs not readable: selfology-analysis-worker-green" in check["message"]
    many = logs_check({"stdout": "R\tx\trunning\nC\tx\t5000", "rc": 0}, THRESHOLDS)
    assert many["status"] == "critical"
    clean = logs_check({"stdout": "R\tx\trunning\nC\tx\t0", "rc": 0}, THRESHOLDS, "12h")
    assert (clean["status"], clean["message"]) == ("ok", "no error lines in the last 12h (1 containers)")


def test_a_log_scan_that_could_not_list_containers_says_why():
    check = logs_check({"stdout": "", "rc": 1, "stderr": "cannot list the service containers\n"}, THRESHOLDS)
    assert check["status"] == "warning"
    assert check["message"] == "cannot read the service logs: cannot list the service containers"


# Redis memory -----------------------------------------------------------------------------------

def redis_info(used, maxmemory, system=8 * 2 ** 30):
    return {"info": {"redis_version": "7.0.15", "used_memory": used, "maxmemory": maxmemory,
                     "total_system_memory": system, "mem_fragmentation_ratio": 1.21,
                     "maxmemory_policy": "noeviction"}}


@pytest.mark.parametrize("used_mib, expected", [(10, "ok"), (204, "ok"), (205, "warning"), (243, "warning"),
                                                (250, "critical")])
def test_redis_memory_against_maxmemory(used_mib, expected):
    check = redis_memory_check(redis_info(used_mib * 2 ** 20, 256 * 2 ** 20), THRESHOLDS)
    assert check["status"] == expected
    assert "fragmentation ratio 1.21" in check["message"]


def test_redis_without_maxmemory_is_measured_against_the_host():
    check = redis_memory_check(redis_info(2 ** 30, 0), THRESHOLDS)
    assert check["status"] == "ok"
    assert "no maxmemory set (12.5% of the host's 8.0G)" in check["message"]


def test_unreadable_redis_is_critical():
    assert redis_memory_check({"msg": "Unable to connect"}, THRESHOLDS)["status"] == "critical"


# alerts -----------------------------------------------------------------------------------------

def test_alerts_are_not_configured_until_a_url_is_set():
    check = alerts_check({"url": "", "result": {"skipped": True}})
    assert check["status"] == "ok" and check["skipped"] is True
    assert check["message"].startswith("not configured")


def test_active_alerts_by_severity():
    alerts = [{"labels": {"alertname": "EventProcessingBacklog", "severity": "critical"}, "status": {"state": "active"}},
              {"labels": {"alertname": "HighErrorRate", "severity": "warning"}, "status": {"state": "active"}},
              {"labels": {"alertname": "Old", "severity": "critical"}, "status": {"state": "suppressed"}}]
    fired = {"result": [{"metric": {"alertname": "EventProcessingBacklog"}}, {"metric": {"alertname": "DatabaseDiskSpaceLow"}}]}
    check = alerts_check({"url": "http://127.0.0.1:9093", "result": {"alerts": alerts}, "fired": fired})
    assert check["status"] == "critical"
    assert check["figures"]["active"] == 2
    assert check["figures"]["resolved"] == ["DatabaseDiskSpaceLow"], "fired overnight, not firing now"
    assert "resolved since yesterday: DatabaseDiskSpaceLow" in check["message"]
    assert alerts_check({"url": "http://x", "result": {"alerts": []}})["status"] == "ok"
    assert alerts_check({"url": "http://x", "result": {"msg": "Connection refused"}})["status"] == "warning"


# dashboards -------------------------------------------------------------------------------------

DASHBOARD_LIMITS = {"dashboard_pending": {"warning": 100, "critical": 1000},
                    "dashboard_cost_per_day": {"warning": 20, "critical": 40},
                    "dashboard_error_ratio": {"warning": 0.01, "critical": 0.05}}


def readings(pending, cost, ratio):
    return {"url": "http://127.0.0.1:9090", "pending": {"value": pending}, "cost_per_day": {"value": cost},
            "error_ratio": {"value": ratio}}


def test_dashboards_are_not_configured_until_a_url_is_set():
    check = dashboards_check({"url": ""}, DASHBOARD_LIMITS)
    assert check["status"] == "ok" and check["skipped"] is True


@pytest.mark.parametrize("figures, status", [
    ((0, 12.5, 0.002), "ok"),
    ((99, 19.99, 0.0099), "ok"),
    ((100, 12.5, 0.0), "warning"),          # pending < 100 expected
    ((0, 20.0, 0.0), "warning"),            # $10-20/day expected
    ((0, 12.5, 0.01), "warning"),           # < 1 % expected
    ((1500, 12.5, 0.0), "critical"),
    ((0, 12.5, 0.2), "critical"),
    ((None, None, float("nan")), "ok"),     # no series yet, no traffic: unknown, shown as -
])
def test_dashboards_headline_figures_against_the_runbook(figures, status):
    check = dashboards_check(readings(*figures), DASHBOARD_LIMITS)
    assert check["status"] == status, check


def test_a_prometheus_that_does_not_answer_is_critical():
    check = dashboards_check(dict(readings(0, 1, 0), pending={"failed": True, "msg": "unreachable"}), DASHBOARD_LIMITS)
    assert check["status"] == "critical" and "unreachable" in check["message"]


# the whole report -------------------------------------------------------------------------------

def inputs(**overrides):
    base = {"slots": slots(), "outbox": outbox(), "stream": stream(consumers=[consumer("selfology-analysis-worker-blue")]),
            "group": "analysis-workers", "logs": {"stdout": "R\tselfology-analysis-worker-blue\trunning\n"
                                                            "C\tselfology-analysis-worker-blue\t0", "rc": 0},
            "log_since": "24h", "redis": redis_info(2 ** 20, 2 ** 28), "alerts": {"url": "", "result": {"skipped": True}}}
    base.update(overrides)
    return base


def test_all_ok_exits_0_in_the_runbook_order():
    report = daily_checks(inputs(), THRESHOLDS)
    assert (report["status"], report["exit_code"], report["failing"]) == ("ok", 0, [])
    assert [c["name"] for c in report["checks"]] == list(checks.TITLES)


def test_a_backlog_is_critical_exit_2_and_names_the_outbox():
    report = daily_checks(inputs(outbox=outbox(pending=1200, age=30)), THRESHOLDS)
    assert (report["status"], report["exit_code"]) == ("critical", 2)
    assert report["critical"] == ["outbox"] and report["failing"] == ["outbox"]


def test_a_warning_alone_exits_1():
    report = daily_checks(inputs(outbox=outbox(pending=150, age=2)), THRESHOLDS)
    assert (report["status"], report["exit_code"], report["warning"]) == ("warning", 1, ["outbox"])


def test_a_module_that_failed_makes_only_its_check_critical():
    report = daily_checks(inputs(stream={"msg": "Redis at 127.0.0.1:16379 is unreachable"}), THRESHOLDS)
    by_name = {c["name"]: c["status"] for c in report["checks"]}
    assert by_name["stream"] == by_name["consumers"] == "critical"
    assert by_name["outbox"] == "ok"


def test_a_missing_threshold_is_named():
    with pytest.raises(SelfologyError, match="thresholds.outbox_pending"):
        daily_checks(inputs(), {k: v for k, v in THRESHOLDS.items() if k != "outbox_pending"})


# disk -------------------------------------------------------------------------------------------

DF = """Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/vda         264212084 25738904  80652008      25% /var/lib/postgresql/data
"""


def test_df_output_is_parsed_and_judged():
    usage = disk_usage(DF, {"disk_pct": {"warning": 75, "critical": 85}})
    assert usage["mounted_on"] == "/var/lib/postgresql/data"
    assert usage["used_bytes"] == 25738904 * 1024
    assert usage["used_pct"] == 24.2 and usage["capacity"] == 25
    assert usage["status"] == "ok"
    full = DF.replace("25738904  80652008      25%", "25738904    600000      98%")
    assert disk_usage(full, {"disk_pct": {"warning": 75, "critical": 85}})["status"] == "critical"
    assert "status" not in disk_usage(DF)


def test_df_without_a_filesystem_line_is_refused():
    with pytest.raises(SelfologyError, match="no filesystem line"):
        disk_usage("df: /nope: No such file or directory\n")


# FLUSHDB plan -----------------------------------------------------------------------------------

def present(found):
    """The streams of a database as the flush script reads them: only those that exist."""
    return [found] if found.get("exists", True) else []


def test_flush_of_a_db_without_the_stream_is_safe():
    plan = flushdb_plan("9", 3, present({"stream": "selfology:events", "exists": False, "groups": []}))
    assert (plan["db"], plan["dbsize"], plan["safe"]) == (9, 3, True)
    assert plan["stream_message"] == "the event stream selfology:events is not in db 9"
    assert flushdb_plan(9, 0, present({"stream": "s", "exists": False}), "s")["dbsize"] == 0


def test_flush_is_unsafe_while_entries_are_pending_undelivered_or_of_unknown_lag():
    pending = flushdb_plan(0, 4, [stream(pending=2, pending_age=1)])
    assert not pending["safe"] and pending["pending"] == 2
    assert "2 pending and 0 undelivered" in pending["stream_message"]
    assert not flushdb_plan(0, 4, [stream(lag=5)])["safe"]
    unknown = stream(lag_known=False)
    unknown["last_generated_id"] = "9-0"
    assert flushdb_plan(0, 4, [unknown])["lag_unknown"] == ["analysis-workers"]
    assert flushdb_plan(0, 4, [stream(lag_known=False)])["safe"]  # read up to the last id
    assert flushdb_plan(0, 4, [stream()])["safe"]


def test_flush_is_unsafe_while_any_other_stream_holds_pending_entries():
    other = dict(stream(pending=1), stream="jobs:queue")
    plan = flushdb_plan(0, 5, [stream(), other])
    assert not plan["safe"] and plan["pending"] == 1
    assert plan["stream_message"].endswith("; stream jobs:queue has 1 pending and 0 undelivered")
    unknown = dict(stream(lag_known=False), stream="jobs:queue", last_generated_id="9-0")
    assert flushdb_plan(0, 5, [unknown])["lag_unknown"] == ["jobs:queue/analysis-workers"]


def test_flush_plan_refuses_what_is_not_a_list_of_streams():
    with pytest.raises(SelfologyError, match="stream_info"):
        flushdb_plan(0, 1, {"msg": "nope"})
    with pytest.raises(SelfologyError, match="db must be a number"):
        flushdb_plan("zero", 1, [stream()])


ACTIONS = yaml.safe_load((Path(__file__).resolve().parents[2] / "roles" / "checks" / "vars" / "main.yml").read_text())[
    "_checks_actions"]


def test_failing_checks_carry_the_runbook_action_naming_the_active_relay():
    report = daily_checks(inputs(slots=slots(active="green", green=slot("green")), outbox=outbox(pending=1500)),
                          THRESHOLDS, ACTIONS)
    by_name = {c["name"]: c for c in report["checks"]}
    assert "docker restart selfology-outbox-relay-green" in by_name["outbox"]["action"]
    assert "action" not in by_name["services"]


def test_an_unreadable_check_asks_for_the_backend_first():
    report = daily_checks(inputs(outbox={"msg": "PostgreSQL at 127.0.0.1:1 is unreachable"}), THRESHOLDS, ACTIONS)
    outbox_result = next(c for c in report["checks"] if c["name"] == "outbox")
    assert outbox_result["unreadable"] is True and "check dependencies" in outbox_result["action"]


def test_without_runbook_actions_no_action_is_attached():
    report = daily_checks(inputs(outbox=outbox(pending=1500)), THRESHOLDS)
    assert all("action" not in c for c in report["checks"])


def test_an_action_naming_anything_but_relay_and_stream_is_refused():
    with pytest.raises(SelfologyError, match="only {relay} and {stream}"):
        daily_checks(inputs(outbox=outbox(pending=1500)), THRESHOLDS, {"outbox": "docker restart {container}"})


def test_the_stream_action_names_the_stream_and_no_active_slot_names_a_placeholder_relay():
    report = daily_checks(inputs(slots=slots(active=None), outbox=outbox(pending=1500),
                                 stream=stream(lag=5000)), THRESHOLDS, ACTIONS)
    by_name = {c["name"]: c for c in report["checks"]}
    assert "XINFO GROUPS selfology:events" in by_name["stream"]["action"]
    assert "docker restart selfology-outbox-relay-<slot>" in by_name["outbox"]["action"]


def test_report_is_the_worst_of_its_checks():
    verdict = checks.report([{"name": "a", "status": "ok"}, {"name": "b", "status": "warning"}])
    assert (verdict["status"], verdict["exit_code"], verdict["warning"], verdict["critical"]) == (
        "warning", 1, ["b"], [])
