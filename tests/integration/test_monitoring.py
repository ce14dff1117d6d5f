"""Monitoring in the lab: alerts reach the Bot API stand-in, escalate unless acknowledged, a
refused rule or Alertmanager configuration leaves the running one working, every dashboard
query parses in the lab's Prometheus."""
import hashlib
import json
import os
import subprocess
import time
import urllib.parse
import urllib.request

import docker
import pytest

from dashboard_queries import panel_queries
from conftest import selfops
from lab import LB_URL, ROOT, _env, drain_backlog, relays_stopped_with_backlog, wait_for
from traffic import Traffic

pytestmark = pytest.mark.integration
PROMETHEUS = "http://127.0.0.1:9090"
ALERTMANAGER = "http://127.0.0.1:9093"
BOT_API = "http://127.0.0.1:8081"
ONCALL, SECONDARY = -1001, -1003
MONITORING_DIR = ROOT / ".lab" / "state" / "monitoring"


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def send(url, method, body=None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        data = response.read()
        return json.loads(data) if data else None


def messages(chat_id):
    return get(f"{BOT_API}/messages?chat_id={chat_id}")["messages"]


def query(expr):
    return get(f"{PROMETHEUS}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))


def firing(alertname):
    return [a for a in get(f"{ALERTMANAGER}/api/v2/alerts?active=true&silenced=true&inhibited=true")
            if a["labels"].get("alertname") == alertname]


def active_container(service):
    active = json.loads((ROOT / ".lab" / "state" / "slots.json").read_text())["active"]
    return docker.from_env().containers.get(f"selfology-{service}-{active}")


def silence(service):
    """The acknowledgement incident response creates: a silence on the P0's priority and service."""
    now = time.time()
    return send(f"{ALERTMANAGER}/api/v2/silences", "POST", {
        "matchers": [{"name": "priority", "value": "P0", "isRegex": False},
                     {"name": "service", "value": service, "isRegex": False}],
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 5)),
        "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 300)),
        "createdBy": "test", "comment": "acknowledged by the on-call"})["silenceID"]


@pytest.fixture
def two_services_stopped(lab):
    """The active slot's analysis-worker and question-selection stopped, question-selection's P0
    acknowledged first; both started again (and healthy), the silence expired, afterwards."""
    send(f"{BOT_API}/messages", "DELETE")
    wait_for(lambda: not firing("ServiceDown"), 60, message="no ServiceDown left from an earlier test")
    acknowledged = silence("question-selection")
    stopped = [active_container("analysis-worker"), active_container("question-selection")]
    for container in stopped:
        container.stop(timeout=5)
    yield stopped
    for container in stopped:
        container.start()
    wait_for(lambda: all(docker.from_env().containers.get(c.name).health == "healthy" for c in stopped), 60,
             message="both healthy again")
    # Expired only once the alert it silences resolved, so that no late page reaches a chat.
    wait_for(lambda: not firing("ServiceDown"), 60, message="ServiceDown resolved")
    send(f"{ALERTMANAGER}/api/v2/silence/{acknowledged}", "DELETE")


