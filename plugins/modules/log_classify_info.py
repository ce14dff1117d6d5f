#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: log_classify_info
short_description: Classify service log lines into what the runbook tells us to look for
description:
  - Sorts service log lines, such as the last 100 of C(docker logs), into the classes of the runbook's P0 step
    "Check Service Logs" - V(crash) (crash stack traces, exit messages), V(out_of_memory), V(database) (PostgreSQL
    connection errors), V(redis) (Redis connection errors), V(ai_provider) (timeouts and 5xx of the AI provider, an
    open circuit breaker) - and V(other_error) (other error lines).
  - Each line counts in one class at most, the first that matches in the order V(redis) (its C(OOM command not
    allowed) only), V(out_of_memory), V(database), V(redis), V(ai_provider), V(crash), V(other_error), so a
    connection error logged at C(ERROR) level counts as that connection error.
  - A Python traceback counts once as V(crash), with the exception it ends with as its line; its frames are not
    classified, a chained traceback continues it, and its exception line counts in its own class as well when it
    names a cause (out of memory, database, Redis, AI provider).
  - The lines returned are cut to 300 characters, and credentials in URLs (C(scheme://user:password@host) becomes
    C(scheme://********@host)), values of secret-named keys (C(password=), C(token:), ...), bearer tokens and bot
    tokens in them are masked.
  - Reads nothing itself and never fails on a finding.
version_added: 0.3.0
author: Selfology DevOps Team (@selfology-devops)
options:
  lines:
    description: The log lines, such as the C(stdout_lines) of C(docker logs --tail 100).
    type: list
    elements: str
  text:
    description: The log as one text, split into lines here.
    type: str
  ai_url:
    description: The AI provider's URL; failures naming its host count as V(ai_provider) errors.
    type: str
attributes:
  check_mode:
    support: full
    description: Computes the same classification.
  diff_mode:
    support: none
    description: Nothing changes.
notes:
  - One of O(lines) and O(text) is required.
seealso:
  - module: selfology.ops.incident_report
'''

EXAMPLES = r'''
- name: Read the worker's last 100 log lines
  ansible.builtin.command: docker logs --tail 100 selfology-analysis-worker-blue
  register: worker_logs
  changed_when: false

- name: Classify them
  selfology.ops.log_classify_info:
    lines: "{{ worker_logs.stdout_lines + worker_logs.stderr_lines }}"
    ai_url: http://ai-stub:8090
  register: worker_logs_classified

- name: Check dependencies first when the logs say a dependency is down
  ansible.builtin.debug:
    msg: "{{ worker_logs_classified.summary }}"
  when: worker_logs_classified.dominant in ['database', 'redis']
'''

RETURN = r'''
total_lines:
  description: How many lines were read.
  returned: always
  type: int
  sample: 100
matched:
  description: How many lines count in a class.
  returned: always
  type: int
  sample: 14
counts:
  description: The number of lines of each class, every class included.
  returned: always
  type: dict
  sample: {crash: 1, out_of_memory: 0, database: 12, redis: 0, ai_provider: 0, other_error: 1}
classes:
  description: For each class, its C(title), C(count) and its C(first) and C(last) line (null when it has none).
  returned: always
  type: dict
  sample:
    database:
      title: database connection errors
      count: 12
      first: "2025-01-01T09:30:01 analysis-worker-blue ERROR batch failed, will retry: OperationalError(...)"
      last: "2025-01-01T09:30:13 analysis-worker-blue ERROR batch failed, will retry: OperationalError(...)"
dominant:
  description:
    - The class with the most lines; a tie goes to the specific cause (V(out_of_memory), V(database), V(redis),
      V(ai_provider)) before V(crash) and V(other_error). Null when no line counts in a class.
  returned: always
  type: str
  sample: database
tracebacks:
  description: How many Python tracebacks there are (a chained one counts once).
  returned: always
  type: int
  sample: 1
traceback:
  description: The lines of the last traceback, at most 60.
  returned: always
  type: list
  elements: str
summary:
  description: The classes found, most lines first, in one line for a person.
  returned: always
  type: str
  sample: database connection errors 12 (dominant), crash traces 1, other errors 1 in 100 lines
'''

from ansible_collections.selfology.ops.plugins.module_utils.incidents import classify_logs
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    del check_mode  # reads only
    source = params['lines'] if params['lines'] is not None else params['text']
    return dict(classify_logs(source, ai_url=params['ai_url']), changed=False)


TASK = Task(dict(
    lines=dict(type='list', elements='str'),
    text=dict(type='str'),
    ai_url=dict(type='str'),
), run, mutually_exclusive=[('lines', 'text')], required_one_of=[('lines', 'text')])


if __name__ == '__main__':
    main(TASK)
