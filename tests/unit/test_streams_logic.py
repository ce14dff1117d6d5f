"""Pure logic of the stream modules: durations, id arithmetic, the dead-consumer rule, the safe trim id."""
import pytest

from ansible_collections.selfology.ops.plugins.module_utils import streams
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError, UnsafeOperation

MAX = 2 ** 64 - 1


@pytest.mark.parametrize("text, ms", [
    ("5m", 300000), ("30s", 30000), ("500ms", 500), ("2d", 172800000), ("1w", 604800000), ("0s", 0),
])
def test_durations(text, ms):
    assert streams.parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "five minutes", "5 minutes", "-5m", "5x", "m", "5m-", "1h foo", None, True, -1,
                                  "1h30m", "1.5s", "90", " 5m", 45])
def test_bad_durations_are_refused(text):
    with pytest.raises(SelfologyError, match="dead_after"):
        streams.parse_duration(text, "dead_after")


def test_parse_and_format_ids():
    assert streams.parse_id("1764400000000-3") == (1764400000000, 3)
    assert streams.parse_id("42") == (42, 0)
    assert streams.format_id((5, 0)) == "5-0"
    for bad in ["", "1-2-3", "a-1", "-1", "1-", "$", ">", "%d-0" % (MAX + 1), "1 -2"]:
        with pytest.raises(SelfologyError):
            streams.parse_id(bad)


def test_successor_carries_into_the_millisecond_part():
    assert streams.id_successor("5-0") == "5-1"
    assert streams.id_successor("5-%d" % MAX) == "6-0"
    assert streams.id_successor("0-0") == "0-1"
    # Nothing follows the largest id: it is its own bound, which keeps it (the conservative side).
    assert streams.id_successor("%d-%d" % (MAX, MAX)) == "%d-%d" % (MAX, MAX)


def test_ids_compare_numerically_not_as_text():
    assert streams.id_less("9-0", "10-0")
    assert streams.id_less("10-9", "10-10")
    assert not streams.id_less("10-0", "10-0")
    assert streams.min_id("10-0", None, "9-99", "100-0") == "9-99"
    assert streams.min_id(None, None) is None


def test_ages_are_from_the_id_time_and_never_negative():
    assert streams.id_age_s("1000-5", 3500) == 2.5
    assert streams.id_age_s("5000-0", 3500) == 0
    assert streams.id_age_s(None, 3500) is None


NOW = 10000000


@pytest.mark.parametrize("idle, pending, last_entry_ms, dead", [
    (300001, 7, None, True),             # idle and holding entries: they are stuck with it
    (300000, 7, NOW - 1, False),         # not idle for longer than dead_after
    (10, 0, NOW, False),
    (None, 3, NOW, False),               # Redis gave no idle time
    (300001, 0, NOW - 1000, True),       # entries came after it was last seen and it did not take them
    (300001, 0, NOW - 300001, False),    # nothing came since it was last seen: maybe waiting (Redis 7.0)
    (300001, 0, NOW - 400000, False),
    (300001, 0, None, False),            # empty stream
])
def test_dead_consumer_rule(idle, pending, last_entry_ms, dead):
    consumer = {"idle_ms": idle, "pending": pending, "inactive_ms": None}
    assert streams.is_dead(consumer, 300000, last_entry_ms, NOW) is dead


def test_from_redis_7_2_idle_time_alone_decides():
    # 7.2 reports inactive, and its idle time counts blocked reads: a waiting worker stays below dead_after.
    assert streams.is_dead({"idle_ms": 300001, "pending": 0, "inactive_ms": 900000}, 300000, None, NOW)
    assert not streams.is_dead({"idle_ms": 10, "pending": 0, "inactive_ms": 900000}, 300000, None, NOW)


def test_group_bound_is_its_oldest_pending_entry():
    group = {"name": "g", "last_delivered_id": "20-0", "oldest_pending_id": "12-3"}
    assert streams.group_trim_bound(group) == "12-3"


def test_group_bound_without_pending_is_just_past_the_last_delivered_entry():
    group = {"name": "g", "last_delivered_id": "20-4", "oldest_pending_id": None}
    assert streams.group_trim_bound(group) == "20-5"


def test_group_moved_back_keeps_its_pending_and_its_undelivered_entries():
    # XGROUP SETID back to 0 with entries still pending: everything after 0 will be delivered again.
    group = {"name": "g", "last_delivered_id": "0-0", "oldest_pending_id": "12-3"}
    assert streams.group_trim_bound(group) == "0-1"


def test_safe_trim_id_is_the_minimum_over_groups():
    groups = [
        {"name": "fast", "last_delivered_id": "100-0", "oldest_pending_id": None},
        {"name": "slow", "last_delivered_id": "50-2", "oldest_pending_id": "40-0"},
        {"name": "idle", "last_delivered_id": "45-9", "oldest_pending_id": None},
    ]
    assert streams.safe_trim_id(groups) == ("40-0", "slow")
    groups[1]["oldest_pending_id"] = None
    assert streams.safe_trim_id(groups) == ("45-10", "idle")


