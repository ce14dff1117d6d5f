#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: rollout_analysis
short_description: Measure a newly switched-to slot every interval and decide whether it passed, failed or was inconclusive
description:
  - The runbook's "Step 5 - Monitor New Deployment" as a measurement, with the semantics of Argo Rollouts'
    blue-green C(postPromotionAnalysis). After O(initial_delay), then every O(interval), it reads from
    Prometheus the runbook's rollback criteria for O(slot) - the error rate of its HTTP API (5xx share of
    C(http_requests_total) over O(window)) above O(max_error_ratio); its p95 latency (from the
    C(http_request_duration_seconds) histogram over O(window)) above O(max_latency_ratio) times the p95 of
    O(previous_slot) over the O(baseline_window) before the switch (and above O(latency_floor)); the
    outbox backlog (O(backlog_metric)) grown by more than O(max_backlog_growth) since the switch; and any
    alert that became active after the switch and is about the slot (its C(slot) label, or its
    C(service) label naming one of O(services)).
  - A measurement fails when a criterion with data fails. It is inconclusive when none fails but one had
    no data - no series, no request in the window, a query Prometheus refused or a Prometheus that does
    not answer. It passes only when every criterion had data and passed.
  - The analysis fails as soon as more than O(failure_limit) measurements failed and is inconclusive as
    soon as more than O(inconclusive_limit) were inconclusive (both stop early). Otherwise it passes after
    the last measurement, unless not one measurement passed (then it is inconclusive - no data is never a
    pass).
  - Only measures and decides. Rolling back, recording and notifying are the caller's (the
    selfology.ops.bluegreen role's analyze entry point). The task itself succeeds whatever the outcome, so
    that the play can act on RV(outcome); it fails only on invalid options.
  - Read-only, never reports a change; check mode measures the same way.
