"""stream_info and stream_maintenance against the lab's Redis, on streams of their own.

Every test works on its own key (test:streams:<uuid>), removed afterwards; nothing here touches
selfology:events or its groups. Consumers are made dead by leaving them idle for over a second
while they hold pending entries or while entries they do not take arrive (dead_after 1s); they are
kept alive by a thread that polls (Alive: an XREADGROUP that changes nothing else) or that works as
the lab's worker does (Worker: blocking XREADGROUP, then XACK).
"""
import random
import statistics
import threading
import time
import uuid

import pytest

from lab import REDIS, run_module

from ansible_collections.selfology.ops.plugins.module_utils import redis_connection, streams

pytestmark = pytest.mark.integration

INFO = "selfology.ops.stream_info"
MAINTENANCE = "selfology.ops.stream_maintenance"
MAX = 2 ** 64 - 1
DEAD_WAIT = 1.3          # seconds a consumer is left alone to count as dead with dead_after 1s


@pytest.fixture
def key(rdb):
    name = "test:streams:%s" % uuid.uuid4().hex
    yield name
    rdb.delete(name)


def fill(rdb, key, count):
    pipe = rdb.pipeline(transaction=False)
    for i in range(count):
        pipe.xadd(key, {"outbox_id": i, "event_type": "test.event"})
    return pipe.execute()


def traffic(rdb, key):
    """An entry added clearly after (not in the same millisecond as) what happened before."""
    time.sleep(0.05)
    return fill(rdb, key, 1)[0]


def read(rdb, key, group, consumer, count):
    reply = rdb.xreadgroup(group, consumer, {key: ">"}, count=count)
    return [entry[0] for stream_entries in reply for entry in stream_entries[1]]


def entry_ids(rdb, key):
    return [entry[0] for entry in rdb.xrange(key)]


def pel(rdb, key, group, consumer=None):
    rows = rdb.xpending_range(key, group, "-", "+", 1000000, consumername=consumer)
    return [row["message_id"] for row in rows]


def state(rdb, key):
    """What a check-mode run must leave exactly as it was (idle times aside, which only grow)."""
    if not rdb.exists(key):
        return None
    groups = rdb.xinfo_groups(key)
    return {
        "entries": entry_ids(rdb, key),
        "groups": groups,
        "consumers": dict((g["name"], sorted((c["name"], c["pending"]) for c in rdb.xinfo_consumers(key, g["name"])))
                          for g in groups),
        "pel": dict((g["name"], [(r["message_id"], r["consumer"], r["times_delivered"])
                                 for r in rdb.xpending_range(key, g["name"], "-", "+", 1000000)])
                    for g in groups),
    }


def failed(result):
    """lab.run_module's result does not say whether the task failed; these modules set msg only then."""
    return "msg" in result


def info(key, check=False, **args):
    return run_module(INFO, dict(REDIS, stream=key, **args), check=check)


def maintain(key, action, check=False, **args):
    return run_module(MAINTENANCE, dict(REDIS, stream=key, action=action, **args), check=check)


def client():
    return redis_connection.connect(dict(REDIS, redis_password=None, redis_db=0, redis_tls=False, redis_timeout=5.0))


class Worker(object):
    """A consumer that works as the lab's worker does: blocks on XREADGROUP '>' and acknowledges what it gets."""

    def __init__(self, key, group, name):
        self.key, self.group, self.name = key, group, name
        self.client = client()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            got = read_blocking(self.client, self.key, self.group, self.name)
            if got:
                self.client.xack(self.key, self.group, *got)

    def __enter__(self):
        self.thread.start()
        time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.client.close()


def read_blocking(conn, key, group, consumer):
    reply = conn.xreadgroup(group, consumer, {key: ">"}, count=100, block=200)
    return [entry[0] for stream_entries in reply for entry in stream_entries[1]]


