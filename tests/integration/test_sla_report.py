"""selfops report sla (and its playbook under plain ansible-playbook) over a whole month of history with known
outages, written into the lab's Prometheus as TSDB blocks (promtool tsdb create-blocks-from openmetrics), so the
test does not wait a month.

The month is the one two before the current (older than anything the lab recorded, inside its 100-day
retention). Prometheus never evaluates rules over backfilled blocks, so the history holds what a month in which
the SLA rules were installed on the 20th holds: the raw up and probe_success series all month, one sample a
minute, and selfology:sla_down:1m from the 20th on, computed here with the rule file's own definition. The
report reads the recorded minutes where they exist and evaluates the rule's query over the raw series before:
both sources are exercised and must give the known minutes exactly.

promtool writes one block per 2 hours unless told otherwise, re-reading its whole input for each (372 passes
over a month: over a minute here); --max-block-duration (a hidden flag of promtool 2.42) makes it three.
"""
import calendar
import datetime
import json
import os
import stat
import subprocess
import time
import urllib.request

import pytest
import yaml

from ansible_collections.selfology.ops.plugins.module_utils import audit, incidents
from conftest import selfops
from lab import INVENTORY, ROOT, SERVICES, backfill_prometheus

pytestmark = pytest.mark.integration
MINUTE = 60
DAY_MINUTES = 1440
SERVICES_JOB, BLACKBOX_JOB = "selfology-services", "blackbox"
LB_FOR_PROBES = yaml.safe_load((INVENTORY / "group_vars" / "selfology" / "monitoring.yml").read_text())[
    "monitoring_lb_url_for_probes"]
PROBES = {s["name"]: LB_FOR_PROBES + s["probe"] for s in SERVICES if "probe" in s}


def minute(day, hour, first):
    """The index in the month of the minute that starts at day (from 1) hour:first."""
    return (day - 1) * DAY_MINUTES + hour * 60 + first


def span(day, hour, first, length):
    return set(range(minute(day, hour, first), minute(day, hour, first) + length))


# What happened, by minute of the month. Nothing was scraped for 10 minutes on the 2nd (Prometheus down).
UNOBSERVED = span(2, 4, 0, 10)
# Active instances of each service (one sample a minute each) and the minutes each did not answer.
INSTANCES = {
    "question-selection": {"question-selection-blue:8000": span(5, 10, 0, 30)},
    # one replica of two down for 20 minutes: capacity, not downtime
    "session-management": {"session-management-blue-1:8000": set(),
                           "session-management-blue-2:8000": span(8, 9, 0, 20)},
    "analysis-worker": {"analysis-worker-blue:8000": span(10, 3, 0, 20) | span(24, 14, 0, 30)},
    "outbox-relay": {"outbox-relay-blue:8000": span(27, 22, 0, 36)},
}
# Probes through the load balancer that failed: question-selection's with its service; session-management's
# for 12 minutes while its instances answered (the load balancer lost the route).
PROBE_FAILED = {"question-selection": span(5, 10, 0, 30), "session-management": span(15, 8, 0, 12)}
RECORDED_FROM = minute(20, 0, 0)
EXPECTED_DOWN = {"question-selection": 30, "session-management": 12, "analysis-worker": 50, "outbox-relay": 36}
EXPECTED_STATUS = {"question-selection": "ok", "session-management": "ok", "analysis-worker": "critical",
                   "outbox-relay": "warning"}

# In the Prometheus data volume, with Prometheus stopped: remove earlier runs' blocks overlapping the month
# ($1 and $2, Unix ms), so that a kept lab gives the same figures on every run; then turn the OpenMetrics on
# stdin into blocks and move them in.


def month_two_before(now):
    today = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    index = today.year * 12 + today.month - 1 - 2
    return index // 12, index % 12 + 1


def down(service, i):
    """selfology-sla.yml's definition for one sample a minute: no active instance answered, or the probe through
    the load balancer failed."""
    answered = any(i not in failed for failed in INSTANCES[service].values())
    return not answered or i in PROBE_FAILED.get(service, ())


