# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Outbox figures (outbox_info) and the bounded, loss-free archive and purge (outbox_archive).

The archive moves published rows older than a cutoff from selfology.event_outbox into
selfology.event_outbox_archive in short batches. Each batch is ONE statement in ONE short
transaction: the DELETE ... RETURNING feeds the INSERT into the archive, so a row is in the outbox
or in the archive at every instant, whatever moment the run is interrupted at. A rerun picks up the
rows that are still in the outbox. The optional export is written and fsynced before the batch
commits, so every archived row is in the export (a batch interrupted between the two is exported
again by the rerun: the export is at-least-once, never short).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import gzip
import json
import os
import time
import zlib

from ansible_collections.selfology.ops.plugins.module_utils import durations, postgres
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError, UnsafeOperation

try:
    import psycopg
    from psycopg import errors as pg_errors, sql
except ImportError:  # postgres.require_psycopg() tells the user
    pass

SCHEMA = 'selfology'
OUTBOX = 'event_outbox'
ARCHIVE = 'event_outbox_archive'
ARCHIVE_INDEX = 'event_outbox_archive_archived_at_idx'
STATUSES = ('pending', 'published', 'failed')

# The outbox columns the archive copies, with their types as format_type() spells them.
OUTBOX_COLUMNS = (
    ('id', 'bigint'),
    ('event_type', 'text'),
    ('payload', 'jsonb'),
    ('status', 'text'),
    ('created_at', 'timestamp with time zone'),
    ('published_at', 'timestamp with time zone'),
    # The relay's record of where it wrote the event, so that an entry Redis lost is published again.
    ('stream_entry_id', 'text'),
)
ARCHIVE_COLUMNS = OUTBOX_COLUMNS + (('archived_at', 'timestamp with time zone'),)
COLUMN_NAMES = tuple(column[0] for column in OUTBOX_COLUMNS)

DAY = 86400

# Bounds of each option: (smallest, largest) in seconds for durations.
LIMITS = {
    'older_than': (1, 36500 * DAY),
    'retention': (1, 36500 * DAY),
    'max_duration': (1, 7 * DAY),
    'lock_timeout': (0.001, 300),
}
MAX_BATCH_SIZE = 100000
MAX_OLDEST_LIMIT = 1000
LOCK_RETRIES = 3  # a batch that meets lock_timeout is retried this many times before the run stops
ADVISORY_KEYS = {'archived': 'selfology.ops/outbox_archive', 'purged': 'selfology.ops/outbox_archive_purge'}
EXPORT_CHUNK = 1 << 20
MIN_ID = -(2 ** 63)  # the keyset starts below any bigint id


class OutboxInterrupted(SelfologyError):
    """A run stopped part-way; .result holds what it did (every row is in the outbox or the archive)."""

    def __init__(self, message, result):
        super(OutboxInterrupted, self).__init__(message)
        self.result = result


# ---------------------------------------------------------------- validation (pure)

def parse_duration(value, name='duration'):
    """A duration option as a timedelta, within that option's bounds (LIMITS)."""
    low, high = LIMITS.get(name, (0.001, 36500 * DAY))
    return datetime.timedelta(seconds=durations.parse_duration(value, name, low, high))


