"""The backup catalog on a real directory (backup_catalog's own run()): 40 sets of fake ages keep
exactly what the retention policy says and never the newest verified one; a set whose file does not
match its manifest is moved to failed/ with the reason and never taken for the newest; check mode
changes nothing; leftovers of an interrupted backup are removed once old; restore's comparisons."""
import datetime
import hashlib
import json
import os
import time

import pytest

from ansible_collections.selfology.ops.plugins.module_utils import backups, restore
from ansible_collections.selfology.ops.plugins.modules import backup_catalog

UTC = datetime.timezone.utc
POLICY = {"last": 2, "daily": 7, "weekly": 4, "monthly": 3}


def make_set(directory, moment, content=b"dump"):
    """A set as backup_create writes it, with small files and their real checksums."""
    name = backups.set_name(moment)
    path = directory / name
    path.mkdir()
    (path / "postgres.dump").write_bytes(content)
    (path / "redis.rdb").write_bytes(b"REDIS0010" + content)
    manifest = {"format": 1, "id": name, "taken_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "postgres": {"file": "postgres.dump", "size_bytes": len(content), "schema": "selfology",
                             "sha256": hashlib.sha256(content).hexdigest(), "tables": {"event_outbox": 3}},
                "redis": {"file": "redis.rdb", "size_bytes": len(content) + 9, "keys": 2, "streams": {"s": 1},
                          "sha256": hashlib.sha256(b"REDIS0010" + content).hexdigest()}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return name


def catalog(directory, check_mode=False, **params):
    return backup_catalog.run(dict(dict(backup_dir=str(directory), retention=POLICY, prune=True,
                                        partial_max_age=3600), **params), check_mode)


def forty_sets(directory):
    """One set a day at 02:00 from 25 October to 1 December 2026 (38), one more at 01:00 on 27
    November and one at 03:00 on 1 December: 40 in all."""
    days = [datetime.datetime(2026, 10, d, 2, tzinfo=UTC) for d in range(25, 32)]
    days += [datetime.datetime(2026, 11, d, 2, tzinfo=UTC) for d in range(1, 31)]
    days += [datetime.datetime(2026, 12, 1, 2, tzinfo=UTC), datetime.datetime(2026, 11, 27, 1, tzinfo=UTC),
             datetime.datetime(2026, 12, 1, 3, tzinfo=UTC)]
    return [make_set(directory, day) for day in days]


def name(month, day, hour=2):
    return backups.set_name(datetime.datetime(2026, month, day, hour, tzinfo=UTC))


def test_forty_sets_keep_exactly_what_the_policy_says(tmp_path):
    assert len(forty_sets(tmp_path)) == 40
    result = catalog(tmp_path)
    expected = {name(12, 1, 3), name(12, 1), name(11, 30), name(11, 29), name(11, 28), name(11, 27), name(11, 26),
                name(11, 25), name(11, 22), name(11, 15), name(10, 31)}
    assert set(result["kept"]) == expected
    assert result["kept"][name(12, 1, 3)][:3] == ["newest", "last %s" % "2026-12-01T03:00:00+00:00",
                                                  "daily 2026-12-01"]
    assert result["kept"][name(12, 1)] == ["last 2026-12-01T02:00:00+00:00"]
    assert len(result["pruned"]) == 29 and not set(result["pruned"]) & expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)
    assert result["newest"]["id"] == name(12, 1, 3) and result["changed"]
    assert "selfology_backup_verified_sets 11" in result["metrics"]
    stamp = int(datetime.datetime(2026, 12, 1, 3, tzinfo=UTC).timestamp())
    assert "selfology_backup_newest_verified_timestamp_seconds %d" % stamp in result["metrics"]
    again = catalog(tmp_path)
    assert not again["changed"] and again["pruned"] == []


def test_check_mode_says_what_it_would_prune_and_keeps_everything(tmp_path):
    forty_sets(tmp_path)
    result = catalog(tmp_path, check_mode=True)
    assert len(result["pruned"]) == 29 and result["changed"]
    assert len(list(tmp_path.iterdir())) == 40


