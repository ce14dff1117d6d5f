# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status logic of the morning checks and of maintenance: figures and thresholds in, ok, warning or
critical out. Every decision about a check's status is here, used by the modules
selfology.ops.daily_check_info, redis_memory_info, disk_usage_info and redis_flushdb, where unit tests
reach it (tests/unit/test_checks_logic.py). The runbook's wording for each action (container names
included) is role data (roles/checks/vars/main.yml), filled in here from the collection's naming rule."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.slots import container_name

STATUSES = ('ok', 'warning', 'critical')
EXIT_CODES = {'ok': 0, 'warning': 1, 'critical': 2}

# The order of the daily report, and the runbook's Daily Checklist wording for each check.
TITLES = {
    'services': 'Check system health',
    'dashboards': 'Check Grafana dashboards',
    'outbox': 'Check pending events',
    'stream': 'Event stream',
    'consumers': 'Stream consumers',
    'logs': 'Check error logs',
    'redis_memory': 'Redis memory check',
    'alerts': 'Review overnight alerts',
}


def threshold_status(value, warning, critical):
    """ok below `warning`, critical above `critical`, warning from `warning` to `critical` (both included).
    A value of None (unknown) is ok: the caller says it is unknown."""
    if value is None:
        return 'ok'
    try:
        value, warning, critical = float(value), float(warning), float(critical)
    except (TypeError, ValueError) as exc:
        raise SelfologyError('thresholds must be numbers (%s)' % exc)
    if warning > critical:
        raise SelfologyError('the warning threshold %g is above the critical threshold %g' % (warning, critical))
    if value > critical:
        return 'critical'
    if value >= warning:
        return 'warning'
    return 'ok'


def worst(statuses):
    """The worst of some statuses; ok for none."""
    found = [s for s in statuses if s]
    for status in found:
        if status not in STATUSES:
            raise SelfologyError('unknown status %r' % (status,))
    return max(found, key=STATUSES.index) if found else 'ok'


def _limits(thresholds, key):
    try:
        limit = thresholds[key]
        return limit['warning'], limit['critical']
    except (KeyError, TypeError):
        raise SelfologyError('thresholds.%s needs warning and critical' % key)


def _check(name, status, message, figures=None, **extra):
    check = dict(name=name, title=TITLES.get(name, name), status=status, message=message, figures=figures or {})
    check.update(extra)
    return check


def _unreadable(name, res, what):
    """A check whose module did not answer (the task runs with failed_when false); None when it answered."""
    if not isinstance(res, dict) or res.get('skipped'):
        return _check(name, 'critical', 'cannot read %s: the task did not run' % what, unreadable=True)
    return _check(name, 'critical', 'cannot read %s: %s' % (what, res.get('msg') or 'no answer'), unreadable=True)


def _age(seconds):
    if seconds is None:
        return '-'
    seconds = float(seconds)
    if seconds < 120:
        return '%.0fs' % seconds
    if seconds < 7200:
        return '%.0fm' % (seconds / 60)
    if seconds < 172800:
        return '%.1fh' % (seconds / 3600)
    return '%.1fd' % (seconds / 86400)


def _size(size):
    size = float(size)
    for unit in ('B', 'K', 'M', 'G', 'T'):
        if size < 1024 or unit == 'T':
            return ('%.0f%s' if unit == 'B' else '%.1f%s') % (size, unit)
        size /= 1024
    return '%.1fT' % size


def services_check(slots):
    """Both slots: the active one must be wholly healthy (else critical); a deployed inactive slot that is
    not healthy, or drift between record, load balancer, Redis and containers, is a warning."""
    if not isinstance(slots, dict) or 'slots' not in slots:
        return _unreadable('services', slots, 'the slots')
    active = slots.get('active_slot')
    inactive = slots.get('inactive_slot')
    figures = {'active_slot': active, 'inactive_slot': inactive, 'drift': list(slots.get('drift') or []), 'slots': {}}
    parts, statuses = [], []
    for slot in sorted(slots['slots'], key=lambda s: (s != active, s)):
        info = slots['slots'][slot]
        services = info.get('services') or []
        healthy = [s for s in services if s.get('health') == 'healthy']
        bad = ['%s is %s' % (s['container'], s.get('health') if s.get('state') == 'running' else s.get('state'))
               for s in services if s.get('health') != 'healthy']
        role = 'active' if slot == active else 'standby'
        deployed = slot == active or bool(info.get('present'))
        figures['slots'][slot] = {'version': info.get('version'), 'present': bool(info.get('present')),
                                  'healthy': len(healthy), 'services': len(services),
                                  'unhealthy': bad if deployed else []}
        if not deployed:
            parts.append('%s not deployed' % slot)
            continue
        version = info.get('version') or 'no version'
        if isinstance(version, list):
            version = '/'.join(version)
        text = '%s %s %d/%d healthy (%s)' % (slot, role, len(healthy), len(services), version)
        if bad:
            text += ': ' + ', '.join(bad)
            statuses.append('critical' if slot == active else 'warning')
        parts.append(text)
    if not active:
        statuses.append('critical')
        parts.insert(0, 'no active slot recorded')
    if figures['drift']:
        statuses.append('warning')
        parts.append('drift: ' + '; '.join(figures['drift']))
    return _check('services', worst(statuses), '; '.join(parts), figures)


