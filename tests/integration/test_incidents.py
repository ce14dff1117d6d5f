"""Incident response on real faults in the lab (runbook - Incident Response, Common Issues): each
playbook follows the runbook's steps, checks recovery with the alert's own signal, stops at the
first fix that works and writes the report; the CLI only renders it."""
import json
import random
import subprocess
import time
import urllib.request

import docker
import pytest

from conftest import selfops
from lab import ROOT, STATE_FILE, wait_for
from test_redis_loss import answers_posted, applied, assert_applied_exactly_once

pytestmark = pytest.mark.integration

ALERTMANAGER = "http://127.0.0.1:9093"
BOT_API = "http://127.0.0.1:8081"
TEAM_CHAT = -1005  # inventory/lab/group_vars/selfology/incident.yml
AUDIT_LOG = ROOT / ".lab" / "state" / "audit.log"


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def team_messages():
    return [m["text"] for m in get(f"{BOT_API}/messages?chat_id={TEAM_CHAT}")["messages"]]


def active_slot():
    return json.loads(STATE_FILE.read_text())["active"]


def report_of(proc):
    """The report the run printed, read back from its JSON."""
    path = next(line.split("Report: ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("Report: "))
    return path, json.loads(open(path[:-3] + ".json").read())


def steps(incident):
    return [(step["name"], step["result"]) for step in incident["steps"]]


def silences(service):
    return [s for s in get(f"{ALERTMANAGER}/api/v2/silences") if s["status"]["state"] == "active"
            and {"name": "service", "value": service, "isRegex": False, "isEqual": True} in s["matchers"]]


def last_audit(action):
    return [json.loads(line) for line in AUDIT_LOG.read_text().splitlines() if f'"action":"{action}"' in line][-1]


def healthy(name):
    return docker.from_env().containers.get(name).health == "healthy"


def test_a_killed_worker_is_back_after_fix_a_with_the_report_written(lab):
    worker = docker.from_env().containers.get(f"selfology-analysis-worker-{active_slot()}")
    worker.kill(signal="SIGKILL")
    time.sleep(2)
    assert docker.from_env().containers.get(worker.name).status == "exited", "Docker must not restart a killed container"
    try:
        proc = selfops("incident", "service-down", "analysis-worker", "-q", check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        path, incident = report_of(proc)
        assert incident["status"] == "resolved" and incident["resolved_by"] == "Fix A - restart service"
        assert steps(incident) == [("Acknowledge alert", "ok"), ("Check service logs", "ok"),
                                   ("Fix A - restart service", "ok")]
        assert healthy(worker.name)
        # The silence lasted the response only: a new outage pages again.
        assert not silences("analysis-worker")
        assert "**Severity:** P0" in open(path).read() and "Users unable to get analysis" in open(path).read()
        told = team_messages()
        assert any("P0 incident: analysis-worker down - investigating" in text for text in told)
        assert any(path in text and "resolved by Fix A" in text for text in told)
        entry = last_audit("incident-service-down")
        assert entry["outcome"] == "success" and entry["details"]["report"] == path
        print(f"\nkilled worker: resolved by Fix A in {incident['time_to_resolve_s']} s")
    finally:
        if docker.from_env().containers.get(worker.name).status != "running":
            docker.from_env().containers.get(worker.name).start()


def test_a_version_that_crashes_once_active_goes_through_a_and_b_to_rollback(lab):
    selfops("cleanup", "-q", "--force", "--reason", "test setup", "-e", "bluegreen_retention=0")
    before = active_slot()
    selfops("lab", "image", "3.1.0-crash", "--fault", "crash-active", "-q")
    deployed = selfops("deploy", "3.1.0-crash", "-q", check=False)
    assert deployed.returncode == 0, "it passes the deploy's gates while inactive\n" + deployed.stdout
    try:
        selfops("switch", "-q")
        crashing = f"selfology-analysis-worker-{active_slot()}"
        wait_for(lambda: docker.from_env().containers.get(crashing).attrs["RestartCount"] > 0, 30,
                 message=f"{crashing} crashing")
        proc = selfops("incident", "service-down", "analysis-worker", "-q", check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        incident = report_of(proc)[1]
        assert steps(incident)[2:] == [("Fix A - restart service", "failed"), ("Fix B - check dependencies", "failed"),
                                       ("Fix C - rollback", "ok")]
        assert incident["resolved_by"] == "Fix C - rollback"
        assert active_slot() == before and healthy(f"selfology-analysis-worker-{before}")
        crash_evidence = incident["evidence"][0]["content"]
        assert crash_evidence["counts"]["crash"] > 0, "the logs show the crash traces"
        assert last_audit("rollback")["outcome"] == "success"
        print(f"\ncrash-active: resolved by Fix C in {incident['time_to_resolve_s']} s")
    finally:
        if active_slot() != before:
            selfops("rollback", "-q", check=False)
        selfops("cleanup", "-q", "--force", "--reason", "test teardown", "-e", "bluegreen_retention=0", check=False)


def test_diagnose_redis_restarts_a_stopped_redis_and_no_answer_is_lost(pg):
    user_id = random.randrange(3 * 10**9, 4 * 10**9)
    docker.from_env().containers.get("n8n-redis").stop(timeout=5)
    try:
        with answers_posted(user_id, pause=0.05) as ids:
            proc = selfops("diagnose", "redis", "-q", check=False)
    finally:
        if docker.from_env().containers.get("n8n-redis").status != "running":
            docker.from_env().containers.get("n8n-redis").start()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    incident = report_of(proc)[1]
    assert incident["resolved_by"] == "Solution A - restart Redis"
    details = dict(incident["steps"][1]["details"])
    assert set(details["services"].values()) == {"healthy"}
    assert details["services_reconnected_after_s"] is not None
    assert ids, "answers are accepted while Redis is down"
    wait_for(lambda: applied(pg, ids), 40, interval=0.2, message="every accepted answer applied")
    assert_applied_exactly_once(pg, user_id, ids)
    print(f"\ndiagnose redis: Redis back after {details['redis_back_after_s']} s, services reconnected "
          f"{details['services_reconnected_after_s']} s later; {len(ids)} answers accepted meanwhile, all applied")


def test_a_healthy_redis_is_not_restarted(lab):
    started = docker.from_env().containers.get("n8n-redis").attrs["State"]["StartedAt"]
    proc = selfops("diagnose", "redis", "-q", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert docker.from_env().containers.get("n8n-redis").attrs["State"]["StartedAt"] == started
    names = [step["name"] for step in report_of(proc)[1]["steps"]]
    assert names == ["Check Redis status and logs", "Solution B - check Redis memory"]


def test_an_unknown_service_is_refused_by_the_playbook_and_the_cli(lab):
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "inventory/lab",
                           "playbooks/incident_service_down.yml", "-e", "incident_service=analysis-wrker"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "unknown service \"analysis-wrker\"" in proc.stdout, proc.stdout
    # The CLI checks the name's form; the topology (the inventory's) is the playbook's to know.
    cli = selfops("incident", "service-down", "analysis-wrker", check=False)
    assert cli.returncode == 1 and 'unknown service "analysis-wrker"' in cli.stderr
    malformed = selfops("incident", "service-down", "worker;rm", check=False)
    assert malformed.returncode == 2 and "worker;rm" in malformed.stderr
