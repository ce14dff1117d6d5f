#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: alertmanager_alerts
short_description: List the alerts Alertmanager holds, by state and severity
description:
  - Reads Alertmanager's C(/api/v2/alerts) - the alerts firing now, active, silenced or inhibited - and
    counts them by their C(severity) label and by state. The runbook's morning check ("Review overnight
    alerts") and the start of incident response.
  - Alertmanager forgets an alert once it is resolved, so resolved alerts are not listed; Prometheus's
    C(ALERTS) series (M(selfology.ops.prometheus_query)) holds their history.
  - Read-only, never reports a change. M(selfology.ops.alertmanager_silence) acknowledges an alert with a
    silence.
version_added: 0.3.0
author: Selfology DevOps Team (@selfology-devops)
options:
  active:
    description: List active alerts (neither silenced nor inhibited).
    type: bool
    default: true
  silenced:
    description: List silenced alerts.
    type: bool
    default: true
  inhibited:
    description: List inhibited alerts (an inhibition rule mutes them while another alert fires).
    type: bool
    default: true
  unprocessed:
    description: List alerts Alertmanager has received but not yet routed (usually for a moment only).
    type: bool
    default: true
  filters:
    description:
      - >-
        Only alerts whose labels have these exact values, such as C({severity: critical}) or
        C({alertname: ServiceDown, service: analysis-worker}).
    type: dict
    default: {}
extends_documentation_fragment:
  - selfology.ops.alertmanager
attributes:
  check_mode:
    support: full
    description: Read-only; check mode reads the same alerts.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
notes:
  - Runs in ansible-playbook's own process when the host is the controller (a local connection without
    become); anywhere else it runs as an ordinary module on the host, which must reach O(url).
seealso:
  - module: selfology.ops.alertmanager_silence
  - module: selfology.ops.prometheus_query
'''

EXAMPLES = r'''
- name: Alerts firing now (morning check)
  selfology.ops.alertmanager_alerts:
    url: http://n8n-server:9093
  register: firing

- name: Critical alerts nobody has acknowledged (not silenced, not inhibited)
  selfology.ops.alertmanager_alerts:
    url: http://n8n-server:9093
    silenced: false
    inhibited: false
    filters:
      severity: critical
  register: unacknowledged

- name: A critical alert that nobody acknowledged makes a critical morning
  ansible.builtin.assert:
    that: unacknowledged.total == 0
    fail_msg: "{{ unacknowledged.alerts | map(attribute='labels.alertname') | join(', ') }} firing"

- name: Every ServiceDown alert, acknowledged or not
  selfology.ops.alertmanager_alerts:
    filters:
      alertname: ServiceDown
  register: down
'''

RETURN = r'''
alerts:
  description:
    - The alerts, critical first, then warning, info and the rest; by name and start time within a
      severity. Fields as Alertmanager's API names them.
  returned: success
  type: list
  elements: dict
  contains:
    labels:
      description: The alert's labels (C(alertname), C(severity), C(service), ...).
      type: dict
    annotations:
      description: Its annotations (C(summary), C(description), ...).
      type: dict
    status:
      description:
        - C(state) (C(active), C(suppressed) when silenced or inhibited, C(unprocessed)), C(silencedBy)
          (ids of the silences muting it) and C(inhibitedBy) (fingerprints of the alerts inhibiting it).
      type: dict
    startsAt:
      description: When it started firing (RFC 3339).
      type: str
    endsAt:
      description: When Alertmanager will consider it resolved unless Prometheus sends it again.
      type: str
    updatedAt:
      description: When Alertmanager last received it.
      type: str
    fingerprint:
      description: Alertmanager's id of the label set.
      type: str
    generatorURL:
      description: Link to the expression in Prometheus that fired it.
      type: str
    receivers:
      description: Names of the receivers it is routed to.
      type: list
      elements: str
  sample:
    - labels: {alertname: ServiceDown, severity: critical, priority: P0, service: analysis-worker}
      annotations: {summary: analysis-worker is down}
      status: {state: active, silencedBy: [], inhibitedBy: []}
      startsAt: "2026-12-01T03:12:45.000Z"
      endsAt: "2026-12-01T08:05:45.000Z"
      updatedAt: "2026-12-01T08:01:45.000Z"
      fingerprint: 22dc9efe07f07093
      generatorURL: http://n8n-server:9090/graph?g0.expr=up+%3D%3D+0
      receivers: [oncall-critical]
by_severity:
  description: Number of listed alerts per C(severity) label; C(critical) and C(warning) are always present,
    C(none) counts alerts without the label.
  returned: success
  type: dict
  sample: {critical: 1, warning: 2}
by_state:
  description: Number of listed alerts per state - C(active), C(suppressed) and C(unprocessed), always present.
  returned: success
  type: dict
  sample: {active: 2, suppressed: 1, unprocessed: 0}
total:
  description: Number of listed alerts.
  returned: success
  type: int
  sample: 3
'''

from ansible_collections.selfology.ops.plugins.module_utils import alertmanager
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    del check_mode  # read-only
    result = alertmanager.list_alerts(params, active=params['active'], silenced=params['silenced'],
                                      inhibited=params['inhibited'], unprocessed=params['unprocessed'],
                                      filters=params['filters'])
    return dict(result, changed=False)


argument_spec = dict(
    active=dict(type='bool', default=True),
    silenced=dict(type='bool', default=True),
    inhibited=dict(type='bool', default=True),
    unprocessed=dict(type='bool', default=True),
    filters=dict(type='dict', default={}),
)
argument_spec.update(alertmanager.alertmanager_argument_spec())
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
