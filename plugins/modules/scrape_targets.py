#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: scrape_targets
short_description: Write Prometheus's file service discovery of the slots' service containers
description:
  - Lists every service container of both slots (replicas included) by label, and writes one target per
    container, C(NAME:PORT), with the labels C(service), C(slot), C(version), C(container) and C(active)
    (C(true) for the slot recorded in O(state_file) as taking traffic).
  - Stopped containers stay targets, so that a stopped service shows C(up) 0 and ServiceDown fires; removed
    ones go. Prometheus re-reads the file when it changes, without a reload.
  - The file is replaced atomically (mode 0644), and only when its content changes; check mode reports the
    change without writing.
version_added: 0.3.0
author: Selfology DevOps Team (@selfology-devops)
options:
  path:
    description: The JSON file Prometheus's C(file_sd_configs) reads.
    type: path
    required: true
  state_file:
    description: The recorded slot state, which names the active slot.
    type: path
    required: true
  port:
    description: The port of the services' C(/metrics), inside their containers.
    type: int
    default: 8000
extends_documentation_fragment:
  - selfology.ops.docker
attributes:
  check_mode:
    support: full
    description: Reports whether the file would change, writes nothing.
  diff_mode:
    support: none
    description: The targets are returned instead.
'''

EXAMPLES = r'''
- name: Point Prometheus at the slots' containers
  selfology.ops.scrape_targets:
    path: /etc/prometheus/selfology/targets/selfology-services.json
    state_file: /var/lib/selfology-ops/slots.json
'''

RETURN = r'''
targets:
  description: The file's content - one entry per container, with C(targets) and C(labels).
  returned: always
  type: list
  elements: dict
  sample: [{"targets": ["selfology-question-selection-blue:8000"], "labels": {"service": "question-selection",
            "slot": "blue", "version": "1.0.0", "active": "true", "container": "selfology-question-selection-blue"}}]
'''

import json

from ansible_collections.selfology.ops.plugins.module_utils import docker_client
from ansible_collections.selfology.ops.plugins.module_utils.slots import read_state, scrape_targets, write_json
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    docker_client.require()
    containers = docker_client.slot_containers(docker_client.connect(params))
    targets = scrape_targets(containers, read_state(params['state_file']).get('active'), params['port'])
    try:
        with open(params['path']) as handle:
            changed = json.load(handle) != targets
    except (OSError, ValueError):
        changed = True
    if changed and not check_mode:
        write_json(params['path'], targets, mode=0o644)
    return dict(changed=changed, targets=targets)


argument_spec = dict(
    path=dict(type='path', required=True),
    state_file=dict(type='path', required=True),
    port=dict(type='int', default=8000),
)
argument_spec.update(docker_client.docker_argument_spec())
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
