# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restoring a backup set (module_utils/backups.py) and proving it: every table's row count, Redis's
key count and every stream's length must equal the manifest's.

A drill restores into scratch containers that are copies of the live ones without their data: the
same image, entrypoint, command, environment and read-only bind mounts, on no network, so no
service can reach them. They carry the label org.selfology.drill and are removed whatever happens;
a drill that was killed (SIGKILL leaves no chance) leaves them to the next one, which removes them
first. The live mode restores into the live PostgreSQL container, only when its schema is empty."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io
import os
import signal
import subprocess
import sys
import tarfile
import time

from ansible_collections.selfology.ops.plugins.module_utils.backups import POSTGRES_FILE, REDIS_FILE, quote_ident
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError, UnsafeOperation

LABEL = 'org.selfology.drill'
SCRATCH_DIR = '/selfology-drill'


def run(command, stdin=None, timeout=600):
    """A docker command's stdout; raises UnsafeOperation with its stderr."""
    proc = subprocess.run(command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        detail = proc.stderr.decode('utf-8', 'replace').strip()[:500]
        raise UnsafeOperation('%s failed (exit %d): %s' % (' '.join(command[:4]), proc.returncode, detail))
    return proc.stdout.decode('utf-8', 'replace')


def wait(probe, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if probe():
                return
        except (UnsafeOperation, subprocess.TimeoutExpired):
            pass
        if time.monotonic() > deadline:
            raise UnsafeOperation('%s not ready within %d s' % (what, timeout))
        time.sleep(0.2)


def remove_leftovers(client):
    """Removes every drill container (those of a drill that was killed); returns their names."""
    names = []
    for container in client.containers.list(all=True, filters={'label': LABEL}):
        names.append(container.name)
        container.remove(force=True, v=True)
    return sorted(names)


def scratch_postgres(client, live_name, drill_id):
    """A copy of the live PostgreSQL container without its data, started; its name."""
    import docker  # only where the Docker SDK is already required (docker_client.require())
    live = client.containers.get(live_name).attrs
    config, host = live['Config'], live['HostConfig']
    binds = [docker.types.Mount(m['Destination'], m['Source'], type='bind', read_only=True)
             for m in live.get('Mounts', []) if m.get('Type') == 'bind' and not m.get('RW')]
    name = '%s-postgres' % drill_id
    client.containers.run(
        config['Image'], entrypoint=config.get('Entrypoint'), command=config.get('Cmd'), environment=config.get('Env'),
        mounts=binds, init=bool(host.get('Init')), network_mode='none', name=name, detach=True,
        labels={LABEL: drill_id})
    return name


def scratch_redis(client, live_name, drill_id, rdb_path):
    """A Redis from the live container's image, loading the set's RDB, without persistence; its name."""
    image = client.containers.get(live_name).attrs['Config']['Image']
    name = '%s-redis' % drill_id
    container = client.containers.create(
        image, command=['redis-server', '--dir', SCRATCH_DIR, '--dbfilename', 'dump.rdb', '--appendonly', 'no',
                        '--save', ''],
        network_mode='none', name=name, labels={LABEL: drill_id})
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode='w') as tar:
        directory = tarfile.TarInfo(SCRATCH_DIR.strip('/'))
        directory.type, directory.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(directory)
        tar.add(rdb_path, arcname=SCRATCH_DIR.strip('/') + '/dump.rdb')
    container.put_archive('/', archive.getvalue())
    container.start()
    return name


def postgres_ready(container, user):
    # Over TCP: an image whose entrypoint initialises with a socket-only server first is not ready then.
    run(['docker', 'exec', container, 'pg_isready', '-q', '-h', '127.0.0.1', '-U', user], timeout=10)
    return True


def psql(container, user, database, query):
    return run(['docker', 'exec', container, 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', user,
                '-d', database, '-c', query], timeout=120)


def schema_tables(container, user, database, schema):
    query = "SELECT count(*) FROM pg_tables WHERE schemaname = '%s'" % schema.replace("'", "''")
    return int(psql(container, user, database, query).strip() or 0)


def restore_postgres(container, user, database, dump_path):
    with open(dump_path, 'rb') as dump:
        run(['docker', 'exec', '-i', container, 'pg_restore', '-U', user, '-d', database, '--exit-on-error',
             '--no-owner'], stdin=dump)


def restored_counts(container, user, database, schema, tables):
    """Row counts of the manifest's tables as restored (a missing table is an error)."""
    query = ' UNION ALL '.join("SELECT '%s', count(*) FROM %s.%s" % (t.replace("'", "''"), quote_ident(schema),
                                                                     quote_ident(t)) for t in sorted(tables))
    counts = {}
    for line in psql(container, user, database, query).splitlines():
        name, count = line.rsplit('|', 1)
        counts[name] = int(count)
    return counts


def redis_cli(container, *args):
    return run(['docker', 'exec', container, 'redis-cli', '--no-raw'] + list(args), timeout=30).strip()


def redis_loaded(container):
    return redis_cli(container, 'PING') == 'PONG' and 'loading:0' in redis_cli(container, 'INFO', 'persistence')


def redis_counts(container, streams):
    keys = int(redis_cli(container, 'DBSIZE').split()[-1])
    entries = dict((s, int(redis_cli(container, 'XLEN', s).split()[-1])) for s in streams)
    return keys, entries


def mismatches(manifest, tables, keys=None, streams=None):
    """What differs from the manifest, one line each ([] when the restore is complete)."""
    found = []
    expected = manifest['postgres']['tables']
    for table in sorted(set(expected) | set(tables)):
        if expected.get(table) != tables.get(table):
            found.append('table %s: %s rows restored, the manifest has %s' % (table, tables.get(table),
                                                                              expected.get(table)))
    if keys is not None:
        redis = manifest['redis']
        if keys != redis['keys']:
            found.append('Redis: %d keys restored, the manifest has %d' % (keys, redis['keys']))
        for stream, length in sorted(redis['streams'].items()):
            if streams.get(stream) != length:
                found.append('stream %s: %s entries restored, the manifest has %d' % (stream, streams.get(stream),
                                                                                      length))
    return found


class CleanupSignals(object):
    """Ctrl-C and SIGTERM interrupt the drill (KeyboardInterrupt), not its clean-up: after the first
    they are noted, and raised once the scratch containers are gone (unless one is on its way already). Ansible stops a task's worker with
    SIGINT, then SIGTERM; the default SIGTERM would end the process halfway through removing them."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.previous, self.noted = {}, None

    def interrupt(self, signum, frame):
        # Ansible's SIGTERM follows its SIGINT at once: from here on they are only noted.
        self.install(self.note)
        raise KeyboardInterrupt('signal %d' % signum)

    def note(self, signum, frame):
        self.noted = signum

    def install(self, handler):
        for signum in self.SIGNALS:
            try:
                previous = signal.signal(signum, handler)
            except ValueError:  # not the main thread: signals stay as they are
                return
            self.previous.setdefault(signum, previous)

    def restore(self):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if self.noted is not None and sys.exc_info()[0] is None:
            raise KeyboardInterrupt('signal %d' % self.noted)


def drill(client, params, manifest):
    """Restores the set into scratch containers and compares with the manifest; removes them
    whatever happens. Returns what it restored and how long each part took."""
    started = time.monotonic()
    leftovers = remove_leftovers(client)
    drill_id = 'selfology-drill-%d' % int(time.time())
    user, database, schema = params['postgres_user'], params['postgres_database'], manifest['postgres']['schema']
    result = {'leftovers_removed': leftovers, 'scratch_containers': []}
    signals = CleanupSignals()
    signals.install(signals.interrupt)
    try:
        pg = scratch_postgres(client, params['postgres_container'], drill_id)
        result['scratch_containers'].append(pg)
        redis = None
        if 'redis' in manifest and params['redis']:
            redis = scratch_redis(client, params['redis_container'], drill_id,
                                  os.path.join(manifest['path'], REDIS_FILE))
            result['scratch_containers'].append(redis)
        wait(lambda: postgres_ready(pg, user), params['timeout'], 'the scratch PostgreSQL')
        # An image whose entrypoint creates the database does so before the server listens on TCP.
        restore_postgres(pg, user, database, os.path.join(manifest['path'], POSTGRES_FILE))
        result['tables'] = restored_counts(pg, user, database, schema, manifest['postgres']['tables'])
        if redis:
            wait(lambda: redis_loaded(redis), params['timeout'], 'the scratch Redis')
            result['redis_keys'], result['streams'] = redis_counts(redis, sorted(manifest['redis']['streams']))
        result['mismatches'] = mismatches(manifest, result['tables'], result.get('redis_keys'), result.get('streams'))
        result['rto_seconds'] = round(time.monotonic() - started, 2)
    finally:
        signals.install(signals.note)
        try:
            # By label: also one created by a call the interrupt cut short.
            for container in client.containers.list(all=True, filters={'label': '%s=%s' % (LABEL, drill_id)}):
                container.remove(force=True, v=True)
        except Exception:  # pylint: disable=broad-except
            # Left for the next drill, which removes every container with the label first.
            pass
        result['seconds'] = round(time.monotonic() - started, 2)
        signals.restore()
    return result


def into_live(params, manifest):
    """Restores the set's schema into the live PostgreSQL container, which must not hold it (the
    disaster rehearsed: a new, empty database); compares with the manifest."""
    started = time.monotonic()
    container, user, database = params['postgres_container'], params['postgres_user'], params['postgres_database']
    schema = manifest['postgres']['schema']
    wait(lambda: postgres_ready(container, user), params['timeout'], 'PostgreSQL in %s' % container)
    existing = schema_tables(container, user, database, schema)
    if existing:
        raise UnsafeOperation('%s already holds %d table(s) of schema %s: a restore into the live database is only '
                              'for an empty one (the drill restores into a scratch copy)' % (container, existing, schema))
    restore_postgres(container, user, database, os.path.join(manifest['path'], POSTGRES_FILE))
    tables = restored_counts(container, user, database, schema, manifest['postgres']['tables'])
    return {'tables': tables, 'mismatches': mismatches(manifest, tables), 'rto_seconds': round(time.monotonic() - started, 2),
            'scratch_containers': [], 'leftovers_removed': []}


def rows_since(manifest_tables, live_tables):
    """Rows each table holds beyond the backup's (written after it; what a restore would lose)."""
    if live_tables is None:
        return None
    missing = sorted(set(manifest_tables) - set(live_tables))
    if missing:
        raise SelfologyError('no live row count for table(s) %s' % ', '.join(missing))
    return dict((t, int(live_tables[t]) - int(n)) for t, n in sorted(manifest_tables.items()))
