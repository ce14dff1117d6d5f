# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The monthly SLA review (runbook - Monthly Checklist: "Review SLA compliance (99.9% uptime)"): per
service the calendar month's minutes down from Prometheus against the availability target, the error
budget used and left, and the month's worst incidents and deployments. Used by
selfology.ops.sla_report_info.

Where the minutes come from. The monitoring role's rule file selfology-sla.yml records
selfology:sla_down:1m{service} once a minute (1: the minute was down, 0: up, no sample: nobody observed
it; the file's comment says when a minute is down), so a month is a sum_over_time and a count_over_time
over one sample per minute and service. Prometheus evaluates a rule only from the moment it loads it:
never over the time before, nor over history backfilled with promtool (create-blocks-from openmetrics
writes raw series only). So for the part of the window before a service's first recorded minute, the
same rule's query - as Prometheus itself returns it from /api/v1/rules, so there is one definition - is
evaluated once a minute over the raw up and probe_success series in a subquery: the same figures, only
dearer to compute. Each service's figures say how many minutes came from each source.

A minute belongs to the window when it ends inside it: the ranges are 1 ms short of the window so that
the minute ending at the window's start is left out, whether a range includes its start (Prometheus 2)
or not (Prometheus 3). Months are calendar months in UTC.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import datetime
import glob
import json
import math
import os
import re

from ansible_collections.selfology.ops.plugins.module_utils import prometheus
from ansible_collections.selfology.ops.plugins.module_utils.audit import read_entries
from ansible_collections.selfology.ops.plugins.module_utils.checks import EXIT_CODES, worst
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.incidents import SEVERITIES
from ansible_collections.selfology.ops.plugins.module_utils.incidents import parse_time as parse_iso

RECORD = 'selfology:sla_down:1m'
MINUTE = 60
DAY = 86400
MONTH = re.compile(r'([0-9]{4})-(0[1-9]|1[0-2])\Z')
DEPLOYMENT_ACTIONS = ('switch', 'rollback')


# The month ------------------------------------------------------------------------------------------

def _iso(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def month_window(month, now):
    """The calendar month (UTC) to report: month is YYYY-MM, 'previous' (the month before the current one:
    what a schedule on the 1st reports), or empty for the current month, which is then reported up to
    now. Refuses any other form and a month that has not begun.

    Returns month, start and end (Unix seconds; end is the next month's start, or now for the current
    month), days, month_minutes (the whole month's), minutes (those up to end) and complete."""
    today = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    if month in (None, ''):
        year, number = today.year, today.month
    elif month == 'previous':
        year, number = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    else:
        match = MONTH.match(month) if isinstance(month, str) else None
        if not match or int(match.group(1)) < 1970:
            raise SelfologyError('month must be YYYY-MM (UTC) from 1970-01, such as %04d-%02d; not %r'
                                 % (today.year, today.month, month))
        year, number = int(match.group(1)), int(match.group(2))
    days = calendar.monthrange(year, number)[1]
    start = calendar.timegm((year, number, 1, 0, 0, 0, 0, 0, 0))
    if start > now:
        raise SelfologyError('%04d-%02d has not begun (it is %s UTC): give the current month or an earlier one'
                             % (year, number, today.strftime('%Y-%m-%d %H:%M')))
    month_end = start + days * DAY
    complete = month_end <= now
    end = month_end if complete else int(now)
    return dict(month='%04d-%02d' % (year, number), start=start, end=end, days=days,
                month_minutes=days * DAY // MINUTE, minutes=int((end - start) // MINUTE), complete=complete)


def budget_minutes(target, month_minutes):
    """The month's error budget in minutes: (1 - target) of its minutes (43.2 for 30 days at 99.9 %)."""
    return round((1.0 - target) * month_minutes, 6)


# Prometheus -------------------------------------------------------------------------------------------

def _range(seconds):
    """A range selecting the minutes that end inside the last `seconds` (1 ms short: see the module doc)."""
    return '%dms' % max(int(round(seconds * 1000)) - 1, 1)


def recorded_queries(seconds):
    """The queries over the recorded series for a window of `seconds` ending at the query's time: for each
    service the first whole minute (Unix seconds) at which a recorded sample is there, its minutes down and
    its minutes recorded. (time() of the step rather than timestamp(): Prometheus 2.42 took 22 s for a month
    of timestamp() in a subquery, 0.1 s for this.)"""
    span = _range(seconds)
    return dict(first='min by (service) (min_over_time((time() + 0 * %s)[%s:1m]))' % (RECORD, span),
                down='sum by (service) (sum_over_time(%s[%s]))' % (RECORD, span),
                observed='sum by (service) (count_over_time(%s[%s]))' % (RECORD, span))


def raw_queries(expression, seconds):
    """The rule's own expression evaluated once a minute over the raw series, for a window of `seconds`
    ending at the query's time: its minutes down and its minutes observed."""
    span = _range(seconds)
    return dict(down='sum_over_time((%s)[%s:1m])' % (expression, span),
                observed='count_over_time((%s)[%s:1m])' % (expression, span))


def _figures(res, what):
    """[(labels, value)] of a prometheus.query result, NaN left out."""
    if not isinstance(res, dict) or not isinstance(res.get('result'), list):
        raise SelfologyError('Prometheus gave no answer for the %s' % what)
    found = []
    for sample in res['result']:
        value = sample.get('value')
        if isinstance(value, float) and not math.isnan(value):
            found.append((sample.get('metric') or {}, value))
    return found


def by_service(res, what):
    """{service: value} of a vector by service."""
    found = {}
    for labels, value in _figures(res, what):
        if labels.get('service'):
            found[labels['service']] = found.get(labels['service'], 0.0) + value
    return found


def total(res, what):
    return sum(value for _labels, value in _figures(res, what))


def sla_rules(url, timeout=10.0, validate_certs=True):
    """{service: query} of the selfology:sla_down:1m rules Prometheus runs (GET /api/v1/rules)."""
    status, answer, raw = prometheus.request('Prometheus', url, 'GET', '/api/v1/rules', params={'type': 'record'},
                                             timeout=timeout, validate_certs=validate_certs)
    data = answer.get('data') if isinstance(answer, dict) and answer.get('status') == 'success' else None
    if status != 200 or not isinstance(data, dict) or not isinstance(data.get('groups'), list):
        raise prometheus.UnexpectedAnswer('Prometheus at %s answered %s to /api/v1/rules, not as its API does: %s' % (
            prometheus.shown_url(url), status, prometheus.excerpt(raw) or 'no body'))
    rules = {}
    for group in data['groups']:
        for rule in group.get('rules') or []:
            service = (rule.get('labels') or {}).get('service')
            if rule.get('name') == RECORD and service and rule.get('query'):
                rules[service] = rule['query']
    return rules


def _minutes(value):
    return int(round(value))


def raw_until(first_recorded, end):
    """Where the raw series' part of a window ending at end stops: at the whole minute (a raw subquery's
    step) before the first one at which a recorded sample is there, so that each minute of the window is
    counted once; at end when nothing was recorded."""
    if first_recorded is None:
        return end
    return min(end, first_recorded - MINUTE)


def measure(services, window, read, rules):
    """Each service's minutes down and observed in the window, and how many came from the recorded series
    and how many from the raw ones (the rule's query over the time before its first recorded minute).

    read(query, time) -> a prometheus.query result; rules: {service: the rule's query}."""
    start, end = window['start'], window['end']
    figures = dict((s, dict(down=0, observed=0, recorded_minutes=0, raw_minutes=0)) for s in services)
    if end - start < MINUTE:
        return figures
    recorded = recorded_queries(end - start)
    first = by_service(read(recorded['first'], end), 'first recorded minute')
    down = by_service(read(recorded['down'], end), 'recorded minutes down')
    observed = by_service(read(recorded['observed'], end), 'recorded minutes')
    for service in services:
        found = figures[service]
        found['recorded_minutes'] = _minutes(observed.get(service, 0))
        found['down'] = _minutes(down.get(service, 0))
        boundary = raw_until(first.get(service), end)
        if boundary - start >= MINUTE:
            raw = raw_queries(rules[service], boundary - start)
            found['raw_minutes'] = _minutes(total(read(raw['observed'], boundary), 'minutes observed'))
            found['down'] += _minutes(total(read(raw['down'], boundary), 'minutes down'))
        found['observed'] = found['recorded_minutes'] + found['raw_minutes']
    return figures


# The verdict ------------------------------------------------------------------------------------------

def judge(service, down, observed, window, target, budget_warning, sources=None):
    """One service's month: availability, error budget used and left, and its status - critical when the
    minutes down are over the month's budget (the SLA is missed; in the current month, it can no longer be
    met), a warning when more than budget_warning of the budget is used or when the minutes nobody
    observed could have spent it (compliance cannot be confirmed), else ok."""
    budget = budget_minutes(target, window['month_minutes'])
    minutes = max(window['minutes'], observed)
    unobserved = max(window['minutes'] - observed, 0)
    # Unobserved minutes count as up (no downtime was seen); with none observed there is no figure at all.
    availability = 1.0 - float(down) / minutes if observed else None
    findings, statuses = [], []
    month = window['month']
    if down > budget:
        statuses.append('critical')
        findings.append('%s missed the %s SLA of %g %%: %d minutes down, over the error budget of %g minutes%s' % (
            service, month, target * 100, down, budget,
            '' if window['complete'] else ' for the whole month, with the month not over yet'))
    elif down > budget_warning * budget:
        statuses.append('warning')
        findings.append('%s used %.1f %% of the %s error budget: %d of %g minutes down' % (
            service, 100.0 * down / budget, month, down, budget))
    if down <= budget < down + unobserved:
        statuses.append('warning')
        findings.append('%s: %d minutes of %s were not observed (no data in Prometheus); with them the error budget '
                        'of %g minutes could be spent, so compliance cannot be confirmed'
                        % (service, unobserved, month, budget))
    return dict(
        service=service, status=worst(statuses), down_minutes=down, observed_minutes=observed,
        unobserved_minutes=unobserved,
        availability=None if availability is None else round(availability, 8),
        availability_pct=None if availability is None else round(availability * 100, 4),
        budget_used_minutes=down, budget_left_minutes=round(budget - down, 2),
        budget_used_pct=round(100.0 * down / budget, 1),
        sources=dict(recorded_minutes=(sources or {}).get('recorded_minutes', 0),
                     raw_minutes=(sources or {}).get('raw_minutes', 0)),
        findings=findings)


# Incidents and deployments ----------------------------------------------------------------------------

def _seconds(value):
    try:
        return parse_iso(value).timestamp()
    except SelfologyError:
        return None


def month_incidents(directory, start, end, worst_count):
    """The incidents that started inside [start, end), from the incident role's reports (the JSON written
    beside each Markdown report, module_utils/incidents.py): the worst_count worst - by severity, P0 first,
    then by how long they lasted (time to resolve; for one nothing resolved, how long the response ran) -
    and the counts. A file that is not an incident is counted in unreadable."""
    found, unreadable = [], 0
    for path in sorted(glob.glob(os.path.join(glob.escape(directory), '*.json'))):
        try:
            with open(path, 'rb') as handle:
                data = json.loads(handle.read().decode('utf-8'))
        except (OSError, ValueError):
            unreadable += 1
            continue
        started = _seconds(data.get('started')) if isinstance(data, dict) and data.get('kind') else None
        if started is None:
            unreadable += 1
            continue
        if not start <= started < end:
            continue
        lasted = data.get('time_to_resolve_s')
        ended = _seconds(data.get('ended')) if data.get('ended') else None
        if lasted is None and ended is not None:
            lasted = round(ended - started, 3)
        report = data.get('report')
        found.append(dict(kind=data['kind'], severity=data.get('severity'), title=data.get('title'),
                          service=data.get('service'), started=data['started'], status=data.get('status'),
                          resolved_by=data.get('resolved_by'), duration_s=lasted,
                          report=os.path.join(directory, report) if report else path))
    found.sort(key=lambda i: (SEVERITIES.index(i['severity']) if i['severity'] in SEVERITIES else len(SEVERITIES),
                              -(i['duration_s'] or 0), i['started']))
    by_severity = dict((s, sum(1 for i in found if i['severity'] == s)) for s in SEVERITIES)
    return dict(worst=found[:worst_count], count=len(found), by_severity=by_severity, unreadable=unreadable)


def month_deployments(path, start, end, actions):
    """The audit log's entries of the given actions (switches and rollbacks) inside [start, end), oldest
    first, each with the slots it moved traffic between and the version it moved to."""
    history = read_entries(path)
    found = []
    for entry in history.entries:
        at = _seconds(entry.get('at')) if entry.get('action') in actions else None
        if at is None or not start <= at < end:
            continue
        before = entry.get('slots_before') if isinstance(entry.get('slots_before'), dict) else {}
        after = entry.get('slots_after') if isinstance(entry.get('slots_after'), dict) else {}
        to_slot = after.get('active')
        versions = after.get('versions') if isinstance(after.get('versions'), dict) else {}
        found.append(dict(at=entry['at'], action=entry['action'], outcome=entry.get('outcome'), who=entry.get('who'),
                          from_slot=before.get('active'), to_slot=to_slot, version=versions.get(to_slot)))
    by_action = dict((a, sum(1 for d in found if d['action'] == a)) for a in actions)
    return dict(entries=found, count=len(found), by_action=by_action,
                failed=sum(1 for d in found if d['outcome'] != 'success'), torn=history.skipped)


# The report -------------------------------------------------------------------------------------------

def check_settings(services, target, budget_warning, worst_count):
    if not services or len(set(services)) != len(services):
        raise SelfologyError('services must name each service once, not %r' % (services,))
    if not 0 < target < 1:
        raise SelfologyError('target is a share of the month such as 0.999, between 0 and 1; not %r' % (target,))
    if not 0 < budget_warning <= 1:
        raise SelfologyError('budget_warning is a share of the error budget such as 0.75, from 0 to 1; not %r'
                             % (budget_warning,))
    if worst_count < 0:
        raise SelfologyError('worst_incidents must not be negative')


def build_report(window, figures, target, budget_warning, incidents, deployments):
    """The month's report from the measured minutes (measure), the incidents and the deployments."""
    services = [judge(service, found['down'], found['observed'], window, target, budget_warning, found)
                for service, found in figures.items()]
    status = worst(s['status'] for s in services)
    return dict(
        month=window['month'], start=_iso(window['start']), end=_iso(window['end']), complete=window['complete'],
        days=window['days'], minutes=window['minutes'], month_minutes=window['month_minutes'],
        target=target, target_pct=round(target * 100, 6),
        budget_minutes=budget_minutes(target, window['month_minutes']), budget_warning=budget_warning,
        status=status, exit_code=EXIT_CODES[status], services=services,
        findings=[f for s in services for f in s['findings']], incidents=incidents, deployments=deployments)


def report(params, now):
    """The SLA report for params (the module's options) at time now, reading Prometheus, the incident
    reports and the audit log."""
    services = list(params['services'])
    check_settings(services, params['target'], params['budget_warning'], params['worst_incidents'])
    window = month_window(params['month'], now)
    url, timeout, validate_certs = params['url'], params['timeout'], params['validate_certs']
    rules = sla_rules(url, timeout, validate_certs)
    missing = [s for s in services if s not in rules]
    if missing:
        raise SelfologyError('Prometheus at %s runs no %s rule for %s: install the monitoring role\'s rules '
                             '(selfops monitoring install)' % (prometheus.shown_url(url), RECORD, ', '.join(missing)))

    def read(query, at):
        return prometheus.query(url, query, time=at, timeout=timeout, validate_certs=validate_certs, now=now)

    figures = measure(services, window, read, rules)
    return build_report(
        window, figures, params['target'], params['budget_warning'],
        month_incidents(params['incidents_dir'], window['start'], window['end'], params['worst_incidents']),
        month_deployments(params['audit_log'], window['start'], window['end'], params['deployment_actions']))