version_added: 0.4.0
author: Selfology DevOps Team (@selfology-devops)
options:
  slot:
    description: The slot traffic was switched to, whose figures are measured.
    type: str
    required: true
    choices: [blue, green]
  previous_slot:
    description:
      - The slot traffic left, whose p95 before the switch is the latency baseline. Without one the latency
        criterion has no data, so no measurement can pass.
    type: str
    choices: [blue, green]
  switched_at:
    description:
      - When traffic moved to O(slot) - an RFC 3339 time such as C(2026-12-01T08:00:00Z), a Unix timestamp,
        C(now) or C(now-<duration>). The baseline window ends here, the backlog growth counts from here and
        only alerts active since then count. Default now.
    type: str
  interval:
    description: Time between two measurements, a duration such as C(1m) or C(3s).
    type: str
    default: 1m
  initial_delay:
    description:
      - Time before the first measurement, so that Prometheus holds a few scrapes of the slot under traffic
        (the targets' C(active) label changes at the switch, which starts new series).
    type: str
    default: 30s
  duration:
    description:
      - How long to measure - the number of measurements is O(duration) divided by O(interval) (at least
        one). The runbook watches for 10 minutes.
      - Ignored when O(count) is given.
    type: str
    default: 10m
  count:
    description: The number of measurements, instead of O(duration).
    type: int
  failure_limit:
    description: Failed measurements tolerated; one more fails the analysis at once.
    type: int
    default: 1
  inconclusive_limit:
    description: Inconclusive measurements tolerated; one more makes the analysis inconclusive at once.
    type: int
    default: 1
  max_error_ratio:
    description: Highest share of the slot's HTTP API requests answered 5xx that passes (runbook - error rate above 5 %).
    type: float
    default: 0.05
  max_latency_ratio:
    description: Highest p95 of the slot, as a multiple of the previous slot's p95 before the switch, that passes (runbook - latency above 2x normal).
    type: float
    default: 2.0
  latency_floor:
    description:
      - A p95 at or below this passes whatever the baseline, a duration such as C(100ms) - a baseline of a few
        milliseconds doubles on noise alone. C(0s) for none.
    type: str
    default: 100ms
  max_backlog_growth:
    description: Most outbox events pending above the count at the switch that passes (runbook - event processing should continue).
    type: int
    default: 100
  window:
    description: The range of the rates of errors and latency in each measurement, a duration such as C(1m).
    type: str
    default: 1m
  baseline_window:
    description: The window before the switch over which the previous slot's p95 is taken.
    type: str
    default: 10m
  job:
    description: The Prometheus job (C(job) label) that scrapes the services.
    type: str
    default: selfology-services
  endpoints:
    description: Regular expression of the C(endpoint) label of the requests measured - the HTTP API, not health checks.
    type: str
    default: /api/.*
  backlog_metric:
    description: The gauge of events pending in the outbox; its highest series is the backlog.
    type: str
    default: selfology_outbox_pending
  services:
    description:
      - Names of the slot's services. An alert without a C(slot) label counts when its C(service) label is
        one of these (the alert rules measure the active slot, which the analysed slot is).
    type: list
    elements: str
    default: []
  ignore_alerts:
    description: Alert names that never count, such as alerts about costs or disks that no version causes.
    type: list
    elements: str
    default: []
  alertmanager_url:
    description:
      - Read the alerts from Alertmanager at this URL (its C(/api/v2/alerts), C(startsAt) as the time they
        became active). Empty - from Prometheus's C(ALERTS_FOR_STATE) and C(ALERTS) series.
    type: str
    default: ""
extends_documentation_fragment:
  - selfology.ops.prometheus
attributes:
  check_mode:
    support: full
    description: Read-only; check mode measures the same way.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
notes:
  - The task takes about O(initial_delay) plus O(duration) when the slot passes, less when it fails or is
    inconclusive. It holds no lock.
  - An alert counts from the time Prometheus made it active. Prometheus restores that time after a restart only
    for alerts whose C(for) is longer than its C(--rules.alert.for-grace-period) (10m); a shorter one firing
    across a restart counts as new. Alerts over a window of the active slot (such as a 5-minute error rate)
    still describe the old slot right after a switch; list them in O(ignore_alerts) when the analysis
    measures the same figure itself.
  - Runs in ansible-playbook's own process when the host is the controller (a local connection without
    become); anywhere else it runs as an ordinary module on the host, which must reach O(url).
seealso:
  - module: selfology.ops.prometheus_query
  - name: Argo Rollouts analysis
    description: The semantics of failureLimit, inconclusiveLimit and post-promotion analysis.
    link: https://argo-rollouts.readthedocs.io/en/stable/features/analysis/
'''

EXAMPLES = r'''
- name: Watch green for 10 minutes after the switch from blue
  selfology.ops.rollout_analysis:
    url: http://n8n-server:9090
    slot: green
    previous_slot: blue
    switched_at: "2026-12-01T08:00:00Z"
    interval: 1m
    duration: 10m
    failure_limit: 1
    services: [question-selection, session-management, analysis-worker, outbox-relay]
    ignore_alerts: [HighAICost, DatabaseDiskSpaceLow]
  register: analysis

- name: Roll back when it failed
  ansible.builtin.include_role:
    name: selfology.ops.bluegreen
    tasks_from: rollback
  when: analysis.outcome == 'failed'
'''

RETURN = r'''
outcome:
  description: C(passed), C(failed) or C(inconclusive).
  returned: success
  type: str
  sample: failed
passed:
  description: Whether RV(outcome) is C(passed).
  returned: success
  type: bool
  sample: false
message:
  description: The outcome in one line, with the counts and what decided it.
  returned: success
  type: str
  sample: "analysis of green failed: 3 of 3 measurements failed (failure limit 2): error rate 19.8 % > 5.0 %"
