#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: schema_counts_info
short_description: Row count of every table of a schema, read in one snapshot
description:
  - Counts every table's rows in one C(REPEATABLE READ) transaction, so the counts belong together. The
    restore drill compares them with a backup's manifest (the rows written since the backup, its RPO).
version_added: 0.5.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.postgres
options:
  schema:
    description: The schema.
    type: str
    default: selfology
requirements:
  - psycopg
attributes:
  check_mode:
    support: full
    description: Reads only.
'''

EXAMPLES = r'''
- name: Count the live rows
  selfology.ops.schema_counts_info:
  register: live
'''

RETURN = r'''
tables:
  description: Rows per table.
  returned: always
  type: dict
  sample: {event_outbox: 1520, trait_history: 1480}
total:
  description: Rows of all the tables.
  returned: always
  type: int
'''

from ansible_collections.selfology.ops.plugins.module_utils import backups, postgres
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    postgres.require()
    conn = postgres.connect(params, autocommit=True, application_name='selfology.ops counts')
    try:
        conn.execute('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
        tables = backups.table_counts(conn, params['schema'])
        conn.execute('ROLLBACK')
    finally:
        conn.close()
    return dict(changed=False, tables=tables, total=sum(tables.values()))


argument_spec = postgres.postgres_argument_spec()
argument_spec.update(schema=dict(type='str', default='selfology'))
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
