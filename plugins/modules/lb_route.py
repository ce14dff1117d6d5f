#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: lb_route
short_description: Send the load balancer's traffic to a slot, without reloading it
description:
  - Moves traffic through HAProxy's runtime API on its admin socket, so that no client connection
    is closed; the next request on every open keep-alive connection goes to the new slot.
  - Puts servers C(r1..rN) of each service's backend in the slot in service (with the container's
    current address on O(network)) and takes the servers beyond the replica count out, then
    changes the one map entry that chooses the slot for every service, and rewrites the map file
    and the server state file (C(servers.state), addresses and states) so that a restarted HAProxy
    comes back on the same slot and servers.
  - Then waits, at most O(drain_timeout) seconds, until the slot traffic left and the servers taken
    out have finished their in-flight requests; RV(drain_seconds) says how long that took.
  - Nothing is sent when the load balancer already routes as asked (idempotent).
version_added: 0.2.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.docker
options:
  slot:
    description: The slot that gets the traffic.
    type: str
    required: true
    choices: [blue, green]
  services:
    description: The services behind the load balancer (those with an C(lb_path) in the topology).
    type: list
    elements: str
    required: true
  replicas:
    description: Containers per service in O(slot); services not named run one.
    type: dict
    default: {}
  config_dir:
    description: Host directory holding C(slot.map) and HAProxy's admin socket C(admin.sock).
    type: path
    required: true
  mount_dir:
    description: Where O(config_dir) appears inside the load balancer container (HAProxy names the map by this path).
    type: str
    default: /etc/selfology-lb
  network:
    description: The Docker network the load balancer reaches the services on.
    type: str
    required: true
  drain_timeout:
    description: Seconds to wait for in-flight requests on the servers traffic left.
    type: float
    default: 10
attributes:
  check_mode:
    support: full
    description: Returns the runtime commands it would send (RV(commands)); sends and writes nothing.
  diff_mode:
    support: none
    description: RV(commands) says what changes.
'''

EXAMPLES = r'''
- name: Send traffic to green
  selfology.ops.lb_route:
    slot: green
    services: [question-selection, session-management]
    config_dir: /var/lib/selfology-ops/lb
    network: selfology-net
'''

RETURN = r'''
slot_before:
  description: The slot the load balancer sent traffic to before the task.
  returned: always
  type: str
  sample: blue
commands:
  description: The runtime API commands sent (in check mode, that would be sent).
  returned: always
  type: list
  elements: str
  sample: ["set server question_selection_green/r1 addr 172.18.0.9", "set map /etc/selfology-lb/slot.map active green"]
moved_after:
  description: Seconds from the start of the task until the load balancer answered for the new slot; null when traffic did not move.
  returned: always
  type: float
  sample: 0.004
drained:
  description: Whether every in-flight request on the servers traffic left finished within O(drain_timeout).
  returned: always
  type: bool
  sample: true
drain_seconds:
  description: How long the drain took.
  returned: always
  type: float
  sample: 0.02
'''

import os

from ansible_collections.selfology.ops.plugins.module_utils import docker_client
from ansible_collections.selfology.ops.plugins.module_utils import loadbalancer
from ansible_collections.selfology.ops.plugins.module_utils.slots import LABEL_SLOT, validate_service
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def addresses(params):
    """Container name -> IP on the load balancer's network, for the slot's containers (one API call)."""
    found = {}
    client = docker_client.connect(params)
    for container in client.containers.list(filters={'label': '%s=%s' % (LABEL_SLOT, params['slot'])}):
        network = (container.attrs.get('NetworkSettings', {}).get('Networks') or {}).get(params['network']) or {}
        if network.get('IPAddress'):
            found[container.name] = network['IPAddress']
    return found


def run(params, check_mode):
    docker_client.require()
    services = [validate_service(s) for s in params['services']]
    directory = params['config_dir']
    result = loadbalancer.route(
        os.path.join(directory, loadbalancer.SOCKET), os.path.join(directory, loadbalancer.MAP),
        '%s/%s' % (params['mount_dir'], loadbalancer.MAP), services, params['slot'], params['replicas'] or {},
        addresses(params), params['drain_timeout'], check_mode,
        state_file=os.path.join(directory, loadbalancer.SERVER_STATE))
    if not result['drained']:
        result['warnings'] = ['traffic moved to %s, but requests on the servers it left were still running after %ss'
                              % (params['slot'], params['drain_timeout'])]
    return result


argument_spec = dict(
    slot=dict(type='str', required=True, choices=['blue', 'green']),
    services=dict(type='list', elements='str', required=True),
    replicas=dict(type='dict', default={}),
    config_dir=dict(type='path', required=True),
    mount_dir=dict(type='str', default='/etc/selfology-lb'),
    network=dict(type='str', required=True),
    drain_timeout=dict(type='float', default=10),
)
argument_spec.update(docker_client.docker_argument_spec())
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
