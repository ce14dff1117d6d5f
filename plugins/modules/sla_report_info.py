#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: sla_report_info
short_description: A calendar month's availability of every service against the SLA, with its incidents and deployments
description:
  - The runbook's Monthly Checklist item "Review SLA compliance (99.9% uptime)". For each of O(services), the
    minutes of the month (UTC) it was down, its availability, and the month's error budget - (1 - O(target)) of
    the month's real length, 43.2 minutes for 30 days at 99.9 %, 44.64 for 31 - used and left.
  - A service is V(critical) when its minutes down are over the budget (the SLA is missed; in the current
    month, it can no longer be met), V(warning) when more than O(budget_warning) of the budget is used or when
    the minutes Prometheus holds no data for could have spent it, else V(ok). The report's status is the worst
    of them. The module never fails on a status; the play decides what to do with it.
  - The minutes come from the recorded series C(selfology:sla_down:1m) of the monitoring role's rule file
    C(selfology-sla.yml), which also says when a minute counts as down. Prometheus evaluates rules only from
    the moment it loads them, never over earlier or backfilled history, so for the minutes before a service's
    first recorded one the same rule's query (as Prometheus returns it from C(/api/v1/rules)) is evaluated
    over the raw C(up) and C(probe_success) series, once a minute. Each service's C(sources) in RV(report) tells
    how many minutes came from each.
  - Also lists the month's worst incidents (the incident role's reports in O(incidents_dir)) and its
    switches and rollbacks (the audit log).
  - Read-only, never reports a change; check mode reads the same.
version_added: 0.4.0
author: Selfology DevOps Team (@selfology-devops)
options:
  month:
    description:
      - The calendar month, C(YYYY-MM) in UTC, such as C(2026-10). Empty for the current month, reported up to
        now. A month that has not begun is refused.
    type: str
    default: ''
  services:
    description: The services to report, as the topology names them (and the rules label them).
    type: list
    elements: str
    required: true
  target:
    description: The availability every service must reach over a month, as a share (the runbook's 99.9 %).
    type: float
    default: 0.999
  budget_warning:
    description: The share of the month's error budget used above which a service is a warning.
    type: float
    default: 0.75
  incidents_dir:
    description: The incident role's report directory (C(incident_directory)); a missing one has no incidents.
    type: path
    required: true
  worst_incidents:
    description: How many of the month's incidents to list, the worst first.
    type: int
    default: 5
  audit_log:
    description: The audit log (C(selfology_audit_log)); a missing one has no entries.
    type: path
    required: true
  deployment_actions:
    description: The audit log actions that count as deployments - those that move traffic.
    type: list
    elements: str
    default: [switch, rollback]
extends_documentation_fragment:
  - selfology.ops.prometheus
attributes:
  check_mode:
    support: full
    description: Read-only; check mode computes the same report.
  diff_mode:
    support: none
    description: Nothing changes.
notes:
  - A month's raw series are read in a subquery of one step a minute (44,640 steps for 31 days); give
    O(timeout) the time Prometheus needs for that when the rules were installed in the month.
seealso:
  - module: selfology.ops.prometheus_query
  - module: selfology.ops.incident_report
  - module: selfology.ops.audit_info
'''

EXAMPLES = r'''
- name: October's availability of the four services against 99.9 %
  selfology.ops.sla_report_info:
    url: http://n8n-server:9090
    month: "2026-10"
    services: [question-selection, session-management, analysis-worker, outbox-relay]
    incidents_dir: /var/lib/selfology-ops/incidents
    audit_log: /var/lib/selfology-ops/audit.log
  register: sla

- name: Fail when a service missed the SLA
  ansible.builtin.assert:
    that: sla.status != 'critical'
    fail_msg: "{{ sla.report.findings | join('; ') }}"
'''

RETURN = r'''
status:
  description: The worst of the services' statuses - V(ok), V(warning) or V(critical) (the SLA missed).
  returned: success
  type: str
  sample: ok
exit_code:
  description: 0 for V(ok), 1 for V(warning), 2 for V(critical) (what C(selfops report sla) exits with).
  returned: success
  type: int
month:
  description: The month reported, C(YYYY-MM).
  returned: success
  type: str
  sample: "2026-10"
report:
  description: The report, as the sla role writes it to C(reports/sla_<YYYY-MM>.json).
  returned: success
  type: dict
  contains:
    month:
      description: The month, C(YYYY-MM).
      type: str
    start:
      description: The month's start, RFC 3339 in UTC.
      type: str
    end:
      description: The window's end - the next month's start, or now for the current month.
      type: str
    complete:
      description: Whether the month is over (false for the current month).
      type: bool
    days:
      description: The month's days.
      type: int
    minutes:
      description: The window's minutes (the whole month's, or those up to now).
      type: int
    month_minutes:
      description: The whole month's minutes.
      type: int
    target:
      description: O(target).
      type: float
    target_pct:
      description: O(target) in percent.
      type: float
    budget_minutes:
      description: The month's error budget in minutes.
      type: float
      sample: 44.64
    budget_warning:
      description: O(budget_warning).
      type: float
    status:
      description: The worst of the services' statuses.
      type: str
    exit_code:
      description: The status as an exit code (0, 1, 2).
      type: int
    services:
      description:
        - Per service - C(service), C(status), C(down_minutes), C(observed_minutes), C(unobserved_minutes)
          (minutes of the window Prometheus holds no data for), C(availability) (a share) and
          C(availability_pct), C(budget_used_minutes), C(budget_left_minutes) (negative when overspent),
          C(budget_used_pct), C(sources) (C(recorded_minutes) and C(raw_minutes)) and C(findings).
        - The availability counts unobserved minutes as up (null when no minute was observed); they make a
          warning when they could have spent the budget.
      type: list
      elements: dict
    findings:
      description: What is not ok, in words.
      type: list
      elements: str
    incidents:
      description:
        - The incidents that started in the month - C(worst) (the O(worst_incidents) worst by severity, then
          how long they lasted; each with kind, severity, title, service, started, status, resolved_by,
          duration_s and report), C(count), C(by_severity) and C(unreadable) (files that are no incident).
      type: dict
    deployments:
      description:
        - The audit log's O(deployment_actions) in the month, oldest first - C(entries) (at, action, outcome,
          who, from_slot, to_slot, version), C(count), C(by_action), C(failed) (outcome other than success)
          and C(torn) (lines of the log that are not JSON).
      type: dict
'''

import time

from ansible_collections.selfology.ops.plugins.module_utils import prometheus, sla
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    del check_mode  # read-only
    found = sla.report(params, time.time())
    return dict(status=found['status'], exit_code=found['exit_code'], month=found['month'], report=found,
                changed=False)


argument_spec = dict(
    month=dict(type='str', default=''),
    services=dict(type='list', elements='str', required=True),
    target=dict(type='float', default=0.999),
    budget_warning=dict(type='float', default=0.75),
    incidents_dir=dict(type='path', required=True),
    worst_incidents=dict(type='int', default=5),
    audit_log=dict(type='path', required=True),
    deployment_actions=dict(type='list', elements='str', default=list(sla.DEPLOYMENT_ACTIONS)),
)
argument_spec.update(prometheus.prometheus_argument_spec())
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
