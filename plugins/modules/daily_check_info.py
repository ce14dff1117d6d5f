#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: daily_check_info
short_description: The morning checks' verdict - ok, warning or critical - from the readings of the checks role
description:
  - Turns what M(selfology.ops.slot_info), M(selfology.ops.outbox_info), M(selfology.ops.stream_info), the log scan,
    M(selfology.ops.redis_memory_info) (or M(community.general.redis_info)) and Alertmanager returned into one check
    each - services, outbox, stream, consumers, logs, redis_memory, alerts - with a status of V(ok), V(warning) or
    V(critical), a message and its figures, and the worst of them as RV(status).
  - A figure is V(ok) below its warning threshold, V(critical) above its critical threshold and V(warning) from one
    to the other, both included.
  - A reading without its figures (a module that failed under C(failed_when) false) makes its check V(critical),
    naming the module's message. A stream lag Redis cannot know is reported as unknown, never as 0.
  - Reads nothing itself and never fails on a finding; the checks role fails the play on RV(status).
version_added: 0.2.0
author: Selfology DevOps Team (@selfology-devops)
options:
  readings:
    description:
      - The gathered results - C(slots), C(outbox), C(stream), C(group), C(logs), C(log_since), C(redis) and
        C(alerts) (C(url) and the C(result) of reading it).
    type: dict
    required: true
  thresholds:
    description:
      - C(warning) and C(critical) of C(outbox_pending), C(outbox_age), C(stream_lag), C(stream_pending_age),
        C(log_errors) and C(redis_memory_pct).
    type: dict
    required: true
  actions:
    description:
      - The runbook's action for each check name, attached to a check that is not ok; C(unreadable) for a check
        whose module did not answer. C({relay}) is replaced with the active slot's outbox relay container and
        C({stream}) with the event stream.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Computes the same verdict.
  diff_mode:
    support: none
    description: Nothing changes.
'''

EXAMPLES = r'''
- name: Decide the morning checks
  selfology.ops.daily_check_info:
    readings: "{{ _checks_inputs }}"
    thresholds: "{{ _checks_thresholds }}"
    actions: "{{ _checks_actions }}"
  register: checks_verdict
'''

RETURN = r'''
status:
  description: The worst status of the checks - V(ok), V(warning) or V(critical).
  returned: always
  type: str
  sample: critical
exit_code:
  description: 0 for V(ok), 1 for V(warning), 2 for V(critical) (what C(selfops check daily) exits with).
  returned: always
  type: int
  sample: 2
checks:
  description: Each check in the runbook's order, with C(name), C(title), C(status), C(message), C(figures) and, when not ok, C(action).
  returned: always
  type: list
  elements: dict
failing:
  description: The names of the checks that are not ok.
  returned: always
  type: list
  elements: str
  sample: [outbox]
critical:
  description: The names of the critical checks.
  returned: always
  type: list
  elements: str
warning:
  description: The names of the checks that warn.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.selfology.ops.plugins.module_utils.checks import daily_checks
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    del check_mode  # computes only
    return dict(daily_checks(params['readings'], params['thresholds'], params['actions']), changed=False)


TASK = Task(dict(
    readings=dict(type='dict', required=True),
    thresholds=dict(type='dict', required=True),
    actions=dict(type='dict', default={}),
), run)


if __name__ == '__main__':
    main(TASK)
