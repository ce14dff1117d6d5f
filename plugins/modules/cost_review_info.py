#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: cost_review_info
short_description: The AI cost review's verdict and trend from Prometheus's figures for a window
description:
  - The runbook's weekly Review AI Costs, Issue 3 (AI Costs Too High) and the monthly Cost optimization review - the
    window's total cost against the expected cost per day times its days, each model's cost and share of the calls
    against the router's mix (Claude above O(claude_max_share) flagged), and the costliest hour against the
    HighAICost alert.
  - The trend - the total and each model's cost against the previous period of the same length (for 30 days, the
    30 days before), growth above O(max_growth) flagged. No cost data for the previous period, or history that
    starts more than an hour into it (Prometheus's retention or a gap), gives no trend (RV(no_trend_reason)),
    neither a finding nor a change of 0.
  - V(warning) for each finding, V(ok) without; reads nothing itself (the checks role queries Prometheus with
    M(selfology.ops.prometheus_query)) and never fails on a finding.
version_added: 0.3.0
author: Selfology DevOps Team (@selfology-devops)
options:
  costs:
    description: The result of M(selfology.ops.prometheus_query) for the cost by model over the window, in USD.
    type: dict
    required: true
  calls:
    description: The result of M(selfology.ops.prometheus_query) for the calls by model over the window.
    type: dict
    required: true
  peak_per_hour:
    description: The result of M(selfology.ops.prometheus_query) for the costliest hour of the window, in USD per hour.
    type: dict
    required: true
  previous_costs:
    description: The result of M(selfology.ops.prometheus_query) for the cost by model over the previous period, in USD.
    type: dict
    required: true
    version_added: 0.4.0
  previous_first_sample:
    description:
      - The result of M(selfology.ops.prometheus_query) for the time of the earliest cost sample in the previous
        period (Unix seconds), evaluated at the window's end.
      - It tells whether Prometheus's history covers that period.
    type: dict
    required: true
    version_added: 0.4.0
  days:
    description: The window, in days.
    type: int
    required: true
  expected_per_day:
    description: The expected cost per day, C(low) and C(high) in USD (the runbook's $10-20).
    type: dict
    default: {low: 10, high: 20}
  mix:
    description: Each model's expected share of the calls (the runbook's 75 % GPT-4o, 15 % GPT-4o-mini, 10 % Claude).
    type: dict
    default: {gpt-4o: 0.75, gpt-4o-mini: 0.15, claude: 0.10}
  claude_max_share:
    description: Claude's share of the calls above which the review warns (runbook - Issue 3).
    type: float
    default: 0.2
  hourly_alert:
    description: USD per hour above which an hour is flagged (the HighAICost alert's threshold).
    type: float
    default: 10
  max_growth:
    description: Growth of the total on the previous period above which the review warns, a fraction (0.2 is 20 %).
    type: float
    default: 0.2
    version_added: 0.4.0
attributes:
  check_mode:
    support: full
    description: Computes the same verdict.
  diff_mode:
    support: none
    description: Nothing changes.
'''

EXAMPLES = r'''
- name: Judge the week's AI costs
  selfology.ops.cost_review_info:
    costs: "{{ costs_by_model }}"
    calls: "{{ calls_by_model }}"
    peak_per_hour: "{{ costliest_hour }}"
    previous_costs: "{{ costs_by_model_the_week_before }}"
    previous_first_sample: "{{ first_cost_sample_the_week_before }}"
    days: 7
    max_growth: 0.2
  register: costs_verdict
'''

RETURN = r'''
status:
  description: V(ok), or V(warning) when there is a finding.
  returned: always
  type: str
  sample: ok
exit_code:
  description: 0 for V(ok), 1 for V(warning) (what C(selfops review costs) exits with).
  returned: always
  type: int
total:
  description: The window's cost in USD, to the cent.
  returned: always
  type: float
  sample: 104.37
expected:
  description: The expected total for the window, C(low) and C(high).
  returned: always
  type: dict
models:
  description: Per model its C(cost) (USD), C(calls), C(share) of the calls and C(expected_share).
  returned: always
  type: list
  elements: dict
peak_per_hour:
  description: The costliest hour's cost in USD, or null without data.
  returned: always
  type: float
trend:
  description:
    - The window against the previous period of the same length - C(days), C(previous_total) (USD), C(change)
      (USD) and C(change_ratio) (a fraction, negative for a drop; null when the previous total is 0), and per
      model C(model), C(previous_cost), C(cost), C(change) and C(change_ratio).
    - Null when there is no trend (see RV(no_trend_reason)).
  returned: always
  type: dict
  sample:
    days: 7
    previous_total: 96.65
    change: 12.09
    change_ratio: 0.1251
    models:
      - {model: gpt-4o, previous_cost: 78.62, cost: 90.72, change: 12.1, change_ratio: 0.1539}
no_trend_reason:
  description: Why there is no trend (no cost data for the previous period, or history that does not reach its start); null with one.
  returned: always
  type: str
  sample: no cost data in Prometheus for the previous 30 day(s)
max_growth:
  description: The growth on the previous period above which the review warns, a fraction.
  returned: always
  type: float
  sample: 0.2
findings:
  description: What the review flags, in words.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.selfology.ops.plugins.module_utils.checks import figure
from ansible_collections.selfology.ops.plugins.module_utils.costs import by_model, previous_start_gap, review
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    del check_mode  # computes only
    return dict(review(by_model(params['costs'], 'cost by model'), by_model(params['calls'], 'calls by model'),
                       figure(params['peak_per_hour']), params['days'],
                       params['expected_per_day'], params['mix'], params['claude_max_share'],
                       params['hourly_alert'], by_model(params['previous_costs'], 'cost by model of the previous period'),
                       previous_start_gap(params['previous_first_sample'], params['days']), params['max_growth']),
                changed=False)


TASK = Task(dict(
    costs=dict(type='dict', required=True),
    calls=dict(type='dict', required=True),
    peak_per_hour=dict(type='dict', required=True),
    previous_costs=dict(type='dict', required=True),
    previous_first_sample=dict(type='dict', required=True),
    days=dict(type='int', required=True),
    expected_per_day=dict(type='dict', default={'low': 10, 'high': 20}),
    mix=dict(type='dict', default={'gpt-4o': 0.75, 'gpt-4o-mini': 0.15, 'claude': 0.10}),
    claude_max_share=dict(type='float', default=0.2),
    hourly_alert=dict(type='float', default=10),
    max_growth=dict(type='float', default=0.2),
), run)


if __name__ == '__main__':
    main(TASK)