class Alive(object):
    """Keeps consumers alive as a polling worker would: XREADGROUP of its own history past the last id,
    which refreshes the consumer's idle time and delivers nothing."""

    def __init__(self, rdb, key, group, *consumers):
        self.rdb, self.key, self.group, self.consumers = rdb, key, group, consumers
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def poll(self):
        last = self.rdb.xinfo_stream(self.key)["last-generated-id"]
        for consumer in self.consumers:
            self.rdb.xreadgroup(self.group, consumer, {self.key: last}, count=1)

    def run(self):
        while not self.stop.wait(0.05):
            self.poll()

    def __enter__(self):
        self.poll()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


# ---------------------------------------------------------------- stream_info

def test_stream_info_equals_what_xinfo_and_xpending_say(rdb, key):
    ids = fill(rdb, key, 60)
    rdb.xgroup_create(key, "workers", id="0")
    rdb.xgroup_create(key, "audit", id=ids[19], entries_read=20)  # so that Redis knows its lag
    read(rdb, key, "workers", "w1", 25)
    read(rdb, key, "workers", "w2", 10)
    rdb.xack(key, "workers", *ids[:5])
    read(rdb, key, "audit", "a1", 8)
    rdb.xack(key, "audit", *ids[20:28])

    raw_groups = rdb.xinfo_groups(key)
    raw_consumers = dict((g["name"], rdb.xinfo_consumers(key, g["name"])) for g in raw_groups)
    result = info(key, dead_after="1h")
    after = dict((g["name"], rdb.xinfo_consumers(key, g["name"])) for g in raw_groups)

    assert not failed(result), result
    assert result["changed"] is False and result["exists"] is True
    assert result["length"] == rdb.xlen(key) == 60
    assert (result["first_entry_id"], result["last_entry_id"]) == (ids[0], ids[-1])
    assert result["last_generated_id"] == ids[-1] and result["entries_added"] == 60
    assert 0 <= result["last_entry_age_s"] <= result["first_entry_age_s"] < 120
    assert [g["name"] for g in result["groups"]] == [g["name"] for g in raw_groups]
    for got, raw in zip(result["groups"], raw_groups):
        summary = rdb.xpending(key, raw["name"])
        assert got["consumers"] == raw["consumers"]
        assert got["pending"] == raw["pending"] == summary["pending"]
        assert got["last_delivered_id"] == raw["last-delivered-id"]
        assert got["entries_read"] == raw["entries-read"]
        assert got["lag"] == raw["lag"] and got["lag_known"] is True
        assert got["oldest_pending_id"] == summary["min"] and got["newest_pending_id"] == summary["max"]
        for consumer, before_row, after_row in zip(got["consumer_list"], raw_consumers[raw["name"]],
                                                   after[raw["name"]]):
            assert consumer["name"] == before_row["name"]
            assert consumer["pending"] == before_row["pending"] == len(pel(rdb, key, raw["name"], consumer["name"]))
            assert before_row["idle"] <= consumer["idle_ms"] <= after_row["idle"]
            assert consumer["dead"] is False
    by_name = dict((g["name"], g) for g in result["groups"])
    workers = by_name["workers"]
    assert (workers["pending"], workers["lag"], workers["oldest_pending_id"]) == (30, 25, ids[5])
    audit = by_name["audit"]
    assert (audit["pending"], audit["lag"], audit["oldest_pending_id"]) == (0, 32, None)
    assert audit["oldest_pending_age_s"] is None
    assert result["dead_consumers"] == [] and result["stranded_pending"] == 0
    assert result["safe_trim_id"] == ids[5]


def test_stream_info_in_check_mode_says_the_same_and_a_missing_stream_is_not_an_error(rdb, key):
    fill(rdb, key, 3)
    rdb.xgroup_create(key, "g", id="0")
    before = state(rdb, key)
    result = info(key, check=True)
    assert not failed(result), result
    assert result["changed"] is False and result["length"] == 3 and result["groups"][0]["lag"] == 3
    assert state(rdb, key) == before
    missing = info(key + ":nothing")
    assert not failed(missing), missing
    assert (missing["exists"], missing["length"], missing["groups"]) == (False, 0, [])


