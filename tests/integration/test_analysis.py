"""The post-switch analysis on real faults in the lab (issue 10): a flaky and a sluggish version pass the
deploy's gates, are switched to with analysis under load, and are rolled back automatically within the
analysis's own bound (initial delay + failure limit x interval, plus measured slack), traffic back on the
old version, audited with the measurements and announced; with Prometheus stopped the analysis is
inconclusive, rolls nothing back and says so; a healthy version passes, is recorded, and the cleanup
inside the retention window is then allowed.

Fast on purpose: the lab's analysis measures every 3 s (inventory/lab/group_vars/selfology/analysis.yml),
the images are built once per module (the flaky one is the monitoring test's), one slot stays deployed
between tests."""
import datetime
import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml

from conftest import selfops
from lab import INVENTORY, LB_URL, STATE_FILE, prometheus_ready, wait_for
from traffic import Traffic

pytestmark = pytest.mark.integration
PROMETHEUS = "http://127.0.0.1:9090"
AUDIT_LOG = STATE_FILE.parent / "audit.log"
ANALYSIS_FILE = STATE_FILE.parent / "analysis.json"
LAB = yaml.safe_load((INVENTORY / "group_vars" / "selfology" / "analysis.yml").read_text())
SECONDS = {"ms": 0.001, "s": 1, "m": 60}
HEALTHY = ["2.0.0", "3.1.0"]  # the lifecycle tests' versions: reused when already built
WARMUP = 4  # seconds of load on the old slot before the switch: its p95 is the latency baseline
SLACK = 12  # seconds a rollback may take after its deciding measurement (slot check, LB, event handover)


def seconds(duration):
    number = duration.rstrip("mst")
    return int(number) * SECONDS[duration[len(number):]]


def state():
    return json.loads(STATE_FILE.read_text())


def audit():
    return [json.loads(line) for line in AUDIT_LOG.read_text().splitlines() if line.strip()]


def at(entry):
    return datetime.datetime.fromisoformat(entry["at"].replace("Z", "+00:00")).timestamp()


def served_by():
    with urllib.request.urlopen(f"{LB_URL}/api/questions/next/1", timeout=5) as response:
        return json.loads(response.read())["served_by"]


def telegram(bot_api):
    return ["-e", f"bluegreen_telegram_api_url={bot_api.url}", "-e", "bluegreen_telegram_token=123:SECRET",
            "-e", "bluegreen_telegram_chat_id=-100"]


@pytest.fixture(scope="module")
def one_slot(lab):
    """One slot (the active one) deployed, and the images: flaky, sluggish and a healthy version."""
    selfops("cleanup", "-q", "--force", "--reason", "test setup", "-e", "bluegreen_retention=0")
    started = time.monotonic()
    selfops("lab", "image", "3.0.0-flaky", "--fault", "flaky", "-q")
    selfops("lab", "image", "3.0.0-sluggish", "--fault", "sluggish", "-q")
    healthy = [v for v in HEALTHY if v != state()["versions"][state()["active"]]][0]
    selfops("lab", "image", healthy, "-q")
    print(f"\nimages ready in {time.monotonic() - started:.1f} s")
    yield healthy
    selfops("cleanup", "-q", "--force", "--reason", "test teardown", "-e", "bluegreen_retention=0", check=False)


def switched_with_analysis_under_load(version, bot_api):
    """Deploys version, switches to it with analysis under 100 requests/s; returns what the test checks."""
    old = dict(slot=state()["active"], version=state()["versions"][state()["active"]])
    deployed = selfops("deploy", version, "-q", check=False)
    assert deployed.returncode == 0, f"{version} passes the deploy's gates\n{deployed.stdout}\n{deployed.stderr}"
    with Traffic(LB_URL, rps=100, user_id=900_000_010) as load:
        time.sleep(WARMUP)
        started = time.monotonic()
        proc = selfops("switch", "--analyze", *telegram(bot_api), check=False)
        took = time.monotonic() - started
        after = served_by()
    entries = audit()
    switch = next(e for e in reversed(entries) if e["action"] == "switch")
    rollback = entries[-1]
    return dict(old=old, proc=proc, took=took, after=after, switch=switch, rollback=rollback, load=load.result)