def validate_int(value, name, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SelfologyError('%s: %r is out of range (%d to %d)' % (name, value, low, high))
    return value


def validate_oldest_limit(value):
    return validate_int(value, 'oldest_limit', 0, MAX_OLDEST_LIMIT)


def archive_options(params):
    """Checks every outbox_archive option before anything connects; returns the parsed options."""
    state = params.get('state') or 'archived'
    if state not in ADVISORY_KEYS:
        raise SelfologyError('state: %r is not one of archived, purged' % (state,))
    needed, other = ('older_than', 'retention') if state == 'archived' else ('retention', 'older_than')
    if params.get(needed) is None:
        raise SelfologyError('%s is required with state=%s' % (needed, state))
    if params.get(other) is not None:
        raise SelfologyError('%s does not apply to state=%s; use %s' % (other, state, needed))
    if state == 'purged' and params.get('export_path'):
        raise SelfologyError('export_path applies to state=archived only')
    opts = dict(
        state=state,
        age=parse_duration(params[needed], needed),
        batch_size=validate_int(params.get('batch_size', 5000), 'batch_size', 1, MAX_BATCH_SIZE),
        lock_timeout=parse_duration(params.get('lock_timeout') or '2s', 'lock_timeout'),
        max_batches=None, max_duration=None, export_path=params.get('export_path') or None,
    )
    if params.get('max_batches') is not None:
        opts['max_batches'] = validate_int(params['max_batches'], 'max_batches', 1, 10 ** 9)
    if params.get('max_duration') is not None:
        opts['max_duration'] = parse_duration(params['max_duration'], 'max_duration').total_seconds()
    if opts['export_path']:
        parent = os.path.dirname(os.path.abspath(opts['export_path']))
        if not os.path.isdir(parent):
            raise SelfologyError('export_path: directory %s does not exist' % parent)
        if os.path.isdir(opts['export_path']):
            raise SelfologyError('export_path: %s is a directory' % opts['export_path'])
    return opts


def lock_timeout_setting(delta):
    """A timedelta -> the value set_config('lock_timeout', ...) takes, in whole milliseconds."""
    return '%dms' % max(1, int(round(delta.total_seconds() * 1000)))


# ---------------------------------------------------------------- export file (pure)

def inspect_export(path):
    """(size, length of the complete gzip members) of an existing export, (0, 0) when absent.

    An export is a series of complete gzip members, one per batch, of JSON lines. A run killed
    while writing a batch leaves a torn last member (that batch never committed). Anything that
    is not a prefix of such a file raises: the module never appends to a file it did not write.
    """
    if not os.path.exists(path):
        return 0, 0
    size = os.path.getsize(path)
    good = start = fed = 0
    head = b''
    with open(path, 'rb') as handle:
        decomp = zlib.decompressobj(31)
        data = handle.read(EXPORT_CHUNK)
        while data:
            try:
                out = decomp.decompress(data)
            except zlib.error:
                raise SelfologyError('export_path: %s is not an outbox export (not gzip); '
                                     'refusing to append to it' % path)
            if len(head) < 2:
                head += out[:2 - len(head)]
            if decomp.eof:
                start += fed + len(data) - len(decomp.unused_data)
                good, fed = start, 0
                data = decomp.unused_data or handle.read(EXPORT_CHUNK)
                decomp = zlib.decompressobj(31)
                continue
            fed += len(data)
            data = handle.read(EXPORT_CHUNK)
    if head and head != b'{"':
        raise SelfologyError('export_path: %s is gzip but not an outbox export (JSON lines); '
                             'refusing to append to it' % path)
    return size, good


class ExportFile(object):
    """Appends one gzip member per batch and fsyncs it; the caller commits the batch afterwards."""

    def __init__(self, path):
        self.path = path
        size, good = inspect_export(path)
        self.torn_bytes = size - good
        self.rows = 0
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        if self.torn_bytes:
            os.ftruncate(self.fd, good)
            os.fsync(self.fd)
        os.lseek(self.fd, 0, os.SEEK_END)

    def write(self, lines):
        """Appends one batch (JSON texts, one per row) as one gzip member and fsyncs it."""
        data = ''.join(line + '\n' for line in lines)
        member = gzip.compress(data.encode('utf-8'), compresslevel=6, mtime=0)
        before = os.lseek(self.fd, 0, os.SEEK_END)
        try:
            view = memoryview(member)
            while view:
                view = view[os.write(self.fd, view):]
            os.fsync(self.fd)
        except OSError as exc:
            try:
                os.ftruncate(self.fd, before)
            except OSError:
                pass
            raise SelfologyError('writing export_path %s failed: %s' % (self.path, exc.strerror or exc))
        self.rows += len(lines)

    def close(self):
        os.close(self.fd)


def read_export(path):
    """Every record of an export, in order (for tests and for operators' scripts)."""
    with gzip.open(path, 'rt', encoding='utf-8') as handle:
        return [json.loads(line) for line in handle]


# ---------------------------------------------------------------- SQL

def _table(name):
    return sql.Identifier(SCHEMA, name)


def _columns_sql(columns):
    return sql.SQL(', ').join(sql.Identifier(column[0]) for column in columns)


def _table_columns(conn, name):
    """[(column, type)] of selfology.<name> in column order; [] when the table does not exist."""
    return [tuple(row) for row in conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        ['%s.%s' % (SCHEMA, name)]).fetchall()]


