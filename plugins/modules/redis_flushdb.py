#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: redis_flushdb
short_description: FLUSHDB of one Redis database, only when confirmed and safe, checked atomically with the flush
description:
  - The runbook's "Flush old keys (if safe)". Reads the database's key count and every stream in it (C(SCAN TYPE stream),
    C(XINFO STREAM), C(XINFO GROUPS)) in one Lua script, and works out what the flush would delete.
  - Refuses unless O(confirm) equals C(host:port/db) of exactly that database.
  - Refuses while any stream in the database has entries a consumer group has not acknowledged (pending) or not
    been given yet (lag; a lag Redis cannot know counts as unsafe unless the group has read up to the stream's
    last id), unless O(allow_pending) is true.
  - The flush is one Lua script that recomputes the streams' figures and runs C(FLUSHDB) only when they are what
    the check judged, in one atomic step - an entry added, delivered or acknowledged between the check and the
    flush makes it refuse, and the entry survives.
  - Check mode reads and judges the same way, refuses the same way, and says how many keys would be deleted.
version_added: 0.2.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.redis
options:
  db:
    description: The database to flush (it overrides O(redis_db)).
    type: int
    required: true
  confirm:
    description: Must equal C(host:port/db) of the database to flush, such as C(127.0.0.1:6379/0).
    type: str
    default: ""
  allow_pending:
    description: Flush even when streams in the database hold entries not yet processed (they are lost).
    type: bool
    default: false
  stream:
    description: The event stream, named in the plan's C(stream_message) whether or not it is in the database.
    type: str
    default: selfology:events
attributes:
  check_mode:
    support: full
    description: Judges and refuses exactly as a real run, and deletes nothing.
  diff_mode:
    support: none
    description: RV(plan) says what would be deleted.
'''

EXAMPLES = r'''
- name: Flush database 9 of the lab's Redis
  selfology.ops.redis_flushdb:
    redis_port: 16379
    db: 9
    confirm: 127.0.0.1:16379/9
'''

RETURN = r'''
flushed:
  description: Whether FLUSHDB ran.
  returned: always
  type: bool
  sample: true
deleted:
  description: Keys deleted (in check mode, that would be deleted).
  returned: always
  type: int
  sample: 3
refused:
  description: Why the flush was refused - V(confirmation), V(unsafe), or V(changed) (the streams changed between the check and the flush).
  returned: when refused
  type: str
  sample: unsafe
plan:
  description:
    - What the flush would delete and whether it is safe - C(target), C(db), C(dbsize), C(stream), C(stream_exists),
      C(stream_length), C(groups), C(pending), C(undelivered), C(lag_unknown), C(streams), C(safe), C(stream_message),
      C(allow_pending).
  returned: always
  type: dict
  sample: {target: 127.0.0.1:16379/9, db: 9, dbsize: 3, safe: true, stream_message: the event stream selfology:events is not in db 9}
'''

from ansible_collections.selfology.ops.plugins.module_utils import redis_connection
from ansible_collections.selfology.ops.plugins.module_utils.flushdb import flush, target
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    redis_connection.require()
    client = redis_connection.connect(dict(params, redis_db=params['db']))
    return flush(client, params['db'], target(params, params['db']), params['stream'], params['confirm'] or '',
                 params['allow_pending'], check_mode)


argument_spec = redis_connection.redis_argument_spec()
argument_spec.update(
    db=dict(type='int', required=True),
    confirm=dict(type='str', default=''),
    allow_pending=dict(type='bool', default=False),
    stream=dict(type='str', default='selfology:events'),
)
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
