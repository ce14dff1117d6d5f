"""Alert-driven incident response in the lab, for real: ansible-rulebook (selfops watch) with the
collection's rulebook and Alertmanager webhook source, the lab's Alertmanager configured by the
monitoring role to post to it. The active analysis-worker is stopped and nobody acts: ServiceDown
fires, the rulebook starts incident_service_down, the worker is healthy again and a report is written;
the same alert posted again (as Alertmanager repeats it) starts no second remediation."""
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime

import docker
import pytest

from lab import ROOT, _env, run_module, wait_for
from selfops import eda

pytestmark = pytest.mark.integration
ALERTMANAGER = "http://127.0.0.1:9093"
BOT_API = "http://127.0.0.1:8081"
STATE = ROOT / ".lab" / "state"
INCIDENTS = STATE / "incidents"
GUARD = STATE / "remediations.json"
AUDIT = STATE / "audit.log"
NETWORK = "selfology-net"


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def post(url, body, token):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def ansible_playbook(name, *args):
    """ansible-playbook started (not awaited): communicate() gives its output."""
    return subprocess.Popen([str(ROOT / ".venv" / "bin" / "ansible-playbook"), f"playbooks/{name}.yml", *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, **_env()))


def finished(playbook, timeout=300):
    out = playbook.communicate(timeout=timeout)[0]
    assert playbook.returncode == 0, out[-3000:]
    return out


def gateway():
    """The lab network's gateway: the host's address on it, which Alertmanager's container reaches."""
    network = docker.from_env().networks.get(NETWORK)
    return network.attrs["IPAM"]["Config"][0]["Gateway"]


def free_port(host):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def watch_command(host, port):
    return [sys.executable, "-m", "selfops.cli", "watch", "--host", host, "--port", str(port), "-v"]


def active_worker():
    active = json.loads((STATE / "slots.json").read_text())["active"]
    return docker.from_env().containers.get(f"selfology-analysis-worker-{active}")


def alerts(alertname):
    return [a for a in get(f"{ALERTMANAGER}/api/v2/alerts?active=true&silenced=true&inhibited=true")
            if a["labels"].get("alertname") == alertname and not a["labels"].get("escalation")]


def reports():
    return sorted(INCIDENTS.glob("*_service_down*.md")) if INCIDENTS.exists() else []


def log_time(line):
    """The wall-clock time of an ansible-rulebook log line (local time, '2026-12-01 21:02:07,306')."""
    stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})", line)
    return datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S").timestamp() + int(stamp.group(2)) / 1000


def received(log, fingerprint=None):
    """The source's log lines of ServiceDown alerts received (firing, for analysis-worker)."""
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if "alert ServiceDown firing" in line and "service analysis-worker" in line]
    return [line for line in lines if fingerprint is None or f"fingerprint {fingerprint}" in line]


def clear_claims():
    """An operator clearing the guard: claims of earlier service-down runs (its window outlives a test run)."""
    if GUARD.exists():
        for key in json.loads(GUARD.read_text())["claims"]:
            if key.startswith("service-down:"):
                result = run_module("selfology.ops.remediation_guard", {"path": str(GUARD), "key": key, "state": "absent"})
                assert result.get("changed"), result


