# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AI cost review (runbook - Weekly Maintenance: Review AI Costs, Issue 3: AI Costs Too High, and the
monthly Cost optimization review): Prometheus's figures for a window and for the previous period of the same
length in, the verdict and the trend out. Used by selfology.ops.cost_review_info."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math

from ansible_collections.selfology.ops.plugins.module_utils.checks import EXIT_CODES, figure, worst
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError

DAY = 86400
# The previous period counts as covered when Prometheus holds a cost sample within this many seconds of its
# start. A later first sample means retention or a gap cut the period short: increase() would read it short
# and the growth large, so there is no trend rather than a false one.
PREVIOUS_START_SLACK = 3600


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


def previous_start_gap(res, days):
    """Seconds from the previous period's start to its first cost sample, from the prometheus_query result of
    the earliest sample's time in that period (evaluated at the window's end, its `time`); None without one."""
    if not isinstance(res, dict) or res.get('failed') or res.get('time') is None:
        raise SelfologyError("cannot read the previous period's first cost sample from Prometheus: %s" % (
            (res or {}).get('msg') if isinstance(res, dict) else 'no answer'))
    first = figure(res)
    if first is None:
        return None
    return max(0.0, first - (float(res['time']) - 2 * days * DAY))


def _ratio(now, before):
    return round((now - before) / before, 4) if before else None


def _span(seconds):
    return '%.1f days' % (seconds / DAY) if seconds >= DAY else '%.1f hours' % (seconds / 3600.0)


def trend(costs, previous_costs, previous_gap, days, models):
    """The window's cost against the previous period of the same length, in total and per model (in the order
    of `models`), or (None, why there is none): no cost data then, or history that does not reach its start."""
    if not previous_costs:
        return None, 'no cost data in Prometheus for the previous %d day(s)' % days
    if previous_gap is None or previous_gap > PREVIOUS_START_SLACK:
        return None, ("Prometheus's cost history starts %s into the previous %d day(s) - retention or a gap would "
                      "make it read short" % (_span(previous_gap), days) if previous_gap is not None
                      else 'Prometheus holds no cost sample at the start of the previous %d day(s)' % days)
    total, previous_total = round(sum(costs.values()), 2), round(sum(previous_costs.values()), 2)
    by_model = []
    for model in models + sorted(set(previous_costs) - set(models)):
        cost, before = round(costs.get(model, 0.0), 2), round(previous_costs.get(model, 0.0), 2)
        by_model.append({'model': model, 'previous_cost': before, 'cost': cost, 'change': round(cost - before, 2),
                         'change_ratio': _ratio(cost, before)})
    return {'days': days, 'previous_total': previous_total, 'change': round(total - previous_total, 2),
            'change_ratio': _ratio(total, previous_total), 'models': by_model}, None


def review(costs, calls, peak_per_hour, days, expected_per_day, mix, claude_max_share, hourly_alert,
           previous_costs, previous_gap, max_growth):
    """The window's total against days x the expected cost per day, each model's share of the calls against
    the mix (Claude above claude_max_share flagged), the costliest hour against the HighAICost alert, and the
    growth on the previous period of the same length against max_growth (a fraction)."""
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
    cost_trend, no_trend_reason = trend(costs, previous_costs, previous_gap, days, [m['model'] for m in models])
    if cost_trend:
        before, ratio = cost_trend['previous_total'], cost_trend['change_ratio']
        if ratio is None and total > 0:
            statuses.append('warning')
            findings.append('the cost grew from nothing in the previous %d day(s) to $%.2f' % (days, total))
        elif ratio is not None and ratio > max_growth:
            statuses.append('warning')
            findings.append('the cost grew %.1f %% on the previous %d day(s), $%.2f to $%.2f (over %g %%)'
                            % (ratio * 100, days, before, total, max_growth * 100))
    status = worst(statuses)
    return {'status': status, 'exit_code': EXIT_CODES[status], 'days': days, 'total': total,
            'expected': {'low': round(low, 2), 'high': round(high, 2)}, 'models': models,
            'peak_per_hour': None if peak_per_hour is None else round(peak_per_hour, 2),
            'hourly_alert': hourly_alert, 'trend': cost_trend, 'no_trend_reason': no_trend_reason,
            'max_growth': max_growth, 'findings': findings}