def openmetrics(start, minutes):
    """The month's raw series (a sample at the middle of each observed minute) and the recorded series from
    RECORDED_FROM on (a sample 15 s before each minute's end, when Prometheus would have evaluated it)."""
    observed = [i for i in range(minutes) if i not in UNOBSERVED]
    lines = ["# TYPE up gauge"]
    for service, instances in INSTANCES.items():
        for instance, failed in instances.items():
            labels = (f'job="{SERVICES_JOB}",service="{service}",slot="blue",active="true",instance="{instance}",'
                      'source="backfill"')
            lines += [f"up{{{labels}}} {0 if i in failed else 1} {start + i * MINUTE + 30}" for i in observed]
    lines.append("# TYPE probe_success gauge")
    for service, url in PROBES.items():
        failed = PROBE_FAILED.get(service, set())
        labels = f'job="{BLACKBOX_JOB}",instance="{url}",source="backfill"'
        lines += [f"probe_success{{{labels}}} {0 if i in failed else 1} {start + i * MINUTE + 30}" for i in observed]
    lines.append("# TYPE selfology:sla_down:1m gauge")
    for service in INSTANCES:
        lines += [f'selfology:sla_down:1m{{service="{service}",source="backfill"}} {int(down(service, i))} '
                  f'{start + i * MINUTE + 45}' for i in observed if i >= RECORDED_FROM]
    return "\n".join(lines + ["# EOF", ""])


def rules_loaded():
    with urllib.request.urlopen("http://127.0.0.1:9090/api/v1/rules?type=record", timeout=5) as response:
        groups = json.load(response)["data"]["groups"]
    return {r["labels"].get("service") for g in groups for r in g["rules"] if r["name"] == "selfology:sla_down:1m"}


