#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: backup_create
short_description: Take a backup set of schema selfology and Redis, with checksums and a manifest
description:
  - Dumps the schema with C(pg_dump -Fc) inside the PostgreSQL container from a snapshot exported by a
    C(REPEATABLE READ) transaction, and counts every table's rows in that same snapshot, so the manifest's
    counts are exactly what the dump holds however busy the database is. The dump must be readable by
    C(pg_restore --list) and hold O(require_tables).
  - With O(redis), runs C(BGSAVE) in one C(MULTI) with C(DBSIZE) and C(XLEN) of O(streams), so the counts are the
    snapshot's, waits for it, and copies the RDB out of the Redis container. An RDB whatever the persistence
    mode, because it is a point-in-time image; the manifest records whether Redis runs with AOF, RDB or none.
  - Writes the set under a C(.partial) name and renames it when complete; a failure or an interrupt leaves
    nothing behind.
version_added: 0.5.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.postgres
  - selfology.ops.redis
options:
  backup_dir:
    description: Directory of the backup sets.
    type: path
    required: true
  schema:
    description: Schema to back up.
    type: str
    default: selfology
  postgres_container:
    description: The PostgreSQL container pg_dump runs in (over its local socket).
    type: str
    default: n8n-postgres
  postgres_user:
    description: Database user for pg_dump.
    type: str
    default: n8n
  postgres_database:
    description: Database holding the schema.
    type: str
    default: n8n
  require_tables:
    description: Tables the dump must contain.
    type: list
    elements: str
    default: [event_outbox]
  redis:
    description: Whether to snapshot Redis too.
    type: bool
    default: true
  redis_container:
    description: The Redis container the RDB is copied from.
    type: str
    default: n8n-redis
  streams:
    description: Streams whose lengths the manifest records.
    type: list
    elements: str
    default: ['selfology:events']
requirements:
  - the docker command on the managed host
  - psycopg, redis
attributes:
  check_mode:
    support: full
    description: Says where the set would go; takes none.
'''

EXAMPLES = r'''
- name: Take a backup set
  selfology.ops.backup_create:
    backup_dir: /var/lib/selfology-ops/backups
  register: backup
'''

RETURN = r'''
id:
  description: The set's name.
  returned: success, not in check mode
  type: str
  sample: selfology_20261201T030000Z
path:
  description: The set's directory.
  returned: success, not in check mode
  type: str
taken_at:
  description: When the snapshot was taken (UTC).
  returned: success, not in check mode
  type: str
  sample: '2026-12-01T03:00:00Z'
postgres:
  description: The dump's file, sha256, size, row count per table and server version.
  returned: success, not in check mode
  type: dict
redis:
  description: The RDB's file, sha256, size, key count, entries per stream and persistence mode.
  returned: success with O(redis), not in check mode
  type: dict
seconds:
  description: Time the set took.
  returned: success, not in check mode
  type: float
'''

from ansible_collections.selfology.ops.plugins.module_utils import backups, postgres, redis_connection
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    if check_mode:
        return dict(changed=True, msg='would take a backup set of schema %s%s into %s' % (
            params['schema'], ' and Redis' if params['redis'] else '', params['backup_dir']))
    postgres.require()
    if params['redis']:
        redis_connection.require()
    client = redis_connection.connect(params) if params['redis'] else None
    conn = postgres.connect(params, autocommit=True, application_name='selfology.ops backup')
    try:
        manifest = backups.create(params, conn, client)
    finally:
        conn.close()
    return dict(manifest, changed=True)


argument_spec = postgres.postgres_argument_spec()
argument_spec.update(redis_connection.redis_argument_spec())
argument_spec.update(
    backup_dir=dict(type='path', required=True),
    schema=dict(type='str', default='selfology'),
    postgres_container=dict(type='str', default='n8n-postgres'),
    postgres_user=dict(type='str', default='n8n'),
    postgres_database=dict(type='str', default='n8n'),
    require_tables=dict(type='list', elements='str', default=['event_outbox']),
    redis=dict(type='bool', default=True),
    redis_container=dict(type='str', default='n8n-redis'),
    streams=dict(type='list', elements='str', default=['selfology:events']),
)
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
