import datetime

import pytest

from ansible_collections.selfology.ops.plugins.module_utils import outbox
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError


@pytest.mark.parametrize("text, seconds", [
    ("30d", 30 * 86400), ("12h", 12 * 3600), ("90d", 90 * 86400), ("1w", 7 * 86400),
    ("45m", 2700), ("1s", 1), ("36500d", 36500 * 86400),
])
def test_durations_are_parsed(text, seconds):
    assert outbox.parse_duration(text, "older_than") == datetime.timedelta(seconds=seconds)


def test_milliseconds_for_lock_timeout():
    assert outbox.parse_duration("500ms", "lock_timeout") == datetime.timedelta(milliseconds=500)
    assert outbox.lock_timeout_setting(outbox.parse_duration("2s", "lock_timeout")) == "2000ms"
    assert outbox.lock_timeout_setting(outbox.parse_duration("1ms", "lock_timeout")) == "1ms"


@pytest.mark.parametrize("text", [
    "30 days; drop table", "30 days", "30", "d", "", " 30d", "30d ", "30D", "-30d", "+30d", "0d", "030d",
    "1.5d", "1d12h", "30days", "P30D", "interval '30 days'", "30d\n", "١٢h", "12345678901d", None, 30, 2.5, True,
])
def test_anything_else_is_refused_with_the_format_in_the_message(text):
    with pytest.raises(SelfologyError, match=r"older_than: .* (is not a duration; use a whole number|is out of range)"):
        outbox.parse_duration(text, "older_than")


def test_the_refused_value_is_shortened_in_the_message():
    with pytest.raises(SelfologyError) as exc:
        outbox.parse_duration("1; " + "x" * 500, "older_than")
    assert len(str(exc.value)) < 200


@pytest.mark.parametrize("name, text", [
    ("older_than", "36501d"), ("older_than", "500ms"), ("lock_timeout", "6m"), ("max_duration", "8d"),
])
def test_bounds(name, text):
    with pytest.raises(SelfologyError, match="out of range"):
        outbox.parse_duration(text, name)


def params(**kw):
    base = dict(state="archived", older_than="30d", retention=None, batch_size=5000, lock_timeout="2s",
                max_batches=None, max_duration=None, export_path=None)
    base.update(kw)
    return base


def test_archive_options_defaults():
    opts = outbox.archive_options(params())
    assert opts["state"] == "archived"
    assert opts["age"] == datetime.timedelta(days=30)
    assert opts["batch_size"] == 5000
    assert opts["lock_timeout"] == datetime.timedelta(seconds=2)
    assert opts["max_batches"] is None and opts["max_duration"] is None


def test_time_box_options():
    opts = outbox.archive_options(params(max_batches=3, max_duration="10m"))
    assert opts["max_batches"] == 3 and opts["max_duration"] == 600


@pytest.mark.parametrize("kw, message", [
    (dict(batch_size=0), "batch_size: 0 is out of range"),
    (dict(batch_size=-5), "batch_size: -5 is out of range"),
    (dict(batch_size=100001), "batch_size"),
    (dict(batch_size=True), "batch_size"),
    (dict(max_batches=0), "max_batches"),
    (dict(older_than=None), "older_than is required with state=archived"),
    (dict(retention="365d"), "retention does not apply to state=archived"),
    (dict(state="purged", older_than=None), "retention is required with state=purged"),
    (dict(state="purged", retention="1d"), "older_than does not apply to state=purged"),
    (dict(state="purged", older_than=None, retention="1d", export_path="/tmp/x.gz"), "export_path applies"),
    (dict(state="deleted"), "state"),
    (dict(lock_timeout="0s"), "lock_timeout"),
    (dict(max_duration="soon"), "max_duration"),
    (dict(export_path="/nonexistent-dir/outbox.jsonl.gz"), "directory /nonexistent-dir does not exist"),
])
def test_bad_options_are_refused(kw, message):
    with pytest.raises(SelfologyError, match=message):
        outbox.archive_options(params(**kw))


def test_export_path_may_not_be_a_directory(tmp_path):
    with pytest.raises(SelfologyError, match="is a directory"):
        outbox.archive_options(params(export_path=str(tmp_path)))


@pytest.mark.parametrize("value", [0, 10, 1000])
def test_oldest_limit(value):
    assert outbox.validate_oldest_limit(value) == value


@pytest.mark.parametrize("value", [-1, 1001, "10", None])
def test_bad_oldest_limit(value):
    with pytest.raises(SelfologyError, match="oldest_limit"):
        outbox.validate_oldest_limit(value)
