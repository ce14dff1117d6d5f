"""The blue-green lifecycle against the lab: zero failed requests, exactly-once events, refusals."""
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import ansible_runner
import docker
import pytest

from conftest import selfops
from ansible_collections.selfology.ops.plugins.module_utils import loadbalancer
from lab import INVENTORY, LB_URL, ROOT, STATE_FILE, _env, run_playbook
from traffic import Traffic

pytestmark = pytest.mark.integration
RETENTION = ("-e", "bluegreen_retention=0")
VERSIONS = ("1.0.0", "2.0.0")


def state():
    return json.loads(STATE_FILE.read_text())


def lb_slot():
    import urllib.request
    with urllib.request.urlopen(f"{LB_URL}/lb/health", timeout=5) as response:
        return response.read().decode().strip()


def slot_containers(slot):
    return sorted(c.name for c in docker.from_env().containers.list(all=True, filters={"label": f"org.selfology.slot={slot}"}))


@pytest.fixture(scope="module")
def images(lab):
    for version in VERSIONS:
        selfops("lab", "image", version, "-q")
    selfops("lab", "image", "9.0.0-unhealthy", "--fault", "unhealthy", "-q")
    selfops("lab", "image", "9.0.1-errors", "--fault", "errors", "-q")


@pytest.fixture
def settled(images):
    """One healthy active slot and no inactive one, whatever an earlier test left."""
    selfops("cleanup", "-q", "--force", "--reason", "test setup", *RETENTION)
    return state()["active"]


def other(version):
    return VERSIONS[1 - VERSIONS.index(version)] if version in VERSIONS else VERSIONS[1]


# Each cycle moves traffic four times (deploy, switch, rollback, switch, cleanup). One in CI keeps
# `make test` inside its 30 minutes; bench/ and SELFOPS_TEST_CYCLES=5 run more.
CYCLES = int(os.environ.get("SELFOPS_TEST_CYCLES", "1"))


@pytest.mark.parametrize("keepalive", [False, True], ids=["new-connection-per-request", "keep-alive-clients"])
def test_full_cycles_under_load_fail_no_request_and_apply_each_event_once(settled, pg, keepalive):
    user_id = 800_000_000 + int(time.time()) % 100_000_000 + (1 if keepalive else 0)
    timings = []
    with Traffic(LB_URL, rps=250, user_id=user_id, keepalive=keepalive) as load:
        time.sleep(1)
        for _cycle in range(CYCLES):
            current = state()["versions"][state()["active"]]
            for command in (("deploy", other(current)), ("switch",), ("rollback",), ("switch",), ("cleanup",)):
                started = time.monotonic()
                selfops(*command, "-q", *RETENTION)
                timings.append((command[0], round(time.monotonic() - started, 2)))
        time.sleep(1)
    result = load.result
    print(f"\nload ({'keep-alive' if keepalive else 'new connection per request'}): {result['requests']} requests "
          f"at {result['rate']}/s, statuses {result['statuses']}, errors {result['errors']}, served by {result['slots']}; "
          f"over {result['connections']} connections; lifecycle timings {timings}")
    assert result["rate"] >= 200, result
    assert result["failed"] == 0, result
    assert not [s for s in result["statuses"] if s >= 500]
    assert set(result["slots"]) == {"blue", "green"}, "traffic really moved between the slots"
    if keepalive:
        assert result["connections"] == 16, "every client kept its one connection through all the switches"

    produced = len(result["event_ids"])
    assert produced > 1000

    def effects():
        return pg.execute("SELECT count(*), count(DISTINCT event_id) FROM selfology.trait_history WHERE event_id = ANY(%s)",
                          (result["event_ids"],)).fetchone()

    deadline = time.monotonic() + 60
    while effects()[0] < produced and time.monotonic() < deadline:
        time.sleep(0.5)
    assert effects() == (produced, produced), "every event applied, none twice"
    answers = pg.execute("SELECT answers_count FROM selfology.personality_profiles WHERE user_id = %s",
                         (user_id,)).fetchone()[0]
    assert answers == produced, "the profile counted each answer exactly once"


