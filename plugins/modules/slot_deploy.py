#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: slot_deploy
short_description: Start, stop or remove every service container of one slot at once
description:
  - Brings the containers C(selfology-<service>-<slot>) of one slot to O(state), all services in
    parallel, in one module execution.
  - With O(state=started), a container is kept when it already runs the wanted image with the
    wanted configuration, started when it is stopped, and recreated when its image or
    configuration differ. With O(wait), every container is then awaited together until healthy.
    A container that crashes or turns unhealthy fails the task at once, with its health-check
    log and its last log lines; with O(cleanup_on_failure) the containers this run created are removed, whatever the error.
  - The image must already be on the host; nothing is pulled.
  - Check mode reports the plan (create, recreate, start, keep, remove) without acting.
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.docker
options:
  slot:
    description: The slot.
    type: str
    required: true
    choices: [blue, green]
  state:
    description: V(started) runs the slot at O(version); V(stopped) stops its containers; V(absent) removes them.
    type: str
    default: started
    choices: [started, stopped, absent]
  version:
    description: The image tag to run; required with O(state=started). Validated as a tag.
    type: str
  image_repository:
    description: Repository of the services image.
    type: str
    default: selfology/services
  services:
    description: The slot's services and the host port each one publishes on O(bind_address).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Service name.
        type: str
        required: true
      port:
        description: Host port for the first replica; omit to publish none.
        type: int
      probe:
        description: Not used here; accepted so that M(selfology.ops.smoke_test)'s service list can be passed as it is.
        type: str
  replicas:
    description: Number of containers per service name; services not named run one.
    type: dict
    default: {}
  env:
    description: Environment common to every service, shown in logs as given.
    type: dict
    default: {}
  secret_env:
    description:
      - Environment common to every service that carries credentials (the database and Redis URLs). Never logged.
      - Kept apart from O(env) because Ansible masks every value of a secret option wherever it appears in
        the output; short values of O(env) such as C(1) would mask every C(1) of an error message.
    type: dict
    default: {}
    version_added: 0.3.0
  labels:
    description: Extra labels on every container.
    type: dict
    default: {}
  network:
    description: Docker network the containers join.
    type: str
    required: true
  bind_address:
    description: Host address ports are published on.
    type: str
    default: 127.0.0.1
  wait:
    description: Wait until every container is healthy.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for health.
    type: int
    default: 60
  stop_timeout:
    description: Seconds a container gets to stop before it is killed.
    type: int
    default: 10
  log_lines:
    description: Log lines reported for each container that failed.
    type: int
    default: 20
  cleanup_on_failure:
    description: When starting the slot or the wait fails (any error), remove the containers this run created or recreated.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reports the plan for each container without acting.
'''

EXAMPLES = r'''
- name: Deploy 1.2.0 to the green slot
  selfology.ops.slot_deploy:
    slot: green
    version: 1.2.0
    network: selfology-net
    services:
      - {name: question-selection, port: 18201}
      - {name: analysis-worker, port: 18203}
    secret_env:
      DATABASE_URL: "{{ vault_database_url }}"
      REDIS_URL: redis://n8n-redis:6379/0

- name: Remove the blue slot
  selfology.ops.slot_deploy:
    slot: blue
    state: absent
    network: selfology-net
'''

RETURN = r'''
actions:
  description: What was done (or, in check mode, would be done) to each container, and how long it took.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "selfology-question-selection-green", "service": "question-selection",
            "action": "create", "seconds": 0.41}]
containers:
  description: Names of the slot's containers after the task.
  returned: always
  type: list
  elements: str
  sample: [selfology-question-selection-green]
wait_seconds:
  description: Seconds spent waiting for health.
  returned: when the task waited
  type: float
  sample: 2.3
failures:
  description: For each container that crashed, turned unhealthy or timed out - state, health log, last log lines.
  returned: on failure
  type: list
  elements: dict
  sample: [{"container": "selfology-question-selection-green", "health": "unhealthy",
            "health_log": ["..."], "logs": ["..."]}]
removed:
  description: Containers removed after a failed wait.
  returned: on failure
  type: list
  elements: str
  sample: [selfology-question-selection-green]
'''

import time

from ansible_collections.selfology.ops.plugins.module_utils import docker_client
from ansible_collections.selfology.ops.plugins.module_utils.deploy import (
    DeployFailed, SlotContainers, desired_containers, plan)
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main, operator_error


def started(params, check_mode, slot):
    specs = desired_containers(params, slot.image_id())
    actions = plan(specs, slot.existing())
    changed = any(a['action'] != 'keep' for a in actions)
    result = dict(changed=changed, actions=actions, containers=[s['name'] for s in specs])
    if check_mode:
        return result
    try:
        slot.apply(actions, specs)
        if params['wait']:
            began = time.monotonic()
            slot.wait_healthy([s['name'] for s in specs], params['wait_timeout'])
            result['wait_seconds'] = round(time.monotonic() - began, 2)
    except BaseException as exc:  # pylint: disable=broad-except
        # Whatever failed (a gate, the Docker API half-way through creating the slot, a bug, Ctrl-C),
        # the containers this run created do not outlive it.
        removed = []
        if params['cleanup_on_failure']:
            removed = [a['name'] for a in actions if a['action'] in ('create', 'recreate')]
            slot.remove_all(removed)
        error = exc if isinstance(exc, (DeployFailed, SelfologyError)) else operator_error(exc)
        if error is None:
            raise
        what = 'did not become healthy' if isinstance(exc, DeployFailed) else 'could not be started'
        raise SelfologyError('slot %s %s: %s' % (params['slot'], what, error),
                             result=dict(result, failures=getattr(exc, 'failures', []), removed=removed))
    return result


def run(params, check_mode):
    docker_client.require()
    slot = SlotContainers(lambda: docker_client.connect(params), params)
    if params['state'] == 'started':
        return started(params, check_mode, slot)
    existing = slot.existing()
    if params['state'] == 'absent':
        names = sorted(existing)
        if not check_mode:
            slot.remove_all(names)
        return dict(changed=bool(names), containers=[], actions=[{'name': n, 'action': 'remove'} for n in names])
    names = sorted(n for n, c in existing.items() if c['status'] == 'running')
    if not check_mode:
        slot.stop_all(names)
    return dict(changed=bool(names), containers=sorted(existing), actions=[{'name': n, 'action': 'stop'} for n in names])


argument_spec = dict(
    slot=dict(type='str', required=True, choices=['blue', 'green']),
    state=dict(type='str', default='started', choices=['started', 'stopped', 'absent']),
    version=dict(type='str'),
    image_repository=dict(type='str', default='selfology/services'),
    services=dict(type='list', elements='dict', default=[], options=dict(
        name=dict(type='str', required=True),
        port=dict(type='int'),
        probe=dict(type='str'),
    )),
    replicas=dict(type='dict', default={}),
    env=dict(type='dict', default={}),
    secret_env=dict(type='dict', default={}, no_log=True),
    labels=dict(type='dict', default={}),
    network=dict(type='str', required=True),
    bind_address=dict(type='str', default='127.0.0.1'),
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=60),
    stop_timeout=dict(type='int', default=10),
    log_lines=dict(type='int', default=20),
    cleanup_on_failure=dict(type='bool', default=True),
)
argument_spec.update(docker_client.docker_argument_spec())
TASK = Task(argument_spec, run, required_if=[('state', 'started', ['version', 'services'])])


if __name__ == '__main__':
    main(TASK)