def test_a_corrupted_newest_set_is_kept_apart_never_the_newest_and_never_pruned(tmp_path):
    older = make_set(tmp_path, datetime.datetime(2026, 12, 1, 2, tzinfo=UTC))
    newest = make_set(tmp_path, datetime.datetime(2026, 12, 1, 3, tzinfo=UTC))
    dump = tmp_path / newest / "postgres.dump"
    dump.write_bytes(b"dumq")  # one byte flipped, same size
    result = catalog(tmp_path, retention={"last": 1})
    assert result["newest"]["id"] == older and result["set_apart"] == [newest]
    assert result["failed_sets"][0]["problems"] == ["postgres.dump checksum mismatch"]
    assert (tmp_path / "failed" / newest / "postgres.dump").exists()
    assert "checksum mismatch" in (tmp_path / "failed" / newest / "FAILED.txt").read_text()
    assert "selfology_backup_failed_sets 1" in result["metrics"]
    again = catalog(tmp_path, retention={"last": 1})
    assert not again["changed"] and again["failed_sets"][0]["id"] == newest
    assert again["failed_sets"][0]["problems"] == ["postgres.dump checksum mismatch"]


@pytest.mark.parametrize("damage, problem", [
    (lambda p: (p / "redis.rdb").unlink(), "redis.rdb missing"),
    (lambda p: (p / "redis.rdb").write_bytes(b"REDIS"), "redis.rdb is 5 bytes, the manifest says 13"),
    (lambda p: (p / "manifest.json").write_text("{"), "manifest unreadable"),
])
def test_every_kind_of_damage_fails_verification(tmp_path, damage, problem):
    path = tmp_path / make_set(tmp_path, datetime.datetime(2026, 12, 1, 3, tzinfo=UTC))
    damage(path)
    result = catalog(tmp_path, check_mode=True)
    assert result["newest"] is None and result["failed_sets"][0]["problems"][0].startswith(problem)
    assert "selfology_backup_verified_sets 0" in result["metrics"]
    assert "newest_verified_timestamp" not in result["metrics"]
    assert path.exists(), "check mode moves nothing"


def test_an_interrupted_backups_leftovers_are_removed_once_old(tmp_path):
    make_set(tmp_path, datetime.datetime(2026, 12, 1, 3, tzinfo=UTC))
    fresh, stale = tmp_path / (name(12, 1, 4) + ".partial"), tmp_path / (name(12, 1, 5) + ".partial")
    fresh.mkdir()
    stale.mkdir()
    old = time.time() - 7200
    os.utime(stale, (old, old))
    result = catalog(tmp_path)
    assert result["partial_removed"] == [str(stale)] and fresh.exists() and not stale.exists()


def test_an_unknown_retention_period_is_refused_before_anything_changes(tmp_path):
    forty_sets(tmp_path)
    with pytest.raises(Exception, match="unknown retention period"):
        catalog(tmp_path, retention={"yearly": 1})
    assert len(list(tmp_path.iterdir())) == 40


def test_mismatches_name_every_difference_and_rows_since_counts_the_rows_after_the_backup():
    manifest = {"postgres": {"tables": {"a": 3, "b": 5}}, "redis": {"keys": 2, "streams": {"s": 4}}}
    assert restore.mismatches(manifest, {"a": 3, "b": 5}, 2, {"s": 4}) == []
    assert restore.mismatches(manifest, {"a": 3, "b": 4}, 1, {"s": 3}) == [
        "table b: 4 rows restored, the manifest has 5", "Redis: 1 keys restored, the manifest has 2",
        "stream s: 3 entries restored, the manifest has 4"]
    assert restore.mismatches(manifest, {"a": 3}) == ["table b: None rows restored, the manifest has 5"]
    assert restore.rows_since({"a": 3, "b": 5}, {"a": 1003, "b": 5, "c": 9}) == {"a": 1000, "b": 0}
    assert restore.rows_since({"a": 3}, None) is None
    with pytest.raises(Exception, match="no live row count"):
        restore.rows_since({"a": 3}, {})