def _has_unique_id(conn, name):
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
        "WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indnkeyatts = 1 "
        "AND i.indpred IS NULL AND a.attname = 'id')", ['%s.%s' % (SCHEMA, name)]).fetchone()[0]


def _require_outbox(conn, dbname):
    columns = _table_columns(conn, OUTBOX)
    if not columns:
        raise SelfologyError('%s.%s does not exist in database %s' % (SCHEMA, OUTBOX, dbname))
    return columns


def _check_outbox(conn, dbname):
    columns = _require_outbox(conn, dbname)
    known = dict(OUTBOX_COLUMNS)
    extra = [column[0] for column in columns if column[0] not in known]
    if extra:
        raise UnsafeOperation('%s.%s has columns the archive does not copy (%s): archiving would drop '
                              'their values; extend outbox_archive first' % (SCHEMA, OUTBOX, ', '.join(extra)))
    wrong = [name for name, kind in OUTBOX_COLUMNS if dict(columns).get(name) != kind]
    if wrong:
        raise SelfologyError('%s.%s does not have the expected columns (%s)' % (SCHEMA, OUTBOX, ', '.join(wrong)))


def _check_archive(conn):
    """True when the archive exists (and has the right shape), False when it must be created."""
    columns = dict(_table_columns(conn, ARCHIVE))
    if not columns:
        return False
    wrong = ['%s %s' % (name, kind) for name, kind in ARCHIVE_COLUMNS if columns.get(name) != kind]
    if wrong:
        raise SelfologyError('%s.%s exists but lacks columns of the same types as the outbox (%s)'
                             % (SCHEMA, ARCHIVE, ', '.join(wrong)))
    if not _has_unique_id(conn, ARCHIVE):
        raise SelfologyError('%s.%s exists but has no primary key or unique index on id' % (SCHEMA, ARCHIVE))
    return True


def _create_archive(conn, lock_timeout):
    with conn.transaction():
        conn.execute("SELECT set_config('lock_timeout', %s, true)", [lock_timeout])
        conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {archive} ("
            " id bigint PRIMARY KEY,"
            " event_type text NOT NULL,"
            " payload jsonb NOT NULL,"
            " status text NOT NULL CHECK (status = 'published'),"
            " created_at timestamptz NOT NULL,"
            " published_at timestamptz,"
            " stream_entry_id text,"
            " archived_at timestamptz NOT NULL DEFAULT now())").format(archive=_table(ARCHIVE)))
        conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {index} ON {archive} (archived_at, id)").format(
            index=sql.Identifier(ARCHIVE_INDEX), archive=_table(ARCHIVE)))


