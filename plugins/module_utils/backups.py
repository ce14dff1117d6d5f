# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup sets: the selfology schema (pg_dump -Fc) and Redis (an RDB snapshot), each with its
checksum, and a manifest of what they hold, counted in the same snapshots as the dumps.

A set is a directory <backup_dir>/selfology_<UTC stamp>/ holding postgres.dump, redis.rdb and
manifest.json. It is written under a .partial name and renamed when complete, so a killed backup
never looks like a set. A set that fails verification is moved to <backup_dir>/failed/, with the
reason, and is never taken for the newest."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import time

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError, UnsafeOperation

MANIFEST = 'manifest.json'
POSTGRES_FILE = 'postgres.dump'
REDIS_FILE = 'redis.rdb'
FAILED_DIR = 'failed'
FAILURE_NOTE = 'FAILED.txt'
PARTIAL = '.partial'
SET_NAME = re.compile(r'selfology_(\d{8}T\d{6}Z)\Z')
STAMP = '%Y%m%dT%H%M%SZ'
RDB_MAGIC = b'REDIS'


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def set_name(moment):
    return 'selfology_' + moment.strftime(STAMP)


def parse_taken_at(text):
    return datetime.datetime.strptime(text, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def quote_ident(name):
    return '"%s"' % name.replace('"', '""')


# PostgreSQL ------------------------------------------------------------------------------------

def verify_dump(params, path):
    """pg_restore --list must read the dump and find the schema's tables in it."""
    size = os.path.getsize(path)
    if size == 0:
        raise UnsafeOperation('backup %s is empty' % path)
    with open(path, 'rb') as handle:
        proc = subprocess.run(['docker', 'exec', '-i', params['container'], 'pg_restore', '--list'],
                              stdin=handle, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise UnsafeOperation('backup %s is not readable by pg_restore: %s' % (
            path, proc.stderr.decode('utf-8', 'replace').strip()[:500]))
    toc = [line for line in proc.stdout.decode('utf-8', 'replace').splitlines() if line and not line.startswith(';')]
    tables = sorted(set(line.split()[-2] for line in toc if ' TABLE %s ' % params['schema'] in line))
    missing = [t for t in params['require_tables'] if t not in tables]
    if missing:
        raise UnsafeOperation('backup %s lacks table(s) %s of schema %s' % (path, ', '.join(missing), params['schema']))
    return {'size_bytes': size, 'toc_entries': len(toc), 'tables': tables}


def table_counts(conn, schema):
    """Rows of every table of the schema, read in the connection's current transaction."""
    tables = [row[0] for row in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,)).fetchall()]
    if not tables:
        return {}
    query = ' UNION ALL '.join("SELECT %%s, count(*) FROM %s.%s" % (quote_ident(schema), quote_ident(t)) for t in tables)
    return dict((name, int(count)) for name, count in conn.execute(query, tables).fetchall())


def dump_postgres(conn, params, path):
    """pg_dump of the schema from a snapshot exported by conn, and the row counts in that snapshot:
    the manifest's counts are exactly what the dump holds, however busy the database is."""
    conn.execute('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    try:
        snapshot = conn.execute('SELECT pg_export_snapshot()').fetchone()[0]
        counts = table_counts(conn, params['schema'])
        if not counts:
            raise UnsafeOperation('schema %s has no tables: nothing to back up' % params['schema'])
        command = ['docker', 'exec', params['postgres_container'], 'pg_dump', '-U', params['postgres_user'],
                   '-d', params['postgres_database'], '-n', params['schema'], '-Fc', '--snapshot=' + snapshot]
        with open(path, 'wb') as out:
            proc = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, check=False)
        if proc.returncode != 0:
            raise UnsafeOperation('pg_dump of schema %s failed (exit %d): %s' % (
                params['schema'], proc.returncode, proc.stderr.decode('utf-8', 'replace').strip()[:500]))
        server = conn.execute('SHOW server_version').fetchone()[0]
    finally:
        conn.execute('ROLLBACK')
    checked = verify_dump({'container': params['postgres_container'], 'schema': params['schema'],
                           'require_tables': params['require_tables']}, path)
    return {'file': POSTGRES_FILE, 'sha256': sha256(path), 'size_bytes': os.path.getsize(path),
            'schema': params['schema'], 'tables': counts, 'server_version': server, 'toc_entries': checked['toc_entries']}