measurements:
  description: Every measurement taken, in order.
  returned: success
  type: list
  elements: dict
  contains:
    at:
      description: When it was taken (RFC 3339, UTC).
      type: str
    since_switch_s:
      description: Seconds after O(switched_at).
      type: float
    phase:
      description: C(passed), C(failed) or C(inconclusive).
      type: str
    values:
      description:
        - The figures - C(error_ratio), C(p95) and C(baseline_p95) (seconds), C(backlog) and
          C(backlog_growth), C(alerts) (names with their service); null where there was no data.
      type: dict
    failed:
      description: The criteria that failed, each C(criterion) and C(message).
      type: list
      elements: dict
    no_data:
      description: The criteria without data, each C(criterion) and C(message) (why).
      type: list
      elements: dict
  sample:
    - at: "2026-12-01T08:00:34Z"
      since_switch_s: 34.2
      phase: failed
      values: {error_ratio: 0.198, p95: 0.009, baseline_p95: 0.008, backlog: 2.0, backlog_growth: 0.0, alerts: []}
      failed: [{criterion: error_ratio, message: error rate 19.8 % > 5.0 %}]
      no_data: []
counts:
  description: Measurements C(passed), C(failed), C(inconclusive), their C(total) and the C(planned) number.
  returned: success
  type: dict
  sample: {passed: 0, failed: 3, inconclusive: 0, total: 3, planned: 10}
failed_criteria:
  description: The criteria that failed in any measurement (C(error_ratio), C(latency), C(backlog), C(alerts)).
  returned: success
  type: list
  elements: str
  sample: [error_ratio]
baseline:
  description: The previous slot's C(p95) before the switch and the C(backlog) at the switch, null when unknown.
  returned: success
  type: dict
  sample: {p95: 0.008, backlog: 0.0}
thresholds:
  description: The thresholds and limits applied (C(latency_floor) in seconds).
  returned: success
  type: dict
  sample: {max_error_ratio: 0.05, max_latency_ratio: 2.0, latency_floor: 0.1, max_backlog_growth: 100,
           failure_limit: 1, inconclusive_limit: 1}
slot:
  description: The slot measured.
  returned: success
  type: str
  sample: green
previous_slot:
  description: The baseline's slot, null without one.
  returned: success
  type: str
  sample: blue
switched_at:
  description: O(switched_at) as RFC 3339.
  returned: success
  type: str
  sample: "2026-12-01T08:00:00Z"
started_at:
  description: When the analysis started (RFC 3339).
  returned: success
  type: str
  sample: "2026-12-01T08:00:02Z"
ended_at:
  description: When it ended (RFC 3339).
  returned: success
  type: str
  sample: "2026-12-01T08:00:40Z"
duration_s:
  description: Seconds it took.
  returned: success
  type: float
  sample: 38.1
queries:
  description: The PromQL of each figure, to look at the same data by hand.
  returned: success
  type: dict
  sample: {backlog: max(selfology_outbox_pending)}
'''

from ansible_collections.selfology.ops.plugins.module_utils import analysis, prometheus
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    del check_mode  # read-only
    return analysis.analyse(params)


argument_spec = dict(
    slot=dict(type='str', required=True, choices=['blue', 'green']),
    previous_slot=dict(type='str', choices=['blue', 'green']),
    switched_at=dict(type='str'),
    interval=dict(type='str', default='1m'),
    initial_delay=dict(type='str', default='30s'),
    duration=dict(type='str', default='10m'),
    count=dict(type='int'),
    failure_limit=dict(type='int', default=1),
    inconclusive_limit=dict(type='int', default=1),
    max_error_ratio=dict(type='float', default=0.05),
    max_latency_ratio=dict(type='float', default=2.0),
    latency_floor=dict(type='str', default='100ms'),
    max_backlog_growth=dict(type='int', default=100),
    window=dict(type='str', default='1m'),
    baseline_window=dict(type='str', default='10m'),
    job=dict(type='str', default='selfology-services'),
    endpoints=dict(type='str', default='/api/.*'),
    backlog_metric=dict(type='str', default='selfology_outbox_pending'),
    services=dict(type='list', elements='str', default=[]),
    ignore_alerts=dict(type='list', elements='str', default=[]),
    alertmanager_url=dict(type='str', default=''),
)
argument_spec.update(prometheus.prometheus_argument_spec())
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