def test_a_stream_without_groups_is_refused_unless_allowed():
    with pytest.raises(UnsafeOperation, match="no consumer group"):
        streams.safe_trim_id([], "99-0")
    assert streams.safe_trim_id([], "99-0", allow_no_groups=True) == ("99-1", None)
    assert streams.safe_trim_id([], None, allow_no_groups=True) == ("0-1", None)


def test_trim_target_without_maxlen_removes_everything_below_the_safe_id():
    assert streams.trim_target("40-0", 25, 100, None) == ("40-0", 25)
    assert streams.trim_target("40-0", 0, 100, None) == (None, 0)


def test_trim_target_with_maxlen_stops_at_the_length_or_the_safe_id_whichever_removes_less():
    # 100 entries, keep 90: 10 must go, and 25 are below the safe id: cut just after the 10th.
    assert streams.trim_target("40-0", 10, 100, 90, nth_entry_id="12-0") == ("12-1", 10)
    # keep 50: 50 would go but only 25 are safe to remove.
    assert streams.trim_target("40-0", 25, 100, 50) == ("40-0", 25)
    # already short enough, or nothing safe to remove
    assert streams.trim_target("40-0", 25, 100, 100) == (None, 0)
    assert streams.trim_target("40-0", 0, 100, 10) == (None, 0)


def test_group_row_reports_unknown_lag_as_unknown_not_zero():
    raw = {"name": "g", "consumers": 1, "pending": 2, "last-delivered-id": "5-0", "entries-read": 3, "lag": None}
    pending = {"pending": 2, "min": "4-0", "max": "5-0", "consumers": [{"name": "c", "pending": 2}]}
    row = streams._group_row(raw, [{"name": "c", "pending": 2, "idle": 10}], pending, 6000, 5, 5000)
    assert row["lag"] is None and row["lag_known"] is False
    assert row["oldest_pending_id"] == "4-0" and row["oldest_pending_age_s"] == 5.996
    assert row["consumer_list"] == [{"name": "c", "pending": 2, "idle_ms": 10, "inactive_ms": None, "dead": True}]
    raw["lag"] = 0
    row = streams._group_row(raw, [], {"pending": 0, "min": None, "max": None, "consumers": []}, 6000, 5)
    assert row["lag"] == 0 and row["lag_known"] is True and row["oldest_pending_id"] is None


def test_consumer_row_keeps_inactive_when_redis_gives_it():
    row = streams._consumer_row({"name": "c", "pending": 0, "idle": 7, "inactive": 90000}, 60000, 1000, 2000)
    assert row == {"name": "c", "pending": 0, "idle_ms": 7, "inactive_ms": 90000, "dead": False}


def test_claim_report_counts_the_plan_or_what_moved():
    plan = {"to_consumer": "live", "missing": [], "sources": [
        {"consumer": "dead", "idle_ms": 9, "dead": True, "pending": 3, "ids": ["1-0", "2-0", "3-0"]}]}
    assert streams.claim_report(plan)["claimed"] == 3
    report = streams.claim_report(plan, {"dead": ["1-0"]})
    assert report["claimed"] == 1 and report["sources"][0]["ids"] == ["1-0"]


class FakePipeline(object):
    def __init__(self, client, transaction):
        self.client, self.transaction, self.calls = client, transaction, []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, args))

    def execute(self, raise_on_error=True):
        self.client.reads.append((self.transaction, [c[0] for c in self.calls]))
        groups = self.client.groups.pop(0)
        replies = [(1000, 500), {"length": 3, "last-generated-id": "900-0"}, [{"name": g} for g in groups]]
        for name, args in self.calls[3:]:
            gone = args[1] not in groups
            if name == "xinfo_consumers":
                replies.append(Exception("NOGROUP") if gone else [])
            else:
                replies.append(Exception("NOGROUP") if gone else {"pending": 0, "min": None, "max": None})
        return replies


class FakeClient(object):
    """Answers with the group lists given, one per round trip."""

    def __init__(self, *groups):
        self.groups, self.reads = list(groups), []

    def pipeline(self, transaction=True):
        return FakePipeline(self, transaction)


def test_snapshot_without_groups_is_one_round_trip():
    client = FakeClient([])
    now_ms, info, groups, details = streams._snapshot(client, "s")
    assert (now_ms, info["length"], groups, details) == (1000000, 3, [], {})
    assert client.reads == [(False, ["time", "xinfo_stream", "xinfo_groups"])]


def test_snapshot_reads_the_groups_in_one_multi_and_again_when_they_change():
    client = FakeClient(["a"], ["a"])
    streams._snapshot(client, "s")
    assert [r[0] for r in client.reads] == [False, True]
    assert client.reads[1][1] == ["time", "xinfo_stream", "xinfo_groups", "xinfo_consumers", "xpending"]
    # a group appears, then one disappears, between the round trips: read until they agree
    client = FakeClient(["a"], ["a", "b"], ["b"], ["b"])
    now_ms, info, groups, details = streams._snapshot(client, "s")
    assert [g["name"] for g in groups] == ["b"] and list(details) == ["b"] and len(client.reads) == 4