def outbox_check(outbox, thresholds):
    """Pending rows against outbox_pending (runbook: < 100 ok, > 1000 act), the oldest pending row's
    age against outbox_age; failed rows are a warning (the relay will never publish them)."""
    if not isinstance(outbox, dict) or 'counts' not in outbox:
        return _unreadable('outbox', outbox, 'the outbox')
    counts = outbox['counts']
    pending, failed = int(counts.get('pending', 0)), int(counts.get('failed', 0))
    age = outbox.get('oldest_pending_age_seconds')
    pending_status = threshold_status(pending, *_limits(thresholds, 'outbox_pending'))
    age_status = threshold_status(age, *_limits(thresholds, 'outbox_age'))
    warn, crit = _limits(thresholds, 'outbox_pending')
    message = '%d pending (ok below %s, critical above %s), %d published, %d failed' % (
        pending, warn, crit, int(counts.get('published', 0)), failed)
    if pending:
        message += '; oldest pending %s old' % _age(age)
    if age_status != 'ok':
        message += ' (%s: warning from %ss, critical above %ss)' % ((age_status,) + _limits(thresholds, 'outbox_age'))
    if failed:
        message += '; %d failed rows will never be published' % failed
    figures = {'pending': pending, 'published': int(counts.get('published', 0)), 'failed': failed,
               'oldest_pending_age_s': age, 'pending_by_type': outbox.get('pending_by_type') or {},
               'oldest_pending': outbox.get('oldest_pending') or []}
    return _check('outbox', worst([pending_status, age_status, 'warning' if failed else 'ok']), message, figures)


def _group(stream, group):
    for found in stream.get('groups') or []:
        if found.get('name') == group:
            return found
    return None


def stream_check(stream, group, thresholds):
    """The consumer group's lag (entries not delivered yet) against stream_lag and its oldest pending
    entry's age against stream_pending_age. A lag Redis cannot know is reported as unknown, not as 0."""
    if not isinstance(stream, dict) or 'exists' not in stream:
        return _unreadable('stream', stream, 'the event stream')
    name = stream.get('stream')
    if not stream['exists']:
        return _check('stream', 'warning', 'stream %s does not exist: nothing was ever published' % name,
                      {'exists': False})
    found = _group(stream, group)
    figures = {'exists': True, 'length': stream.get('length'), 'group': group,
               'last_entry_age_s': stream.get('last_entry_age_s')}
    if found is None:
        return _check('stream', 'critical', 'consumer group %s of %s is missing: nothing consumes the events'
                      % (group, name), figures)
    lag, lag_known = found.get('lag'), bool(found.get('lag_known'))
    pending, pending_age = int(found.get('pending') or 0), found.get('oldest_pending_age_s')
    figures.update(lag=lag if lag_known else None, lag_known=lag_known, pending=pending,
                   oldest_pending_id=found.get('oldest_pending_id'), oldest_pending_age_s=pending_age,
                   last_delivered_id=found.get('last_delivered_id'))
    lag_status = threshold_status(lag if lag_known else None, *_limits(thresholds, 'stream_lag'))
    age_status = threshold_status(pending_age, *_limits(thresholds, 'stream_pending_age'))
    lag_text = ('lag %d' % lag) if lag_known else 'lag unknown (Redis cannot know it after XDEL or XGROUP SETID)'
    pending_text = ('%d pending, oldest %s old' % (pending, _age(pending_age))) if pending else 'nothing pending'
    message = '%s: %s, %s, %s entries' % (group, lag_text, pending_text, stream.get('length'))
    return _check('stream', worst([lag_status, age_status]), message, figures)


