# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A verified pg_dump of one schema, taken inside the PostgreSQL container as the runbook does."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess
import time

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError, UnsafeOperation


def dump(params, path):
    """pg_dump -Fc of the schema into path (written under a temporary name, renamed when complete)."""
    partial = path + '.partial'
    command = ['docker', 'exec', params['container'], 'pg_dump', '-U', params['user'], '-d', params['database'],
               '-n', params['schema'], '-Fc']
    with open(partial, 'wb') as out:
        proc = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        os.unlink(partial)
        raise UnsafeOperation('pg_dump of schema %s failed (exit %d): %s' % (
            params['schema'], proc.returncode, proc.stderr.decode('utf-8', 'replace').strip()[:500]))
    os.rename(partial, path)


def verify(params, path):
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


def backup(params, now=None):
    if not os.path.isdir(params['dest_dir']):
        os.makedirs(params['dest_dir'], mode=0o750)
    stamp = time.strftime('%Y%m%d_%H%M%S', time.gmtime(now))
    path = os.path.join(params['dest_dir'], '%s_%s.dump' % (params['schema'], stamp))
    if os.path.exists(path):
        raise SelfologyError('backup %s already exists; refusing to overwrite it' % path)
    started = time.monotonic()
    dump(params, path)
    try:
        report = verify(params, path)
    except UnsafeOperation:
        os.rename(path, path + '.unusable')
        raise
    report.update(path=path, seconds=round(time.monotonic() - started, 2))
    return report