def test_stream_info_fails_clearly_on_a_key_that_is_not_a_stream(rdb, key):
    rdb.set(key, "x")
    result = info(key)
    assert failed(result) and "is not a stream" in result["msg"], result


def test_unknown_lag_is_reported_as_unknown_never_zero(rdb, key):
    ids = fill(rdb, key, 10)
    for group in ("deleted", "moved", "known"):
        rdb.xgroup_create(key, group, id="0")
        read(rdb, key, group, "c", 3)
    rdb.xdel(key, ids[6])                 # an entry "deleted" has not read yet: Redis cannot count its lag
    rdb.xgroup_setid(key, "moved", ids[4])  # a group moved by hand: its read counter is lost
    raw = dict((g["name"], g) for g in rdb.xinfo_groups(key))
    assert raw["deleted"]["lag"] is None and raw["moved"]["lag"] is None, "Redis must report these lags as nil"
    read(rdb, key, "known", "c", 100)       # read to the end: lag is known, and it is 0
    assert dict((g["name"], g["lag"]) for g in rdb.xinfo_groups(key))["known"] == 0

    result = info(key)
    groups = dict((g["name"], g) for g in result["groups"])
    for name in ("deleted", "moved"):
        assert groups[name]["lag"] is None and groups[name]["lag_known"] is False, groups[name]
    assert groups["known"]["lag"] == 0 and groups["known"]["lag_known"] is True


def test_dead_consumers_by_the_rule_and_a_waiting_worker_is_not_one(rdb, key):
    fill(rdb, key, 20)
    rdb.xgroup_create(key, "g", id="0")
    read(rdb, key, "g", "dead-holding", 4)
    rdb.xreadgroup("g", "dead-empty", {key: rdb.xinfo_stream(key)["last-generated-id"]}, count=1)
    traffic(rdb, key)                       # entries after dead-empty was last seen
    with Worker(key, "g", "waiting"):       # takes and acknowledges the rest, then waits on a quiet stream
        time.sleep(DEAD_WAIT)
        result = info(key, dead_after="1s")
    dead = sorted((c["name"], c["pending"]) for c in result["dead_consumers"])
    assert dead == [("dead-empty", 0), ("dead-holding", 4)], result["dead_consumers"]
    assert result["stranded_pending"] == 4
    assert all(c["group"] == "g" and c["idle_ms"] > 1000 for c in result["dead_consumers"])
    waiting = [c for c in result["groups"][0]["consumer_list"] if c["name"] == "waiting"][0]
    assert waiting["dead"] is False and waiting["pending"] == 0, waiting
    if waiting["inactive_ms"] is None:
        # Redis 7.0: a blocked XREADGROUP that gets nothing is not activity, so idle time alone would
        # have called this live worker dead.
        assert waiting["idle_ms"] > 1000, waiting


# ---------------------------------------------------------------- claim

def test_claim_moves_pending_entries_from_dead_consumers_to_a_live_one(rdb, key):
    fill(rdb, key, 40)
    rdb.xgroup_create(key, "g", id="0")
    first = read(rdb, key, "g", "worker-a", 10)
    second = read(rdb, key, "g", "worker-b", 5)
    time.sleep(DEAD_WAIT)
    with Alive(rdb, key, "g", "worker-live"):
        own = read(rdb, key, "g", "worker-live", 3)
        before = state(rdb, key)
        check = maintain(key, "claim", check=True, group="g", to_consumer="worker-live", dead_after="1s",
                         min_idle="1s")
        assert not failed(check), check
        assert check["changed"] is True and check["claimed"] == 15
        assert sorted((s["consumer"], s["claimed"]) for s in check["sources"]) == [("worker-a", 10), ("worker-b", 5)]
        assert state(rdb, key) == before, "check mode changed the stream"

        done = maintain(key, "claim", group="g", to_consumer="worker-live", dead_after="1s", min_idle="1s")
        assert not failed(done), done
        assert done["changed"] is True and done["claimed"] == 15
        assert [s["ids"] for s in done["sources"]] == [first, second]
        assert pel(rdb, key, "g", "worker-a") == [] and pel(rdb, key, "g", "worker-b") == []
        assert pel(rdb, key, "g", "worker-live") == sorted(first + second + own, key=streams.parse_id)
        delivered = dict((r["message_id"], r["times_delivered"]) for r in rdb.xpending_range(key, "g", "-", "+", 100))
        assert all(delivered[i] == 1 for i in first), "JUSTID: the claim is not counted as a delivery"

        again = maintain(key, "claim", group="g", to_consumer="worker-live", dead_after="1s", min_idle="1s")
        assert again["changed"] is False and again["claimed"] == 0

        traffic(rdb, key)  # the emptied consumers are not just waiting for entries: some came, they took none

        # The emptied dead consumers can now go; the live one stays.
        cleaned = maintain(key, "delete_consumers", group="g", dead_after="1s")
        assert sorted(c["name"] for c in cleaned["deleted"]) == ["worker-a", "worker-b"], cleaned
    assert [c["name"] for c in rdb.xinfo_consumers(key, "g")] == ["worker-live"]