def consumers_check(stream, group, containers=None):
    """Dead consumers (stream_info's rule). Entries held by a dead consumer are stranded: critical. A dead
    consumer whose container still runs is a standby slot's worker (it reads only the smoke stream): ok.
    One whose container is gone is left over: a warning, to remove with stream_maintenance
    action=delete_consumers."""
    if not isinstance(stream, dict) or 'exists' not in stream:
        return _unreadable('consumers', stream, 'the event stream')
    found = _group(stream, group) if stream['exists'] else None
    consumers = (found or {}).get('consumer_list') or []
    running = set(name for name, state in (containers or {}).items() if state == 'running')
    dead = [c for c in consumers if c.get('dead')]
    stranded = [c for c in dead if int(c.get('pending') or 0) > 0]
    gone = [c for c in dead if not c.get('pending') and c['name'] not in running]
    standby = [c for c in dead if not c.get('pending') and c['name'] in running]
    figures = {'consumers': len(consumers), 'dead': [c['name'] for c in dead],
               'stranded_pending': sum(int(c.get('pending') or 0) for c in stranded),
               'stranded_by': dict((c['name'], int(c['pending'])) for c in stranded),
               'gone': [c['name'] for c in gone], 'standby': [c['name'] for c in standby]}
    parts = ['%d consumers, %d live' % (len(consumers), len(consumers) - len(dead))]
    statuses = []
    if stranded:
        statuses.append('critical')
        parts.append('%d entries stranded with dead %s' % (
            figures['stranded_pending'], ', '.join('%s (%d)' % (c['name'], int(c['pending'])) for c in stranded)))
    if gone:
        statuses.append('warning')
        parts.append('dead and gone: %s (remove with stream_maintenance action=delete_consumers)'
                     % ', '.join(c['name'] for c in gone))
    if standby:
        parts.append('standby: %s' % ', '.join(c['name'] for c in standby))
    return _check('consumers', worst(statuses), '; '.join(parts), figures)


def parse_log_scan(stdout):
    """The log scan's output (tab-separated lines) as {container: {state, errors, samples, error}}.
    R<TAB>name<TAB>state: a service container; S<TAB>name<TAB>line: a sample; C<TAB>name<TAB>count;
    E<TAB>name<TAB>message: its logs could not be read."""
    found = {}
    for line in (stdout or '').splitlines():
        parts = line.split('\t', 2)
        if len(parts) < 3 or parts[0] not in ('R', 'S', 'C', 'E'):
            continue
        kind, name, value = parts
        entry = found.setdefault(name, {'state': None, 'errors': 0, 'samples': [], 'error': None})
        if kind == 'R':
            entry['state'] = value
        elif kind == 'S':
            entry['samples'].append(value)
        elif kind == 'C':
            try:
                entry['errors'] = int(value)
            except ValueError:
                entry['error'] = 'unreadable count %r' % value
        else:
            entry['error'] = value
    return found


def logs_check(scan, thresholds, since='24h'):
    """Lines matching the error pattern (ERROR, Traceback) per service container over `since`, with samples.
    The count of the noisiest container is held against log_errors."""
    if not isinstance(scan, dict) or 'stdout' not in scan:
        return _unreadable('logs', scan, 'the service logs')
    containers = parse_log_scan(scan.get('stdout'))
    if scan.get('rc') and not containers:
        return _check('logs', 'warning', 'cannot read the service logs: %s' % (
            (scan.get('stderr') or scan.get('msg') or 'rc %s' % scan['rc']).strip().splitlines()[-1]), {'containers': {}})
    if not containers:
        return _check('logs', 'warning', 'no service container found to read logs from', {'containers': {}})
    statuses, noisy, unreadable = [], [], []
    for name in sorted(containers):
        entry = containers[name]
        if entry['error']:
            unreadable.append('%s (%s)' % (name, entry['error']))
            statuses.append('warning')
            continue
        statuses.append(threshold_status(entry['errors'], *_limits(thresholds, 'log_errors')))
        if entry['errors']:
            noisy.append('%s %d' % (name, entry['errors']))
    total = sum(e['errors'] for e in containers.values())
    if noisy:
        message = '%d error lines in the last %s: %s' % (total, since, ', '.join(noisy))
    else:
        message = 'no error lines in the last %s (%d containers)' % (since, len(containers))
    if unreadable:
        message += '; logs not readable: ' + ', '.join(unreadable)
    return _check('logs', worst(statuses), message, {'total': total, 'since': since, 'containers': containers})


