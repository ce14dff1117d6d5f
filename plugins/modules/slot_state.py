#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: slot_state
short_description: Record which slot is active, atomically, on the host and in Redis
description:
  - Keeps the slot state file (active slot, previous slot, version per slot, times) and the Redis
    key that tells the workers which slot consumes the event stream.
  - The file is replaced atomically, so a reader sees the old or the new state, never a part.
  - When O(active) changes, the old active slot becomes C(previous) and C(switched_at) is set.
  - Idempotent; check mode and diff mode report the change without writing.
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.redis
  - selfology.ops.postgres
options:
  state_file:
    description: Path of the slot state file on the host.
    type: path
    required: true
  active:
    description: The slot that serves traffic and consumes events.
    type: str
    required: true
    choices: [blue, green]
  versions:
    description:
      - Versions to record per slot, merged into what is recorded. A null value forgets a slot's version.
      - A slot whose recorded version changes gets a new C(deployed_at) time.
    type: dict
    default: {}
  forget_previous:
    description: Forget the previous slot, because a deploy replaced what it held; a rollback then has nowhere to go.
    type: bool
    default: false
  replicas:
    description: Replicas per service to record, merged into what is recorded.
    type: dict
    default: {}
  active_slot_key:
    description: Redis key the workers read to know whether their slot consumes the stream.
    type: str
    default: selfology:active_slot
  record_in_database:
    description:
      - Record the active slot in the table C(selfology.active_slot) too. When Redis restarts without its
        data, the workers restore the key from there, so event consumption stays with the recorded slot.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reports the change it would make without writing the file or the key.
  diff_mode:
    support: full
    description: Shows the state file and the Redis key before and after.
'''

EXAMPLES = r'''
- name: Record green as active, running 1.2.0
  selfology.ops.slot_state:
    state_file: /var/lib/selfology-ops/slots.json
    active: green
    versions: {green: 1.2.0}
'''

RETURN = r'''
state:
  description: The slot state after the task (before it, in check mode, plus the change).
  returned: always
  type: dict
  sample: {"active": "green", "previous": "blue", "versions": {"blue": "1.1.0", "green": "1.2.0"},
           "switched_at": "2026-01-01T10:00:00Z"}
'''

import datetime

from ansible_collections.selfology.ops.plugins.module_utils import postgres, redis_connection
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.slots import (
    SLOTS, read_state, validate_service, validate_version, write_state)
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def desired_state(current, active, versions, now, forget_previous=False, replicas=None):
    state = dict(current)
    recorded = dict(current.get('versions') or {})
    deployed_at = dict(current.get('deployed_at') or {})
    for slot, version in versions.items():
        if slot not in SLOTS:
            raise SelfologyError('unknown slot %r in versions' % slot)
        if version is None:
            recorded.pop(slot, None)
            deployed_at.pop(slot, None)
        elif recorded.get(slot) != validate_version(str(version)):
            recorded[slot] = str(version)
            deployed_at[slot] = now
    state['versions'] = recorded
    if deployed_at or 'deployed_at' in current:
        state['deployed_at'] = deployed_at
    if replicas:
        merged = dict(current.get('replicas') or {})
        merged.update((validate_service(k), int(v)) for k, v in replicas.items())
        state['replicas'] = dict((k, v) for k, v in merged.items() if v != 1)
    if forget_previous and state.get('previous'):
        state['previous'] = None
    if current.get('active') != active:
        state['previous'] = current.get('active')
        state['active'] = active
        state['switched_at'] = now
    return state


def record_in_database(params, slot, check_mode):
    """The active slot in selfology.active_slot too: the workers restore the Redis key from it when
    Redis lost its data. Returns the slot recorded there before."""
    postgres.require()
    with postgres.connect(params, application_name='selfology.ops slot_state') as conn:
        try:
            row = conn.execute('SELECT slot FROM selfology.active_slot').fetchone()
            if not check_mode and (row is None or row[0] != slot):
                conn.execute(UPSERT_ACTIVE, (slot,))
        except postgres.psycopg.Error as exc:
            raise SelfologyError('PostgreSQL did not record the active slot: %s' % postgres.first_line(exc))
    return row[0] if row else None


UPSERT_ACTIVE = """
    INSERT INTO selfology.active_slot (singleton, slot, updated_at) VALUES (true, %s, now())
    ON CONFLICT (singleton) DO UPDATE SET slot = EXCLUDED.slot, updated_at = EXCLUDED.updated_at
"""


def run(params, check_mode):
    redis_connection.require()
    current = read_state(params['state_file'])
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    state = desired_state(current, params['active'], params['versions'], now,
                          params['forget_previous'], params['replicas'])
    client = redis_connection.connect(params)
    try:
        key_before = client.get(params['active_slot_key'])
        file_changed = state != current
        key_changed = key_before != params['active']
        db_before = params['active']
        if params['record_in_database']:
            db_before = record_in_database(params, params['active'], check_mode)
        if not check_mode:
            if file_changed:
                write_state(params['state_file'], state)
            if key_changed:
                client.set(params['active_slot_key'], params['active'])
    except redis_connection.redis.RedisError as exc:
        raise SelfologyError('Redis refused the active slot key: %s' % exc)
    return dict(
        changed=file_changed or key_changed or db_before != params['active'], state=state,
        diff=dict(before=dict(current, redis_active_slot=key_before, database_active_slot=db_before),
                  after=dict(state, redis_active_slot=params['active'], database_active_slot=params['active'])))


argument_spec = dict(
    state_file=dict(type='path', required=True),
    active=dict(type='str', required=True, choices=list(SLOTS)),
    versions=dict(type='dict', default={}),
    forget_previous=dict(type='bool', default=False),
    replicas=dict(type='dict', default={}),
    active_slot_key=dict(type='str', default='selfology:active_slot', no_log=False),
    record_in_database=dict(type='bool', default=True),
)
argument_spec.update(redis_connection.redis_argument_spec())
argument_spec.update(postgres.postgres_argument_spec())
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
