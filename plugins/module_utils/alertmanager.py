# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alertmanager's API v2: list alerts (by state, by label), and create, find and expire silences.

A silence is identified by what an operator gives: its matchers, its author (createdBy) and its
comment. Creating one when an active or pending silence with the same three exists changes
nothing, so acknowledging an alert twice leaves one silence.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import time as _time
from datetime import datetime, timezone

from ansible.module_utils.basic import env_fallback

from ansible_collections.selfology.ops.plugins.module_utils.durations import parse_duration
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.prometheus import UnexpectedAnswer, excerpt, request, shown_url

DEFAULT_URL = 'http://127.0.0.1:9093'
WHAT = 'Alertmanager'
SEVERITY_ORDER = ('critical', 'warning', 'info')
NO_SEVERITY = 'none'
STATES = ('active', 'suppressed', 'unprocessed')
LIVE_SILENCE_STATES = ('active', 'pending')
LABEL_NAME = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
MAX_SILENCE = 366 * 86400


class AlertmanagerRefused(SelfologyError):
    """Alertmanager answered a request with an error status."""


def alertmanager_argument_spec():
    return dict(
        url=dict(type='str', default=DEFAULT_URL, fallback=(env_fallback, ['ALERTMANAGER_URL'])),
        timeout=dict(type='float', default=10.0),
        validate_certs=dict(type='bool', default=True),
    )


def _call(params, method, path, query=None, body=None, ok=(200,)):
    """The decoded answer of one API call; raises AlertmanagerRefused (with Alertmanager's own message)
    for a status not in ok, UnexpectedAnswer for an answer that is not JSON."""
    status, answer, raw = request(WHAT, params['url'], method, path, params=query, body=body,
                                  timeout=params['timeout'], validate_certs=params['validate_certs'])
    where = shown_url(params['url'])
    if status not in ok:
        if isinstance(answer, dict) and answer.get('message'):
            text = answer['message']
        elif isinstance(answer, str):
            text = answer
        else:
            text = excerpt(raw) or 'no body'
        raise AlertmanagerRefused('%s at %s answered %s to %s %s: %s' % (WHAT, where, status, method, path, text),
                                  result=dict(status=status))
    if answer is None and raw:
        raise UnexpectedAnswer('%s at %s answered %s %s with something that is not JSON: %s' % (
            WHAT, where, method, path, excerpt(raw)), result=dict(status=status))
    return status, answer


# Matchers

def _label_name(name, option):
    if not isinstance(name, str) or not LABEL_NAME.fullmatch(name):
        raise SelfologyError('%s: %r is not a label name (letters, digits and _, not starting with a digit)' % (
            option, name))
    return name


def equality_matchers(labels, option):
    """Alertmanager matcher objects, sorted by name, from a dict of label -> exact value."""
    if not isinstance(labels, dict) or not labels:
        raise SelfologyError('%s: give at least one label and its value, such as {alertname: ServiceDown}' % option)
    matchers = []
    for name in sorted(labels):
        value = labels[name]
        if value is None or isinstance(value, (dict, list)):
            raise SelfologyError('%s: the value of %s must be a string' % (option, name))
        matchers.append(dict(name=_label_name(name, option), value=str(value), isRegex=False, isEqual=True))
    return matchers


def filter_expression(name, value):
    """One matcher in Alertmanager's filter syntax, name="value", with the value quoted as it parses it."""
    text = str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')
    return '%s="%s"' % (name, text)


def _matcher_key(matcher):
    return (matcher.get('name'), matcher.get('value'), bool(matcher.get('isRegex')),
            matcher.get('isEqual', True) is not False)


def same_matchers(left, right):
    return sorted(_matcher_key(m) for m in left) == sorted(_matcher_key(m) for m in right)


# Alerts

def severity_of(alert):
    return (alert.get('labels') or {}).get('severity') or NO_SEVERITY


def _severity_rank(severity):
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def normalise_alert(alert):
    status = alert.get('status') or {}
    return dict(
        labels=alert.get('labels') or {},
        annotations=alert.get('annotations') or {},
        status=dict(state=status.get('state'), silencedBy=status.get('silencedBy') or [],
                    inhibitedBy=status.get('inhibitedBy') or []),
        startsAt=alert.get('startsAt'),
        endsAt=alert.get('endsAt'),
        updatedAt=alert.get('updatedAt'),
        fingerprint=alert.get('fingerprint'),
        generatorURL=alert.get('generatorURL'),
        receivers=[r.get('name') for r in alert.get('receivers') or [] if isinstance(r, dict)],
    )


def summarise(alerts):
    """Alerts sorted by severity (critical first), name and start, with counts by severity and by state."""
    alerts = sorted((normalise_alert(a) for a in alerts), key=lambda a: (
        _severity_rank(severity_of(a)), severity_of(a), a['labels'].get('alertname') or '', a['startsAt'] or '',
        a['fingerprint'] or ''))
    by_severity = dict((s, 0) for s in SEVERITY_ORDER[:2])
    by_state = dict((s, 0) for s in STATES)
    for alert in alerts:
        severity = severity_of(alert)
        by_severity[severity] = by_severity.get(severity, 0) + 1
        state = alert['status']['state'] or 'unprocessed'
        by_state[state] = by_state.get(state, 0) + 1
    return dict(alerts=alerts, by_severity=by_severity, by_state=by_state, total=len(alerts))