def redis_memory_check(info, thresholds):
    """used_memory against maxmemory (runbook: act above 80%); with no maxmemory, against the host's memory.
    The fragmentation ratio is reported, not judged (it is high on a nearly empty Redis)."""
    if isinstance(info, dict) and 'info' in info and isinstance(info['info'], dict):
        info = info['info']
    if not isinstance(info, dict) or 'used_memory' not in info:
        return _unreadable('redis_memory', info, 'Redis memory')
    used = int(info['used_memory'])
    maxmemory = int(info.get('maxmemory') or 0)
    limit = maxmemory or int(info.get('total_system_memory') or 0)
    pct = round(100.0 * used / limit, 1) if limit else None
    fragmentation = info.get('mem_fragmentation_ratio')
    figures = {'used_memory': used, 'maxmemory': maxmemory, 'total_system_memory': info.get('total_system_memory'),
               'used_pct': pct, 'mem_fragmentation_ratio': fragmentation,
               'maxmemory_policy': info.get('maxmemory_policy')}
    status = threshold_status(pct, *_limits(thresholds, 'redis_memory_pct'))
    if maxmemory:
        message = '%s of maxmemory %s used (%s%%, warning from %s%%)' % (
            _size(used), _size(maxmemory), pct, _limits(thresholds, 'redis_memory_pct')[0])
    elif limit:
        message = '%s used, no maxmemory set (%s%% of the host\'s %s)' % (_size(used), pct, _size(limit))
    else:
        message = '%s used, no maxmemory set' % _size(used)
    message += ', fragmentation ratio %s' % fragmentation
    if info.get('maxmemory_policy'):
        message += ', policy %s' % info['maxmemory_policy']
    return _check('redis_memory', status, message, figures)


def figure(res):
    """The figure a selfology.ops.prometheus_query result holds: a float, or None when the query
    returned no series (the metric does not exist yet)."""
    value = res.get('value') if isinstance(res, dict) else None
    return None if value is None or math.isnan(float(value)) else float(value)  # NaN (no traffic): unknown


def dashboards_check(dashboards, thresholds):
    """The dashboards' headline figures (runbook - Check Grafana Dashboards) from Prometheus: Event Bus
    Health (pending events < 100), AI Router Costs ($10-20/day expected) and Error Rates (< 1 %).
    `not configured` until a Prometheus URL is set; a query Prometheus did not answer is critical."""
    if not isinstance(dashboards, dict) or not dashboards.get('url'):
        return _check('dashboards', 'ok', 'not configured (set checks_prometheus_url to read Prometheus)',
                      {'configured': False}, skipped=True)
    readings = dict((key, dashboards.get(key)) for key in ('pending', 'cost_per_day', 'error_ratio'))
    broken = [key for key, res in readings.items() if not isinstance(res, dict) or res.get('failed')
              or res.get('skipped')]
    if broken:
        res = readings[broken[0]] or {}
        return _check('dashboards', 'critical', 'cannot read Prometheus at %s: %s' % (
            dashboards['url'], res.get('msg') or 'no answer'), {'configured': True}, unreadable=True)
    pending, cost, ratio = (figure(readings[k]) for k in ('pending', 'cost_per_day', 'error_ratio'))
    pending_limit, cost_limit, ratio_limit = (_limits(thresholds, 'dashboard_' + k)
                                              for k in ('pending', 'cost_per_day', 'error_ratio'))
    statuses = [threshold_status(pending, *pending_limit), threshold_status(cost, *cost_limit),
                threshold_status(ratio, *ratio_limit)]
    parts = [
        'Event Bus pending %s (< %g)' % ('-' if pending is None else '%d' % pending, float(pending_limit[0])),
        'AI cost %s/day (up to $%g expected)' % ('-' if cost is None else '$%.2f' % cost, float(cost_limit[0])),
        'error rate %s (< %g %%)' % ('-' if ratio is None else '%.2f %%' % (ratio * 100), float(ratio_limit[0]) * 100),
    ]
    return _check('dashboards', worst(statuses), '; '.join(parts), {
        'configured': True, 'pending': pending, 'cost_per_day': cost, 'error_ratio': ratio})