def _move_statement(export):
    """One batch, one statement: lock the next eligible ids in id order (skipping rows locked by
    others), delete them from the outbox, insert them into the archive.

    `id = ANY (ARRAY(SELECT ...))` rather than `id IN (SELECT ...)`: the same rows, but the planner
    always looks the ids up in the primary key; with IN it may hash-join them against a scan of the
    whole outbox, in every batch. The DELETE repeats the predicate, so a row changed by someone else
    since it was selected is left alone. Per row, the statement tells whether the archive took it and,
    when the archive already had that id, whether its copy differs (looked up, by id, only then).
    With export, it returns each moved row as the JSON text of the export; otherwise one summary row.
    """
    columns = _columns_sql(OUTBOX_COLUMNS)
    moved_columns = sql.SQL(', ').join(sql.Identifier('moved', name) for name in COLUMN_NAMES)
    earlier_columns = sql.SQL(', ').join(sql.Identifier('earlier', name) for name in COLUMN_NAMES)
    chain = sql.SQL(
        "WITH moved AS ("
        " DELETE FROM {outbox}"
        " WHERE id = ANY (ARRAY(SELECT id FROM {outbox}"
        "  WHERE status = 'published' AND published_at < %(cutoff)s AND id > %(after)s"
        "  ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED))"
        " AND status = 'published' AND published_at < %(cutoff)s"
        " RETURNING {columns}),"
        " archived AS ("
        " INSERT INTO {archive} ({columns}, archived_at)"
        " SELECT {columns}, now() FROM moved"
        " ON CONFLICT (id) DO NOTHING RETURNING id),"
        " checked AS ("
        " SELECT moved.*, now() AS archived_at, archived.id IS NOT NULL AS inserted,"
        " CASE WHEN archived.id IS NULL THEN coalesce((SELECT ROW({earlier_columns}) IS DISTINCT FROM ROW({moved_columns})"
        "  FROM {archive} earlier WHERE earlier.id = moved.id), true) ELSE false END AS differs"
        " FROM moved LEFT JOIN archived USING (id)) "
    ).format(outbox=_table(OUTBOX), archive=_table(ARCHIVE), columns=columns,
             moved_columns=moved_columns, earlier_columns=earlier_columns)
    if export:
        line = sql.SQL(', ').join(sql.Identifier('checked', name) for name, kind in ARCHIVE_COLUMNS)
        return chain + sql.SQL(
            "SELECT checked.id, checked.inserted, checked.differs, row_to_json(r)::text"
            " FROM checked CROSS JOIN LATERAL (SELECT {line}) r ORDER BY checked.id").format(line=line)
    return chain + sql.SQL(
        "SELECT count(*), max(id), count(*) FILTER (WHERE NOT inserted), count(*) FILTER (WHERE differs),"
        " min(id) FILTER (WHERE differs) FROM checked")


def _eligible_count_statement():
    return sql.SQL("SELECT count(*) FROM {outbox} WHERE status = 'published' AND published_at < %(cutoff)s"
                   ).format(outbox=_table(OUTBOX))


def _purge_statement():
    return sql.SQL(
        "DELETE FROM {archive}"
        " WHERE id = ANY (ARRAY(SELECT id FROM {archive}"
        "  WHERE archived_at < %(cutoff)s AND (archived_at, id) > (%(after_at)s, %(after)s)"
        "  ORDER BY archived_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED))"
        " AND archived_at < %(cutoff)s"
        " RETURNING archived_at, id"
    ).format(archive=_table(ARCHIVE))


# ---------------------------------------------------------------- outbox_info

def outbox_info(params):
    """Counts by status, the oldest pending row's age, pending counts by type and the oldest
    pending rows, read in one read-only REPEATABLE READ transaction (one consistent snapshot)."""
    limit = validate_oldest_limit(params.get('oldest_limit', 10))
    conn = postgres.connect(params, application_name='selfology.ops outbox_info')
    try:
        with conn.transaction():
            conn.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
            _require_outbox(conn, params['login_db'])
            outbox = _table(OUTBOX)
            # One pass over the table: the only figure that reads published rows.
            counts = dict((status, 0) for status in STATUSES)
            for status, count in conn.execute(
                    sql.SQL('SELECT status, count(*) FROM {} GROUP BY status').format(outbox)):
                counts[status] = count
            # The pending figures below use the partial index on pending rows.
            by_type = dict(conn.execute(sql.SQL(
                "SELECT event_type, count(*) FROM {} WHERE status = 'pending' "
                "GROUP BY event_type ORDER BY event_type").format(outbox)).fetchall())
            age = conn.execute(sql.SQL(
                "SELECT extract(epoch FROM now() - min(created_at)) FROM {} WHERE status = 'pending'"
            ).format(outbox)).fetchone()[0]
            oldest = conn.execute(sql.SQL(
                "SELECT id, event_type, created_at FROM {} WHERE status = 'pending' "
                "ORDER BY created_at, id LIMIT %s").format(outbox), [limit]).fetchall()
            now = conn.execute('SELECT now()').fetchone()[0]
    except psycopg.Error as exc:
        raise SelfologyError('reading %s.%s failed: %s' % (SCHEMA, OUTBOX, postgres.first_line(exc)))
    finally:
        conn.close()
    return dict(
        counts=counts,
        total=sum(counts.values()),
        oldest_pending_age_seconds=None if age is None else round(float(age), 3),
        pending_by_type=by_type,
        oldest_pending=[dict(id=row[0], event_type=row[1], created_at=row[2].isoformat()) for row in oldest],
        observed_at=now.isoformat(),
    )


