#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: schema_backup
short_description: Take a verified backup of one PostgreSQL schema before a deploy
description:
  - Runs C(pg_dump -Fc -n SCHEMA) inside the PostgreSQL container (C(docker exec), as the runbook
    does) into a timestamped file on the host, then checks it with C(pg_restore --list) inside the
    same container. The backup counts only when it is non-empty, readable, and holds every table
    in O(require_tables).
  - A failed or unusable backup fails the task, so that a deploy stops before any container is
    touched. An unusable file is kept with the suffix C(.unusable) for inspection.
  - Connects over the container's local socket, so no password is passed.
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
options:
  container:
    description: The PostgreSQL container.
    type: str
    default: n8n-postgres
  user:
    description: Database user for pg_dump.
    type: str
    default: n8n
  database:
    description: Database holding the schema.
    type: str
    default: n8n
  schema:
    description: Schema to back up.
    type: str
    default: selfology
  dest_dir:
    description: Host directory for the backup files.
    type: path
    required: true
  require_tables:
    description: Tables the backup must contain.
    type: list
    elements: str
    default: [event_outbox]
requirements:
  - the docker command on the managed host
attributes:
  check_mode:
    support: full
    description: Reports where the backup would go; takes none.
'''

EXAMPLES = r'''
- name: Back up schema selfology before deploying
  selfology.ops.schema_backup:
    dest_dir: /home/ksnk/n8n-enterprise/projects/selfology/backups
'''

RETURN = r'''
path:
  description: The backup file.
  returned: success, not in check mode
  type: str
  sample: /var/lib/selfology-ops/backups/selfology_20261129_071500.dump
size_bytes:
  description: Size of the backup.
  returned: success, not in check mode
  type: int
  sample: 48213
toc_entries:
  description: Entries pg_restore --list read from it.
  returned: success, not in check mode
  type: int
  sample: 31
tables:
  description: Tables of the schema found in the backup.
  returned: success, not in check mode
  type: list
  elements: str
  sample: [event_outbox, personality_profiles, trait_history]
seconds:
  description: Time to dump and verify.
  returned: success, not in check mode
  type: float
  sample: 0.4
'''

from ansible_collections.selfology.ops.plugins.module_utils.backup import backup
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    if check_mode:
        return dict(changed=True, msg='would back up schema %s to %s' % (params['schema'], params['dest_dir']))
    return dict(backup(params), changed=True)


TASK = Task(dict(
    container=dict(type='str', default='n8n-postgres'),
    user=dict(type='str', default='n8n'),
    database=dict(type='str', default='n8n'),
    schema=dict(type='str', default='selfology'),
    dest_dir=dict(type='path', required=True),
    require_tables=dict(type='list', elements='str', default=['event_outbox']),
), run)


if __name__ == '__main__':
    main(TASK)