def alerts_check(alerts):
    """Alertmanager's active alerts (selfology.ops.alertmanager_alerts), by severity, and the alerts that
    fired in the last 24 hours and are resolved (Prometheus's ALERTS series, when it is configured);
    `not configured` until an Alertmanager URL is set."""
    if not isinstance(alerts, dict) or not alerts.get('url'):
        return _check('alerts', 'ok', 'not configured (set checks_alertmanager_url to read Alertmanager)',
                      {'configured': False}, skipped=True)
    res = alerts.get('result') or {}
    if not isinstance(res.get('alerts'), list):
        return _check('alerts', 'warning', 'cannot read Alertmanager at %s: %s' % (
            alerts['url'], res.get('msg') or 'no answer'), {'configured': True})
    active = [a for a in res['alerts'] if ((a.get('status') or {}).get('state') or 'active') == 'active']
    by_severity = {}
    for alert in active:
        severity = (alert.get('labels') or {}).get('severity') or 'none'
        by_severity.setdefault(severity, []).append((alert.get('labels') or {}).get('alertname') or '?')
    status = 'critical' if 'critical' in by_severity else ('warning' if active else 'ok')
    message = ('%d active: ' % len(active) + '; '.join(
        '%s %s' % (sev, ', '.join(sorted(set(names)))) for sev, names in sorted(by_severity.items()))
    ) if active else 'no active alerts'
    firing_now = set(name for names in by_severity.values() for name in names)
    fired = alerts.get('fired') or {}
    resolved = sorted(set((s.get('metric') or {}).get('alertname') for s in (fired.get('result') or [])
                          if (s.get('metric') or {}).get('alertname')) - firing_now)
    if resolved:
        message += '; resolved since yesterday: %s' % ', '.join(resolved)
    return _check('alerts', status, message, {'configured': True, 'active': len(active), 'resolved': resolved,
                                              'by_severity': dict((k, len(v)) for k, v in by_severity.items())})


# What the actions of the runbook may name: {relay} (the active slot's outbox relay container, by the
# collection's container naming rule) and {stream} (the event stream).
UNREADABLE = 'unreadable'


def fill_action(text, slots, stream_name):
    """A runbook action from role data with {relay} and {stream} filled in."""
    active = slots.get('active_slot') if isinstance(slots, dict) else None
    relay = container_name('outbox-relay', active) if active in ('blue', 'green') else 'selfology-outbox-relay-<slot>'
    try:
        return text.format(relay=relay, stream=stream_name or 'selfology:events')
    except (KeyError, IndexError, ValueError) as exc:
        raise SelfologyError('runbook action %r: only {relay} and {stream} may be named (%s)' % (text, exc))


def daily_checks(inputs, thresholds, actions=None):
    """Every morning check from what the role gathered; returns the report: status (the worst), exit_code
    (0 ok, 1 warning, 2 critical), checks in the runbook's order, and the names of the failing checks.
    actions: the runbook's action for each check name (and for `unreadable`, a check whose module did
    not answer), attached to each check that is not ok."""
    if not isinstance(inputs, dict):
        raise SelfologyError('daily_checks expects a dict of gathered results')
    actions = actions or {}
    group = inputs.get('group') or 'analysis-workers'
    scan = parse_log_scan((inputs.get('logs') or {}).get('stdout')) if isinstance(inputs.get('logs'), dict) else {}
    containers = dict((name, entry['state']) for name, entry in scan.items())
    checks = [
        services_check(inputs.get('slots')),
        dashboards_check(inputs.get('dashboards'), thresholds),
        outbox_check(inputs.get('outbox'), thresholds),
        stream_check(inputs.get('stream'), group, thresholds),
        consumers_check(inputs.get('stream'), group, containers),
        logs_check(inputs.get('logs'), thresholds, inputs.get('log_since') or '24h'),
        redis_memory_check(inputs.get('redis'), thresholds),
        alerts_check(inputs.get('alerts')),
    ]
    stream_name = (inputs.get('stream') or {}).get('stream') if isinstance(inputs.get('stream'), dict) else None
    for check in checks:
        key = UNREADABLE if check.get('unreadable') else check['name']
        if (check.get('unreadable') or check['status'] != 'ok') and actions.get(key):
            check['action'] = fill_action(actions[key], inputs.get('slots'), stream_name)
    return report(checks)


def report(checks):
    """The verdict over some checks: the worst status, its exit code, and the names of the checks that are not ok."""
    status = worst(c['status'] for c in checks)
    return {
        'status': status,
        'exit_code': EXIT_CODES[status],
        'checks': checks,
        'failing': [c['name'] for c in checks if c['status'] != 'ok'],
        'critical': [c['name'] for c in checks if c['status'] == 'critical'],
        'warning': [c['name'] for c in checks if c['status'] == 'warning'],
    }