def test_a_never_healthy_version_is_refused_and_traffic_stays(settled):
    before = state()
    proc = selfops("deploy", "9.0.0-unhealthy", check=False)
    assert proc.returncode == 1
    assert "is unhealthy" in proc.stdout + proc.stderr
    assert '"status": "unhealthy"' in proc.stdout, "the health check's answer is shown"
    assert lb_slot() == before["active"]
    assert slot_containers("green" if before["active"] == "blue" else "blue") == []
    assert state()["active"] == before["active"] and state()["versions"] == before["versions"]


def test_a_version_answering_5xx_is_refused_by_the_smoke_tests(settled):
    before = state()
    proc = selfops("deploy", "9.0.1-errors", check=False)
    assert proc.returncode == 1
    assert "❌ Service response check FAILED" in proc.stdout
    assert lb_slot() == before["active"]
    assert slot_containers("green" if before["active"] == "blue" else "blue") == []


def test_deploying_the_active_version_changes_nothing(settled):
    before = state()
    proc = selfops("deploy", before["versions"][before["active"]])
    assert "nothing to do" in proc.stdout
    assert state() == before


def test_rollback_after_cleanup_fails_clearly_and_changes_nothing(settled):
    selfops("deploy", other(state()["versions"][state()["active"]]), "-q")
    selfops("switch", "-q")
    selfops("cleanup", "-q", *RETENTION)
    before = state()
    proc = selfops("rollback", check=False)
    assert proc.returncode == 1
    assert "was cleaned up: nothing to roll back to" in proc.stderr
    assert state() == before and lb_slot() == before["active"]
    status = json.loads(selfops("status", "--json").stdout)["hosts"]["localhost"]
    assert status["drift"] == []


def test_cleanup_inside_the_retention_window_is_refused_unless_forced(settled):
    selfops("deploy", other(state()["versions"][state()["active"]]), "-q")
    selfops("switch", "-q")
    proc = selfops("cleanup", check=False)
    assert proc.returncode == 1 and "kept for rollback" in proc.stderr
    assert selfops("cleanup", "--force", check=False).returncode == 2, "force needs a reason"
    selfops("cleanup", "-q", "--force", "--reason", "test: retention")


def _run_deploy_events(version):
    """Runs the deploy playbook and returns (rc, events) with per-task durations."""
    events = []
    with tempfile.TemporaryDirectory(prefix="selfops-test-") as private:
        ansible_runner.run(private_data_dir=private, playbook=str(ROOT / "playbooks" / "deploy.yml"),
                           inventory=str(INVENTORY), envvars=_env(), quiet=True,
                           extravars={"bluegreen_version": version, "bluegreen_who": "second-operator"},
                           event_handler=lambda e: events.append(e) or True)
    return events


def test_a_second_lifecycle_action_fails_at_once_naming_the_holder(settled):
    lock = Path(STATE_FILE).parent / "lock.json"
    first = threading.Thread(target=lambda: selfops("deploy", "9.0.0-unhealthy", "-q", check=False))
    first.start()
    deadline = time.monotonic() + 20
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.exists(), "the first deploy took the lock"
    events = _run_deploy_events(other(state()["versions"][state()["active"]]))
    first.join()
    failed = [e["event_data"] for e in events if e.get("event") == "runner_on_failed"
              and e["event_data"].get("task_action") == "selfology.ops.deploy_lock"]
    assert failed, "the lock task refused the second deploy"
    assert failed[0]["duration"] < 1.0
    assert "deploy" in failed[0]["res"]["msg"] and "held by" in failed[0]["res"]["msg"]


