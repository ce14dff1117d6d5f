# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy lock: one lifecycle action (deploy, switch, rollback, cleanup, scale) at a time per host.

The lock is a small JSON file created with O_CREAT|O_EXCL, so exactly one of several racing
callers creates it. A held lock is refused at once, naming who holds it, since when and doing
what. An expired (stale) lock is still refused: it is replaced only when the caller forces it and
gives a reason, and the result says whose lock was broken. A live lock is never broken, and a
lock is released only by the holder's token (or by force, with a reason).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import getpass
import json
import os
import socket
import time
import uuid

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError, UnsafeOperation

DEFAULT_TTL = 1800
FILE_MODE = 0o644
DIR_MODE = 0o755
_TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
# A lock file is written by one os.write right after it is created: a reader that finds it empty
# looks again a few times (well under a second in all) before calling it unreadable.
_EMPTY_RETRIES = 5
_EMPTY_PAUSE = 0.02


class LockHeld(UnsafeOperation):
    """The lock is held by someone else (or cannot be read); holder is what the file says."""

    def __init__(self, message, holder=None):
        super(LockHeld, self).__init__(message)
        self.holder = holder


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def format_time(moment):
    return moment.astimezone(datetime.timezone.utc).strftime(_TIME_FORMAT)


def parse_time(text):
    try:
        return datetime.datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def default_owner():
    """user@host of the process taking the lock, when the caller does not say who it is."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = 'uid%d' % os.getuid()
    return '%s@%s' % (user, socket.gethostname())


def new_holder(owner, action, version=None, ttl=DEFAULT_TTL, token=None, now=None):
    """The content of a lock taken now by owner for action."""
    if not owner:
        raise SelfologyError('the lock needs an owner (who takes it, such as alice@laptop)')
    if not action:
        raise SelfologyError('the lock needs an action (deploy, switch, rollback, cleanup or scale)')
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
        raise SelfologyError('ttl must be a positive number of seconds, not %r' % (ttl,))
    now = now or utcnow()
    return {
        'owner': owner,
        'action': action,
        'version': version,
        'pid': os.getpid(),
        'host': socket.gethostname(),
        'since': format_time(now),
        'expires': format_time(now + datetime.timedelta(seconds=ttl)),
        'token': token or uuid.uuid4().hex,
    }


def is_unreadable(holder):
    return holder is not None and 'unreadable' in holder


def is_expired(holder, now=None):
    """Whether the lock's expiry has passed. An unreadable lock has no expiry: never expired."""
    if holder is None or is_unreadable(holder):
        return False
    expires = parse_time(holder.get('expires'))
    return expires is not None and expires <= (now or utcnow())


def describe(holder, path=None):
    """One line for an operator: who holds the lock, since when, doing what, until when."""
    if is_unreadable(holder):
        return 'deploy lock file %s is unreadable (%s)' % (path or '', holder['unreadable'])
    doing = ' '.join(str(part) for part in (holder.get('action'), holder.get('version')) if part)
    since, expires = holder.get('since') or '?', holder.get('expires') or '?'
    if since[:11] == expires[:11] and len(expires) > 11:
        expires = expires[11:]
    where = []
    if holder.get('pid'):
        where.append('pid %s' % holder['pid'])
    if holder.get('host'):
        where.append('on %s' % holder['host'])
    return 'deploy lock held by %s since %s (%s, expires %s%s)' % (
        holder.get('owner') or 'an unknown owner', since, doing or 'unknown action', expires,
        '; %s' % ' '.join(where) if where else '')


def _decode(raw):
    """The holder dict stored in raw bytes, or an unreadable marker saying why not."""
    if not raw.strip():
        return {'unreadable': 'the file is empty'}
    try:
        holder = json.loads(raw.decode('utf-8'))
    except ValueError as exc:
        return {'unreadable': 'not JSON: %s' % exc}
    if not isinstance(holder, dict) or not holder.get('token'):
        return {'unreadable': 'not a lock: no token'}
    return holder


def _load(path):
    """(raw bytes, holder) of the lock file: (None, None) when there is no lock file; the holder is
    {'unreadable': why} when the file exists but cannot be read or parsed (it still counts as held)."""
    for attempt in range(_EMPTY_RETRIES + 1):
        try:
            with open(path, 'rb') as handle:
                raw = handle.read()
        except FileNotFoundError:
            return None, None
        except IsADirectoryError:
            raise SelfologyError('lock path %s is a directory, not a lock file' % path)
        except OSError as exc:
            return b'', {'unreadable': 'cannot read it: %s' % exc.strerror}
        if raw or attempt == _EMPTY_RETRIES:
            break
        time.sleep(_EMPTY_PAUSE)
    return raw, _decode(raw)


def read_lock(path):
    """The holder recorded in the lock file; None when there is no lock; {'unreadable': why} when the
    file exists but cannot be read or parsed (it still counts as held)."""
    return _load(path)[1]


