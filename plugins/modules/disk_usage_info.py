#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: disk_usage_info
short_description: The usage of the filesystem of a path inside a container, judged ok, warning or critical
description:
  - Runs C(df -P PATH) inside the container (the Docker API's exec, as C(docker exec)) and reads its filesystem
    line - size, used, available, mount point. The percentage used is used / (used + available), what df's
    capacity column rounds up.
  - V(ok) below O(warning), V(critical) above O(critical), V(warning) in between (the runbook - Issue 4,
    Database Disk Full; its alert fires at 85%).
  - Read-only, never reports a change and never fails on a finding; the maintenance role fails the play on RV(status).
version_added: 0.2.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.docker
options:
  container:
    description: The container, such as C(n8n-postgres).
    type: str
    required: true
  path:
    description: A path inside the container on the filesystem to measure.
    type: str
    default: /var/lib/postgresql/data
  warning:
    description: Usage in percent from which the check warns.
    type: float
    default: 75
  critical:
    description: Usage in percent above which the check is critical.
    type: float
    default: 85
attributes:
  check_mode:
    support: full
    description: Read-only; check mode reads the same figures.
  diff_mode:
    support: none
    description: Nothing changes.
'''

EXAMPLES = r'''
- name: Check the database volume
  selfology.ops.disk_usage_info:
    container: n8n-postgres
  register: disk
'''

RETURN = r'''
status:
  description: V(ok), V(warning) or V(critical).
  returned: always
  type: str
  sample: ok
message:
  description: The finding for people.
  returned: always
  type: str
  sample: /var/lib/postgresql/data 24.2% used (24.5G of 252.0G, 76.9G free)
mounted_on:
  description: The mount point.
  returned: always
  type: str
used_pct:
  description: Used in percent.
  returned: always
  type: float
size_bytes:
  description: The filesystem's size.
  returned: always
  type: int
used_bytes:
  description: Bytes used.
  returned: always
  type: int
available_bytes:
  description: Bytes available.
  returned: always
  type: int
'''

from ansible_collections.selfology.ops.plugins.module_utils import docker_client
from ansible_collections.selfology.ops.plugins.module_utils.checks import disk_usage
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    del check_mode  # read-only
    docker_client.require()
    client = docker_client.connect(params)
    try:
        code, output = client.containers.get(params['container']).exec_run(['df', '-P', params['path']])
    except docker_client.docker.errors.NotFound:
        raise SelfologyError('container %s does not exist' % params['container'])
    except docker_client.docker.errors.APIError as exc:
        raise SelfologyError('df -P %s in %s failed: %s' % (params['path'], params['container'], exc.explanation or exc))
    text = output.decode('utf-8', 'replace')
    if code != 0:
        raise SelfologyError('df -P %s in %s exited %s: %s' % (
            params['path'], params['container'], code, (text.strip().splitlines() or ['no output'])[-1]))
    usage = disk_usage(text, {'disk_pct': {'warning': params['warning'], 'critical': params['critical']}})
    usage['message'] = '%s %s%% used (%s of %s, %s free)' % (
        usage['mounted_on'], usage['used_pct'], usage['used'], usage['size'], usage['available'])
    return dict(usage, changed=False)


argument_spec = dict(
    container=dict(type='str', required=True),
    path=dict(type='str', default='/var/lib/postgresql/data'),
    warning=dict(type='float', default=75),
    critical=dict(type='float', default=85),
)
argument_spec.update(docker_client.docker_argument_spec())
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