def write_history_files(directory, start):
    """The month's incidents (the incident role's own report writer) and audit log lines (the audit log's own
    writer), with some just outside the month."""
    def iso(i, second=0):
        return datetime.datetime.fromtimestamp(start + i * MINUTE + second, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ")

    reports = directory / "incidents"
    for kind, severity, at, minutes, service in (
            ("service-down", "P0", minute(24, 14, 1), 29, "analysis-worker"),
            ("service-down", "P0", minute(10, 3, 1), 19, "analysis-worker"),
            ("error-rate", "P1", minute(5, 10, 2), 27, None),
            ("service-down", "P0", -1, 300, "outbox-relay")):       # the month before
        step = {"name": "Fix A: restart", "result": "ok", "started": iso(at), "duration_s": minutes * 60}
        incidents.write_report(str(reports), {"kind": kind, "severity": severity, "impact": "users", "service": service,
                                              "started": iso(at), "steps": [step], "resolved_by": "Fix A: restart"},
                               now=incidents.parse_time(iso(at)))
    log = str(directory / "audit.log")
    for action, at, before, after, version in (
            ("deploy", minute(3, 9, 55), "blue", "blue", "1.3.0"),     # not a deployment that moves traffic
            ("switch", minute(3, 10, 0), "blue", "green", "1.3.0"),
            ("rollback", minute(24, 14, 20), "green", "blue", "1.2.0"),
            ("switch", minute(31, 23, 59) + 1, "blue", "green", "1.3.1")):  # the next month
        audit.append_entry(log, audit.build_entry(action, "success", who="alice@laptop", at=iso(at),
                                                  slots_before={"active": before},
                                                  slots_after={"active": after, "versions": {after: version}}))
    return {"sla_incidents_dir": str(reports), "sla_audit_log": log}


@pytest.fixture(scope="module")
def month(lab, tmp_path_factory):
    """The month two before the current one backfilled, and its incidents and audit log; returns (YYYY-MM, the
    extra vars naming those files)."""
    started = time.monotonic()
    year, number = month_two_before(time.time())
    days = calendar.monthrange(year, number)[1]
    start = calendar.timegm((year, number, 1, 0, 0, 0))
    history = openmetrics(start, days * DAY_MINUTES)
    assert rules_loaded() >= set(INSTANCES), "lab up installs the SLA rules"
    backfill_prometheus(history, start, start + days * DAY_MINUTES * MINUTE)
    files = write_history_files(tmp_path_factory.mktemp("sla"), start)
    print(f"\nbackfilled {year:04d}-{number:02d} ({len(history) >> 20} MiB of OpenMetrics) in "
          f"{time.monotonic() - started:.1f} s")
    return f"{year:04d}-{number:02d}", files, days


def extra_vars(files):
    return ["-e", json.dumps(files)]


def test_the_report_gives_to_the_minute_what_the_history_holds(month):
    name, files, days = month
    started = time.monotonic()
    proc = selfops("report", "sla", "--month", name, "--json", *extra_vars(files), check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    payload = json.loads(proc.stdout)
    print(f"selfops report sla --month {name}: {time.monotonic() - started:.1f} s")
    assert (payload["status"], payload["exit_code"]) == ("critical", 2)
    report = payload["hosts"]["localhost"]
    minutes = days * DAY_MINUTES
    budget = round(0.001 * minutes, 6)
    assert (report["month"], report["complete"], report["minutes"], report["budget_minutes"]) == (
        name, True, minutes, budget)
    services = {s["service"]: s for s in report["services"]}
    assert list(services) == [s["name"] for s in SERVICES]
    for service, expected in EXPECTED_DOWN.items():
        found = services[service]
        assert found["down_minutes"] == expected, (service, found)
        assert found["status"] == EXPECTED_STATUS[service], (service, found)
        assert (found["observed_minutes"], found["unobserved_minutes"]) == (minutes - 10, 10)
        # the raw series up to the 20th, the recorded series from then on
        assert found["sources"] == {"raw_minutes": RECORDED_FROM - 10, "recorded_minutes": minutes - RECORDED_FROM}
        assert found["availability_pct"] == round((1 - expected / minutes) * 100, 4)
        assert found["budget_used_pct"] == round(100 * expected / budget, 1)
        assert found["budget_left_minutes"] == round(budget - expected, 2)
        print(f"  {service}: {found['down_minutes']} min down, {found['availability_pct']} %, "
              f"{found['budget_used_pct']} % of the budget, {found['status']}")
    assert report["findings"][0].startswith(f"analysis-worker missed the {name} SLA of 99.9 %: 50 minutes down")

    incidents_found = report["incidents"]
    assert incidents_found["count"] == 3 and incidents_found["by_severity"]["P0"] == 2
    assert [(i["severity"], i["service"], i["duration_s"]) for i in incidents_found["worst"]] == [
        ("P0", "analysis-worker", 29 * 60.0), ("P0", "analysis-worker", 19 * 60.0), ("P1", None, 27 * 60.0)]
    deployments = report["deployments"]
    assert deployments["by_action"] == {"switch": 1, "rollback": 1} and deployments["count"] == 2
    assert [(d["action"], d["from_slot"], d["to_slot"], d["version"]) for d in deployments["entries"]] == [
        ("switch", "blue", "green", "1.3.0"), ("rollback", "green", "blue", "1.2.0")]

    path = ROOT / ".lab" / "state" / "reports" / f"sla_{name}.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert json.loads(path.read_text()) == report


def test_the_playbook_alone_fails_for_the_missed_sla_and_changes_nothing_on_a_second_run(month):
    name, files, _days = month
    path = ROOT / ".lab" / "state" / "reports" / f"sla_{name}.json"
    written = path.read_bytes() if path.exists() else None  # by the CLI's run above (unless run alone)
    started = time.monotonic()
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "inventory/lab",
                           "playbooks/report_sla.yml", "-e", f"sla_month={name}", *extra_vars(files)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    print(f"ansible-playbook report_sla.yml: {time.monotonic() - started:.1f} s")
    assert proc.returncode == 2, proc.stdout
    assert f"SLA {name} critical: analysis-worker missed the {name} SLA" in proc.stdout, proc.stdout
    assert "failed=1" in proc.stdout, proc.stdout
    if written is not None:  # the same month and data: the same document, nothing changed
        assert "changed=0" in proc.stdout and path.read_bytes() == written, proc.stdout


def test_the_current_month_is_reported_up_to_now(month):
    proc = selfops("report", "sla", "--json", check=False)
    payload = json.loads(proc.stdout)
    report = payload["hosts"]["localhost"]
    assert proc.returncode == payload["exit_code"] == report["exit_code"], proc.stderr
    assert report["month"] == time.strftime("%Y-%m", time.gmtime()) and report["complete"] is False
    for service in report["services"]:
        assert service["observed_minutes"] + service["unobserved_minutes"] >= report["minutes"]


def test_a_future_month_or_another_form_is_refused_before_anything_runs():
    for value, said in (("2999-01", "2999-01 has not begun"), ("2026-1", "month must be YYYY-MM")):
        proc = selfops("report", "sla", "--month", value, check=False)
        assert proc.returncode == 2 and said in proc.stderr, proc.stderr