def _ensure_dir(path):
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
    except OSError as exc:
        raise SelfologyError('cannot create the lock directory %s: %s' % (directory, exc.strerror))


def _create(path, holder):
    """Creates the lock file with O_CREAT|O_EXCL and writes the holder in one write.
    Returns False when the file already exists (someone else holds the lock)."""
    data = (json.dumps(holder, indent=2, sort_keys=True) + '\n').encode('utf-8')
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    except OSError as exc:
        raise SelfologyError('cannot create the lock file %s: %s' % (path, exc.strerror))
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(0, 'short write (%d of %d bytes)' % (written, len(data)))
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        os.unlink(path)
        raise SelfologyError('cannot write the lock file %s: %s' % (path, exc.strerror or exc))
    os.close(fd)
    return True


def _take_away(path, expected_raw):
    """Moves the lock file aside and removes it, but only when it still holds expected_raw; when
    another caller replaced it meanwhile, it is put back and False is returned."""
    aside = '%s.%s.removed' % (path, uuid.uuid4().hex)
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise SelfologyError('cannot remove the lock file %s: %s' % (path, exc.strerror))
    try:
        try:
            with open(aside, 'rb') as handle:
                moved = handle.read()
        except OSError:
            moved = b''
        if moved == expected_raw:
            return True
        try:
            os.link(aside, path)  # put it back, unless yet another lock was created meanwhile
        except OSError:
            pass
        return False
    finally:
        os.unlink(aside)


def _broken(previous, reason, by, now):
    return {'previous': previous, 'reason': reason, 'by': by, 'at': format_time(now)}


def acquire(path, owner, action, version=None, ttl=DEFAULT_TTL, token=None, force=False, reason=None,
            check_mode=False, now=None):
    """Takes the lock for owner; refuses at once (LockHeld) when someone else holds it.

    Returns dict(changed, acquired, lock, broken, before). A token equal to the current holder's
    means the caller already holds the lock: nothing changes. force with a reason replaces an
    expired or unreadable lock, never a live one."""
    if force and not reason:
        raise SelfologyError('force needs a reason: say why the lock may be broken')
    now = now or utcnow()
    owner = owner or default_owner()
    holder = new_holder(owner, action, version, ttl, token, now)
    raw, current = _load(path)
    broken = None
    if raw is not None:
        if token and current.get('token') == token:
            return dict(changed=False, acquired=True, lock=current, broken=None, before=current)
        if not is_unreadable(current) and not is_expired(current, now):
            if force:
                raise LockHeld('%s: it is live and cannot be broken, even with force; wait until it '
                               'expires or ask its holder to release it' % describe(current), current)
            raise LockHeld('%s; refused' % describe(current), current)
        if not force:
            state = 'unreadable' if is_unreadable(current) else 'expired'
            raise LockHeld('%s; the lock is %s but still refused: break it with force and a reason' % (
                describe(current, path), state), current)
        broken = _broken(current, reason, owner, now)
        if check_mode:
            return dict(changed=True, acquired=True, lock=holder, broken=broken, before=current)
        if not _take_away(path, raw):
            current = read_lock(path)
            raise LockHeld('the lock changed while breaking it: %s; refused' % (
                describe(current, path) if current else 'it was released'), current)
    elif check_mode:
        return dict(changed=True, acquired=True, lock=holder, broken=None, before=None)
    _ensure_dir(path)
    if not _create(path, holder):
        current = read_lock(path)
        raise LockHeld('%s; refused' % describe(current, path), current)
    return dict(changed=True, acquired=True, lock=holder, broken=broken, before=current)


def release(path, token=None, force=False, reason=None, by=None, check_mode=False, now=None):
    """Removes the lock when token is the holder's. No lock file: nothing to do.

    Someone else's lock (or one without a token given) is refused unless force and a reason are
    given; then the result's broken says whose lock was released. Returns
    dict(changed, acquired=False, lock (the lock released, or None), broken, before)."""
    if force and not reason:
        raise SelfologyError('force needs a reason: say why the lock may be released')
    now = now or utcnow()
    raw, current = _load(path)
    if raw is None:
        return dict(changed=False, acquired=False, lock=None, broken=None, before=None)
    broken = None
    if not token or current.get('token') != token:
        if not force:
            why = 'no token was given' if not token else 'the token is not the holder\'s'
            raise LockHeld('%s; not released: %s (force with a reason releases it)' % (
                describe(current, path), why), current)
        broken = _broken(current, reason, by, now)
    if check_mode:
        return dict(changed=True, acquired=False, lock=current, broken=broken, before=current)
    if not _take_away(path, raw):
        now_holder = read_lock(path)
        if now_holder is None:
            return dict(changed=False, acquired=False, lock=None, broken=None, before=None)
        raise LockHeld('the lock changed while releasing it: %s; not released' % describe(now_holder, path),
                       now_holder)
    return dict(changed=True, acquired=False, lock=current, broken=broken, before=current)