@pytest.fixture
def rulebook(lab, tmp_path):
    """selfops watch on the lab network's gateway, the lab's Alertmanager posting to it (configured while
    the rulebook starts); restore() configures Alertmanager as before (at the latest when the test ends),
    and ansible-rulebook is stopped with every process under it."""
    host = gateway()
    port = free_port(host)
    token = secrets.token_hex(16)
    url = f"http://{host}:{port}/alerts"
    log = tmp_path / "rulebook.log"
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(watch_command(host, port), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, **{eda.TOKEN_ENV: token}), start_new_session=True)
    # Only the alert under test: whatever else earlier tests left firing (a HighErrorRate of a faulty
    # version) would start its own incident run, and the rulebook runs one at a time. The matcher on a
    # label no alert has makes the route, so the alert group, this run's own: Alertmanager's
    # notification log would otherwise take the alert for one it already sent (an earlier run's
    # configuration may have been restored before the alert resolved).
    matchers = ['alertname="ServiceDown"', 'service="analysis-worker"', 'escalation=""',
                f'selfology_eda_test!="{token}"']
    configure = ansible_playbook("monitoring", "-e", json.dumps(
        {"monitoring_eda_webhook_url": url, "monitoring_eda_webhook_token": token,
         "monitoring_eda_webhook_matchers": matchers}))
    restoring = []

    def restore():
        if not restoring:
            if configure.returncode is None:  # not awaited yet: the test stopped before
                configure.communicate(timeout=300)
            restoring.append(ansible_playbook("monitoring"))

    try:
        def listening():
            try:
                return urllib.request.urlopen(f"http://{host}:{port}/health", timeout=2).status == 200
            except (urllib.error.URLError, OSError):
                assert proc.poll() is None, f"selfops watch exited {proc.returncode}:\n{log.read_text()[-3000:]}"
                return False
        wait_for(listening, 60, interval=0.2, message="the rulebook's webhook listening")
        listened = time.monotonic() - started
        assert re.search(r"changed=[1-9]", finished(configure)), "Alertmanager's configuration did not change"
        print(f"\nrulebook listening after {listened:.1f} s, Alertmanager configured after {time.monotonic() - started:.1f} s")
        yield dict(url=url, token=token, log=log, proc=proc, restore=restore)
    finally:
        try:
            restore()
        finally:
            tree = eda.descendants(proc.pid)
            eda.stop(proc, grace=15)
            time.sleep(0.2)
            left = [pid for pid in tree if os.path.exists(f"/proc/{pid}")
                    and open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
            print(f"\nrulebook log (last lines):\n{log.read_text(errors='replace')[-2500:]}")
        finished(restoring[0])
        assert not left, f"processes of the rulebook left running: {left}"


def runs(log):
    """Playbook runs ended: ansible-rulebook logs a failed run's output a second time, as an error."""
    text = log.read_text(errors="replace")
    return text.count("PLAY RECAP") - text.count("ansible_rulebook.action.run_playbook - ERROR")


def test_a_stopped_worker_is_repaired_with_no_person_acting_and_a_repeat_starts_no_second_run(rulebook):
    wait_for(lambda: not alerts("ServiceDown"), 60, message="no ServiceDown left from an earlier test")
    clear_claims()
    before_reports = reports()
    audit_before = AUDIT.read_text().count("\n") if AUDIT.exists() else 0
    urllib.request.urlopen(urllib.request.Request(f"{BOT_API}/messages", method="DELETE"), timeout=10).close()

    worker = active_worker()
    worker.stop(timeout=5)
    stopped = time.time()
    seen = {}
    try:
        def repaired():
            if "alert" not in seen:
                firing = alerts("ServiceDown")
                if firing:
                    seen["alert"] = firing[0]
            if "received" not in seen and received(rulebook["log"]):
                seen["received"] = log_time(received(rulebook["log"])[0])
            if "healthy" not in seen and docker.from_env().containers.get(worker.name).health == "healthy":
                seen["healthy"] = time.time()
            if "report" not in seen and len(reports()) > len(before_reports):
                seen["report"] = time.time()
            return "healthy" in seen and "report" in seen and "received" in seen and runs(rulebook["log"]) == 1
        wait_for(repaired, 120, interval=0.25, message="the worker healthy again and a report, with no person acting")
    finally:
        if docker.from_env().containers.get(worker.name).status != "running":
            worker.start()

    report, = [r for r in reports() if r not in before_reports]
    text = report.read_text()
    assert "analysis-worker" in text and "ServiceDown alert" in text, text[:2000]
    fingerprint = seen["alert"]["fingerprint"]
    assert f"fingerprint {fingerprint}" in received(rulebook["log"])[0]
    claims = json.loads(GUARD.read_text())["claims"]
    assert list(k for k in claims if k.startswith("service-down:")) == [f"service-down:{fingerprint}"]
    entries = [json.loads(line) for line in AUDIT.read_text().splitlines()[audit_before:]]
    incidents = [e for e in entries if e["action"] == "incident-service-down"]
    assert len(incidents) == 1 and incidents[0]["outcome"] == "success", incidents
    assert "ServiceDown alert" in incidents[0]["details"]["trigger"], incidents[0]
    team = [m["text"] for m in get(f"{BOT_API}/messages?chat_id=-1005")["messages"]]
    assert any("analysis-worker" in t and "ServiceDown alert" in t for t in team), team
    restarts = docker.from_env().containers.get(worker.name).attrs["State"]["StartedAt"]
    rulebook["restore"]()  # Alertmanager need not post any more: the repeat is posted below

    # The same alert again, as Alertmanager repeats a firing alert: the run it starts ends at the guard.
    alert = dict(seen["alert"])
    repeat = {"version": "4", "status": "firing", "receiver": "eda-webhook", "groupKey": "repeat",
              "externalURL": ALERTMANAGER, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
              "truncatedAlerts": 0, "alerts": [{
                  "status": "firing", "labels": alert["labels"], "annotations": alert["annotations"],
                  "startsAt": alert["startsAt"], "endsAt": "0001-01-01T00:00:00Z",
                  "generatorURL": alert.get("generatorURL", ""), "fingerprint": fingerprint}]}
    assert post(rulebook["url"], repeat, rulebook["token"]) == 202
    wait_for(lambda: runs(rulebook["log"]) == 2, 60,
             message="the repeated alert's run to end")
    log = rulebook["log"].read_text(errors="replace")
    recap = log[log.rfind("PLAY RECAP"):].splitlines()[1]
    assert "failed=0" in recap, log[log.rfind("PLAY ["):][-3000:]
    assert [r for r in reports() if r not in before_reports] == [report], "the repeat wrote a second report"
    assert json.loads(GUARD.read_text())["claims"] == claims, "the repeat changed the guard"
    # The refused run is audited and announced too.
    entries = [json.loads(line) for line in AUDIT.read_text().splitlines()[audit_before:]]
    outcomes = [e["outcome"] for e in entries if e["action"] == "incident-service-down"]
    assert outcomes == ["success", "refused"], entries
    team = [m["text"] for m in get(f"{BOT_API}/messages?chat_id=-1005")["messages"]]
    assert any("not handled again" in t for t in team), team
    assert docker.from_env().containers.get(worker.name).attrs["State"]["StartedAt"] == restarts, \
        "the repeat restarted the worker again"

    starts_at = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00")).timestamp()
    print(f"\nalert-driven ServiceDown: condition true (startsAt) {starts_at - stopped:.1f} s after the stop, "
          f"at the webhook {seen['received'] - stopped:.1f} s; worker healthy {seen['healthy'] - seen['received']:.1f} s "
          f"and report written {seen['report'] - seen['received']:.1f} s after the alert reached the rulebook "
          f"({seen['healthy'] - stopped:.1f} s / {seen['report'] - stopped:.1f} s after the stop)")
