#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: backup_restore
short_description: Restore a backup set and prove it complete against its manifest
description:
  - With O(into=scratch) (the disaster-recovery drill), restores into scratch copies of the live PostgreSQL and
    Redis containers (same image, entrypoint, command, environment and read-only bind mounts; no data, no
    network), never into the live ones. Every table's row count, Redis's key count and each stream's length
    must equal the manifest's. The scratch containers are removed whatever happens; those of a drill that was
    killed are removed first by the next one.
  - With O(into=live) (the rehearsal of the real disaster, in the lab), restores the schema into the live
    PostgreSQL container, refused unless the schema is absent there.
  - Measures the RTO (from the start to the verified restore) and reports the RPO - the backup's age and, from
    O(live_tables), the rows each table holds beyond the backup's.
  - Reports whether it passed; the caller decides what a failure means (the role fails the play).
version_added: 0.5.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.docker
options:
  backup:
    description: The backup set's directory (a verified set, as backup_catalog returns).
    type: path
    required: true
  into:
    description: Where to restore.
    type: str
    choices: [scratch, live]
    default: scratch
  postgres_container:
    description: The live PostgreSQL container (copied for the scratch one, or restored into).
    type: str
    default: n8n-postgres
  postgres_user:
    description: Database user for pg_restore and the counts.
    type: str
    default: n8n
  postgres_database:
    description: Database the schema is restored into.
    type: str
    default: n8n
  redis:
    description: Whether to restore the set's RDB into a scratch Redis too (scratch only).
    type: bool
    default: true
  redis_container:
    description: The live Redis container whose image the scratch Redis uses.
    type: str
    default: n8n-redis
  live_tables:
    description: The live row count per table (schema_counts_info), for the RPO; omitted, no row figures.
    type: dict
  timeout:
    description: Seconds to wait for a server to accept connections.
    type: int
    default: 60
requirements:
  - the docker command on the managed host
attributes:
  check_mode:
    support: full
    description: Says what it would restore; restores nothing.
'''

EXAMPLES = r'''
- name: Restore the newest verified backup into scratch containers
  selfology.ops.backup_restore:
    backup: "{{ catalog.newest.path }}"
    live_tables: "{{ live.tables }}"
  register: drill
'''

RETURN = r'''
passed:
  description: Whether every count equals the manifest's.
  returned: success, not in check mode
  type: bool
backup:
  description: The set restored (id, taken_at).
  returned: always
  type: dict
tables:
  description: Rows per table as restored.
  returned: success, not in check mode
  type: dict
redis_keys:
  description: Keys in the restored Redis.
  returned: success with a Redis snapshot, not in check mode
  type: int
streams:
  description: Entries per stream in the restored Redis.
  returned: success with a Redis snapshot, not in check mode
  type: dict
mismatches:
  description: What differs from the manifest, one line each.
  returned: success, not in check mode
  type: list
  elements: str
rto_seconds:
  description: From the start to the verified restore.
  returned: success, not in check mode
  type: float
rpo:
  description: The backup's age in seconds and, with O(live_tables), the rows written since per table and in all.
  returned: success, not in check mode
  type: dict
leftovers_removed:
  description: Scratch containers of an earlier, killed drill that were removed first.
  returned: success, not in check mode
  type: list
  elements: str
seconds:
  description: The drill's whole duration, clean-up included.
  returned: success, not in check mode
  type: float
'''

import datetime
import json
import os

from ansible_collections.selfology.ops.plugins.module_utils import backups, docker_client, restore
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    manifest_path = os.path.join(params['backup'], backups.MANIFEST)
    try:
        with open(manifest_path) as handle:
            manifest = dict(json.load(handle), path=params['backup'])
    except (OSError, ValueError) as exc:
        raise SelfologyError('cannot read the manifest %s: %s' % (manifest_path, exc))
    summary = dict(id=manifest.get('id'), taken_at=manifest.get('taken_at'))
    if check_mode:
        return dict(changed=False, backup=summary, msg='would restore %s into %s' % (
            summary['id'], 'scratch containers' if params['into'] == 'scratch' else params['postgres_container']))
    if params['into'] == 'scratch':
        docker_client.require()
        result = restore.drill(docker_client.connect(params), params, manifest)
    else:
        result = restore.into_live(params, manifest)
    age = datetime.datetime.now(datetime.timezone.utc) - backups.parse_taken_at(manifest['taken_at'])
    rows = restore.rows_since(manifest['postgres']['tables'], params['live_tables'])
    result.update(
        changed=params['into'] == 'live', backup=summary, passed=not result['mismatches'],
        rpo=dict(backup_age_seconds=int(age.total_seconds()), rows_since=rows,
                 rows_since_total=sum(rows.values()) if rows is not None else None))
    return result


argument_spec = docker_client.docker_argument_spec()
argument_spec.update(
    backup=dict(type='path', required=True),
    into=dict(type='str', choices=['scratch', 'live'], default='scratch'),
    postgres_container=dict(type='str', default='n8n-postgres'),
    postgres_user=dict(type='str', default='n8n'),
    postgres_database=dict(type='str', default='n8n'),
    redis=dict(type='bool', default=True),
    redis_container=dict(type='str', default='n8n-redis'),
    live_tables=dict(type='dict'),
    timeout=dict(type='int', default=60),
)
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