# ---------------------------------------------------------------- outbox_archive

def run_archive(params, check_mode=False, progress=None):
    """state=archived moves old published rows to the archive; state=purged deletes old archived
    rows. progress(event, info) is called with 'exported' (inside a batch's transaction, after the
    export was fsynced, before COMMIT) and 'committed' (after COMMIT)."""
    opts = archive_options(params)
    conn = postgres.connect(params, application_name='selfology.ops outbox_archive')
    result = dict(state=opts['state'], batches=0, duration_seconds=0.0, rows_per_second=0.0,
                  complete=False, archive_table='%s.%s' % (SCHEMA, ARCHIVE))
    result['moved' if opts['state'] == 'archived' else 'purged'] = 0
    try:
        if opts['state'] == 'archived':
            _archive(conn, params['login_db'], opts, check_mode, progress, result)
        else:
            _purge(conn, opts, check_mode, progress, result)
    except OutboxInterrupted:
        raise
    except (SelfologyError, psycopg.Error) as exc:
        message = str(exc) if isinstance(exc, SelfologyError) else postgres.first_line(exc)
        if result['batches']:
            message += ' (stopped after %d committed batches; every row is in the outbox or the archive, ' \
                       'a rerun completes the run)' % result['batches']
        raise OutboxInterrupted(message, _with_changed(result))
    finally:
        conn.close()
    return _with_changed(result)


def _with_changed(result):
    result['changed'] = bool(result.get('moved') or result.get('purged') or result.get('would_move')
                             or result.get('would_purge') or result.get('archive_created'))
    return result


def _advisory_lock(conn, state, lock_timeout):
    conn.execute("SELECT set_config('lock_timeout', %s, false)", [lock_timeout])
    try:
        conn.execute('SELECT pg_advisory_lock(hashtext(%s))', [ADVISORY_KEYS[state]])
    except pg_errors.LockNotAvailable:
        raise SelfologyError('another outbox_archive run (state=%s) is in progress on this database; '
                             'wait for it to finish' % state)


def _run_batches(conn, opts, batch, result, count_key):
    """Runs batch(after) until a batch comes back short (the eligible range is exhausted) or the
    time box is reached; batch returns (rows done, new keyset position)."""
    started = time.monotonic()
    after = None
    try:
        while True:
            if opts['max_batches'] is not None and result['batches'] >= opts['max_batches']:
                break
            if opts['max_duration'] is not None and time.monotonic() - started >= opts['max_duration']:
                break
            done, after = _with_lock_retries(lambda: batch(after))
            if done:
                result['batches'] += 1
                result[count_key] += done
            if done < opts['batch_size']:
                result['complete'] = True
                break
    finally:
        elapsed = time.monotonic() - started
        result['duration_seconds'] = round(elapsed, 3)
        result['rows_per_second'] = round(result[count_key] / elapsed, 1) if elapsed > 0 else 0.0


def _with_lock_retries(func):
    for attempt in range(LOCK_RETRIES + 1):
        try:
            return func()
        except pg_errors.LockNotAvailable:
            if attempt == LOCK_RETRIES:
                raise SelfologyError('a batch waited longer than lock_timeout for a lock %d times in a row; '
                                     'something holds a lock on the table' % (LOCK_RETRIES + 1))
            time.sleep(0.25 * (attempt + 1))


