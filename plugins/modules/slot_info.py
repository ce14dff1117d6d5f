#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: slot_info
short_description: Report the blue and green slots of a Selfology host
description:
  - Reads the recorded slot state (active slot, versions) and every service container of both
    slots, found by their C(org.selfology.slot) label, in one pass over the Docker engine.
  - Reports per slot each expected service's container state and health, and whether the
    slot is wholly healthy. A service with no container is reported as C(missing).
  - Reports B(drift) - every way the recorded state, the load balancer's upstream, the Redis
    active-slot key and the running containers disagree - in plain sentences.
  - Read-only; supports check mode.
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
options:
  services:
    description: Names of the services every slot is expected to run.
    type: list
    elements: str
    required: true
  state_file:
    description: Path of the slot state file on the host.
    type: path
    required: true
  lb_config:
    description: The load balancer's configuration file on the host; when set, its upstream slot is compared with the recorded one.
    type: path
  active_slot_key:
    description: Redis key naming the slot that consumes events; when set, it is compared with the recorded active slot.
    type: str
extends_documentation_fragment:
  - selfology.ops.docker
  - selfology.ops.redis
attributes:
  check_mode:
    support: full
    description: Reads only; the same report in check mode.
'''

EXAMPLES = r'''
- name: Read both slots
  selfology.ops.slot_info:
    services: [question-selection, session-management, analysis-worker, outbox-relay]
    state_file: /var/lib/selfology-ops/slots.json
  register: slots

- name: Show the active slot
  ansible.builtin.debug:
    msg: "{{ slots.active_slot }} runs {{ slots.slots[slots.active_slot].version }}"
'''

RETURN = r'''
active_slot:
  description: The slot recorded as serving traffic, or null when nothing was recorded.
  returned: always
  type: str
  sample: blue
inactive_slot:
  description: The other slot, or null when no slot is active.
  returned: always
  type: str
  sample: green
state:
  description: The recorded slot state as stored in O(state_file).
  returned: always
  type: dict
  sample: {"active": "blue", "versions": {"blue": "1.0.0"}}
slots:
  description: Per slot, its version, its services and whether all of them are running and healthy.
  returned: always
  type: dict
  sample:
    blue:
      version: 1.0.0
      healthy: true
      running: true
      services:
        - name: question-selection
          container: selfology-question-selection-blue
          state: running
          health: healthy
          version: 1.0.0
drift:
  description: Disagreements between the recorded state, the load balancer, Redis and the containers; empty when none.
  returned: always
  type: list
  elements: str
  sample: ["the load balancer sends traffic to green but the recorded active slot is blue"]
lb_slots:
  description: Slots named in the load balancer's upstreams, when O(lb_config) is set.
  returned: when O(lb_config) is set
  type: list
  elements: str
  sample: [blue]
'''

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfology.ops.plugins.module_utils import docker_client, redis_connection
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.slots import (
    SLOTS, container_name, other_slot, read_state, validate_service)


def summarize(services, containers, state):
    by_name = dict((c['container'], c) for c in containers)
    slots = {}
    for slot in SLOTS:
        rows = []
        for service in services:
            found = by_name.get(container_name(service, slot))
            row = dict(found) if found else {'container': container_name(service, slot), 'state': 'missing',
                                             'health': 'missing', 'version': None}
            row['name'] = service
            rows.append(row)
        versions = sorted(set(r['version'] for r in rows if r['version']))
        slots[slot] = {
            'version': versions[0] if len(versions) == 1 else (versions or None),
            'services': rows,
            'running': all(r['state'] == 'running' for r in rows),
            'healthy': all(r['health'] == 'healthy' for r in rows),
            'present': any(r['state'] != 'missing' for r in rows),
        }
    active = state.get('active')
    return {
        'active_slot': active,
        'inactive_slot': other_slot(active) if active in SLOTS else None,
        'state': state,
        'slots': slots,
    }


UPSTREAM = re.compile(r'server selfology-[a-z0-9-]+?-(blue|green)(?:-[0-9]+)?:')


def lb_slots(path):
    try:
        with open(path) as handle:
            return sorted(set(UPSTREAM.findall(handle.read())))
    except OSError as exc:
        raise SelfologyError('cannot read the load balancer configuration %s: %s' % (path, exc))


def find_drift(summary, upstream_slots=None, redis_active=None, check_redis=False):
    """Every disagreement between record, load balancer, Redis and containers, as a sentence."""
    drift = []
    active = summary['active_slot']
    versions = summary['state'].get('versions') or {}
    if upstream_slots is not None:
        if len(upstream_slots) != 1:
            drift.append('the load balancer names slots %s, not one slot' % (', '.join(upstream_slots) or 'none'))
        elif upstream_slots[0] != active:
            drift.append('the load balancer sends traffic to %s but the recorded active slot is %s'
                         % (upstream_slots[0], active))
    if check_redis and redis_active != active:
        drift.append('Redis says %s consumes events but the recorded active slot is %s' % (redis_active, active))
    for slot, info in summary['slots'].items():
        recorded = versions.get(slot)
        missing = [s['container'] for s in info['services'] if s['state'] != 'running']
        if slot == active and missing:
            drift.append('active slot %s has services not running: %s' % (slot, ', '.join(missing)))
        if recorded and not info['present']:
            drift.append('slot %s is recorded as running %s but has no containers' % (slot, recorded))
        elif info['present'] and not recorded:
            drift.append('slot %s has containers but no recorded version' % slot)
        elif recorded and info['version'] != recorded:
            drift.append('slot %s is recorded as %s but its containers run %s' % (slot, recorded, info['version']))
    return drift


def main():
    argument_spec = dict(
        services=dict(type='list', elements='str', required=True),
        state_file=dict(type='path', required=True),
        lb_config=dict(type='path'),
        active_slot_key=dict(type='str', no_log=False),
    )
    argument_spec.update(docker_client.docker_argument_spec())
    argument_spec.update(redis_connection.redis_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    docker_client.require_docker(module)
    try:
        services = [validate_service(s) for s in module.params['services']]
        state = read_state(module.params['state_file'])
        client = docker_client.connect(module.params)
        result = summarize(services, docker_client.slot_containers(client), state)
        upstream, redis_active = None, None
        if module.params['lb_config']:
            upstream = result['lb_slots'] = lb_slots(module.params['lb_config'])
        if module.params['active_slot_key']:
            redis_connection.require_redis(module)
            redis_active = redis_connection.connect(module.params).get(module.params['active_slot_key'])
        result['drift'] = find_drift(result, upstream, redis_active, bool(module.params['active_slot_key']))
    except SelfologyError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