# One outage of two services, so that both cases share its wait: the unacknowledged analysis-worker
# reaches the on-call chat, escalates to the secondary and resolves; the acknowledged
# question-selection reaches no chat, though its escalation fires in Prometheus.
def test_service_down_pages_escalates_and_resolves_unless_acknowledged(two_services_stopped):
    worker = two_services_stopped[0]
    stopped = time.monotonic()
    alert = wait_for(lambda: [m for m in messages(ONCALL) if "ServiceDown" in m["text"]], 60,
                     message="a ServiceDown message in the on-call chat")[0]
    to_oncall = time.monotonic() - stopped
    text = alert["text"]
    assert "analysis-worker" in text and "critical" in text and "P0" in text, text
    assert "selfops incident service-down analysis-worker" in text, text
    escalated = wait_for(lambda: messages(SECONDARY), 90, message="the escalation in the secondary's chat")[0]
    to_secondary = time.monotonic() - stopped
    assert "analysis-worker" in escalated["text"] and "secondary" in escalated["text"], escalated["text"]
    wait_for(lambda: [a for a in firing("ServiceDownEscalated") if a["labels"].get("escalation") == "secondary"
                      and a["labels"].get("service") == "question-selection"],
             90, message="question-selection's escalation firing in Prometheus (silenced in Alertmanager)")
    worker.start()
    resolved = wait_for(lambda: [m for m in messages(ONCALL) if "RESOLVED" in m["text"]], 90,
                        message="the resolved message")
    to_resolved = time.monotonic() - stopped
    print(f"\nServiceDown: on-call after {to_oncall:.1f} s, secondary after {to_secondary:.1f} s, "
          f"resolved {to_resolved:.1f} s after the stop")
    assert "analysis-worker" in resolved[0]["text"]
    assert not [m for m in messages(ONCALL) + messages(SECONDARY) if "question-selection" in m["text"]], \
        "an acknowledged alert reached a chat"


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("bad, refused_file, checker", [
    ({"monitoring_services_job": 'broken"job'}, "rules/selfology-recording.yml", "promtool"),
    ({"monitoring_alertmanager_critical_group_by": ["not a label"]}, "alertmanager.yml", "amtool"),
], ids=["rule", "alertmanager"])
def test_a_refused_file_changes_nothing_and_the_running_one_keeps_working(lab, bad, refused_file, checker):
    path = MONITORING_DIR / refused_file
    before = digest(path)
    rules_before = sum(len(g["rules"]) for g in get(f"{PROMETHEUS}/api/v1/rules")["data"]["groups"])
    proc = ansible_playbook("monitoring", "-e", json.dumps(bad))
    assert proc.returncode != 0, proc.stdout
    assert "failed to validate" in proc.stdout, proc.stdout[-3000:]
    assert digest(path) == before, f"{refused_file} was replaced by one {checker} refused"
    assert sum(len(g["rules"]) for g in get(f"{PROMETHEUS}/api/v1/rules")["data"]["groups"]) == rules_before
    assert get(f"{ALERTMANAGER}/api/v2/status")["cluster"]["status"] in ("ready", "disabled")


def ansible_playbook(name, *args):
    return subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), f"playbooks/{name}.yml", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, **_env()))


def test_the_monitoring_playbook_is_idempotent(lab):
    # lab up installed the monitoring with this role: running it again changes nothing.
    again = ansible_playbook("monitoring")
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]


def test_the_status_and_cost_review_playbooks_decide_without_selfops(lab):
    """ansible-playbook (as AWX runs them) fails exactly when selfops would: the status play when a
    target is down, the cost review on a finding only when asked to."""
    ok = ansible_playbook("monitoring_status")
    assert ok.returncode == 0, ok.stdout[-3000:]
    review = ansible_playbook("review_costs", "-e", "checks_costs_days=1")
    assert review.returncode == 0, review.stdout[-3000:]
    exporter = docker.from_env().containers.get("selfology-node-exporter")
    exporter.stop(timeout=5)
    try:
        wait_for(lambda: query('up{job="node"}')["data"]["result"][0]["value"][1] == "0", 30,
                 message="Prometheus seeing the node exporter down")
        down = ansible_playbook("monitoring_status")
        assert down.returncode == 2 and "node" in down.stdout, down.stdout[-3000:]
    finally:
        exporter.start()
        wait_for(lambda: query('up{job="node"}')["data"]["result"][0]["value"][1] == "1", 30,
                 message="the node exporter scraped again")


def test_every_dashboard_query_parses_and_the_lab_answers_most(lab):
    empty, refused = [], []
    for dashboard, panel, expr in panel_queries():
        answer = query(expr)
        if answer.get("status") != "success":
            refused.append(f"{dashboard} / {panel}: {answer.get('error')}")
        elif not answer["data"]["result"]:
            empty.append(f"{dashboard} / {panel}: {expr}")
    print("\npanels without data in the lab:\n  " + "\n  ".join(empty))
    assert not refused, refused
    assert len(empty) < len(panel_queries()) / 2, empty