def _archive(conn, dbname, opts, check_mode, progress, result):
    _check_outbox(conn, dbname)
    exists = _check_archive(conn)
    result['archive_created'] = check_mode and not exists
    cutoff = conn.execute('SELECT now() - %s', [opts['age']]).fetchone()[0]
    result['cutoff'] = cutoff.isoformat()
    lock_timeout = lock_timeout_setting(opts['lock_timeout'])
    if opts['export_path']:
        size, good = inspect_export(opts['export_path'])
        result.update(export_path=opts['export_path'], exported=0, export_torn_bytes=size - good)
    if check_mode:
        would = conn.execute(_eligible_count_statement(), dict(cutoff=cutoff)).fetchone()[0]
        if opts['max_batches'] is not None:
            would = min(would, opts['max_batches'] * opts['batch_size'])
        result.update(would_move=would, complete=True)
        return

    _advisory_lock(conn, 'archived', lock_timeout)
    if not exists:
        _create_archive(conn, lock_timeout)
        result['archive_created'] = True
    export = ExportFile(opts['export_path']) if opts['export_path'] else None
    if export is not None:
        result['export_torn_bytes'] = export.torn_bytes
    statement = _move_statement(export is not None)

    def batch(after):
        with conn.transaction():
            conn.execute("SELECT set_config('lock_timeout', %s, true)", [lock_timeout])
            rows = conn.execute(statement, dict(cutoff=cutoff, after=MIN_ID if after is None else after,
                                                limit=opts['batch_size']), prepare=False).fetchall()
            if export is not None:
                differing = [row[0] for row in rows if row[2]]
                moved, last, skipped = len(rows), rows[-1][0] if rows else None, sum(1 for row in rows if not row[1])
                differs, first_differing = len(differing), (differing[0] if differing else None)
            else:
                moved, last, skipped, differs, first_differing = rows[0]
            if differs:
                raise UnsafeOperation('%d outbox rows have ids already in %s.%s with different contents '
                                      '(first: %s); the batch was rolled back, nothing of it moved'
                                      % (differs, SCHEMA, ARCHIVE, first_differing))
            if skipped:
                result['already_archived'] = result.get('already_archived', 0) + skipped
            if export is not None and rows:
                export.write([row[3] for row in rows])
                result['exported'] = export.rows
            if progress and moved:
                progress('exported', dict(batch=result['batches'] + 1, rows=moved))
        if progress and moved:
            progress('committed', dict(batch=result['batches'] + 1, moved=result['moved'] + moved))
        return moved, (last if moved else after)

    try:
        _run_batches(conn, opts, batch, result, 'moved')
    finally:
        if export is not None:
            export.close()


def _purge(conn, opts, check_mode, progress, result):
    exists = _check_archive(conn)
    cutoff = conn.execute('SELECT now() - %s', [opts['age']]).fetchone()[0]
    result['cutoff'] = cutoff.isoformat()
    if not exists:
        result['complete'] = True
        if check_mode:
            result['would_purge'] = 0
        return
    lock_timeout = lock_timeout_setting(opts['lock_timeout'])
    if check_mode:
        would = conn.execute(sql.SQL('SELECT count(*) FROM {} WHERE archived_at < %s').format(
            _table(ARCHIVE)), [cutoff]).fetchone()[0]
        if opts['max_batches'] is not None:
            would = min(would, opts['max_batches'] * opts['batch_size'])
        result.update(would_purge=would, complete=True)
        return

    _advisory_lock(conn, 'purged', lock_timeout)
    statement = _purge_statement()
    minus_infinity = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)

    def batch(after):
        after_at, after_id = after or (minus_infinity, 0)
        with conn.transaction():
            conn.execute("SELECT set_config('lock_timeout', %s, true)", [lock_timeout])
            rows = conn.execute(statement, dict(cutoff=cutoff, after_at=after_at, after=after_id,
                                                limit=opts['batch_size']), prepare=False).fetchall()
        if progress and rows:
            progress('committed', dict(batch=result['batches'] + 1, purged=result['purged'] + len(rows)))
        return len(rows), (max(tuple(row) for row in rows) if rows else after)

    _run_batches(conn, opts, batch, result, 'purged')