def test_claim_from_named_consumers_only_and_only_entries_idle_long_enough(rdb, key):
    fill(rdb, key, 20)
    rdb.xgroup_create(key, "g", id="0")
    named = read(rdb, key, "g", "named", 4)
    read(rdb, key, "g", "other", 4)
    with Alive(rdb, key, "g", "live"):
        # Not idle for an hour yet: nothing moves.
        result = maintain(key, "claim", group="g", to_consumer="live", consumers=["named"], min_idle="1h")
        assert result["changed"] is False and result["claimed"] == 0
        time.sleep(0.3)
        result = maintain(key, "claim", group="g", to_consumer="live", consumers=["named", "ghost"],
                          min_idle="200ms")
    assert result["claimed"] == 4 and result["sources"][0]["ids"] == named
    assert result["missing_consumers"] == ["ghost"]
    assert len(pel(rdb, key, "g", "other")) == 4, "a consumer that was not named keeps its entries"


def test_claim_refuses_a_target_that_is_missing_or_dead(rdb, key):
    fill(rdb, key, 5)
    rdb.xgroup_create(key, "g", id="0")
    read(rdb, key, "g", "dead", 2)
    read(rdb, key, "g", "sleepy", 1)
    time.sleep(DEAD_WAIT)
    before = state(rdb, key)
    missing = maintain(key, "claim", group="g", to_consumer="nobody", dead_after="1s", min_idle="0s")
    assert failed(missing) and "not in group g" in missing["msg"], missing
    dead = maintain(key, "claim", group="g", to_consumer="sleepy", dead_after="1s", min_idle="0s")
    assert failed(dead) and "live consumer" in dead["msg"], dead
    assert state(rdb, key) == before


def test_claim_checks_owner_and_idle_time_again_when_it_acts(rdb, key):
    ids = fill(rdb, key, 10)
    rdb.xgroup_create(key, "g", id="0")
    read(rdb, key, "g", "dead", 6)
    with Alive(rdb, key, "g", "live"):
        time.sleep(0.6)
        conn = client()
        plan = streams.plan_claim(conn, key, "g", "live", 200, 250)
        assert plan["sources"][0]["ids"] == ids[:6]
        rdb.xack(key, "g", ids[0])                                # acknowledged meanwhile
        rdb.xclaim(key, "g", "rescuer", 0, [ids[1]], justid=True)  # taken by another worker meanwhile
        moved = streams.claim(conn, key, "g", plan, 200)
    assert moved == {"dead": ids[2:6]}
    assert pel(rdb, key, "g", "rescuer") == [ids[1]]
    assert pel(rdb, key, "g", "live") == ids[2:6]


# ---------------------------------------------------------------- delete consumers

