#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: alertmanager_silence
short_description: Create or expire an Alertmanager silence (acknowledge an alert)
description:
  - O(state=present) creates a silence through Alertmanager's C(/api/v2/silences) - it starts now and
    ends after O(duration), mutes every alert whose labels have the values in O(matchers), and records
    O(author) and O(comment). This is how incident response acknowledges an alert; the escalation
    alerts carry the labels of the alert they escalate, so the same silence stops the escalation too.
  - Idempotent - a silence is known by its matchers, author and comment. When an active (or pending)
    silence with the same three exists, nothing is created and the task reports no change; that silence is
    kept as it is, even if it ends sooner than O(duration) would. Change the comment to make a new one.
  - O(state=expired) expires the silence O(silence_id), or every active or pending silence with these
    O(matchers), O(author) and O(comment). A silence that is already expired, or that Alertmanager no
    longer knows (it forgets expired ones after its retention time), is left alone and reports no change.
  - Check mode and diff mode report what would be created or expired without changing Alertmanager.
version_added: 0.3.0
author: Selfology DevOps Team (@selfology-devops)
options:
  state:
    description: Whether the silence should exist (C(present)) or be expired (C(expired)).
    type: str
    choices: [present, expired]
    default: present
  matchers:
    description:
      - >-
        The labels and exact values an alert must have to be muted, such as
        C({alertname: ServiceDown, service: analysis-worker}). At least one.
      - Required with O(state=present); with O(state=expired) instead of O(silence_id).
    type: dict
  duration:
    description:
      - How long the silence lasts from now - a whole number and one unit of ms, s, m, h, d, w, such as
        C(30m), C(2h) or C(1d); at least 1s, at most 366d. Required with O(state=present).
    type: str
  author:
    description: Who silences (Alertmanager's C(createdBy)). Required with O(state=present).
    type: str
    aliases: [created_by]
  comment:
    description: Why - the incident, the ticket, what is being done. Required with O(state=present).
    type: str
  silence_id:
    description: With O(state=expired), the id of the silence to expire.
    type: str
extends_documentation_fragment:
  - selfology.ops.alertmanager
attributes:
  check_mode:
    support: full
    description: Reports the silence it would create or the ones it would expire, without changing them.
  diff_mode:
    support: full
    description: The silence before and after.
notes:
  - Runs in ansible-playbook's own process when the host is the controller (a local connection without
    become); anywhere else it runs as an ordinary module on the host, which must reach O(url).
  - A silence uses exact-value matchers only; regular-expression matchers are not offered.
seealso:
  - module: selfology.ops.alertmanager_alerts
'''

EXAMPLES = r'''
- name: Acknowledge ServiceDown for the analysis worker for one hour
  selfology.ops.alertmanager_silence:
    url: http://n8n-server:9093
    matchers:
      alertname: ServiceDown
      service: analysis-worker
    duration: 1h
    author: alice
    comment: "INC-42: worker restarting after the OOM, see #incidents"
  register: ack

- name: Lift it once the worker is back
  selfology.ops.alertmanager_silence:
    url: http://n8n-server:9093
    state: expired
    silence_id: "{{ ack.silence_id }}"

- name: Or by what it was created with
  selfology.ops.alertmanager_silence:
    state: expired
    matchers:
      alertname: ServiceDown
      service: analysis-worker
    author: alice
    comment: "INC-42: worker restarting after the OOM, see #incidents"
'''

RETURN = r'''
silence_id:
  description: Id of the silence created or found; null in check mode when one would be created.
  returned: state=present
  type: str
  sample: 5415d64c-0af1-4f76-8c37-69352a1da140
silence:
  description:
    - The silence as Alertmanager describes it - C(id), C(matchers) (C(name), C(value), C(isRegex), C(isEqual)),
      C(startsAt), C(endsAt), C(createdBy), C(comment), C(status.state) - or, in check mode, the one that would
      be created.
  returned: state=present
  type: dict
  sample:
    id: 5415d64c-0af1-4f76-8c37-69352a1da140
    matchers:
      - {name: alertname, value: ServiceDown, isRegex: false, isEqual: true}
      - {name: service, value: analysis-worker, isRegex: false, isEqual: true}
    startsAt: "2026-12-01T08:10:00.515Z"
    endsAt: "2026-12-01T09:10:00.000Z"
    createdBy: alice
    comment: "INC-42: worker restarting after the OOM, see #incidents"
    status: {state: active}
matched_alerts:
  description: Number of alerts Alertmanager holds now that the matchers select (so the silence mutes them).
  returned: state=present
  type: int
  sample: 1
expired:
  description: Ids of the silences expired (in check mode, that would be).
  returned: state=expired
  type: list
  elements: str
  sample: [5415d64c-0af1-4f76-8c37-69352a1da140]
silences:
  description: The silences expired, as they were before.
  returned: state=expired
  type: list
  elements: dict
found:
  description: Whether Alertmanager knows the silence (by id), or any live silence matched (by matchers).
  returned: state=expired
  type: bool
  sample: true
'''

from ansible_collections.selfology.ops.plugins.module_utils import alertmanager
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    if params['state'] == 'present':
        if params['silence_id']:
            raise SelfologyError('silence_id is only for state=expired; a new silence gets its id from Alertmanager')
        return alertmanager.ensure_silence(params, params['matchers'], params['duration'], params['author'],
                                           params['comment'], check_mode)
    if params['silence_id'] and params['matchers']:
        raise SelfologyError('give silence_id or matchers to expire, not both')
    return alertmanager.expire_silences(params, check_mode, silence_id=params['silence_id'],
                                        matchers=params['matchers'], author=params['author'],
                                        comment=params['comment'])


argument_spec = dict(
    state=dict(type='str', choices=['present', 'expired'], default='present'),
    matchers=dict(type='dict'),
    duration=dict(type='str'),
    author=dict(type='str', aliases=['created_by']),
    comment=dict(type='str'),
    silence_id=dict(type='str'),
)
argument_spec.update(alertmanager.alertmanager_argument_spec())
TASK = Task(argument_spec, run, required_if=[
    ('state', 'present', ('matchers', 'duration', 'author', 'comment')),
    ('state', 'expired', ('silence_id', 'matchers'), True),
])


if __name__ == '__main__':
    main(TASK)