DF_LINE = re.compile(r'^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(\S.*)$')


def disk_usage(stdout, thresholds=None):
    """`df -P` output (1024-byte blocks) of one path, parsed; with thresholds (disk_pct), a status."""
    lines = [line for line in (stdout or '').splitlines() if line.strip()]
    for line in lines[1:]:
        match = DF_LINE.match(line.strip())
        if match:
            total, used, avail = (int(match.group(n)) * 1024 for n in (2, 3, 4))
            # df's capacity rounds up; used / (used + available) is what df means by it.
            pct = round(100.0 * used / (used + avail), 1) if used + avail else 0.0
            usage = {'filesystem': match.group(1), 'size_bytes': total, 'used_bytes': used, 'available_bytes': avail,
                     'used_pct': pct, 'capacity': int(match.group(5)), 'mounted_on': match.group(6),
                     'size': _size(total), 'used': _size(used), 'available': _size(avail)}
            if thresholds is not None:
                usage['status'] = threshold_status(pct, *_limits(thresholds, 'disk_pct'))
            return usage
    raise SelfologyError('disk_usage: no filesystem line in the df -P output')


def _stream_safety(stream):
    """(pending, undelivered, groups with a lag Redis cannot know and that have not read up to the last id,
    the groups' rows) of one stream as selfology.ops.stream_info describes it."""
    pending, undelivered, unknown, rows = 0, 0, [], []
    for group in stream.get('groups') or []:
        known = bool(group.get('lag_known'))
        lag = int(group.get('lag') or 0) if known else None
        rows.append({'name': group.get('name'), 'pending': int(group.get('pending') or 0), 'lag': lag})
        pending += int(group.get('pending') or 0)
        undelivered += lag or 0
        if not known and group.get('last_delivered_id') != stream.get('last_generated_id'):
            unknown.append(group.get('name'))
    return pending, undelivered, unknown, rows


def flushdb_plan(db, dbsize, streams, event_stream='selfology:events'):
    """What FLUSHDB of database `db` would delete - its `dbsize` keys - and whether it is safe: not when any
    stream in that database (`streams`, each as stream_info describes one) has entries a group has not
    acknowledged (pending) or not been given yet (lag; a lag Redis cannot know counts as unsafe unless the
    group has read up to the stream's last id). The event stream is named in the message either way."""
    try:
        db = int(db)
    except (TypeError, ValueError):
        raise SelfologyError('flushdb_plan: db must be a number, not %r' % (db,))
    if not isinstance(streams, list) or not all(isinstance(s, dict) and s.get('stream') for s in streams):
        raise SelfologyError('flushdb_plan expects a list of streams as selfology.ops.stream_info describes them')
    plan = {'db': db, 'dbsize': int(dbsize or 0), 'stream': event_stream, 'stream_exists': False,
            'stream_length': 0, 'groups': [], 'pending': 0, 'undelivered': 0, 'lag_unknown': [], 'streams': []}
    others = []
    for stream in streams:
        if stream.get('exists') is False:
            continue
        pending, undelivered, unknown, rows = _stream_safety(stream)
        name = stream['stream']
        plan['streams'].append({'stream': name, 'length': int(stream.get('length') or 0), 'pending': pending,
                                'undelivered': undelivered, 'lag_unknown': unknown})
        plan['pending'] += pending
        plan['undelivered'] += undelivered
        if name == event_stream:
            plan.update(stream_exists=True, stream_length=int(stream.get('length') or 0), groups=rows)
            plan['lag_unknown'] += unknown
        else:
            plan['lag_unknown'] += ['%s/%s' % (name, group) for group in unknown]
            if pending or undelivered or unknown:
                others.append('stream %s has %d pending and %d undelivered' % (name, pending, undelivered))
    plan['safe'] = not (plan['pending'] or plan['undelivered'] or plan['lag_unknown'])
    if not plan['stream_exists']:
        message = 'the event stream %s is not in db %d' % (event_stream, db)
    else:
        mine = [s for s in plan['streams'] if s['stream'] == event_stream][0]
        message = 'the event stream %s is in db %d with %d entries, %d pending and %d undelivered' % (
            event_stream, db, plan['stream_length'], mine['pending'], mine['undelivered'])
        if mine['lag_unknown']:
            message += ' (lag unknown for %s)' % ', '.join(mine['lag_unknown'])
    if others:
        message += '; ' + '; '.join(others)
    plan['stream_message'] = message
    return plan