# Redis -----------------------------------------------------------------------------------------

def completed_saves(client):
    """A number that grows with each finished save: rdb_saves (Redis 7), else LASTSAVE's second."""
    info = client.info('persistence')
    return info['rdb_saves'] if 'rdb_saves' in info else client.lastsave().timestamp()


def snapshot_redis(client, params, path, timeout=60):
    """BGSAVE with the key and stream counts read in the same MULTI, so they are the fork's; then
    the RDB copied out of the container. An RDB whatever the persistence mode: a point-in-time
    image, where an append-only file is a log still being written."""
    streams = params['streams']
    saves = completed_saves(client)
    pipe = client.pipeline(transaction=True)
    pipe.dbsize()
    for stream in streams:
        pipe.exists(stream)
        pipe.xlen(stream)
    # SCHEDULE: during an AOF rewrite the save starts when it ends, instead of failing.
    pipe.bgsave(schedule=True)
    replies = pipe.execute()
    keys = int(replies[0])
    entries = dict((stream, int(replies[2 + 2 * i]) if replies[1 + 2 * i] else 0) for i, stream in enumerate(streams))
    deadline = time.monotonic() + timeout
    while True:
        info = client.info('persistence')
        if not info.get('rdb_bgsave_in_progress') and completed_saves(client) > saves:
            break
        if time.monotonic() > deadline:
            raise UnsafeOperation('Redis BGSAVE did not finish within %d s' % timeout)
        time.sleep(0.02)
    if info.get('rdb_last_bgsave_status') != 'ok':
        raise UnsafeOperation('Redis BGSAVE failed (rdb_last_bgsave_status %s)' % info.get('rdb_last_bgsave_status'))
    directory = client.config_get('dir')['dir']
    filename = client.config_get('dbfilename')['dbfilename']
    with open(path, 'wb') as out:
        proc = subprocess.run(['docker', 'exec', params['redis_container'], 'cat', os.path.join(directory, filename)],
                              stdout=out, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise UnsafeOperation('could not copy the RDB out of %s: %s' % (
            params['redis_container'], proc.stderr.decode('utf-8', 'replace').strip()[:300]))
    with open(path, 'rb') as handle:
        if handle.read(len(RDB_MAGIC)) != RDB_MAGIC:
            raise UnsafeOperation('the RDB copied from %s is not an RDB file' % params['redis_container'])
    return {'file': REDIS_FILE, 'sha256': sha256(path), 'size_bytes': os.path.getsize(path), 'keys': keys,
            'streams': entries, 'persistence': persistence(client, info),
            'redis_version': client.info('server').get('redis_version')}


def persistence(client, info):
    """How the live Redis keeps its data: aof, rdb (save points) or none (lost on a restart)."""
    if str(info.get('aof_enabled')) == '1':
        return 'aof'
    return 'rdb' if client.config_get('save').get('save') else 'none'


# Sets ------------------------------------------------------------------------------------------

def create(params, conn, client, now=None):
    """Takes a set; returns its manifest. Nothing is left behind when it fails."""
    moment = now or utcnow()
    name = set_name(moment)
    final = os.path.join(params['backup_dir'], name)
    if os.path.exists(final):
        raise SelfologyError('backup %s already exists; refusing to overwrite it' % final)
    partial = final + PARTIAL
    if not os.path.isdir(params['backup_dir']):
        # The sets hold every row and the Redis data: not for other users (audit security checks it).
        os.makedirs(params['backup_dir'], mode=0o750)
    os.mkdir(partial, 0o750)
    started = time.monotonic()
    try:
        manifest = {'format': 1, 'id': name, 'taken_at': moment.strftime('%Y-%m-%dT%H:%M:%SZ'),
                    'postgres': dump_postgres(conn, params, os.path.join(partial, POSTGRES_FILE))}
        if params['redis']:
            manifest['redis'] = snapshot_redis(client, params, os.path.join(partial, REDIS_FILE))
        manifest['seconds'] = round(time.monotonic() - started, 2)
        write_json(os.path.join(partial, MANIFEST), manifest)
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    manifest['path'] = final
    return manifest


def write_json(path, data):
    temporary = path + '.tmp'
    with open(temporary, 'w') as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write('\n')
    os.chmod(temporary, 0o640)
    os.rename(temporary, path)


def problems_of(path):
    """Why a set cannot be trusted ([] when its manifest reads and every file matches its checksum)."""
    try:
        with open(os.path.join(path, MANIFEST)) as handle:
            manifest = json.load(handle)
        parse_taken_at(manifest['taken_at'])
        parts = [manifest['postgres']] + ([manifest['redis']] if 'redis' in manifest else [])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, ['manifest unreadable: %s' % exc]
    problems = []
    for part in parts:
        file_path = os.path.join(path, part['file'])
        if not os.path.isfile(file_path):
            problems.append('%s missing' % part['file'])
        elif os.path.getsize(file_path) != part['size_bytes']:
            size = os.path.getsize(file_path)
            problems.append('%s is %d bytes, the manifest says %d' % (part['file'], size, part['size_bytes']))
        elif sha256(file_path) != part['sha256']:
            problems.append('%s checksum mismatch' % part['file'])
    return manifest, problems


def scan(backup_dir):
    """(verified, failed, partial): verified sets newest first (manifests with 'path'), sets whose
    files do not match ({'id', 'path', 'problems'}), and leftovers of interrupted backups."""
    verified, failed, partial = [], [], []
    if not os.path.isdir(backup_dir):
        return verified, failed, partial
    for entry in sorted(os.listdir(backup_dir)):
        path = os.path.join(backup_dir, entry)
        if entry.endswith(PARTIAL) and SET_NAME.match(entry[:-len(PARTIAL)]):
            partial.append(path)
        elif SET_NAME.match(entry) and os.path.isdir(path):
            manifest, problems = problems_of(path)
            if problems:
                failed.append({'id': entry, 'path': path, 'problems': problems})
            else:
                verified.append(dict(manifest, path=path))
    verified.sort(key=lambda m: m['taken_at'], reverse=True)
    return verified, failed, partial


def set_apart(backup_dir, failure):
    """Moves a failed set to failed/ with a note of why; returns its new path."""
    target_dir = os.path.join(backup_dir, FAILED_DIR)
    if not os.path.isdir(target_dir):
        os.makedirs(target_dir, mode=0o750)
    target = os.path.join(target_dir, failure['id'])
    os.rename(failure['path'], target)
    with open(os.path.join(target, FAILURE_NOTE), 'w') as handle:
        handle.write('Failed verification at %s:\n%s\n' % (
            utcnow().strftime('%Y-%m-%dT%H:%M:%SZ'), '\n'.join(failure['problems'])))
    return target


def set_aside_failed(backup_dir):
    """The sets already kept apart in failed/ (id, path, the note's reasons)."""
    directory = os.path.join(backup_dir, FAILED_DIR)
    kept = []
    for entry in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        note = os.path.join(directory, entry, FAILURE_NOTE)
        reasons = open(note).read().splitlines()[1:] if os.path.isfile(note) else []
        kept.append({'id': entry, 'path': os.path.join(directory, entry), 'problems': reasons})
    return kept


def metrics(verified, failed):
    """The node exporter textfile the BackupTooOld alert reads."""
    lines = [
        '# HELP selfology_backup_verified_sets Backup sets that pass verification.',
        '# TYPE selfology_backup_verified_sets gauge',
        'selfology_backup_verified_sets %d' % len(verified),
        '# HELP selfology_backup_failed_sets Backup sets kept apart after failing verification.',
        '# TYPE selfology_backup_failed_sets gauge',
        'selfology_backup_failed_sets %d' % len(failed),
    ]
    if verified:
        lines += [
            '# HELP selfology_backup_newest_verified_timestamp_seconds When the newest verified backup was taken.',
            '# TYPE selfology_backup_newest_verified_timestamp_seconds gauge',
            'selfology_backup_newest_verified_timestamp_seconds %d' % int(
                (parse_taken_at(verified[0]['taken_at'])).timestamp()),
        ]
    return '\n'.join(lines) + '\n'
