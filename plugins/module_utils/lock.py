# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy lock: one lifecycle action (deploy, switch, rollback, cleanup, scale) at a time per host.

The lock is a small JSON file created with O_CREAT|O_EXCL, so exactly one of several racing
callers creates it. It names its holder: the owner (user@controller), what it does, and the
process that holds it - the controller's host name, the pid of its ansible-playbook and that
process's start time (so a pid used again by another process is not mistaken for the holder).

A held lock is refused at once, naming who holds it, since when and doing what, except when its
holder is provably gone, in which case it is taken over and the result says whose lock it was and
why:
- the holder ran on the caller's controller and its process is not running any more (or the pid
  now belongs to a process started at another time);
- its lease ran out: a lock is a lease of `lease` seconds, renewed (the file's mtime is touched
  through a descriptor of the very file, so a renewal never touches someone else's lock) while
  the holder runs; a holder on another controller that died stops renewing, and its lock is free
  once the lease has run out. A holder known to be alive on the caller's controller is never
  taken over, lease or not.
A lock that looks live can be broken by a forced rollback with a reason (an emergency rollback
must always be possible); any other action is refused even with force. Expired locks of the old
format (no lease) and unreadable lock files are replaced only with force and a reason. Breaking
moves the file aside and checks it is still the lock that was judged (race-safe). A lock is
released only by its holder's token, by force with a reason, or - after an interrupted run - when
its holder is the interrupted process and that process is gone.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import getpass
import json
import os
import signal
import socket
import time
import uuid

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError, UnsafeOperation

# Seconds a lock stays valid without a renewal. Short, so that a holder on another controller that
# died frees the lock within about a minute and a half; long enough that a renewer delayed by a
# busy machine (it renews every DEFAULT_TTL / RENEWALS_PER_LEASE = 15 s) never loses a live lease.
DEFAULT_TTL = 90
RENEWALS_PER_LEASE = 6
FILE_MODE = 0o644
DIR_MODE = 0o755
_TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
# A process start time read again is the same to the clock tick; a pid used again by a new process
# starts later. Allow for the rounding of the boot time only.
_START_TOLERANCE = 1.0
# A lock file is written by one os.write right after it is created: a reader that finds it empty
# looks again a few times (well under a second in all) before calling it unreadable.
_EMPTY_RETRIES = 5
_EMPTY_PAUSE = 0.02
ALIVE, GONE, UNKNOWN = 'alive', 'gone', 'unknown'


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


# Processes ------------------------------------------------------------------------------------

def _boot_time():
    with open('/proc/stat') as handle:
        for line in handle:
            if line.startswith('btime '):
                return int(line.split()[1])
    raise OSError('no btime in /proc/stat')


def process_start(pid):
    """When process pid started (seconds since the epoch, from field 22 of /proc/<pid>/stat and the
    boot time); None when no such process runs (a zombie counts as gone)."""
    try:
        pid = int(pid)
        if pid <= 0:
            return None
        with open('/proc/%d/stat' % pid) as handle:
            stat = handle.read()
    except (OSError, ValueError, TypeError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
    fields = stat[stat.rfind(')') + 2:].split()
    if not fields or fields[0] in ('Z', 'X'):
        return None
    try:
        return round(_boot_time() + int(fields[19]) / float(os.sysconf('SC_CLK_TCK')), 2)
    except (OSError, ValueError, IndexError):
        return None


def controller_facts(pid):
    """host, pid and start of a holder process on this machine, as a lock records them."""
    return {'host': socket.gethostname(), 'pid': pid, 'start': process_start(pid)}


def liveness(holder, here=None):
    """(ALIVE, why), (GONE, why) or (UNKNOWN, None) for the holder of a lock, judged from this machine
    (named here, by default its host name): only a holder that ran here can be judged, and only
    when the lock records its process's start time (older locks recorded the module's pid)."""
    here = here or socket.gethostname()
    if not holder or 'unreadable' in holder or holder.get('host') != here:
        return UNKNOWN, None
    pid, start = holder.get('pid'), holder.get('start')
    if not isinstance(pid, int) or isinstance(pid, bool) or start is None:
        return UNKNOWN, None
    running = process_start(pid)
    if running is None:
        return GONE, 'its process (pid %d on %s) is not running' % (pid, here)
    try:
        if abs(running - float(start)) > _START_TOLERANCE:
            return GONE, 'pid %d on %s is another process now (started %s, the holder started %s)' % (
                pid, here, _epoch(running), _epoch(start))
    except (TypeError, ValueError):
        return UNKNOWN, None
    return ALIVE, 'its process (pid %d on %s) is running' % (pid, here)


def _epoch(seconds):
    return format_time(datetime.datetime.fromtimestamp(float(seconds), datetime.timezone.utc))


# The lock file --------------------------------------------------------------------------------

def new_holder(owner, action, version=None, ttl=DEFAULT_TTL, token=None, now=None, process=None):
    """The content of a lock taken now by owner for action; process: host, pid, start of the
    holder (the controller's ansible-playbook), by default this process."""
    if not owner:
        raise SelfologyError('the lock needs an owner (who takes it, such as alice@laptop)')
    if not action:
        raise SelfologyError('the lock needs an action (deploy, switch, rollback, cleanup or scale)')
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
        raise SelfologyError('ttl must be a positive number of seconds, not %r' % (ttl,))
    now = now or utcnow()
    process = dict(process or {})
    pid = process.get('pid') or os.getpid()
    return {
        'owner': owner,
        'action': action,
        'version': version,
        'pid': pid,
        'host': process.get('host') or socket.gethostname(),
        'start': process.get('start') if process.get('pid') else process_start(pid),
        'since': format_time(now),
        'expires': format_time(now + datetime.timedelta(seconds=ttl)),
        'lease': ttl,
        'token': token or uuid.uuid4().hex,
    }


def is_unreadable(holder):
    return holder is not None and 'unreadable' in holder


def expiry(holder, renewed=None):
    """When the lock expires: its recorded expiry, or for a lease the last renewal (the file's
    mtime, given as renewed) plus the lease, whichever is later. None when it has no expiry."""
    if holder is None or is_unreadable(holder):
        return None
    expires = parse_time(holder.get('expires'))
    lease = holder.get('lease')
    if renewed is not None and isinstance(lease, int) and not isinstance(lease, bool) and lease > 0:
        renewal = datetime.datetime.fromtimestamp(int(renewed) + lease, datetime.timezone.utc)
        expires = max(expires, renewal) if expires else renewal
    return expires


def is_expired(holder, now=None, renewed=None):
    """Whether the lock's expiry has passed. An unreadable lock has no expiry: never expired."""
    expires = expiry(holder, renewed)
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
    """(raw bytes, holder, mtime) of the lock file: (None, None, None) when there is no lock file;
    the holder is {'unreadable': why} when the file exists but cannot be read or parsed (it still
    counts as held). The holder's expires is its effective expiry (renewals included)."""
    for attempt in range(_EMPTY_RETRIES + 1):
        try:
            with open(path, 'rb') as handle:
                raw = handle.read()
                mtime = os.fstat(handle.fileno()).st_mtime
        except FileNotFoundError:
            return None, None, None
        except IsADirectoryError:
            raise SelfologyError('lock path %s is a directory, not a lock file' % path)
        except OSError as exc:
            return b'', {'unreadable': 'cannot read it: %s' % exc.strerror}, None
        if raw or attempt == _EMPTY_RETRIES:
            break
        time.sleep(_EMPTY_PAUSE)
    holder = _decode(raw)
    if not is_unreadable(holder):
        effective = expiry(holder, mtime)
        if effective is not None:
            holder['expires'] = format_time(effective)
    return raw, holder, mtime


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


def _create(path, holder, now):
    """Creates the lock file with O_CREAT|O_EXCL and writes the holder in one write; its mtime (the
    last renewal of the lease) is now. Returns False when the file already exists."""
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
        stamp = now.timestamp()
        os.utime(fd, (stamp, stamp))
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


def renew(path, token, now=None):
    """Renews the lease of the lock whose token is token: touches the mtime of the file it reads
    through the same descriptor, so a lock replaced meanwhile is never touched. False when the
    lock is gone or is someone else's now."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        holder = _decode(os.read(fd, 1 << 16))
        if holder.get('token') != token:
            return False
        stamp = (now or utcnow()).timestamp()
        os.utime(fd, (stamp, stamp))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def renew_while(path, token, pid, start, interval, poll=1.0):
    """The renewer: renews the lease every interval seconds while process pid (started at start)
    runs and the lock is still its; returns when either ends (checked every poll seconds)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    pid, start, interval, poll = int(pid), float(start), float(interval), float(poll)
    due = time.time() + interval
    while True:
        running = process_start(pid)
        if running is None or abs(running - start) > _START_TOLERANCE:
            return 'holder gone'
        try:
            with open(path, 'rb') as handle:
                if _decode(handle.read()).get('token') != token:
                    return 'lock not ours'
        except OSError:
            return 'lock released'
        if time.time() >= due:
            if not renew(path, token):
                return 'lock not ours'
            due = time.time() + interval
        time.sleep(poll)


def _broken(previous, reason, by, now, how):
    return {'previous': previous, 'how': how, 'reason': reason, 'by': by, 'at': format_time(now)}


def _judge(current, mtime, now, judge):
    """(state, why) of a readable lock: ALIVE/GONE/UNKNOWN from judge (liveness seen from the
    caller), then the lease: an expired lease of a holder not known to be alive is gone."""
    state, why = judge(current) if judge else (UNKNOWN, None)
    if state == UNKNOWN and current.get('lease') and is_expired(current, now, mtime):
        return GONE, 'its lease expired at %s (not renewed for %ds)' % (
            current.get('expires'), int(now.timestamp() - (mtime or 0)))
    return state, why


def acquire(path, owner, action, version=None, ttl=DEFAULT_TTL, token=None, force=False, reason=None,
            check_mode=False, now=None, process=None, judge=None):
    """Takes the lock for owner; refuses at once (LockHeld) when someone else holds it.

    process: host, pid and start of the holder recorded in the lock. judge(holder) -> (state, why)
    says whether a holder is ALIVE, GONE or UNKNOWN seen from the caller (see liveness()).
    Returns dict(changed, acquired, lock, broken, taken_over, renewed, before). A token equal to
    the current holder's means the caller already holds the lock: its lease is renewed. A gone
    holder's lock is taken over; force with a reason replaces an expired (old format) or
    unreadable lock, and for a rollback also a live one."""
    if force and not reason:
        raise SelfologyError('force needs a reason: say why the lock may be broken')
    now = now or utcnow()
    owner = owner or default_owner()
    holder = new_holder(owner, action, version, ttl, token, now, process)
    raw, current, mtime = _load(path)
    broken = None
    if raw is not None:
        if token and current.get('token') == token:
            renewed = check_mode or renew(path, token, now)
            return dict(changed=False, acquired=True, lock=read_lock(path) or current, broken=None,
                        taken_over=False, renewed=renewed, before=current)
        if is_unreadable(current):
            if not force:
                raise LockHeld('%s; the lock is unreadable but still refused: break it with force and a '
                               'reason' % describe(current, path), current)
            broken = _broken(current, reason, owner, now, 'forced')
        else:
            state, why = _judge(current, mtime, now, judge)
            if state == GONE:
                broken = _broken(current, why, owner, now, 'taken_over')
            elif state == UNKNOWN and is_expired(current, now, mtime):  # an old lock without a lease
                if not force:
                    raise LockHeld('%s; the lock is expired but still refused: break it with force and a '
                                   'reason' % describe(current, path), current)
                broken = _broken(current, reason, owner, now, 'forced')
            elif force and action == 'rollback':
                broken = _broken(current, reason, owner, now, 'forced')
                broken['holder_was'] = why or 'live (its lease has not expired)'
            elif force:
                raise LockHeld('%s: it is live and cannot be broken, even with force (%s); only a rollback '
                               'with force and a reason breaks a live lock' % (
                                   describe(current), why or 'its lease has not expired'), current)
            else:
                raise LockHeld('%s; refused (%s)' % (describe(current), why or 'its lease has not expired'),
                               current)
        if check_mode:
            return dict(changed=True, acquired=True, lock=holder, broken=broken,
                        taken_over=broken['how'] == 'taken_over', renewed=False, before=current)
        if not _take_away(path, raw):
            current = read_lock(path)
            raise LockHeld('the lock changed while breaking it: %s; refused' % (
                describe(current, path) if current else 'it was released'), current)
    elif check_mode:
        return dict(changed=True, acquired=True, lock=holder, broken=None, taken_over=False, renewed=False,
                    before=None)
    _ensure_dir(path)
    if not _create(path, holder, now):
        current = read_lock(path)
        raise LockHeld('%s; refused' % describe(current, path), current)
    return dict(changed=True, acquired=True, lock=holder, broken=broken,
                taken_over=bool(broken and broken['how'] == 'taken_over'), renewed=False, before=current)


def release(path, token=None, force=False, reason=None, by=None, check_mode=False, now=None,
            interrupted=None, judge=None):
    """Removes the lock when token is the holder's. No lock file: nothing to do.

    interrupted: dict(pid, host) of a run that was interrupted; its lock is released (without a
    token) only when judge(holder) says that process is GONE - any other lock is left alone
    (changed false, why says so). Someone else's lock (or one without a token given) is refused
    unless force and a reason are given; then the result's broken says whose lock was released.
    Returns dict(changed, acquired=False, lock (the lock released, or None), broken, why, before)."""
    if force and not reason:
        raise SelfologyError('force needs a reason: say why the lock may be released')
    now = now or utcnow()
    raw, current, _mtime = _load(path)
    if raw is None:
        return dict(changed=False, acquired=False, lock=None, broken=None, why='there is no lock', before=None)
    broken, why = None, None
    if interrupted:
        if is_unreadable(current) or current.get('pid') != interrupted.get('pid') or \
                current.get('host') != interrupted.get('host'):
            return dict(changed=False, acquired=False, lock=None, broken=None, before=current,
                        why='the lock is not the interrupted run\'s: %s' % describe(current, path))
        state, gone_why = judge(current) if judge else (UNKNOWN, None)
        if state != GONE:
            return dict(changed=False, acquired=False, lock=None, broken=None, before=current,
                        why='its holder is not known to be gone (%s)' % (gone_why or 'cannot tell from here'))
        broken = _broken(current, 'interrupted: %s' % gone_why, by, now, 'interrupted')
        why = gone_why
    elif not token or current.get('token') != token:
        if not force:
            why = 'no token was given' if not token else 'the token is not the holder\'s'
            raise LockHeld('%s; not released: %s (force with a reason releases it)' % (
                describe(current, path), why), current)
        broken = _broken(current, reason, by, now, 'forced')
    if check_mode:
        return dict(changed=True, acquired=False, lock=current, broken=broken, why=why, before=current)
    if not _take_away(path, raw):
        now_holder = read_lock(path)
        if now_holder is None:
            return dict(changed=False, acquired=False, lock=None, broken=None, why='it was released meanwhile',
                        before=None)
        raise LockHeld('the lock changed while releasing it: %s; not released' % describe(now_holder, path),
                       now_holder)
    return dict(changed=True, acquired=False, lock=current, broken=broken, why=why, before=current)
