"""Backup retention (issue 11's policy): 40 backups of known ages keep exactly the newest of each of
the last 7 days, 4 ISO weeks and 3 months, and never the newest verified one is pruned; a backup
that failed verification is neither counted nor pruned."""
import datetime

import pytest

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.retention import plan, validate_policy

UTC = datetime.timezone.utc
POLICY = {"daily": 7, "weekly": 4, "monthly": 3}


def at(day, hour=2):
    return datetime.datetime(2026, day[0], day[1], hour, tzinfo=UTC)


def forty_backups():
    """A verified backup every day at 02:00 from 25 October to 1 December 2026 (38), one more at
    01:00 on 27 November, and one at 03:00 on 1 December that failed verification: 40 in all."""
    days = [(10, d) for d in range(25, 32)] + [(11, d) for d in range(1, 31)] + [(12, 1)]
    backups = [{"id": "%02d-%02d" % day, "taken_at": at(day), "verified": True} for day in days]
    backups.append({"id": "11-27-early", "taken_at": at((11, 27), 1), "verified": True})
    backups.append({"id": "12-01-corrupt", "taken_at": at((12, 1), 3), "verified": False})
    return backups


def test_forty_backups_keep_exactly_what_the_policy_says():
    backups = forty_backups()
    assert len(backups) == 40
    keep, prune = plan(backups, POLICY)
    # 2026-11-30 is a Monday, in ISO week 49: weeks 49, 48, 47 and 46 end on 12-01, 11-29, 11-22, 11-15.
    assert keep == {
        "12-01": ["newest", "daily 2026-12-01", "weekly 2026-W49", "monthly 2026-12"],
        "11-30": ["daily 2026-11-30", "monthly 2026-11"],
        "11-29": ["daily 2026-11-29", "weekly 2026-W48"],
        "11-28": ["daily 2026-11-28"], "11-27": ["daily 2026-11-27"],
        "11-26": ["daily 2026-11-26"], "11-25": ["daily 2026-11-25"],
        "11-22": ["weekly 2026-W47"], "11-15": ["weekly 2026-W46"],
        "10-31": ["monthly 2026-10"],
    }
    assert len(prune) == 29 and "11-27-early" in prune
    assert "12-01-corrupt" not in keep and "12-01-corrupt" not in prune, "a failed backup is kept apart"
    assert set(keep) | set(prune) == {b["id"] for b in backups if b["verified"]}


def test_the_newest_verified_backup_is_kept_by_a_policy_that_keeps_nothing():
    keep, prune = plan(forty_backups(), {"daily": 0, "weekly": 0, "monthly": 0})
    assert keep == {"12-01": ["newest"]} and len(prune) == 38


def test_a_failed_backup_is_never_taken_for_the_newest():
    backups = [{"id": "good", "taken_at": at((11, 1)), "verified": True},
               {"id": "bad", "taken_at": at((11, 2)), "verified": False}]
    assert plan(backups, {"daily": 0}) == ({"good": ["newest"]}, [])


@pytest.mark.parametrize("policy", [{"daily": -1}, {"weekly": "4"}, {"monthly": True}, {"hourly": 2}])
def test_a_bad_policy_is_refused(policy):
    with pytest.raises(SelfologyError):
        validate_policy(policy)