def list_alerts(params, active=True, silenced=True, inhibited=True, unprocessed=True, filters=None):
    """Alerts Alertmanager holds now (it forgets resolved ones), filtered by state and by exact label values."""
    query = dict(active=_flag(active), silenced=_flag(silenced), inhibited=_flag(inhibited),
                 unprocessed=_flag(unprocessed))
    expressions = [filter_expression(m['name'], m['value'])
                   for m in (equality_matchers(filters, 'filters') if filters else [])]
    if expressions:
        query['filter'] = expressions
    answer = _call(params, 'GET', '/api/v2/alerts', query=query)[1]
    if not isinstance(answer, list):
        raise UnexpectedAnswer('%s at %s sent no alert list' % (WHAT, shown_url(params['url'])))
    return summarise(answer)


def _flag(value):
    return 'true' if value else 'false'


# Silences

def iso(seconds):
    """RFC 3339 in UTC with milliseconds, as Alertmanager writes times."""
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (moment.microsecond // 1000)


def silence_request(matchers, duration, author, comment, now):
    """The body of POST /api/v2/silences: starts now, ends after duration (durations.py's grammar)."""
    seconds = parse_duration(duration, 'duration', low=1, high=MAX_SILENCE)
    for option, value in (('author', author), ('comment', comment)):
        if not isinstance(value, str) or not value.strip():
            raise SelfologyError('%s must not be empty: Alertmanager records who silenced what, and why' % option)
    return dict(matchers=equality_matchers(matchers, 'matchers'), startsAt=iso(now), endsAt=iso(now + seconds),
                createdBy=author, comment=comment)


def list_silences(params):
    answer = _call(params, 'GET', '/api/v2/silences')[1]
    if not isinstance(answer, list):
        raise UnexpectedAnswer('%s at %s sent no silence list' % (WHAT, shown_url(params['url'])))
    return answer


def find_silences(silences, matchers, author=None, comment=None, states=LIVE_SILENCE_STATES):
    """The silences in one of states with exactly these matchers (and author and comment, when given),
    the one that ends last first."""
    found = [s for s in silences
             if (s.get('status') or {}).get('state') in states and same_matchers(s.get('matchers') or [], matchers)
             and (author is None or s.get('createdBy') == author) and (comment is None or s.get('comment') == comment)]
    return sorted(found, key=lambda s: s.get('endsAt') or '', reverse=True)


def get_silence(params, silence_id):
    """The silence with this id, or None when Alertmanager does not know it (never created, or expired
    long enough ago to be forgotten)."""
    _check_id(silence_id)
    status, answer = _call(params, 'GET', '/api/v2/silence/%s' % silence_id, ok=(200, 404))
    return answer if status == 200 and isinstance(answer, dict) else None


def _check_id(silence_id):
    if not isinstance(silence_id, str) or not re.fullmatch(r'[0-9a-fA-F-]{36}', silence_id):
        raise SelfologyError('silence_id: %r is not a silence id (a UUID such as '
                             '5415d64c-0af1-4f76-8c37-69352a1da140)' % (silence_id,))


def count_matching_alerts(params, matchers):
    """How many of the alerts Alertmanager holds now these matchers select."""
    labels = dict((m['name'], m['value']) for m in matchers)
    return list_alerts(params, filters=labels)['total']


def ensure_silence(params, matchers, duration, author, comment, check_mode, now=None):
    """Creates the silence unless an active or pending one with the same matchers, author and comment
    exists; returns dict(changed, silence_id, silence, matched_alerts, diff)."""
    now = _time.time() if now is None else now
    wanted = silence_request(matchers, duration, author, comment, now)
    existing = find_silences(list_silences(params), wanted['matchers'], author, comment)
    if existing:
        silence = existing[0]
        return dict(changed=False, silence_id=silence.get('id'), silence=silence,
                    matched_alerts=count_matching_alerts(params, wanted['matchers']),
                    diff=dict(before=silence, after=silence))
    if check_mode:
        silence = dict(wanted, id=None, status=dict(state='active'))
    else:
        answer = _call(params, 'POST', '/api/v2/silences', body=wanted)[1]
        silence_id = answer.get('silenceID') if isinstance(answer, dict) else None
        if not silence_id:
            raise UnexpectedAnswer('%s at %s created a silence but sent no silenceID' % (WHAT, shown_url(params['url'])))
        silence = get_silence(params, silence_id) or dict(wanted, id=silence_id, status=dict(state='active'))
    return dict(changed=True, silence_id=silence['id'], silence=silence,
                matched_alerts=count_matching_alerts(params, wanted['matchers']), diff=dict(before={}, after=silence))


def expire_silences(params, check_mode, silence_id=None, matchers=None, author=None, comment=None):
    """Expires the silence with silence_id, or every active or pending one with these matchers, author and
    comment; returns dict(changed, expired (ids), silences (as they were), diff). An unknown id or no
    matching silence changes nothing: nothing is silenced by it."""
    if silence_id:
        silence = get_silence(params, silence_id)
        targets = [silence] if silence and (silence.get('status') or {}).get('state') in LIVE_SILENCE_STATES else []
        found = silence is not None
    else:
        if not author or not comment:
            raise SelfologyError('to expire a silence by its matchers give its author and comment too, '
                                 'or give silence_id')
        targets = find_silences(list_silences(params), equality_matchers(matchers, 'matchers'), author, comment)
        found = bool(targets)
    if targets and not check_mode:
        for silence in targets:
            _call(params, 'DELETE', '/api/v2/silence/%s' % silence['id'])
    before = dict((s['id'], (s.get('status') or {}).get('state')) for s in targets)
    return dict(changed=bool(targets), expired=[s['id'] for s in targets], silences=targets, found=found,
                diff=dict(before=before, after=dict((k, 'expired') for k in before)))
