#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: smoke_test
short_description: Run the runbook's four smoke checks against one slot
description:
  - C(service_response) - every service of the slot answers C(/health) with 200 for this slot
    (and O(expected_version) when given), and each service's probe path answers below 500
    within O(max_latency_ms).
  - C(database) - PostgreSQL answers and C(selfology.event_outbox) exists.
  - C(redis) - Redis answers PING and the event stream can be read.
  - C(event_bus) - a real round trip. A C(smoke.ping) row enters the outbox; the check passes
    when the slot's worker has recorded it in C(selfology.processed_events) within
    O(event_timeout) seconds. On failure it says whether the relay or the worker stalled.
  - Each check is timed and reported separately; the task fails when any check fails and
    names the failing checks.
  - In check mode the event bus check is skipped, because it writes an outbox row.
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.postgres
  - selfology.ops.redis
options:
  slot:
    description: The slot to test.
    type: str
    required: true
    choices: [blue, green]
  services:
    description: The slot's services and the host ports their HTTP endpoints are published on.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Service name.
        type: str
        required: true
      port:
        description: Host port of the service in this slot.
        type: int
        required: true
      probe:
        description: A path of the service's API that must answer below 500, such as C(/api/questions/next/0).
        type: str
  service_host:
    description: Address the service ports are published on.
    type: str
    default: 127.0.0.1
  expected_version:
    description: When set, every service must report this version.
    type: str
  stream:
    description: The event stream read by the Redis check.
    type: str
    default: selfology:events
  http_timeout:
    description: Seconds to wait for one HTTP answer.
    type: float
    default: 5
  max_latency_ms:
    description: Slowest acceptable answer of a probe path, in milliseconds.
    type: float
    default: 1000
  event_timeout:
    description: Seconds to wait for the event round trip.
    type: float
    default: 10
attributes:
  check_mode:
    support: partial
    description: Can run in check mode.
    details: Every check runs except the event bus check, which writes an outbox row and is reported as skipped.
'''

EXAMPLES = r'''
- name: Smoke-test the green slot before switching to it
  selfology.ops.smoke_test:
    slot: green
    expected_version: 1.2.0
    services:
      - {name: question-selection, port: 18201, probe: /api/questions/next/0}
      - {name: session-management, port: 18202, probe: /api/sessions/0}
      - {name: analysis-worker, port: 18203}
      - {name: outbox-relay, port: 18204}
    login_password: "{{ vault_postgres_password }}"
    redis_port: 6379
'''

RETURN = r'''
passed:
  description: Whether every check passed.
  returned: always
  type: bool
  sample: true
checks:
  description: One entry per check, in the runbook's order.
  returned: always
  type: list
  elements: dict
  sample:
    - name: service_response
      title: Service response check
      passed: true
      message: 4 services answered
      duration_ms: 12.5
    - name: event_bus
      title: Event bus check
      passed: true
      message: event 42 relayed and consumed by selfology-analysis-worker-green
      duration_ms: 180.2
      event_id: 42
      consumer: selfology-analysis-worker-green
'''

from ansible_collections.selfology.ops.plugins.module_utils import postgres, redis_connection
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.smoke import run_checks
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    postgres.require()
    redis_connection.require()
    checks = run_checks(params, check_mode)
    failed = [c for c in checks if not c['passed']]
    result = dict(changed=False, slot=params['slot'], passed=not failed, checks=checks)
    if failed:
        raise SelfologyError('Smoke tests failed on slot %s: %s' % (
            params['slot'], '; '.join('%s: %s' % (c['title'], c['message']) for c in failed)), result=result)
    return result


argument_spec = dict(
    slot=dict(type='str', required=True, choices=['blue', 'green']),
    services=dict(type='list', elements='dict', required=True, options=dict(
        name=dict(type='str', required=True),
        port=dict(type='int', required=True),
        probe=dict(type='str'),
    )),
    service_host=dict(type='str', default='127.0.0.1'),
    expected_version=dict(type='str'),
    stream=dict(type='str', default='selfology:events'),
    http_timeout=dict(type='float', default=5),
    max_latency_ms=dict(type='float', default=1000),
    event_timeout=dict(type='float', default=10),
)
argument_spec.update(postgres.postgres_argument_spec())
argument_spec.update(redis_connection.redis_argument_spec())
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
