# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit log: one JSON line per lifecycle action, appended atomically, read back for history.

Each entry is written with a single os.write on a descriptor opened with O_APPEND, so concurrent
writers never interleave parts of lines. Values of keys named like a secret (password, token,
secret, ...) are replaced with ******** before anything is written; callers pass no secrets anyway.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import datetime
import json
import os
import re

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError

OUTCOMES = ('success', 'failed', 'refused', 'noop', 'interrupted', 'inconclusive')
DIR_MODE = 0o750
FILE_MODE = 0o640
REDACTED = '********'
# Keys whose values never reach the log, whatever their case and wherever they are nested.
SECRET_KEY = re.compile(r'passw(or)?d|token|secret|api_?key|private_?key|credential', re.IGNORECASE)
GATE_FIELDS = ('name', 'passed', 'message', 'duration_ms')

History = collections.namedtuple('History', ['entries', 'skipped'])


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def redact(value):
    """A copy of value in which every key named like a secret has its value replaced."""
    if isinstance(value, dict):
        return dict((key, REDACTED if SECRET_KEY.search(str(key)) else redact(item))
                    for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value


def _gate(gate):
    if not isinstance(gate, dict) or not gate.get('name'):
        raise SelfologyError('each gate needs a name (and passed, message, duration_ms): got %r' % (gate,))
    return dict((field, gate.get(field)) for field in GATE_FIELDS if field in gate)


def build_entry(action, outcome, who=None, version=None, slots_before=None, slots_after=None, gates=None,
                duration_s=None, details=None, at=None):
    """The entry for one lifecycle action; fields that were not given are left out."""
    if not action:
        raise SelfologyError('an audit entry needs an action')
    if outcome not in OUTCOMES:
        raise SelfologyError('unknown outcome %r: expected one of %s' % (outcome, ', '.join(OUTCOMES)))
    entry = dict(at=at or utcnow(), action=action, outcome=outcome)
    optional = (
        ('who', who), ('version', version), ('slots_before', slots_before), ('slots_after', slots_after),
        ('gates', [_gate(g) for g in gates] if gates is not None else None),
        ('duration_s', duration_s), ('details', details),
    )
    for key, value in optional:
        if value is not None:
            entry[key] = redact(value)
    return entry


def entry_line(entry):
    """The entry as one line of JSON, newline included; non-ASCII text is escaped."""
    try:
        return json.dumps(entry, separators=(',', ':'), default=str) + '\n'
    except ValueError as exc:
        raise SelfologyError('the audit entry cannot be written as JSON: %s' % exc)


def _make_dirs(directory):
    """Creates the missing directories down to directory, each with DIR_MODE (whatever the umask)."""
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(path, DIR_MODE)


def append_entry(path, entry):
    """Appends the entry to the log in one write (O_APPEND): concurrent writers never mix lines.
    The directory is created with mode 0750 and the file with mode 0640. Returns the line."""
    data = entry_line(entry).encode('utf-8')
    try:
        _make_dirs(os.path.dirname(os.path.abspath(path)))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, FILE_MODE)
            os.fchmod(fd, FILE_MODE)
        except FileExistsError:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise SelfologyError('audit log %s: only %d of %d bytes were written (disk full?)' % (
                    path, written, len(data)))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise SelfologyError('cannot append to the audit log %s: %s' % (path, exc.strerror or exc))
    return data.decode('utf-8')


def read_entries(path, limit=None, action=None):
    """The log's entries, oldest first and newest last, as History(entries, skipped).

    Lines that are not a JSON object (a damaged or foreign line) are skipped and counted in
    skipped; blank lines are ignored. action keeps only the entries of that action; limit keeps
    the newest limit entries. A missing log has no entries."""
    if limit is not None and limit < 0:
        raise SelfologyError('limit must not be negative')
    entries = collections.deque(maxlen=limit)
    skipped = 0
    try:
        with open(path, 'rb') as handle:
            for raw in handle:
                if not raw.strip():
                    continue
                try:
                    entry = json.loads(raw.decode('utf-8'))
                except ValueError:
                    skipped += 1
                    continue
                if not isinstance(entry, dict):
                    skipped += 1
                    continue
                if action is None or entry.get('action') == action:
                    entries.append(entry)
    except FileNotFoundError:
        return History([], 0)
    except OSError as exc:
        raise SelfologyError('cannot read the audit log %s: %s' % (path, exc.strerror or exc))
    return History(list(entries), skipped)
