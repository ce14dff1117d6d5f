# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The loop guard of automatic remediation: one claim per key and window, kept in a JSON file.

An automatic run (an Alertmanager alert through ansible-rulebook) claims a key before it acts: the
alert's fingerprint ("one remediation per alert fingerprint per window"), or a deploy's rollback key
("rollback only once per deploy", a claim without a window that never runs out). A key claimed
within its window refuses the next claim, and says which claim refused it.

The file is read, changed and replaced under an exclusive flock on a lock file beside it (<path>.lock),
so two runs racing for one key cannot both be allowed; the replacement is atomic (slots.write_json),
so a reader never sees half a file. Claims whose window ran out are dropped at the next write.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import datetime
import fcntl
import json
import os

from ansible_collections.selfology.ops.plugins.module_utils.durations import format_seconds, parse_duration
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
# The lock's clock and time format: a claim's times read like the lock's.
from ansible_collections.selfology.ops.plugins.module_utils.lock import format_time, parse_time, utcnow
from ansible_collections.selfology.ops.plugins.module_utils.slots import write_json

FILE_MODE = 0o644
# A key is an identifier (a fingerprint, rollback:<deploy>), shown in messages: printable, bounded.
MAX_KEY_LENGTH = 256
# The longest window: a claim meant to hold for good has no window at all.
MAX_WINDOW = 366 * 86400


def validate_key(key):
    if not isinstance(key, str) or not key.strip():
        raise SelfologyError('key must be a non-empty string (an alert fingerprint, rollback:<deploy>)')
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise SelfologyError('key must be printable and at most %d characters' % MAX_KEY_LENGTH)
    return key


def window_seconds(window):
    """Seconds of a window in the collection's duration grammar; None (no window) for a claim for good."""
    if window is None or window == '':
        return None
    return parse_duration(window, name='window', low=1, high=MAX_WINDOW)


@contextlib.contextmanager
def locked(path):
    """An exclusive flock on <path>.lock for the read-change-replace of path (created when missing)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd = os.open(path + '.lock', os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_claims(path):
    """The claims in the file, by key; {} when there is no file. An unreadable file is an error, never
    an empty guard: a guard that forgot its claims would let a loop run."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SelfologyError('the remediation guard %s cannot be read (%s): fix or remove it by hand; no automatic '
                             'remediation runs until then' % (path, type(exc).__name__))
    claims = data.get('claims') if isinstance(data, dict) else None
    if not isinstance(claims, dict):
        raise SelfologyError('the remediation guard %s holds no claims object: fix or remove it by hand' % path)
    return claims


def in_force(claim, now):
    """Whether a claim still refuses its key at now (a claim without expiry holds for good)."""
    if not isinstance(claim, dict):
        return False
    if claim.get('expires') is None:
        return True
    expires = parse_time(claim.get('expires'))
    return expires is None or now < expires


def describe(key, claim):
    until = ('until %s' % claim['expires']) if claim.get('expires') else 'for good (no window)'
    what = claim.get('details') or {}
    about = ', '.join('%s %s' % (name, what[name]) for name in sorted(what)
                      if isinstance(what[name], (str, int, float)) and not isinstance(what[name], bool))
    return 'remediation %s already claimed at %s%s, %s' % (
        key, claim.get('claimed_at', '?'), (' (%s)' % about) if about else '', until)


def claim(path, key, window=None, details=None, check_mode=False, now=None):
    """Claims key: allowed and recorded when no claim of key is in force, else refused with that claim.
    Returns the module's result (changed, allowed, claim, previous, message)."""
    validate_key(key)
    seconds = window_seconds(window)
    now = now or utcnow()
    with locked(path):
        claims = read_claims(path)
        previous = claims.get(key)
        if in_force(previous, now):
            return dict(changed=False, allowed=False, key=key, claim=previous, previous=previous,
                        message=describe(key, previous), path=path)
        record = {
            'key': key,
            'claimed_at': format_time(now),
            'window': format_seconds(seconds) if seconds is not None else None,
            'expires': format_time(now + datetime.timedelta(seconds=seconds)) if seconds is not None else None,
            'details': details or {},
        }
        if not check_mode:
            kept = dict((name, value) for name, value in claims.items() if in_force(value, now))
            kept[key] = record
            write_json(path, {'claims': kept}, mode=FILE_MODE)
        return dict(changed=True, allowed=True, key=key, claim=record, previous=previous,
                    message='remediation %s claimed at %s, %s' % (
                        key, record['claimed_at'],
                        ('until %s' % record['expires']) if record['expires'] else 'for good (no window)'),
                    path=path)


def release(path, key, check_mode=False):
    """Removes the claim of key (an operator clearing the guard); changed only when there was one."""
    validate_key(key)
    with locked(path):
        claims = read_claims(path)
        previous = claims.get(key)
        if previous is None:
            return dict(changed=False, allowed=True, key=key, claim=None, previous=None,
                        message='no claim of remediation %s' % key, path=path)
        if not check_mode:
            del claims[key]
            write_json(path, {'claims': claims}, mode=FILE_MODE)
        return dict(changed=True, allowed=True, key=key, claim=None, previous=previous,
                    message='claim of remediation %s removed' % key, path=path)
