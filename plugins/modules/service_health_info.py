#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: service_health_info
short_description: Wait until a service's containers in a slot are healthy and stay healthy
description:
  - Watches every container of one service in one slot (found by the C(org.selfology.service) and
    C(org.selfology.slot) labels, replicas too) until all of them are running and healthy, then for
    O(stable_for) more seconds, in which none may restart, stop or turn unhealthy - a container in a
    crash loop is healthy for moments at a time, and is not reported healthy here.
  - This is the runbook's "wait 30s, check health" after a fix (P0 Service Down, Fix A).
  - Never fails on an unhealthy service; RV(healthy) says how the wait ended. Read-only; supports check mode.
version_added: 0.4.0
author: Selfology DevOps Team (@selfology-devops)
options:
  service:
    description: The service, such as C(analysis-worker).
    type: str
    required: true
  slot:
    description: The slot whose containers are watched.
    type: str
    required: true
    choices: [blue, green]
  timeout:
    description: Seconds to wait, in all, for the containers to be healthy and stay so.
    type: float
    default: 30
  stable_for:
    description: Seconds the containers must stay healthy, with no restart, once they are.
    type: float
    default: 5
  interval:
    description: Seconds between two looks at the containers.
    type: float
    default: 0.5
extends_documentation_fragment:
  - selfology.ops.docker
attributes:
  check_mode:
    support: full
    description: Reads only; the same wait in check mode.
  diff_mode:
    support: none
    description: Nothing changes.
seealso:
  - module: selfology.ops.slot_info
'''

EXAMPLES = r'''
- name: Restart the worker (runbook Fix A)
  ansible.builtin.command: docker restart selfology-analysis-worker-blue
  changed_when: true

- name: Wait 30s for it to be healthy and stay so
  selfology.ops.service_health_info:
    service: analysis-worker
    slot: blue
    timeout: 30
  register: worker_health
'''

RETURN = r'''
healthy:
  description: Whether every container was healthy, and stayed so for O(stable_for) seconds, within O(timeout).
  returned: always
  type: bool
  sample: true
waited_s:
  description: Seconds the wait took.
  returned: always
  type: float
  sample: 7.4
healthy_after_s:
  description: Seconds until the containers were last seen turning healthy, or null when they never all were.
  returned: always
  type: float
  sample: 2.4
containers:
  description: Each container as last seen, with its restart count.
  returned: always
  type: list
  elements: dict
  sample: [{"container": "selfology-analysis-worker-blue", "state": "running", "health": "healthy", "restart_count": 0}]
message:
  description: How the wait ended, in a sentence.
  returned: always
  type: str
  sample: analysis-worker in blue is healthy (1 container) after 2.4s and stayed so for 5s
'''

import time

from ansible_collections.selfology.ops.plugins.module_utils import docker_client
from ansible_collections.selfology.ops.plugins.module_utils.slots import (
    LABEL_SERVICE, LABEL_SLOT, validate_service, validate_slot)
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def look(client, service, slot):
    """The service's containers in the slot: their state, health and how often they (re)started."""
    found = client.containers.list(all=True, filters={'label': [LABEL_SERVICE + '=' + service, LABEL_SLOT + '=' + slot]})
    rows = []
    for container in found:
        row = docker_client.describe(container)
        row['restart_count'] = container.attrs.get('RestartCount', 0)
        rows.append(row)
    return sorted(rows, key=lambda row: row['container'])


def all_healthy(rows):
    return bool(rows) and all(row['state'] == 'running' and row['health'] == 'healthy' for row in rows)


def fingerprint(rows):
    """What changes when a container restarts or is replaced."""
    return [(row['container'], row['started_at'], row['restart_count']) for row in rows]


def watch(read, timeout, stable_for, interval, clock=time.monotonic, sleep=time.sleep):
    """Polls read() until its rows are all healthy and unchanged for stable_for seconds, or timeout.
    Returns (healthy, rows, waited, healthy_after)."""
    start = clock()
    healthy_since, seen = None, None
    rows = read()
    while True:
        now = clock()
        if all_healthy(rows) and (healthy_since is None or fingerprint(rows) == seen):
            if healthy_since is None:
                healthy_since, seen = now, fingerprint(rows)
            if now - healthy_since >= stable_for:
                return True, rows, now - start, healthy_since - start
        else:
            healthy_since, seen = None, None
        if now - start >= timeout:
            return False, rows, now - start, None
        sleep(interval)
        rows = read()


def run(params, check_mode):
    del check_mode  # read-only
    docker_client.require()
    service, slot = validate_service(params['service']), validate_slot(params['slot'])
    client = docker_client.connect(params)
    healthy, rows, waited, healthy_after = watch(
        lambda: look(client, service, slot), params['timeout'], params['stable_for'], params['interval'])
    if healthy:
        message = '%s in %s is healthy (%d container%s) after %.1fs and stayed so for %gs' % (
            service, slot, len(rows), '' if len(rows) == 1 else 's', healthy_after, params['stable_for'])
    elif not rows:
        message = '%s has no container in %s' % (service, slot)
    else:
        message = '%s in %s is not healthy after %.0fs: %s' % (service, slot, waited, ', '.join(
            '%s %s (%s, %d restarts)' % (row['container'], row['state'], row['health'], row['restart_count'])
            for row in rows))
    return dict(changed=False, healthy=healthy, waited_s=round(waited, 2),
                healthy_after_s=None if healthy_after is None else round(healthy_after, 2),
                containers=rows, message=message)


argument_spec = dict(
    service=dict(type='str', required=True),
    slot=dict(type='str', required=True, choices=['blue', 'green']),
    timeout=dict(type='float', default=30),
    stable_for=dict(type='float', default=5),
    interval=dict(type='float', default=0.5),
)
argument_spec.update(docker_client.docker_argument_spec())

TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