def test_delete_consumers_never_deletes_a_consumer_with_pending_entries(rdb, key):
    fill(rdb, key, 20)
    rdb.xgroup_create(key, "g", id="0")
    read(rdb, key, "g", "holding", 3)
    read(rdb, key, "g", "empty", 2)
    rdb.xack(key, "g", *pel(rdb, key, "g", "empty"))
    traffic(rdb, key)  # entries after "empty" was last seen, which it did not take
    time.sleep(DEAD_WAIT)
    with Alive(rdb, key, "g", "live"):
        before = state(rdb, key)
        check = maintain(key, "delete_consumers", check=True, group="g", dead_after="1s")
        assert not failed(check), check
        assert check["changed"] is True
        assert [c["name"] for c in check["deleted"]] == ["empty"]
        assert [(c["name"], c["pending"]) for c in check["refused"]] == [("holding", 3)]
        assert state(rdb, key) == before, "check mode changed the group"

        done = maintain(key, "delete_consumers", group="g", dead_after="1s")
        assert [c["name"] for c in done["deleted"]] == ["empty"] and done["changed"] is True
        assert [c["name"] for c in done["refused"]] == ["holding"]
        assert "pending" in done["refused"][0]["reason"]

        # Named explicitly, a consumer with pending entries is still refused; a live one without goes.
        named = maintain(key, "delete_consumers", group="g", consumers=["holding", "missing-one"])
        assert named["changed"] is False and [c["name"] for c in named["refused"]] == ["holding"]
        assert named["missing_consumers"] == ["missing-one"]
    consumers = dict((c["name"], c["pending"]) for c in rdb.xinfo_consumers(key, "g"))
    assert consumers == {"holding": 3, "live": 0}
    assert len(pel(rdb, key, "g", "holding")) == 3


def test_delete_consumers_checks_pending_entries_again_when_it_acts(rdb, key):
    ids = fill(rdb, key, 10)
    rdb.xgroup_create(key, "g", id="0")
    read(rdb, key, "g", "worker", 1)
    rdb.xack(key, "g", ids[0])
    conn = client()
    plan = streams.plan_delete_consumers(conn, key, "g", 0, consumers=["worker"])
    assert [c["name"] for c in plan["delete"]] == ["worker"]
    read(rdb, key, "g", "worker", 2)         # it got entries after it was inspected
    deleted, refused, missing = streams.delete_consumers(conn, key, "g", plan, 0)
    assert deleted == [] and missing == [] and refused[0]["name"] == "worker"
    assert pel(rdb, key, "g", "worker") == ids[1:3]

    # Not named: a dead consumer that came back to life is left alone as well.
    read(rdb, key, "g", "other", 1)
    rdb.xack(key, "g", ids[3])
    traffic(rdb, key)
    time.sleep(0.3)
    plan = streams.plan_delete_consumers(conn, key, "g", 200)
    assert [c["name"] for c in plan["delete"]] == ["other"]
    rdb.xreadgroup("g", "other", {key: ids[-1]}, count=1)
    deleted, refused, missing = streams.delete_consumers(conn, key, "g", plan, 200)
    assert deleted == [] and missing == [] and "active" in refused[-1]["reason"]


# ---------------------------------------------------------------- trim

def needed(rdb, key):
    """Every entry some group has not delivered yet or has not acknowledged (a pending id whose entry
    was deleted with XDEL is no longer an entry)."""
    keep = set()
    entries = entry_ids(rdb, key)
    for group in rdb.xinfo_groups(key):
        delivered = streams.parse_id(group["last-delivered-id"])
        keep.update(i for i in entries if streams.parse_id(i) > delivered)
        keep.update(pel(rdb, key, group["name"]))
    return keep & set(entries)