@pytest.mark.parametrize("argv", [
    ("deploy", "1.0.0; rm -rf /"), ("deploy", "1.0 0"), ("scale", "no-such-service", "2"),
    ("scale", "question-selection", "0"), ("smoke", "--slot", "purple"),
])
def test_hostile_input_is_rejected_before_any_change(settled, argv):
    before = state()
    proc = selfops(*argv, check=False)
    assert proc.returncode != 0
    assert state() == before


def test_hostile_input_given_straight_to_the_playbooks_is_rejected(settled):
    """Without the CLI's checks, the playbooks refuse the same input themselves."""
    before = state()
    rc, stats = run_playbook(ROOT / "playbooks" / "deploy.yml", {"bluegreen_version": "$(touch /tmp/pwned) 1"})
    assert rc != 0 and stats["failures"]
    rc, stats = run_playbook(ROOT / "playbooks" / "scale.yml",
                             {"bluegreen_service": "x; reboot", "bluegreen_replicas": 2})
    assert rc != 0 and stats["failures"]
    assert not Path("/tmp/pwned").exists()
    assert state() == before


def lb_servers(backend):
    """The servers of a backend that the running HAProxy sends traffic to, with their addresses."""
    with loadbalancer.AdminSocket(str(STATE_FILE.parent / "lb" / loadbalancer.SOCKET)) as admin:
        servers = loadbalancer.server_states(admin)[backend]
    return {name: s["addr"] for name, s in servers.items() if s["ready"] and s["addr"] != "0.0.0.0"}


@pytest.mark.parametrize("keepalive", [False, True], ids=["new-connection-per-request", "keep-alive-clients"])
def test_scale_up_and_down_under_load_fails_no_request(settled, keepalive):
    active = state()["active"]
    backend = f"question_selection_{active}"
    with Traffic(LB_URL, rps=200, user_id=2, keepalive=keepalive) as load:
        time.sleep(1)
        selfops("scale", "question-selection", "3", "-q")
        client = docker.from_env()
        names = [f"selfology-question-selection-{active}"] + [f"selfology-question-selection-{active}-{n}" for n in (2, 3)]
        addresses = {c.name: c.attrs["NetworkSettings"]["Networks"]["selfology-net"]["IPAddress"]
                     for c in (client.containers.get(name) for name in names)}
        assert lb_servers(backend) == {"r1": addresses[names[0]], "r2": addresses[names[1]], "r3": addresses[names[2]]}
        assert all(client.containers.get(n).attrs["State"]["Health"]["Status"] == "healthy" for n in names)
        time.sleep(2)
        selfops("scale", "question-selection", "1", "-q")
        time.sleep(1)
    result = load.result
    print(f"\nscale under load ({'keep-alive' if keepalive else 'new connection'}): {result['requests']} requests, "
          f"statuses {result['statuses']}, errors {result['errors']}")
    assert result["failed"] == 0, result
    assert result["requests"] > 600
    assert lb_servers(backend) == {"r1": addresses[names[0]]}
    assert f"selfology-question-selection-{active}-2" not in slot_containers(active)


def test_lifecycle_results_reach_the_team_and_the_audit_log(settled, bot_api):
    version = other(state()["versions"][state()["active"]])
    proc = selfops("deploy", version, "-e", f"bluegreen_telegram_api_url={bot_api.url}",
                   "-e", "bluegreen_telegram_token=123:SECRET", "-e", "bluegreen_telegram_chat_id=-100")
    path, body = bot_api.requests[-1]["path"], bot_api.requests[-1]["body"]
    assert path == "/bot123:SECRET/sendMessage" and body["chat_id"] == "-100"
    assert f"deploy {version}" in body["text"]
    assert "SECRET" not in proc.stdout + proc.stderr
    history = selfops("history", "--json").stdout
    entries = json.loads(history)["hosts"]["localhost"]
    last = entries[-1]
    assert last["action"] == "deploy" and last["outcome"] == "success" and last["version"] == version
    assert [g["name"] for g in last["gates"]][:2] == ["backup", "health"]
    assert "SECRET" not in (STATE_FILE.parent / "audit.log").read_text()
