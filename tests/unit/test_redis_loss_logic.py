"""The pure parts of surviving a Redis loss: which published rows the relay sets back to
pending, where its watermark goes, and which slot a worker consumes for."""
import datetime
import sys

from lab import ROOT

sys.path.insert(0, str(ROOT / "lab" / "app"))

from selfology_app import relay, worker  # noqa: E402
from selfology_app.config import Settings  # noqa: E402

T0 = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def row(event_id, seconds, entry_id="1-0", event_type="answer.submitted"):
    return (event_id, event_type, {}, entry_id, at(seconds))


def entry(event_id, entry_id="1-0"):
    return [(entry_id, {"outbox_id": str(event_id), "event_type": "answer.submitted"})]


def test_a_row_whose_entry_is_gone_is_lost():
    lost, held, unknown = relay.classify([row(1, 0, "5-0"), row(2, 1, "6-0")], [[], []])
    assert (lost, held, unknown) == ([1, 2], None, [])


def test_a_row_still_in_the_stream_is_held_not_republished():
    lost, held, unknown = relay.classify([row(1, 0), row(2, 1), row(3, 2)], [[], entry(2), entry(3)])
    assert lost == [1]
    assert held == at(1)  # the earliest row still waiting
    assert unknown == []


def test_an_entry_of_another_row_at_that_id_counts_as_lost():
    # After a restart a new entry can never carry the lost entry's outbox id.
    lost, held = relay.classify([row(7, 0, "9-0")], [entry(8, "9-0")])[:2]
    assert lost == [7] and held is None


def test_rows_without_a_recorded_entry_id_are_neither_lost_nor_held():
    # They were published before entry ids were recorded: no XRANGE is sent for them.
    lost, held, unknown = relay.classify([row(1, 0, None), row(2, 1)], [entry(2)])
    assert (lost, held, unknown) == ([], at(1), [1])


def test_the_watermark_goes_to_the_cutoff_when_nothing_waits():
    assert relay.end_of_pass(at(100), None) == at(100)


def test_a_waiting_row_holds_the_watermark():
    assert relay.end_of_pass(at(100), at(40)) == at(40)


def test_smoke_pings_go_to_their_slot_stream():
    s = Settings(service="outbox-relay", slot="blue", version="1", fault="none", database_url="x",
                 redis_url="x", stream="selfology:events", group="g", consumer="c",
                 active_slot_key="k", port=1, slow_seconds=1.0)
    assert relay.stream_for(s, "smoke.ping", {"slot": "green"}) == "selfology:events:smoke:green"
    assert relay.stream_for(s, "answer.submitted", {"slot": "green"}) == "selfology:events"


def test_the_loss_scan_leaves_smoke_pings_out_and_skips_processed_rows():
    assert "event_type <> 'smoke.ping'" in relay.SCAN_UNPROCESSED
    assert "NOT EXISTS" in relay.SCAN_UNPROCESSED and "NOT EXISTS" in relay.SET_PENDING


def test_the_republish_settings_come_from_the_environment(monkeypatch):
    env = {"DATABASE_URL": "x", "REDIS_URL": "y"}
    monkeypatch.setattr("os.environ", dict(env))
    s = Settings.from_env()
    assert (s.republish_after, s.republish_every, s.republish_horizon) == (30.0, 5.0, 86400.0)
    monkeypatch.setattr("os.environ", dict(env, SELFOLOGY_REPUBLISH_AFTER="5", SELFOLOGY_REPUBLISH_EVERY="1"))
    s = Settings.from_env()
    assert (s.republish_after, s.republish_every) == (5.0, 1.0)


def test_a_bad_republish_setting_stops_the_service(monkeypatch):
    monkeypatch.setattr("os.environ", {"DATABASE_URL": "x", "REDIS_URL": "y", "SELFOLOGY_REPUBLISH_AFTER": "0"})
    try:
        Settings.from_env()
    except SystemExit as exc:
        assert "SELFOLOGY_REPUBLISH_AFTER" in str(exc)
    else:
        raise AssertionError("accepted 0 seconds")


def test_the_key_names_the_consuming_slot():
    assert worker.consuming_slot("blue", None, "blue")
    assert not worker.consuming_slot("green", None, "blue")


def test_with_the_key_lost_the_recorded_slot_decides():
    assert worker.consuming_slot(None, "blue", "blue")
    assert not worker.consuming_slot(None, "green", "blue")
    # The key, once restored by whichever worker came first, wins over the row read.
    assert not worker.consuming_slot("green", "blue", "blue")


def test_with_neither_key_nor_record_every_worker_consumes():
    assert worker.consuming_slot(None, None, "blue")
    assert worker.consuming_slot(None, None, "green")
