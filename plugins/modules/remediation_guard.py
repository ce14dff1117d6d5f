#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: remediation_guard
short_description: Claim an automatic remediation once per key and window, so that alert-driven runs cannot loop
description:
  - The loop guard of alert-driven runs (an Alertmanager alert starting an incident playbook through
    C(ansible-rulebook)). Before it acts, an automatic run claims a key, such as the alert's fingerprint (one
    remediation per alert fingerprint per O(window)) or C(rollback:<deploy>) without a window (a rollback only
    once per deploy).
  - With O(state=present), when no claim of O(key) is in force the claim is recorded and RV(allowed) is
    V(true); when one is (claimed within its window, or without a window) nothing changes, RV(allowed) is
    V(false) and RV(previous) is the claim that refused it. The task does not fail either way; the playbook
    ends its play when RV(allowed) is V(false).
  - With O(state=absent) the claim of O(key) is removed (an operator clearing the guard).
  - The claims are a JSON file, read, changed and replaced under an exclusive C(flock) on C(<path>.lock), so of
    two runs racing for one key only one is allowed; the file is replaced atomically (written to a temporary
    file, synced, renamed). Claims whose window ran out are dropped at the next write.
  - A guard file that cannot be read or parsed fails the task, rather than allowing a remediation.
version_added: 0.4.0
author: Selfology DevOps Team (@selfology-devops)
options:
  path:
    description: The guard file, such as C(remediations.json) in the state directory. Its directory is created when missing.
    type: path
    required: true
  key:
    description:
      - What is claimed, such as an Alertmanager alert's C(fingerprint), or C(rollback:<version>@<switched at>) for a
        rollback once per deploy. Printable, at most 256 characters.
    type: str
    required: true
  window:
    description:
      - How long a claim refuses the same key, in the collection's duration grammar (a whole number and one unit
        of C(s), C(m), C(h), C(d), C(w), such as V(30m)), at least one second and at most 366 days.
      - Omitted, the claim holds until it is removed with O(state=absent).
    type: str
  details:
    description:
      - Recorded with the claim and shown to runs it refuses, such as the alert name, the service and the
        playbook. No secrets.
    type: dict
  state:
    description: V(present) claims O(key), V(absent) removes its claim.
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
    description: Says whether the claim would be allowed (or removed) without writing the file.
  diff_mode:
    support: none
    description: RV(claim) and RV(previous) show the claim recorded and the one found.
notes:
  - Audit and announce every automatic run, the refused ones too (M(selfology.ops.audit_log), M(selfology.ops.notify_telegram)).
'''

EXAMPLES = r'''
- name: One remediation per alert fingerprint per 30 minutes
  selfology.ops.remediation_guard:
    path: "{{ selfology_state_dir }}/remediations.json"
    key: "{{ incident_alert.fingerprint }}"
    window: 30m
    details:
      alertname: "{{ incident_alert.labels.alertname }}"
      service: "{{ incident_service }}"
      playbook: incident_service_down
  register: incident_guard
  when: incident_trigger == 'alert'

- name: End the play when this alert was already remediated
  ansible.builtin.meta: end_play
  when: incident_trigger == 'alert' and not incident_guard.allowed

- name: A rollback only once per deploy
  selfology.ops.remediation_guard:
    path: "{{ selfology_state_dir }}/remediations.json"
    key: "rollback:{{ slots.state.active_version }}@{{ slots.state.switched_at }}"
  register: rollback_guard

- name: Clear the claim of an alert by hand
  selfology.ops.remediation_guard:
    path: /var/lib/selfology-ops/remediations.json
    key: 4f0e4b7cfa3a2f10
    state: absent
'''

RETURN = r'''
allowed:
  description: Whether the remediation may go ahead (with O(state=absent), always V(true)).
  returned: always
  type: bool
  sample: true
claim:
  description: The claim in force after the task - the one recorded, or the one that refused; null after O(state=absent).
  returned: always
  type: dict
  sample: {"key": "4f0e4b7cfa3a2f10", "claimed_at": "2026-11-29T07:04:12Z", "window": "30m",
           "expires": "2026-11-29T07:34:12Z", "details": {"alertname": "ServiceDown", "service": "analysis-worker"}}
previous:
  description: The claim of O(key) found in the file (in force or run out), or null.
  returned: always
  type: dict
  sample: null
message:
  description: One line for the audit log and the team message, such as why the remediation was refused.
  returned: always
  type: str
  sample: remediation 4f0e4b7cfa3a2f10 already claimed at 2026-11-29T07:04:12Z (alertname ServiceDown), until 2026-11-29T07:34:12Z
key:
  description: The key.
  returned: always
  type: str
  sample: 4f0e4b7cfa3a2f10
path:
  description: The guard file.
  returned: always
  type: str
  sample: /var/lib/selfology-ops/remediations.json
'''

from ansible_collections.selfology.ops.plugins.module_utils.remediations import claim, release
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    if params['state'] == 'absent':
        return release(params['path'], params['key'], check_mode=check_mode)
    return claim(params['path'], params['key'], window=params['window'], details=params['details'],
                 check_mode=check_mode)


TASK = Task(dict(
    path=dict(type='path', required=True),
    key=dict(type='str', required=True, no_log=False),
    window=dict(type='str'),
    details=dict(type='dict'),
    state=dict(type='str', choices=['present', 'absent'], default='present'),
), run)


if __name__ == '__main__':
    main(TASK)
