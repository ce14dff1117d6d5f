# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup retention as a policy: keep the N newest backups, and the newest backup of each of the last
N days, N ISO weeks and N months (restic's keep-last, keep-daily, keep-weekly, keep-monthly; a
pre-deploy backup and the nightly one fall on the same day), and always the newest
verified backup. Only verified backups are counted or pruned: one that failed verification is kept
apart for a person, never taken for the newest."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError

PERIODS = (
    ('last', lambda moment: moment.isoformat()),
    ('daily', lambda moment: moment.strftime('%Y-%m-%d')),
    ('weekly', lambda moment: '%04d-W%02d' % moment.isocalendar()[:2]),
    ('monthly', lambda moment: moment.strftime('%Y-%m')),
)


def validate_policy(policy):
    """{'last': N, 'daily': N, 'weekly': N, 'monthly': N}, each a whole number from 0 (absent: 0)."""
    checked = {}
    for name, _bucket in PERIODS:
        value = (policy or {}).get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SelfologyError('retention %s must be a whole number from 0, not %r' % (name, value))
        checked[name] = value
    unknown = sorted(set(policy or {}) - set(checked))
    if unknown:
        raise SelfologyError('unknown retention period(s) %s: use last, daily, weekly and monthly' % ', '.join(unknown))
    return checked


def plan(backups, policy):
    """Which backups to keep and which to prune.

    backups: dicts with 'id', 'taken_at' (an aware datetime) and 'verified'. Returns (keep, prune):
    keep maps each kept verified backup's id to the reasons it is kept (such as 'daily 2026-12-01',
    'newest'); prune lists the ids of verified backups no period keeps. Unverified backups are in
    neither: they are not the policy's to count or remove."""
    policy = validate_policy(policy)
    verified = sorted((b for b in backups if b.get('verified')), key=lambda b: b['taken_at'], reverse=True)
    keep = {}
    if verified:
        keep[verified[0]['id']] = ['newest']
    for name, bucket_of in PERIODS:
        seen = []
        for backup in verified:
            if len(seen) >= policy[name]:
                break
            bucket = bucket_of(backup['taken_at'])
            if bucket not in seen:
                seen.append(bucket)
                keep.setdefault(backup['id'], []).append('%s %s' % (name, bucket))
    prune = [b['id'] for b in verified if b['id'] not in keep]
    return keep, prune