def assert_rolled_back(outcome, version, criterion, bot_api):
    proc, rollback, switch = outcome["proc"], outcome["rollback"], outcome["switch"]
    assert proc.returncode == 1, "a failed analysis fails the command\n" + proc.stdout + proc.stderr
    assert rollback["action"] == "rollback" and rollback["outcome"] == "success", rollback
    analysis = rollback["details"]["analysis"]
    assert analysis["outcome"] == "failed" and analysis["version"] == version
    assert criterion in analysis["failed_criteria"], analysis
    failed = [m for m in analysis["measurements"] if m["phase"] == "failed"]
    assert len(failed) == LAB["bluegreen_analysis_failure_limit"] + 1
    assert all(m["values"] and m["at"] for m in analysis["measurements"])
    assert f"analysis of {switch['slots_after']['active']} failed" in rollback["details"]["message"]
    assert rollback["slots_after"]["active"] == outcome["old"]["slot"]

    # Within the analysis's bound: the first measurement after initial_delay, one every interval, the
    # (failure_limit + 1)-th failure decides (Argo: failures > failure_limit); then the rollback itself.
    bound = (seconds(LAB["bluegreen_analysis_initial_delay"])
             + (LAB["bluegreen_analysis_failure_limit"] + len(analysis["measurements"]) - len(failed))
             * seconds(LAB["bluegreen_analysis_interval"]))
    to_rollback = at(rollback) - at(switch)
    decided = failed[-1]["since_switch_s"]
    print(f"\n{version}: switch -> automatic rollback {to_rollback:.1f} s (decided at +{decided:.1f} s, bound "
          f"{bound} s + {SLACK} s slack; command {outcome['took']:.1f} s); measurements "
          f"{[(m['phase'], m['values'].get('error_ratio'), m['values'].get('p95')) for m in analysis['measurements']]}; "
          f"load {outcome['load']['statuses']}")
    assert to_rollback <= bound + SLACK

    # Traffic is back on the old version, through the load balancer.
    assert outcome["after"] == dict(outcome["after"], slot=outcome["old"]["slot"], version=outcome["old"]["version"])
    assert state()["active"] == outcome["old"]["slot"]
    # Announced: the automatic rollback's message says the analysis failed and it rolled back.
    texts = [r["body"]["text"] for r in bot_api.requests]
    assert any("analysis of" in t and "failed" in t and "rolled back from" in t for t in texts), texts
    assert "Rolled back automatically" in proc.stdout


def test_a_flaky_version_is_rolled_back_by_the_analysis(one_slot, bot_api):
    outcome = switched_with_analysis_under_load("3.0.0-flaky", bot_api)
    assert_rolled_back(outcome, "3.0.0-flaky", "error_ratio", bot_api)


def test_a_sluggish_version_is_rolled_back_by_the_analysis(one_slot, bot_api):
    outcome = switched_with_analysis_under_load("3.0.0-sluggish", bot_api)
    assert_rolled_back(outcome, "3.0.0-sluggish", "latency", bot_api)


def test_no_data_is_inconclusive_and_a_healthy_version_passes_and_may_be_cleaned_up(one_slot, bot_api):
    healthy = one_slot
    old_slot = state()["active"]
    selfops("deploy", healthy, "-q")
    with Traffic(LB_URL, rps=100, user_id=900_000_011) as load:
        time.sleep(WARMUP)
        selfops("switch", "-q")
        new_slot = state()["active"]
        assert new_slot != old_slot

        # Prometheus stopped: no data - inconclusive, nothing rolled back, the team told.
        subprocess.run(["docker", "stop", "selfology-prometheus"], check=True, capture_output=True)
        try:
            started = time.monotonic()
            proc = selfops("analyze", *telegram(bot_api), check=False)
            took = time.monotonic() - started
        finally:
            subprocess.run(["docker", "start", "selfology-prometheus"], check=True, capture_output=True)
        print(f"\nPrometheus stopped: analyze ended in {took:.1f} s, rc {proc.returncode}")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "inconclusive" in proc.stdout and "decide by hand" in proc.stdout + proc.stderr
        entry = audit()[-1]
        assert entry["action"] == "analyze" and entry["outcome"] == "inconclusive", entry
        assert entry["details"]["analysis"]["counts"]["passed"] == 0
        assert all(m["phase"] == "inconclusive" and m["no_data"] for m in entry["details"]["analysis"]["measurements"])
        assert state()["active"] == new_slot and served_by()["version"] == healthy, "nothing was rolled back"
        assert any("inconclusive" in r["body"]["text"] for r in bot_api.requests)
        # Not passed: the cleanup inside the retention window is refused.
        refused = selfops("cleanup", "-q", check=False)
        assert refused.returncode == 1 and "analysis" in refused.stderr, refused.stderr

        wait_for(prometheus_ready, 60, interval=0.5, message="Prometheus ready again")
        time.sleep(4)  # two scrapes of the new slot, for the rates
        started = time.monotonic()
        proc = selfops("analyze", "12s", check=False)
        took = time.monotonic() - started
    print(f"healthy {healthy}: analyze 12s passed in {took:.1f} s; load {load.result['statuses']}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entry = audit()[-1]
    assert entry["action"] == "analyze" and entry["outcome"] == "success", entry
    record = json.loads(ANALYSIS_FILE.read_text())
    assert record["outcome"] == "passed" and record["slot"] == new_slot and record["version"] == healthy
    assert record["switched_at"] == state()["switched_at"]
    assert load.result["failed"] == 0, load.result

    # Passed: the old slot may go inside the retention window.
    cleaned = selfops("cleanup", "-q", check=False)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert audit()[-1]["action"] == "cleanup" and audit()[-1]["outcome"] == "success"
    assert old_slot not in state()["versions"]
