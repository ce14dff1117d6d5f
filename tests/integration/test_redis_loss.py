"""A Redis restart or SIGKILL loses no event: PostgreSQL's outbox is the source of truth.

With the active slot's workers stopped, answers go through the load balancer, the relay
publishes them and marks them published; then Redis restarts (or is killed), with its
append-only file and without persistence. Once the workers are back, every answer is
applied exactly once: the relay republished what Redis lost, the workers recreated their
consumer group, and the active-slot key came back from selfology.active_slot.
"""
import contextlib
import json
import random
import threading
import time
import urllib.error
import urllib.request

import docker
import pytest

from conftest import selfops
from lab import LB_URL, STATE_FILE, wait_for

pytestmark = pytest.mark.integration

ANSWERS = 50
# The lab's SELFOLOGY_REPUBLISH_AFTER (topology.yml) plus the round trip, bounded.
RECOVERY_TIMEOUT = 5 + 30
REDIS = "n8n-redis"


def active_slot():
    return json.loads(STATE_FILE.read_text())["active"]


def workers(slot):
    """The analysis-worker containers of a slot, its replicas included."""
    return docker.from_env().containers.list(all=True, filters={
        "label": [f"org.selfology.slot={slot}", "org.selfology.service=analysis-worker"]})


def post_answer(user_id, value=0.5):
    """POSTs one answer through the load balancer; returns its event id (202) or None."""
    request = urllib.request.Request(
        f"{LB_URL}/api/sessions/{user_id}/answers", method="POST",
        data=json.dumps({"trait": "openness", "value": value}).encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())["event_id"] if answer.status == 202 else None
    except (urllib.error.URLError, OSError):
        return None


@contextlib.contextmanager
def answers_posted(user_id, pause):
    """A client posting answers every `pause` seconds until the block ends; yields the accepted ids."""
    ids, stop = [], threading.Event()

    def keep_posting():
        while not stop.is_set():
            event_id = post_answer(user_id)
            if event_id is not None:
                ids.append(event_id)
            time.sleep(pause)

    poster = threading.Thread(target=keep_posting, daemon=True)
    poster.start()
    try:
        yield ids
    finally:
        stop.set()
        poster.join(10)


def published(pg, ids):
    return pg.execute("SELECT count(*) FROM selfology.event_outbox WHERE id = ANY(%s) AND status = 'published'",
                      (ids,)).fetchone()[0] == len(ids)


def applied(pg, ids):
    return pg.execute("SELECT count(*) FROM selfology.trait_history WHERE event_id = ANY(%s)",
                      (ids,)).fetchone()[0] >= len(ids)


def assert_applied_exactly_once(pg, user_id, ids):
    history = [r[0] for r in pg.execute(
        "SELECT event_id FROM selfology.trait_history WHERE user_id = %s ORDER BY event_id", (user_id,))]
    assert history == sorted(ids), "trait_history must hold exactly one row per answer"
    ledger = [r[0] for r in pg.execute(
        "SELECT event_id FROM selfology.processed_events WHERE event_id = ANY(%s) ORDER BY event_id", (ids,))]
    assert ledger == sorted(ids), "processed_events must hold each answer once"
    count = pg.execute("SELECT answers_count FROM selfology.personality_profiles WHERE user_id = %s",
                       (user_id,)).fetchone()[0]
    assert count == len(ids)


def no_drift():
    proc = selfops("status", "--json", check=False)
    try:
        return json.loads(proc.stdout)["hosts"]["localhost"]["drift"] == []
    except (ValueError, KeyError):
        return False


def lose_redis(how):
    container = docker.from_env().containers.get(REDIS)
    if how == "restart":
        container.restart(timeout=5)
    else:
        container.kill(signal="SIGKILL")
        container.start()
    wait_for(lambda: docker.from_env().containers.get(REDIS).status == "running", 10, message="n8n-redis running")


@pytest.fixture(scope="module", params=[False, True], ids=["no-persistence", "aof"])
def redis_mode(request, lab):
    """n8n-redis in one persistence mode for the tests of that mode. The lab's default (AOF) comes last,
    so the module leaves the lab as it found it with one lab up per mode (a run selecting only the
    no-persistence tests leaves Redis without persistence: selfops lab up restores it)."""
    selfops("lab", "up", "-q", "-e", f"lab_redis_persistence={str(request.param).lower()}")
    return request.param


@pytest.fixture
def recorded_slot(pg, redis_mode):
    """selfology.active_slot mirroring the recorded state (until slot_state writes it itself)."""
    slot = active_slot()
    pg.execute("INSERT INTO selfology.active_slot (slot) VALUES (%s) ON CONFLICT (singleton) "
               "DO UPDATE SET slot = EXCLUDED.slot, updated_at = now()", (slot,))
    return slot


@pytest.fixture
def stopped_workers(recorded_slot):
    containers = workers(recorded_slot)
    assert containers, f"no analysis-worker in slot {recorded_slot}"
    for container in containers:
        container.stop(timeout=5)
    yield containers
    for container in containers:  # a failed test must not leave the slot without workers
        container.reload()
        if container.status != "running":
            container.start()


@pytest.mark.parametrize("how", ["restart", "kill"])
def test_answers_published_before_redis_is_lost_are_applied_exactly_once(pg, rdb, stopped_workers, how):
    user_id = random.randrange(10**9, 2 * 10**9)
    ids = [post_answer(user_id, value=i / ANSWERS) for i in range(ANSWERS)]
    assert None not in ids, "every answer must be accepted with 202"
    wait_for(lambda: published(pg, ids), 15, message="the relay publishing every answer")

    lose_redis(how)
    back = time.monotonic()
    for container in stopped_workers:
        container.start()

    wait_for(lambda: applied(pg, ids), RECOVERY_TIMEOUT, interval=0.2, message="every answer applied")
    print(f"\n{how}: {ANSWERS} answers applied {time.monotonic() - back:.1f}s after Redis was back")
    assert_applied_exactly_once(pg, user_id, ids)
    # The key came back from the recorded slot, and status agrees with everything.
    wait_for(lambda: rdb.get("selfology:active_slot") == active_slot(), 15, message="the active-slot key restored")
    wait_for(no_drift, 30, interval=1, message="status without drift")
    # Nothing is left to republish and no duplicate entry was written for these answers.
    time.sleep(2)
    assert_applied_exactly_once(pg, user_id, ids)


@pytest.mark.parametrize("how", ["restart", "kill"])
def test_answers_arriving_while_redis_is_lost_are_applied_exactly_once(pg, rdb, recorded_slot, redis_mode, how):
    """Workers keep running: one BLOCKed in XREADGROUP when Redis dies must recover."""
    user_id = random.randrange(2 * 10**9, 3 * 10**9)
    with answers_posted(user_id, pause=0.02) as ids:
        time.sleep(2)
        lose_redis(how)
        back = time.monotonic()
        time.sleep(3)
    assert len(ids) > 50, f"only {len(ids)} answers were accepted"
    wait_for(lambda: applied(pg, ids), RECOVERY_TIMEOUT, interval=0.2, message="every accepted answer applied")
    print(f"\n{how} under traffic: {len(ids)} answers applied {time.monotonic() - back:.1f}s after Redis was back")
    assert_applied_exactly_once(pg, user_id, ids)
    wait_for(no_drift, 30, interval=1, message="status without drift")
