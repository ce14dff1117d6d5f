# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Post-switch analysis: measure the new slot every interval against the runbook's rollback criteria
and decide, with Argo Rollouts' analysis semantics.

The criteria ("When to rollback", "Step 5: Monitor New Deployment"), each measured from Prometheus:
- error rate: the 5xx share of the new slot's HTTP API requests over a short window > max_error_ratio;
- latency: the new slot's p95 (from http_request_duration_seconds) > max_latency_ratio x the previous
  slot's p95 over a window ending at the switch, and above latency_floor (a few milliseconds doubling
  is noise, not a degradation);
- event backlog growing: the outbox's pending count more than max_backlog_growth above its value at the
  switch;
- alerts: an alert that became active after the switch and is about the new slot (its slot label, or,
  without one, its service label naming one of the slot's services: the rules measure the active slot).

A measurement fails when a criterion with data fails; it is inconclusive when none fails but one had no
data (no series, NaN because nothing was requested, a query Prometheus refused or could not answer);
it passes only when every criterion had data and passed. The analysis fails as soon as the failed
measurements exceed failure_limit, is inconclusive as soon as the inconclusive ones exceed
inconclusive_limit (both stop early), and otherwise passes after the last measurement - unless not one
measurement passed, which is inconclusive: no data is never a pass.

Everything here is read-only. The decision functions (judge, decide, summary) are pure.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re
import time as _time
from datetime import datetime, timezone

from ansible_collections.selfology.ops.plugins.module_utils import alertmanager, prometheus
from ansible_collections.selfology.ops.plugins.module_utils.durations import parse_duration
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.slots import validate_slot

PASSED, FAILED, INCONCLUSIVE = 'passed', 'failed', 'inconclusive'
CRITERIA = ('error_ratio', 'latency', 'backlog', 'alerts')
METRIC_NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')
LABEL_VALUE_SHOWN = 60


def _label_value(value):
    """A PromQL double-quoted string holding value."""
    return '"%s"' % value.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def _metric(name, option):
    if not isinstance(name, str) or not METRIC_NAME.fullmatch(name):
        raise SelfologyError('%s: %r is not a metric name' % (option, name))
    return name


def queries(slot, previous_slot, job, endpoints, window, baseline_window, backlog_metric):
    """The PromQL of each figure: error_ratio, p95 (of slot), baseline_p95 (of previous_slot, evaluated at
    the switch) and backlog. Windows are durations such as 10s or 2m."""
    def selector(of_slot, extra=''):
        labels = (_label_value(job), _label_value(of_slot), _label_value(endpoints), extra)
        return '{job=%s, slot=%s, endpoint=~%s%s}' % labels

    def p95(of_slot, over):
        return ('histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket%s[%s])))'
                % (selector(of_slot), over))

    found = dict(
        # 0 (not absent) when no 5xx was counted; NaN, so no data, when nothing was requested.
        error_ratio='(sum(rate(http_requests_total%s[%s])) or vector(0)) / sum(rate(http_requests_total%s[%s]))' % (
            selector(slot, ', status=~"5.."'), window, selector(slot), window),
        p95=p95(slot, window),
        backlog='max(%s)' % _metric(backlog_metric, 'backlog_metric'),
    )
    if previous_slot:
        found['baseline_p95'] = p95(previous_slot, baseline_window)
    return found


# Alerts since firing: Prometheus's ALERTS_FOR_STATE holds each active alert's labels and, as its value,
# the time it became active; "and" keeps the firing ones (not those still pending their `for`).
ALERTS_QUERY = 'ALERTS_FOR_STATE and ignoring(alertstate) ALERTS{alertstate="firing"}'


def alert_concerns(labels, slot, services):
    """Whether an alert with these labels is about the slot: its slot label says so, or it has none and its
    service label names one of the slot's services (the rules measure the active slot, which is the one
    analysed while its analysis runs)."""
    if labels.get('slot'):
        return labels['slot'] == slot
    return labels.get('service') in services


def new_alerts(alerts, slot, services, since, ignored):
    """The names of alerts (dicts of labels and active_since, Unix seconds) about the slot that became
    active at or after since, without those ignored; sorted, each once."""
    names = set()
    for alert in alerts:
        labels = alert.get('labels') or {}
        name = labels.get('alertname') or '?'
        if name in ignored or not alert_concerns(labels, slot, services):
            continue
        started = alert.get('active_since')
        if started is None or started >= since:
            names.add('%s(%s)' % (name, labels.get('service') or labels.get('slot') or '-'))
    return sorted(names)


def figure(value):
    """A float from a query's single value, or None for none or NaN (no series, or nothing requested)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _percent(ratio):
    return '%.1f %%' % (ratio * 100)


def _ms(seconds):
    return '%.0f ms' % (seconds * 1000) if seconds < 10 else '%.1f s' % seconds


def judge(values, errors, thresholds):
    """One measurement's verdict from its figures: (phase, failed, no_data), failed and no_data being
    lists of {criterion, message}.

    values: error_ratio, p95, baseline_p95, backlog_growth (floats or None for no data) and alerts (a list
    of names, or None when they could not be read); errors: criterion -> why it has no data."""
    failed, no_data = [], []

    def missing(criterion, what):
        no_data.append(dict(criterion=criterion, message=errors.get(criterion) or 'no data: %s' % what))

    ratio = values.get('error_ratio')
    if ratio is None:
        missing('error_ratio', 'no HTTP API request to the slot in the window')
    elif ratio > thresholds['max_error_ratio']:
        failed.append(dict(criterion='error_ratio', message='error rate %s > %s' % (
            _percent(ratio), _percent(thresholds['max_error_ratio']))))

    p95, baseline = values.get('p95'), values.get('baseline_p95')
    if p95 is None:
        missing('latency', 'no HTTP API request to the slot in the window')
    elif baseline is None:
        no_data.append(dict(criterion='latency', message=errors.get('baseline_p95') or (
            'no data: no p95 of the previous slot in the window before the switch to compare %s with' % _ms(p95))))
    else:
        relative = thresholds['max_latency_ratio'] * baseline
        if p95 > max(relative, thresholds['latency_floor']):
            message = 'p95 %s > %gx the previous slot\'s %s' % (_ms(p95), thresholds['max_latency_ratio'], _ms(baseline))
            if thresholds['latency_floor'] > relative:
                message += ' and > the %s floor' % _ms(thresholds['latency_floor'])
            failed.append(dict(criterion='latency', message=message))

    growth = values.get('backlog_growth')
    if growth is None:
        missing('backlog', 'no outbox pending count')
    elif growth > thresholds['max_backlog_growth']:
        failed.append(dict(criterion='backlog', message='event backlog grew by %d since the switch (> %d)' % (
            growth, thresholds['max_backlog_growth'])))

    alerts = values.get('alerts')
    if alerts is None:
        missing('alerts', 'alerts could not be read')
    elif alerts:
        failed.append(dict(criterion='alerts', message='alerts firing for the slot: %s' % ', '.join(alerts)))

    if failed:
        return FAILED, failed, no_data
    return (INCONCLUSIVE if no_data else PASSED), failed, no_data


def tally(measurements):
    counts = dict((phase, 0) for phase in (PASSED, FAILED, INCONCLUSIVE))
    for measurement in measurements:
        counts[measurement['phase']] += 1
    return counts


def decide(measurements, planned, failure_limit, inconclusive_limit):
    """The analysis's outcome after these measurements, or None to go on measuring (Argo: failed as soon as
    failures > failure_limit, inconclusive as soon as inconclusive ones > inconclusive_limit; passed after
    the planned count, if at least one measurement passed)."""
    counts = tally(measurements)
    if counts[FAILED] > failure_limit:
        return FAILED
    if counts[INCONCLUSIVE] > inconclusive_limit:
        return INCONCLUSIVE
    if len(measurements) >= planned:
        return PASSED if counts[PASSED] else INCONCLUSIVE
    return None


def summary(outcome, measurements, slot, failure_limit, inconclusive_limit):
    """One line for people: the outcome, the counts and what decided it."""
    counts = tally(measurements)
    total = len(measurements)
    if outcome == FAILED:
        reasons = []
        for measurement in measurements:
            for failure in measurement['failed']:
                if failure['message'] not in reasons:
                    reasons.append(failure['message'])
        return 'analysis of %s failed: %d of %d measurements failed (failure limit %d): %s' % (
            slot, counts[FAILED], total, failure_limit, '; '.join(reasons[-4:]))
    if outcome == INCONCLUSIVE:
        reasons = []
        for measurement in measurements:
            for gap in measurement['no_data']:
                if gap['message'] not in reasons:
                    reasons.append(gap['message'])
        why = ('none of them passed' if counts[INCONCLUSIVE] <= inconclusive_limit
               else 'inconclusive limit %d' % inconclusive_limit)
        return 'analysis of %s inconclusive: %d of %d measurements had no data (%s): %s' % (
            slot, counts[INCONCLUSIVE], total, why, '; '.join(reasons[-3:]) or 'no data')
    worst = dict(error_ratio=None, p95=None, backlog_growth=None)
    for measurement in measurements:
        for key in worst:
            value = measurement['values'].get(key)
            if value is not None and (worst[key] is None or value > worst[key]):
                worst[key] = value
    parts = []
    if worst['error_ratio'] is not None:
        parts.append('error rate at most %s' % _percent(worst['error_ratio']))
    if worst['p95'] is not None:
        parts.append('p95 at most %s' % _ms(worst['p95']))
    if worst['backlog_growth'] is not None:
        parts.append('backlog growth at most %d' % worst['backlog_growth'])
    return 'analysis of %s passed: %d of %d measurements passed (%s)' % (
        slot, counts[PASSED], total, ', '.join(parts) or 'no figures')


def iso(seconds):
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


class Prometheus(object):
    """The figures of one measurement, read from Prometheus (and Alertmanager, when given)."""

    def __init__(self, params):
        self.params = params
        self.url = params['url']

    def value(self, promql, at=None):
        res = prometheus.query(self.url, promql, time=at, timeout=self.params['timeout'],
                               validate_certs=self.params['validate_certs'])
        return figure(res['value']) if res['series'] <= 1 else None

    def alerts(self, now):
        if self.params.get('alertmanager_url'):
            listed = alertmanager.list_alerts(dict(url=self.params['alertmanager_url'], timeout=self.params['timeout'],
                                                   validate_certs=self.params['validate_certs']))
            return [dict(labels=a.get('labels') or {},
                         active_since=prometheus.parse_time(a['startsAt'], 'startsAt', now) if a.get('startsAt') else None)
                    for a in listed['alerts']]
        res = prometheus.query(self.url, ALERTS_QUERY, timeout=self.params['timeout'],
                               validate_certs=self.params['validate_certs'])
        return [dict(labels=item['metric'], active_since=item.get('value')) for item in res['result']]


def _reading(read, errors, key, *args):
    try:
        return read(*args)
    except SelfologyError as exc:
        errors[key] = 'no data: %s' % exc
        return None


def measure(source, plan, state, now):
    """One measurement at now: the figures, then the verdict. state keeps what is read once (the baseline
    p95 and the backlog at the switch), retried until read."""
    errors = {}
    q = plan['queries']
    if 'baseline_p95' in q and state.get('baseline_p95') is None:
        state['baseline_p95'] = _reading(source.value, errors, 'baseline_p95', q['baseline_p95'], plan['switched_at'])
        if state['baseline_p95'] is None and 'baseline_p95' not in errors:
            errors['baseline_p95'] = ('no data: no request to the previous slot %s in the %s before the switch'
                                      % (plan['previous_slot'], plan['baseline_window']))
    elif 'baseline_p95' not in q:
        errors['baseline_p95'] = 'no data: no previous slot to compare the latency with'
    if state.get('backlog_at_switch') is None:
        state['backlog_at_switch'] = _reading(source.value, errors, 'backlog_at_switch', q['backlog'], plan['switched_at'])
    values = dict(
        error_ratio=_reading(source.value, errors, 'error_ratio', q['error_ratio']),
        p95=_reading(source.value, errors, 'latency', q['p95']),
        baseline_p95=state.get('baseline_p95'),
        backlog=_reading(source.value, errors, 'backlog', q['backlog']),
    )
    if values['backlog'] is not None and state.get('backlog_at_switch') is None:
        state['backlog_at_switch'] = values['backlog']  # nothing recorded at the switch: from here on
    values['backlog_growth'] = (values['backlog'] - state['backlog_at_switch']
                                if values['backlog'] is not None and state.get('backlog_at_switch') is not None else None)
    raw_alerts = _reading(source.alerts, errors, 'alerts', now)
    values['alerts'] = (None if raw_alerts is None else
                        new_alerts(raw_alerts, plan['slot'], plan['services'], plan['switched_at'], plan['ignore_alerts']))
    phase, failed, no_data = judge(values, errors, plan['thresholds'])
    return dict(at=iso(now), since_switch_s=round(now - plan['switched_at'], 1), phase=phase,
                values=dict((k, (round(v, 6) if isinstance(v, float) else v)) for k, v in values.items()),
                failed=failed, no_data=no_data)


def plan_of(params, now):
    """The analysis's plan from the module's options, every option checked."""
    slot = validate_slot(params['slot'])
    previous = params.get('previous_slot') or None
    if previous is not None:
        previous = validate_slot(previous)
        if previous == slot:
            raise SelfologyError('previous_slot must differ from slot (both %s)' % slot)
    prometheus.check_base_url(params['url'], 'Prometheus')
    if params.get('alertmanager_url'):
        prometheus.check_base_url(params['alertmanager_url'], 'Alertmanager')
    interval = parse_duration(params['interval'], 'interval', low=0.1)
    initial_delay = parse_duration(params['initial_delay'], 'initial_delay')
    if params.get('count') is not None:
        planned = params['count']
    else:
        planned = int(parse_duration(params['duration'], 'duration', low=interval) // interval)
    if planned < 1:
        raise SelfologyError('count must be at least 1')
    for name in ('failure_limit', 'inconclusive_limit'):
        if params[name] < 0:
            raise SelfologyError('%s must be 0 or more' % name)
    for name in ('window', 'baseline_window'):
        parse_duration(params[name], name, low=1)
    thresholds = dict(max_error_ratio=params['max_error_ratio'], max_latency_ratio=params['max_latency_ratio'],
                      latency_floor=parse_duration(params['latency_floor'], 'latency_floor'),
                      max_backlog_growth=params['max_backlog_growth'])
    if not 0 <= thresholds['max_error_ratio'] < 1:
        raise SelfologyError('max_error_ratio must be from 0 to less than 1 (0.05 is 5 %%), not %r'
                             % thresholds['max_error_ratio'])
    if thresholds['max_latency_ratio'] < 1:
        raise SelfologyError('max_latency_ratio must be 1 or more (2 is twice the previous p95)')
    if not isinstance(params['job'], str) or not params['job'] or len(params['job']) > LABEL_VALUE_SHOWN:
        raise SelfologyError('job must be the Prometheus job of the services, such as selfology-services')
    try:
        re.compile(params['endpoints'])
    except (re.error, TypeError):
        raise SelfologyError('endpoints must be a regular expression such as /api/.*')
    switched_at = prometheus.parse_time(params['switched_at'], 'switched_at', now) if params.get('switched_at') else now
    return dict(
        slot=slot, previous_slot=previous, switched_at=switched_at, interval=interval, initial_delay=initial_delay,
        planned=planned, failure_limit=params['failure_limit'], inconclusive_limit=params['inconclusive_limit'],
        thresholds=thresholds, services=list(params['services'] or []), ignore_alerts=list(params['ignore_alerts'] or []),
        baseline_window=params['baseline_window'],
        queries=queries(slot, previous, params['job'], params['endpoints'], params['window'],
                        params['baseline_window'], params['backlog_metric']))


def analyse(params, source=None, clock=_time.time, sleep=_time.sleep):
    """Runs the analysis: a measurement at initial_delay, then every interval, until the outcome is known.
    Returns the result the module returns."""
    started = clock()
    plan = plan_of(params, started)
    source = source or Prometheus(params)
    measurements, state, outcome = [], {}, None
    while outcome is None:
        due = started + plan['initial_delay'] + len(measurements) * plan['interval']
        wait = due - clock()
        if wait > 0:
            sleep(wait)
        measurements.append(measure(source, plan, state, clock()))
        outcome = decide(measurements, plan['planned'], plan['failure_limit'], plan['inconclusive_limit'])
    ended = clock()
    counts = tally(measurements)
    return dict(
        outcome=outcome, passed=outcome == PASSED,
        message=summary(outcome, measurements, plan['slot'], plan['failure_limit'], plan['inconclusive_limit']),
        measurements=measurements, counts=dict(counts, total=len(measurements), planned=plan['planned']),
        slot=plan['slot'], previous_slot=plan['previous_slot'], switched_at=iso(plan['switched_at']),
        started_at=iso(started), ended_at=iso(ended), duration_s=round(ended - started, 1),
        baseline=dict(p95=state.get('baseline_p95'), backlog=state.get('backlog_at_switch')),
        thresholds=dict(plan['thresholds'], failure_limit=plan['failure_limit'],
                        inconclusive_limit=plan['inconclusive_limit']),
        failed_criteria=sorted(set(f['criterion'] for m in measurements for f in m['failed'])),
        queries=plan['queries'], changed=False)
