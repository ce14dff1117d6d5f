#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: lb_config
short_description: Install the HAProxy load balancer's configuration, validated first
description:
  - Compares O(content) with C(haproxy.cfg) in O(config_dir). When they differ, writes it as a
    candidate, has C(haproxy -c) check it inside the load balancer container, and only then puts it
    in place atomically. A candidate that HAProxy rejects leaves the configuration in use untouched
    and fails the task with HAProxy's words.
  - Creates the slot map file (C(slot.map), which names the slot traffic goes to) with
    O(initial_slot) when it does not exist yet; afterwards M(selfology.ops.lb_route) keeps it.
  - Switching slots and scaling never need this module; they go through the runtime API
    (M(selfology.ops.lb_route)) and keep every client connection open. With O(reload=true) a changed
    configuration is loaded by a seamless HAProxy reload (master-worker mode), for changes of the
    configuration's structure such as a new service; the servers' addresses and states are saved
    to C(servers.state) first, which the new process loads.
  - When the container is not running, the files are only written (HAProxy reads them at start).
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.docker
options:
  content:
    description: The full HAProxy configuration.
    type: str
    required: true
  config_dir:
    description: Host directory holding C(haproxy.cfg) and C(slot.map), mounted into the container at O(mount_dir).
    type: path
    required: true
  mount_dir:
    description: Where O(config_dir) appears inside the container.
    type: str
    default: /etc/selfology-lb
  container:
    description: The load balancer container.
    type: str
    default: selfology-lb
  initial_slot:
    description: The slot the map file names when it is created.
    type: str
    choices: [blue, green]
    default: blue
  reload:
    description: Reload HAProxy (seamlessly, by C(SIGUSR2) to its master) when the configuration changed.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports whether the configuration would change; writes and reloads nothing.
  diff_mode:
    support: full
    description: Shows the configuration before and after.
'''

EXAMPLES = r'''
- name: Install the load balancer's configuration
  selfology.ops.lb_config:
    content: "{{ lookup('ansible.builtin.template', 'haproxy.cfg.j2') }}"
    config_dir: /var/lib/selfology-ops/lb
    initial_slot: blue
'''

RETURN = r'''
reloaded:
  description: Whether HAProxy was reloaded with the new configuration.
  returned: always
  type: bool
  sample: false
map_created:
  description: Whether the slot map file was created.
  returned: always
  type: bool
  sample: false
'''

import os

from ansible_collections.selfology.ops.plugins.module_utils import docker_client
from ansible_collections.selfology.ops.plugins.module_utils import loadbalancer
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def save_server_state(config_dir):
    """HAProxy's reload procedure: the running servers' addresses and states go to the file the new
    process loads, so that the reload keeps serving where the runtime API sent traffic."""
    try:
        with loadbalancer.AdminSocket(os.path.join(config_dir, loadbalancer.SOCKET)) as admin:
            state = admin.command('show servers state') + '\n'
    except loadbalancer.BackendUnavailable:
        return  # not answering: the file lb_route saved last is what the new process gets
    loadbalancer.write_atomically(os.path.join(config_dir, loadbalancer.SERVER_STATE), state)


def run(params, check_mode):
    docker_client.require()
    config_dir = params['config_dir']
    config, candidate = os.path.join(config_dir, loadbalancer.CONFIG), os.path.join(config_dir, loadbalancer.CANDIDATE)
    map_file = os.path.join(config_dir, loadbalancer.MAP)
    before = loadbalancer.read_file(config)
    changed = before != params['content']
    map_missing = loadbalancer.read_file(map_file) is None
    reloaded = False
    if not check_mode:
        if map_missing:
            loadbalancer.write_atomically(map_file, loadbalancer.map_content(params['initial_slot']))
        if changed:
            loadbalancer.write_atomically(candidate, params['content'])
            running = docker_client.connect(params).containers.list(filters={'name': '^/%s$' % params['container']})
            if running:
                loadbalancer.validate_candidate(running[0], params['mount_dir'])
            os.replace(candidate, config)
            if running and params['reload']:
                save_server_state(config_dir)
                running[0].kill(signal='SIGUSR2')
                reloaded = True
    return dict(changed=changed or map_missing, reloaded=reloaded, map_created=map_missing and not check_mode,
                diff=dict(before=before or '', after=params['content']))


argument_spec = dict(
    content=dict(type='str', required=True),
    config_dir=dict(type='path', required=True),
    mount_dir=dict(type='str', default='/etc/selfology-lb'),
    container=dict(type='str', default='selfology-lb'),
    initial_slot=dict(type='str', default='blue', choices=['blue', 'green']),
    reload=dict(type='bool', default=False),
)
argument_spec.update(docker_client.docker_argument_spec())
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
