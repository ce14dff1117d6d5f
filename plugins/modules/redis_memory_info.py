#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: redis_memory_info
short_description: The runbook's Redis memory check - used memory against maxmemory, judged ok, warning or critical
description:
  - Reads C(INFO memory) and judges C(used_memory) in percent of C(maxmemory), or of the host's memory when no
    maxmemory is set - V(ok) below O(warning), V(critical) above O(critical), V(warning) in between (the runbook -
    "Check for high memory usage (>80%)").
  - The fragmentation ratio and the eviction policy are reported, not judged.
  - Read-only, never reports a change and never fails on a finding; the maintenance role fails the play on RV(status).
version_added: 0.2.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.redis
options:
  warning:
    description: Used memory, in percent, from which the check warns.
    type: float
    default: 80
  critical:
    description: Used memory, in percent, above which the check is critical.
    type: float
    default: 95
attributes:
  check_mode:
    support: full
    description: Read-only; check mode reads the same figures.
  diff_mode:
    support: none
    description: Nothing changes.
'''

EXAMPLES = r'''
- name: Check Redis memory
  selfology.ops.redis_memory_info:
    redis_port: 16379
  register: memory
'''

RETURN = r'''
name:
  description: C(redis_memory).
  returned: always
  type: str
status:
  description: V(ok), V(warning) or V(critical).
  returned: always
  type: str
  sample: ok
message:
  description: The finding for people, such as C(3.9M of maxmemory 256.0M used (1.5%, warning from 80%)).
  returned: always
  type: str
figures:
  description: C(used_memory), C(maxmemory), C(total_system_memory), C(used_pct), C(mem_fragmentation_ratio), C(maxmemory_policy).
  returned: always
  type: dict
info:
  description: The memory section of C(INFO).
  returned: always
  type: dict
'''

from ansible_collections.selfology.ops.plugins.module_utils import redis_connection
from ansible_collections.selfology.ops.plugins.module_utils.checks import redis_memory_check
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    del check_mode  # read-only
    redis_connection.require()
    client = redis_connection.connect(params)
    try:
        info = client.info('memory')
    except redis_connection.redis.RedisError as exc:
        raise SelfologyError('Redis did not answer INFO memory: %s' % exc)
    check = redis_memory_check(info, {'redis_memory_pct': {'warning': params['warning'], 'critical': params['critical']}})
    return dict(check, info=info, changed=False)


argument_spec = dict(
    warning=dict(type='float', default=80),
    critical=dict(type='float', default=95),
)
argument_spec.update(redis_connection.redis_argument_spec())
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