def active_alerts(alertname):
    return [a for a in firing(alertname) if a["status"]["state"] == "active"]


def test_a_backlog_fires_its_alert_the_morning_check_names_it_and_incident_backlog_drains_it(pg):
    event_type = "selfops.test.alerts"
    try:
        with relays_stopped_with_backlog(pg, 1500, event_type):
            stopped = time.monotonic()
            wait_for(lambda: active_alerts("EventProcessingBacklog"), 90, message="EventProcessingBacklog firing")
            fired_after = time.monotonic() - stopped
            proc = selfops("check", "daily", "-q", check=False)
            # The alert's handler: restart the relay, wait until pending < 100 (runbook - P1 backlog).
            incident = selfops("incident", "backlog", "-q", check=False)
        print(f"\nEventProcessingBacklog active {fired_after:.1f} s after the backlog was written")
        assert proc.returncode == 2, proc.stdout
        alerts_line = next(line for line in proc.stdout.splitlines() if "Review overnight alerts" in line)
        assert "critical" in alerts_line and "EventProcessingBacklog" in alerts_line, alerts_line
        assert incident.returncode == 0, incident.stdout + incident.stderr
        path = next(line.split("Report: ", 1)[1] for line in incident.stdout.splitlines() if line.startswith("Report: "))
        report = json.loads(open(path[:-3] + ".json").read())
        restart = next(step for step in report["steps"] if step["name"] == "Restart OutboxRelay")
        assert report["resolved_by"] == "Restart OutboxRelay" and restart["details"]["pending_after"] < 100
        assert restart["details"]["pending_before"] >= 1500 and restart["details"]["drain_rate_per_s"] > 0
        print(f"incident backlog: {restart['details']['pending_before']} pending drained to "
              f"{restart['details']['pending_after']} at {restart['details']['drain_rate_per_s']}/s "
              f"in {restart['details']['drained_in_s']} s")
    finally:
        drain_backlog(pg, event_type)


def test_a_flaky_version_switched_to_under_load_fires_high_error_rate_and_incident_error_rate_rolls_it_back(lab):
    selfops("cleanup", "-q", "--force", "--reason", "test setup", "-e", "bluegreen_retention=0")
    selfops("lab", "image", "3.0.0-flaky", "--fault", "flaky", "-q")
    deployed = selfops("deploy", "3.0.0-flaky", "-q", check=False)
    assert deployed.returncode == 0, "a flaky version passes the deploy's gates\n" + deployed.stdout
    try:
        with Traffic(LB_URL, rps=100, user_id=900_000_001):
            selfops("switch", "-q")
            switched = time.monotonic()
            alert = wait_for(lambda: active_alerts("HighErrorRate"), 120, message="HighErrorRate firing")[0]
            fired_after = time.monotonic() - switched
            print(f"\nHighErrorRate active {fired_after:.1f} s after the switch to the flaky version "
                  f"({alert['labels'].get('service')})")
            assert alert["labels"]["severity"] == "critical" and alert["labels"]["priority"] == "P1"
            assert alert["annotations"]["command"] == "selfops incident error-rate"
            # The alert's handler: the breakdown names the flaky endpoints and the recent switch is rolled back.
            incident = selfops("incident", "error-rate", "-q", check=False)
            assert incident.returncode == 0, incident.stdout + incident.stderr
            assert "Resolved by Rollback recent deployment" in incident.stdout, incident.stdout
            state = json.loads((ROOT / ".lab" / "state" / "slots.json").read_text())
            assert state["versions"][state["active"]] != "3.0.0-flaky"
        print(incident.stdout)
    finally:
        state = json.loads((ROOT / ".lab" / "state" / "slots.json").read_text())
        if state["versions"][state["active"]] == "3.0.0-flaky":
            selfops("rollback", "-q", check=False)
        selfops("cleanup", "-q", "--force", "--reason", "test teardown", "-e", "bluegreen_retention=0", check=False)
