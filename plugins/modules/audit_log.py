#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: audit_log
short_description: Append one entry for a lifecycle action to the host's audit log
description:
  - Appends one line of JSON to the audit log for a lifecycle action (deploy, switch, rollback,
    cleanup, scale, a refused or broken lock), with the time it was written in C(at) (ISO 8601, UTC).
  - The line is written with a single C(write) on a file opened with C(O_APPEND), so entries of
    concurrent writers never mix. A missing directory is created with mode C(0750), a missing log with
    mode C(0640).
  - Pass no secrets. As a safeguard, the value of every key named like a secret (C(password),
    C(passwd), C(token), C(secret), C(api_key), C(private_key), C(credential), in any case and at any
    depth of O(details), O(slots_before), O(slots_after)) is written as C(********).
  - Options left out are left out of the entry.
  - Always reports a change when it writes; the C(selfops history) command reads the log back.
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
options:
  path:
    description: Path of the audit log on the host.
    type: path
    required: true
  action:
    description: The lifecycle action, such as C(deploy), C(switch), C(rollback), C(cleanup), C(scale) or C(lock).
    type: str
    required: true
  outcome:
    description:
      - How it ended. V(refused) is for an action a gate or the lock did not let run; V(noop) for one that had nothing to do;
        V(interrupted) for one stopped by a signal (Ctrl-C, SIGTERM) whose lock was then released; V(inconclusive) for
        a post-switch analysis that had no data to decide on.
    type: str
    required: true
    choices: [success, failed, refused, noop, interrupted, inconclusive]
  who:
    description: Who ran the action, such as C(alice@laptop).
    type: str
  version:
    description: The version the action was about.
    type: str
  slots_before:
    description: The slot state before the action, as M(selfology.ops.slot_state) returns it.
    type: dict
  slots_after:
    description: The slot state after the action.
    type: dict
  gates:
    description:
      - The gates (checks) that decided the action, in order. Each needs C(name); C(passed), C(message)
        and C(duration_ms) are kept when given, other keys are left out.
      - The C(checks) that M(selfology.ops.smoke_test) returns can be passed as they are.
    type: list
    elements: dict
  duration_s:
    description: How long the action took, in seconds.
    type: float
  details:
    description: Anything else worth keeping, such as the lock that was broken and why. No secrets.
    type: dict
attributes:
  check_mode:
    support: full
    description: Writes nothing and returns the entry it would write.
  diff_mode:
    support: none
    description: An append has no before and after worth showing; the entry is returned instead.
'''

EXAMPLES = r'''
- name: Record the switch
  selfology.ops.audit_log:
    path: /var/log/selfology-ops/audit.jsonl
    action: switch
    outcome: success
    who: alice@laptop
    version: 1.2.0
    slots_before: "{{ slots_before.state }}"
    slots_after: "{{ slots_after.state }}"
    gates: "{{ smoke.checks }}"
    duration_s: 42.7
    details:
      lock_broken: "{{ deploy_lock.broken }}"
'''

RETURN = r'''
entry:
  description: The entry written (in check mode, the entry that would be written), secrets replaced.
  returned: always
  type: dict
  sample: {"at": "2026-11-29T07:04:12.345678Z", "action": "switch", "outcome": "success", "who": "alice@laptop",
           "version": "1.2.0", "slots_before": {"active": "blue"}, "slots_after": {"active": "green"},
           "gates": [{"name": "service_response", "passed": true, "message": "4 services answered",
                      "duration_ms": 12.5}],
           "duration_s": 42.7}
line:
  description: The line written to the log (in check mode, the line that would be written), without its newline.
  returned: always
  type: str
  sample: '{"at":"2026-11-29T07:04:12.345678Z","action":"switch","outcome":"success"}'
path:
  description: The audit log's path.
  returned: always
  type: str
  sample: /var/log/selfology-ops/audit.jsonl
'''

from ansible_collections.selfology.ops.plugins.module_utils.audit import (
    OUTCOMES, append_entry, build_entry, entry_line)
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    entry = build_entry(
        params['action'], params['outcome'], who=params['who'], version=params['version'],
        slots_before=params['slots_before'], slots_after=params['slots_after'], gates=params['gates'],
        duration_s=params['duration_s'], details=params['details'])
    line = entry_line(entry) if check_mode else append_entry(params['path'], entry)
    return dict(changed=True, entry=entry, line=line.rstrip('\n'), path=params['path'])


TASK = Task(dict(
    path=dict(type='path', required=True),
    action=dict(type='str', required=True),
    outcome=dict(type='str', required=True, choices=list(OUTCOMES)),
    who=dict(type='str'),
    version=dict(type='str'),
    slots_before=dict(type='dict'),
    slots_after=dict(type='dict'),
    gates=dict(type='list', elements='dict'),
    duration_s=dict(type='float'),
    details=dict(type='dict'),
), run)


if __name__ == '__main__':
    main(TASK)