def test_trim_keeps_every_entry_a_group_has_not_delivered_or_acknowledged(rdb, key):
    ids = fill(rdb, key, 100)
    rdb.xgroup_create(key, "fast", id="0")
    rdb.xgroup_create(key, "slow", id="0")
    read(rdb, key, "fast", "f", 80)
    rdb.xack(key, "fast", *[i for n, i in enumerate(ids[:80]) if n not in (60, 75)])
    read(rdb, key, "slow", "s", 50)
    rdb.xack(key, "slow", *ids[:50])
    keep = needed(rdb, key)
    assert keep == set(ids[50:]), "the case: slow has delivered 50, fast holds 60 and 75 and has not delivered 80+"

    before = state(rdb, key)
    check = maintain(key, "trim", check=True)
    assert not failed(check), check
    assert check["changed"] is True and check["removed"] == 50
    assert (check["safe_trim_id"], check["limiting_group"]) == (streams.id_successor(ids[49]), "slow")
    assert (check["removed_first_id"], check["removed_last_id"]) == (ids[0], ids[49])
    assert (check["length_before"], check["length_after"]) == (100, 50)
    assert state(rdb, key) == before, "check mode trimmed"
    assert info(key)["safe_trim_id"] == check["safe_trim_id"]

    done = maintain(key, "trim")
    assert done["changed"] is True and done["removed"] == 50 and done["length_after"] == 50
    remaining = entry_ids(rdb, key)
    assert remaining == ids[50:]
    assert keep <= set(remaining)
    assert maintain(key, "trim")["changed"] is False

    # Now the fast group's oldest pending entry is the lower bound.
    read(rdb, key, "slow", "s", 100)
    rdb.xack(key, "slow", *ids[50:])
    keep = needed(rdb, key)
    done = maintain(key, "trim")
    assert (done["safe_trim_id"], done["limiting_group"], done["removed"]) == (ids[60], "fast", 10)
    assert keep <= set(entry_ids(rdb, key))
    assert rdb.xrange(key, count=1)[0][0] == ids[60]


def test_trim_with_maxlen_stops_at_the_length_and_never_passes_the_safe_id(rdb, key):
    ids = fill(rdb, key, 100)
    rdb.xgroup_create(key, "g", id="0")
    read(rdb, key, "g", "c", 50)
    rdb.xack(key, "g", *ids[:50])

    check = maintain(key, "trim", check=True, maxlen=90)
    assert (check["changed"], check["removed"], check["trim_id"]) == (True, 10, streams.id_successor(ids[9]))
    assert rdb.xlen(key) == 100
    done = maintain(key, "trim", maxlen=90)
    assert done["removed"] == 10 and entry_ids(rdb, key) == ids[10:]

    done = maintain(key, "trim", maxlen=10)       # 80 would have to go; only 40 are consumed
    assert done["removed"] == 40 and done["length_after"] == 50
    assert entry_ids(rdb, key) == ids[50:]
    assert maintain(key, "trim", maxlen=10)["changed"] is False


def test_trim_refuses_a_stream_without_groups_unless_allowed(rdb, key):
    fill(rdb, key, 20)
    refused = maintain(key, "trim")
    assert failed(refused) and "no consumer group" in refused["msg"], refused
    assert rdb.xlen(key) == 20
    check = maintain(key, "trim", check=True, allow_no_groups=True, maxlen=5)
    assert check["removed"] == 15 and rdb.xlen(key) == 20
    done = maintain(key, "trim", allow_no_groups=True, maxlen=5)
    assert done["removed"] == 15 and rdb.xlen(key) == 5
    assert maintain(key + ":nothing", "trim")["changed"] is False


def test_trim_never_passes_a_group_that_appears_or_moves_back_before_it_acts(rdb, key):
    ids = fill(rdb, key, 30)
    rdb.xgroup_create(key, "g", id="0")
    read(rdb, key, "g", "c", 20)
    rdb.xack(key, "g", *ids[:20])
    conn = client()
    plan = streams.plan_trim(conn, key)
    assert plan["removed"] == 20
    rdb.xgroup_create(key, "late", id=ids[4])     # a group that still wants ids[5:]
    removed, used = streams.trim(conn, key, plan)
    assert (removed, used) == (5, streams.id_successor(ids[4]))
    assert entry_ids(rdb, key) == ids[5:]

    rdb.xgroup_destroy(key, "late")
    plan = streams.plan_trim(conn, key)
    assert plan["removed"] == 15
    rdb.xgroup_setid(key, "g", "0")                # moved back by hand: everything is to be read again
    assert streams.trim(conn, key, plan) == (0, "0-1")
    assert rdb.xlen(key) == 25


