"""The foundation against the running lab: health, smoke checks, failures, and the event path."""
import json
import threading
import time
import urllib.request

import docker
import pytest

from conftest import selfops
from lab import LB_URL, ROOT, STATE_FILE, run_playbook, wait_for

pytestmark = pytest.mark.integration


def smoke_json(*args):
    proc = selfops("smoke", "--json", *args, check=False)
    return proc.returncode, json.loads(proc.stdout), proc


def active():
    """The active slot and its version (blue and 1.0.0 on a fresh lab; other tests may switch)."""
    state = json.loads(STATE_FILE.read_text())
    return state["active"], state["versions"][state["active"]]


def test_the_active_slot_runs_every_service_healthy(lab):
    proc = selfops("status", "--json")
    info = json.loads(proc.stdout)["hosts"]["localhost"]
    assert info["active_slot"] == active()[0]
    slot = info["slots"][info["active_slot"]]
    assert [s["name"] for s in slot["services"]] == [
        "question-selection", "session-management", "analysis-worker", "outbox-relay"]
    assert all(s["state"] == "running" and s["health"] == "healthy" for s in slot["services"]), slot
    assert info["drift"] == []


def test_status_prints_the_runbook_block(lab):
    out = selfops("status", "-q").stdout
    slot = active()[0]
    other = "green" if slot == "blue" else "blue"
    assert out.startswith(f"Active Slot:   {slot}\nInactive Slot: {other}\n")
    assert f"  selfology-question-selection-{slot}: healthy" in out


def test_lab_up_twice_changes_nothing(lab):
    rc, stats = run_playbook(ROOT / "playbooks" / "lab_up.yml")
    assert rc == 0
    assert stats["changed"] == {}, stats


def test_four_smoke_checks_pass_with_timings(lab):
    rc, out, proc = smoke_json()
    assert rc == 0, proc.stderr
    checks = out["hosts"]["localhost"]["checks"]
    assert [c["name"] for c in checks] == ["service_response", "database", "redis", "event_bus"]
    assert all(c["passed"] and c["duration_ms"] >= 0 for c in checks)
    assert checks[3]["consumer"] == f"selfology-analysis-worker-{active()[0]}"


@pytest.mark.parametrize("container, check_title", [
    ("n8n-redis", "Redis connectivity"),
    ("n8n-postgres", "Database connectivity"),
])
def test_smoke_fails_naming_a_stopped_dependency_and_recovers(lab, container, check_title):
    engine = docker.from_env()
    engine.containers.get(container).stop(timeout=5)
    try:
        # A short event-bus wait: with a dependency down the round trip cannot complete anyway.
        proc = selfops("smoke", "-q", "-e", "smoke_event_timeout=3", check=False)
        assert proc.returncode == 1
        assert f"❌ {check_title} FAILED" in proc.stdout, proc.stdout
    finally:
        engine.containers.get(container).start()
    wait_for(lambda: selfops("smoke", "-q", "-e", "smoke_event_timeout=3", check=False).returncode == 0, 60, interval=1,
             message=f"smoke passing again after {container} restarted")


def _user_events(pg, user_id):
    return pg.execute(
        "SELECT (SELECT count(*) FROM selfology.trait_history WHERE user_id = %(u)s),"
        " (SELECT coalesce(sum(answers_count), 0) FROM selfology.personality_profiles WHERE user_id = %(u)s)",
        {"u": user_id}).fetchone()


def test_an_answer_travels_from_the_load_balancer_to_the_profile(lab, pg):
    user_id = int(time.time() * 1000) % 1_000_000_000
    request = urllib.request.Request(
        f"{LB_URL}/api/sessions/{user_id}/answers", method="POST",
        data=json.dumps({"trait": "openness", "value": 0.9}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 202
        event_id = json.loads(response.read())["event_id"]
    status = wait_for(lambda: pg.execute(
        "SELECT status FROM selfology.event_outbox WHERE id = %s AND status = 'published'", (event_id,)).fetchone(),
        10, message="outbox row published")
    assert status == ("published",)
    wait_for(lambda: _user_events(pg, user_id) == (1, 1), 10, message="worker effect")
    with urllib.request.urlopen(f"{LB_URL}/api/sessions/{user_id}", timeout=5) as response:
        profile = json.loads(response.read())
    assert profile["traits"] == {"openness": 0.9} and profile["served_by"]["slot"] == active()[0]


def test_restarting_relay_and_worker_mid_flow_loses_and_duplicates_nothing(lab, pg, rdb):
    """Events keep arriving while the relay is restarted and the worker is killed (SIGKILL, no
    chance to finish its batch) and started again: every event's effect lands exactly once."""
    user_id = 700_000_000 + int(time.time()) % 100_000_000
    produced = 3000
    stop = threading.Event()

    def produce():
        import psycopg
        from lab import pg_dsn
        with psycopg.connect(pg_dsn(), autocommit=True) as conn:
            for start in range(0, produced, 50):
                conn.execute(
                    "INSERT INTO selfology.event_outbox (event_type, payload) "
                    "SELECT 'answer.submitted', jsonb_build_object('user_id', %s::bigint, 'trait', 'grit', 'value', n) "
                    "FROM generate_series(%s::int, %s::int) AS n", (user_id, start, start + 49))
                time.sleep(0.02)
        stop.set()

    engine = docker.from_env()
    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(0.3)
    slot = active()[0]
    engine.containers.get(f"selfology-outbox-relay-{slot}").restart(timeout=10)
    engine.containers.get(f"selfology-analysis-worker-{slot}").kill()
    time.sleep(0.5)
    engine.containers.get(f"selfology-analysis-worker-{slot}").start()
    producer.join(timeout=120)
    assert stop.is_set(), "producer did not finish"
    wait_for(lambda: _user_events(pg, user_id)[0] == produced, 90, interval=0.5,
             message=f"{produced} effects for user {user_id}")
    history, answers = _user_events(pg, user_id)
    assert (history, answers) == (produced, produced), "each event applied exactly once"
    pending = pg.execute("SELECT count(*) FROM selfology.event_outbox WHERE status = 'pending' "
                         "AND payload->>'user_id' = %s", (str(user_id),)).fetchone()[0]
    assert pending == 0


def test_the_load_balancer_serves_the_active_slot(lab):
    with urllib.request.urlopen(f"{LB_URL}/api/questions/next/1", timeout=5) as response:
        body = json.loads(response.read())
    slot, version = active()
    assert body["served_by"] == {"service": "question-selection", "slot": slot, "version": version}


def test_a_fault_version_is_built_with_its_fault(lab):
    selfops("lab", "image", "0.0.1-crash", "--fault", "crash", "-q")
    image = docker.from_env().images.get("selfology/services:0.0.1-crash")
    assert image.labels["org.selfology.fault"] == "crash"
    environment = {"DATABASE_URL": "x", "REDIS_URL": "x", "SELFOLOGY_SERVICE": "outbox-relay"}
    container = docker.from_env().containers.run("selfology/services:0.0.1-crash", environment=environment, detach=True)
    try:
        assert container.wait(timeout=30)["StatusCode"] == 3
        assert b"fault injected, crashing on start" in container.logs()
    finally:
        container.remove(force=True)


def test_hostile_input_is_refused_before_anything_runs(lab):
    proc = selfops("lab", "image", "1.0; touch /tmp/pwned", check=False)
    assert proc.returncode == 2 and "invalid version" in proc.stderr
