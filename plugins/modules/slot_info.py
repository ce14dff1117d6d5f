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
  lb_dir:
    description:
      - The load balancer's directory on the host (its C(slot.map) and admin socket). When set, the slot the
        running load balancer sends traffic to, and the slot its map file names (where a restart would send
        it), are compared with the recorded active slot.
    type: path
  lb_mount_dir:
    description: Where O(lb_dir) appears inside the load balancer container.
    type: str
    default: /etc/selfology-lb
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
lb:
  description:
    - The slot the running load balancer sends traffic to (C(live), null when its admin socket does not answer)
      and the one its map file names (C(file)).
  returned: when O(lb_dir) is set
  type: dict
  sample: {"live": "blue", "file": "blue"}
'''

import os

from ansible_collections.selfology.ops.plugins.module_utils import docker_client, loadbalancer, redis_connection
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.slots import (
    SLOTS, container_name, other_slot, read_state, validate_service)
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


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


def lb_state(lb_dir, mount_dir):
    """{'live': slot the running load balancer routes to, 'file': slot its map file names, 'error': why live is unknown}."""
    state = {'file': loadbalancer.slot_in_map(loadbalancer.read_file(os.path.join(lb_dir, loadbalancer.MAP))),
             'live': None}
    try:
        with loadbalancer.AdminSocket(os.path.join(lb_dir, loadbalancer.SOCKET)) as admin:
            state['live'] = loadbalancer.live_slot(admin, '%s/%s' % (mount_dir, loadbalancer.MAP))
    except SelfologyError as exc:
        state['error'] = str(exc)
    return state


def find_drift(summary, lb=None, redis_active=None, check_redis=False):
    """Every disagreement between record, load balancer, Redis and containers, as a sentence."""
    drift = []
    active = summary['active_slot']
    versions = summary['state'].get('versions') or {}
    if lb is not None:
        if lb.get('error'):
            drift.append(lb['error'])
        elif lb['live'] != active:
            drift.append('the load balancer sends traffic to %s but the recorded active slot is %s' % (lb['live'], active))
        if lb['file'] != lb['live'] and not lb.get('error'):
            drift.append('the load balancer\'s map file names %s but it sends traffic to %s: a restart would move it'
                         % (lb['file'], lb['live']))
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


def run(params, check_mode):
    del check_mode  # read-only: the same report either way
    docker_client.require()
    services = [validate_service(s) for s in params['services']]
    state = read_state(params['state_file'])
    client = docker_client.connect(params)
    result = summarize(services, docker_client.slot_containers(client), state)
    lb, redis_active = None, None
    if params['lb_dir']:
        lb = result['lb'] = lb_state(params['lb_dir'], params['lb_mount_dir'])
    if params['active_slot_key']:
        redis_connection.require()
        redis_active = redis_connection.connect(params).get(params['active_slot_key'])
    result['drift'] = find_drift(result, lb, redis_active, bool(params['active_slot_key']))
    return dict(result, changed=False)


argument_spec = dict(
    services=dict(type='list', elements='str', required=True),
    state_file=dict(type='path', required=True),
    lb_dir=dict(type='path'),
    lb_mount_dir=dict(type='str', default='/etc/selfology-lb'),
    active_slot_key=dict(type='str', no_log=False),
)
argument_spec.update(docker_client.docker_argument_spec())
argument_spec.update(redis_connection.redis_argument_spec())
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