def test_trim_id_arithmetic_at_the_sequence_limit(rdb, key):
    for entry_id in ("5-%d" % (MAX - 1), "5-%d" % MAX, "6-0", "6-1"):
        rdb.xadd(key, {"n": 1}, id=entry_id)
    rdb.xgroup_create(key, "g", id="0")
    read(rdb, key, "g", "c", 2)
    rdb.xack(key, "g", "5-%d" % (MAX - 1), "5-%d" % MAX)
    done = maintain(key, "trim")
    assert (done["removed"], done["trim_id"], done["safe_trim_id"]) == (2, "6-0", "6-0"), done
    assert entry_ids(rdb, key) == ["6-0", "6-1"]


def test_trim_invariant_holds_on_random_group_positions(rdb, key):
    rng = random.Random(20261129)
    conn = client()
    for round_ in range(12):
        rdb.delete(key)
        ids = fill(rdb, key, 200)
        for n in range(rng.randint(1, 3)):
            group = "g%d" % n
            rdb.xgroup_create(key, group, id=rng.choice(["0", ids[rng.randrange(200)]]))
            got = read(rdb, key, group, "c", rng.randint(1, 200))
            acked = [i for i in got if rng.random() < 0.9]
            if acked:
                rdb.xack(key, group, *acked)
        keep = needed(rdb, key)
        if rng.random() < 0.5:
            rdb.xdel(key, *rng.sample(ids, 5))
            keep = needed(rdb, key)
        plan = streams.plan_trim(conn, key, maxlen=rng.choice([None, 0, 50, 150]))
        streams.trim(conn, key, plan)
        remaining = set(entry_ids(rdb, key))
        assert keep <= remaining, "round %d removed needed entries %s" % (round_, sorted(keep - remaining)[:5])


# ---------------------------------------------------------------- speed

BUILD = """
local last
for i = 1, tonumber(ARGV[1]) do
  last = redis.call('XADD', KEYS[1], '*', 'outbox_id', ARGV[2] + i, 'event_type', 'answer.submitted')
end
return last
"""


def build_big_stream(rdb, key, entries, pending_per_group=10000, chunk=50000):
    """entries entries (Lua, in chunks so Redis is never blocked long), three groups at different
    positions, each holding pending_per_group pending entries over one to three consumers."""
    script = rdb.register_script(BUILD)
    marks = []
    for start in range(0, entries, chunk):
        marks.append(script(keys=[key], args=[min(chunk, entries - start), start]))
    rdb.xgroup_create(key, "workers", id="0")
    rdb.xgroup_create(key, "audit", id=marks[len(marks) // 2 - 1] if len(marks) > 1 else "0")
    rdb.xgroup_create(key, "replay", id=marks[-2] if len(marks) > 1 else "0")
    for group, consumers in (("workers", 3), ("audit", 2), ("replay", 1)):
        left = pending_per_group
        for n in range(consumers):
            count = left // (consumers - n)
            rdb.xreadgroup(group, "%s-%d" % (group, n), {key: ">"}, count=count)
            left -= count


def test_stream_info_answers_within_500ms_on_a_million_entries(rdb, key):
    build_big_stream(rdb, key, 1000000)
    assert rdb.xlen(key) == 1000000
    params = dict(REDIS, redis_password=None, redis_db=0, redis_tls=False, redis_timeout=5.0)
    timings = []
    while len(timings) < 5:
        started = time.perf_counter()
        result = streams.stream_info(redis_connection.connect(params), key, 300000)
        timings.append(time.perf_counter() - started)
    assert max(timings) < 0.5, "stream_info took %s s" % timings
    assert statistics.median(timings) < 0.5
    assert result["length"] == 1000000
    assert sorted((g["name"], g["pending"]) for g in result["groups"]) == [
        ("audit", 10000), ("replay", 10000), ("workers", 10000)]
    module = info(key)
    assert not failed(module), module
    assert module["length"] == 1000000
    assert sum(g["pending"] for g in module["groups"]) == 30000
    workers = [g for g in module["groups"] if g["name"] == "workers"][0]
    assert (workers["lag"], workers["lag_known"]) == (990000, True)
