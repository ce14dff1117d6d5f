# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AI cost review (runbook - Weekly Maintenance: Review AI Costs, and Issue 3: AI Costs Too High):
Prometheus's figures for a window in, the verdict out. Used by selfology.ops.cost_review_info."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math

from ansible_collections.selfology.ops.plugins.module_utils.checks import EXIT_CODES, worst
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError


def by_model(res, what):
    """{model: figure} from a prometheus_query result of a vector by model."""
    if not isinstance(res, dict) or res.get('failed') or not isinstance(res.get('result'), list):
        raise SelfologyError('cannot read the %s from Prometheus: %s' % (
            what, (res or {}).get('msg') if isinstance(res, dict) else 'no answer'))
    figures = {}
    for sample in res['result']:
        model = (sample.get('metric') or {}).get('model')
        value = sample.get('value')
        if model and value is not None and not math.isnan(float(value)):  # NaN: no data in the window
            figures[model] = figures.get(model, 0.0) + float(value)
    return figures


def review(costs, calls, peak_per_hour, days, expected_per_day, mix, claude_max_share, hourly_alert):
    """The window's total against days x the expected cost per day, each model's share of the calls against
    the mix (Claude above claude_max_share flagged), and the costliest hour against the HighAICost alert."""
    if days <= 0:
        raise SelfologyError('days must be at least 1, not %r' % (days,))
    low, high = float(expected_per_day['low']) * days, float(expected_per_day['high']) * days
    total = round(sum(costs.values()), 2)
    all_calls = sum(calls.values())
    findings, statuses = [], []
    models = []
    for model in sorted(set(costs) | set(calls) | set(mix), key=lambda m: (-float(mix.get(m, 0)), m)):
        share = calls.get(model, 0.0) / all_calls if all_calls else None
        models.append({'model': model, 'cost': round(costs.get(model, 0.0), 2), 'calls': int(round(calls.get(model, 0))),
                       'share': None if share is None else round(share, 4),
                       'expected_share': float(mix[model]) if model in mix else None})
    if total > high:
        statuses.append('warning')
        findings.append('the total $%.2f is above the expected $%.2f-%.2f for %d day(s)' % (total, low, high, days))
    claude = next((m for m in models if m['model'] == 'claude'), None)
    if claude and claude['share'] is not None and claude['share'] > claude_max_share:
        statuses.append('warning')
        findings.append('Claude takes %.1f %% of the calls (over %.0f %%): investigate why (runbook - Issue 3)'
                        % (claude['share'] * 100, claude_max_share * 100))
    if peak_per_hour is not None and peak_per_hour > hourly_alert:
        statuses.append('warning')
        findings.append('the costliest hour cost $%.2f (HighAICost fires above $%g/hour)' % (peak_per_hour, hourly_alert))
    status = worst(statuses)
    return {'status': status, 'exit_code': EXIT_CODES[status], 'days': days, 'total': total,
            'expected': {'low': round(low, 2), 'high': round(high, 2)}, 'models': models,
            'peak_per_hour': None if peak_per_hour is None else round(peak_per_hour, 2),
            'hourly_alert': hourly_alert, 'findings': findings}
