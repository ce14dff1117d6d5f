#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: prometheus_query
short_description: Run a PromQL query, instant or over a time range, against Prometheus
description:
  - Sends O(query) to Prometheus's HTTP API - C(/api/v1/query) at one time, or C(/api/v1/query_range)
    over a window with O(range) and O(step) - and returns the result with every sample value as a float
    (C(NaN), C(+Inf) and C(-Inf) included).
  - For the runbook's checks on real metrics - the morning check's dashboard figures, the weekly cost
    review, a new deployment's error rate - as a task whose figure the play can compare with a threshold
    (RV(value)).
  - A query Prometheus refuses (a syntax error, an execution error, a timeout) fails with Prometheus's own
    error type and text, in RV(error_type) and RV(error). A server that does not answer fails naming its
    URL. The query text is never repeated in an error.
  - The query is sent in a POST form body, so it is not limited by URL length and is not written to
    access logs as part of a URL.
  - Read-only, never reports a change; check mode runs the same query.
version_added: 0.3.0
author: Selfology DevOps Team (@selfology-devops)
options:
  query:
    description: The PromQL expression.
    type: str
    required: true
  time:
    description:
      - For an instant query, the evaluation time; for a range query given as a duration, the end of the
        window. Default now (the controller's or host's clock).
      - C(now), C(now-<duration>) (C(now-1h), C(now-30m), C(now-7d)), a Unix timestamp, or an RFC 3339
        time such as C(2026-12-01T08:00:00Z).
    type: str
  range:
    description:
      - Makes it a range query.
      - A duration (C(1h), C(7d), C(90s) - a whole number and one unit of ms, s, m, h, d, w), the window
        that ends at O(time) (default now); or a dict with C(start), C(end) (default now) and C(step), each
        time in the forms O(time) takes.
      - The step is given once, as C(range.step) or as O(step).
    type: raw
  step:
    description:
      - Resolution of a range query, a duration such as C(15s), C(1m) or C(1h). Required with O(range)
        unless C(range.step) is given. Prometheus refuses more than 11,000 points per series.
    type: str
extends_documentation_fragment:
  - selfology.ops.prometheus
attributes:
  check_mode:
    support: full
    description: Read-only; check mode runs the same query.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
notes:
  - Runs in ansible-playbook's own process when the host is the controller (a local connection without
    become); anywhere else it runs as an ordinary module on the host, which must reach O(url).
seealso:
  - module: selfology.ops.alertmanager_alerts
  - name: Prometheus HTTP API
    description: The query endpoints and their answers.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/
'''

EXAMPLES = r'''
- name: Events pending in the outbox now (morning check, Event Bus Health)
  selfology.ops.prometheus_query:
    query: sum(selfology_outbox_pending)
  register: pending

- name: Fail when the backlog is above the dashboard's threshold
  ansible.builtin.assert:
    that: pending.value is not none and pending.value < 100
    fail_msg: "{{ pending.value }} events pending"

- name: Error ratio per service over the last hour, one point a minute
  selfology.ops.prometheus_query:
    url: http://n8n-server:9090
    query: >-
      sum by (service) (rate(http_requests_total{status=~"5.."}[5m]))
      / sum by (service) (rate(http_requests_total[5m]))
    range: 1h
    step: 1m
  register: errors

- name: AI cost of the last 7 days per model, ending at midnight
  selfology.ops.prometheus_query:
    query: sum by (model) (increase(ai_cost_usd_total[7d]))
    time: "2026-12-01T00:00:00Z"
  register: costs

- name: A range given by its ends
  selfology.ops.prometheus_query:
    query: up{job="selfology"}
    range:
      start: now-2h
      end: now-1h
      step: 30s
'''

RETURN = r'''
result:
  description:
    - The result series with values as floats.
    - Vector and scalar results are a list of C(metric) (the labels; empty for a scalar), C(timestamp) (Unix
      seconds) and C(value); a matrix (range query) is a list of C(metric) and C(values), a list of
      C([timestamp, value]) pairs. A string result is one element whose C(value) is the string.
  returned: success
  type: list
  elements: dict
  sample:
    - metric: {__name__: up, instance: "127.0.0.1:9090", job: prometheus}
      timestamp: 1764576000.0
      value: 1.0
result_type:
  description: What Prometheus returned - C(vector), C(matrix), C(scalar) or C(string).
  returned: success
  type: str
  sample: vector
value:
  description:
    - The value, when the result is a scalar or a vector of exactly one sample; null otherwise (no
      sample, several series, a range query or a string).
  returned: success
  type: float
  sample: 0.042
series:
  description: Number of elements in RV(result).
  returned: success
  type: int
  sample: 1
time:
  description: Evaluation time of an instant query, in Unix seconds; null for a range query.
  returned: success
  type: float
  sample: 1764576000.0
start:
  description: Start of a range query's window, in Unix seconds; null for an instant query.
  returned: success
  type: float
  sample: 1764572400.0
end:
  description: End of a range query's window, in Unix seconds; null for an instant query.
  returned: success
  type: float
  sample: 1764576000.0
step:
  description: Step of a range query, in seconds; null for an instant query.
  returned: success
  type: float
  sample: 60.0
query_warnings:
  description: Warnings Prometheus sent with the result (for example from a remote read).
  returned: success
  type: list
  elements: str
  sample: []
error_type:
  description: Prometheus's C(errorType) when it refused the query (C(bad_data), C(execution), C(timeout), ...).
  returned: when Prometheus refused the query
  type: str
  sample: bad_data
error:
  description: Prometheus's own error text when it refused the query.
  returned: when Prometheus refused the query
  type: str
  sample: 'invalid parameter "query": 1:4: parse error: unexpected end of input inside braces'
'''

from ansible_collections.selfology.ops.plugins.module_utils import prometheus
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    del check_mode  # read-only
    result = prometheus.query(params['url'], params['query'], time=params['time'], range_=params['range'],
                              step=params['step'], timeout=params['timeout'],
                              validate_certs=params['validate_certs'])
    return dict(result, changed=False)


argument_spec = dict(
    query=dict(type='str', required=True),
    time=dict(type='str'),
    range=dict(type='raw'),
    step=dict(type='str'),
)
argument_spec.update(prometheus.prometheus_argument_spec())
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
