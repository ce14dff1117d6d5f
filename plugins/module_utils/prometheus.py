# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus's HTTP API (instant and range queries) over ansible.module_utils.urls, and the JSON
request helper the Alertmanager client shares (ansible.module_utils.urls.Request, as open_url).

A query Prometheus refuses fails with Prometheus's own errorType and error; a server that cannot be
reached fails naming its URL (without any credentials in it). The query text is never echoed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import json
import re
import socket
import ssl
import time as _time
from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit, urlunsplit

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError, Request, make_context

from ansible_collections.selfology.ops.plugins.module_utils.durations import parse_duration
from ansible_collections.selfology.ops.plugins.module_utils.errors import BackendUnavailable, SelfologyError

DEFAULT_URL = 'http://127.0.0.1:9090'
BODY_SHOWN = 200  # characters of an unexpected answer shown in an error

_RELATIVE = re.compile(r'now(?:-(.+))?')
_NUMBER = re.compile(r'-?[0-9]+(?:\.[0-9]+)?')
_RFC3339 = re.compile(r'([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?'
                      r'(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))')


class QueryRefused(SelfologyError):
    """Prometheus answered the query with an error (bad_data, execution, timeout, ...)."""


class UnexpectedAnswer(SelfologyError):
    """The server answered, but not as its API does (wrong URL, a proxy's page, ...)."""


def prometheus_argument_spec():
    return dict(
        url=dict(type='str', default=DEFAULT_URL, fallback=(env_fallback, ['PROMETHEUS_URL'])),
        timeout=dict(type='float', default=10.0),
        validate_certs=dict(type='bool', default=True),
    )


# HTTP

# Request.open (open_url) builds an SSL context, loading the system's CA certificates (about 18 ms here), on every
# call unless given one - even for http. An http URL gets a context without certificates (so a
# redirect to https fails verification instead of going unchecked); https ones share one per setting.
_TLS_CONTEXTS = {}


def _context(url, validate_certs):
    if url.startswith('http://'):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    key = bool(validate_certs)
    if key not in _TLS_CONTEXTS:
        _TLS_CONTEXTS[key] = make_context(validate_certs=key)
    return _TLS_CONTEXTS[key]


def shown_url(url):
    """url without user name, password, query or fragment: safe to put in a message."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return '<invalid URL>'
    netloc = parts.hostname or ''
    if ':' in netloc:
        netloc = '[%s]' % netloc
    try:
        port = parts.port
    except ValueError:
        port = None
    if port:
        netloc = '%s:%d' % (netloc, port)
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip('/'), '', ''))


def check_base_url(url, what):
    valid = isinstance(url, str) and url.startswith(('http://', 'https://'))
    if valid:
        try:
            parts = urlsplit(url)
            valid = bool(parts.hostname) and (parts.port is None or parts.port > 0)
        except ValueError:  # a port that is not a number, or out of range
            valid = False
    if not valid:
        raise SelfologyError('%s url must be an http(s) URL such as http://127.0.0.1:9090, not %r' % (
            what, shown_url(url) if isinstance(url, str) else url))


def _decode(body):
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        return None


def excerpt(body):
    text = body.decode('utf-8', 'replace') if isinstance(body, bytes) else str(body or '')
    text = ' '.join(text.split())
    return text if len(text) <= BODY_SHOWN else text[:BODY_SHOWN] + '...'


def request(what, base_url, method, path, params=None, form=None, body=None, timeout=10.0, validate_certs=True):
    """(status, decoded JSON answer or None, raw body) of one request to base_url + path.

    form: a dict sent as application/x-www-form-urlencoded; body: sent as JSON. An HTTP error status
    is returned, not raised; raises BackendUnavailable when no answer came."""
    check_base_url(base_url, what)
    if not timeout or timeout <= 0:
        raise SelfologyError('timeout must be more than 0 seconds')
    url = base_url.rstrip('/') + path
    if params:
        url += '?' + urlencode(params, doseq=True)
    headers = {'Accept': 'application/json'}
    data = None
    if form is not None:
        data = urlencode(form, doseq=True).encode('utf-8')
        headers['Content-Type'] = 'application/x-www-form-urlencoded'
    elif body is not None:
        data = json.dumps(body).encode('utf-8')
        headers['Content-Type'] = 'application/json'
    where = shown_url(base_url)
    try:
        response = Request().open(method, url, data=data, headers=headers, timeout=timeout,
                                  validate_certs=validate_certs, follow_redirects='safe', force_basic_auth=True,
                                  context=_context(url, validate_certs))
        status, raw = response.getcode(), response.read()
    except HTTPError as exc:  # 4xx and 5xx: an answer, whose body says why
        status = exc.code
        try:
            raw = exc.read()
        except (OSError, HTTPException):
            raw = b''
    except (URLError, OSError, HTTPException, UrlsConnectionError) as exc:
        reason = getattr(exc, 'reason', None) or exc
        if isinstance(reason, socket.timeout) or isinstance(exc, socket.timeout):
            reason = 'no answer within %gs' % timeout
        raise BackendUnavailable('%s at %s is unreachable: %s' % (what, where, reason))
    return status, _decode(raw), raw


# Times

def _rfc3339(text):
    match = _RFC3339.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1] and hour < 24 and minute < 60
            and second < 61):
        return None
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    seconds += float(match.group(7) or 0)
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        seconds -= offset if match.group(9) == '+' else -offset
    return seconds


def parse_time(value, name, now):
    """Unix seconds from C(now), C(now-<duration>) (durations.py's grammar, e.g. now-1h), a Unix timestamp
    (number or numeric string) or an RFC 3339 time such as 2026-12-01T08:00:00Z."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip() if isinstance(value, str) else ''
    relative = _RELATIVE.fullmatch(text)
    if relative:
        return now - (parse_duration(relative.group(1), name) if relative.group(1) else 0)
    if _NUMBER.fullmatch(text):
        return float(text)
    seconds = _rfc3339(text)
    if seconds is None:
        raise SelfologyError('%s: %r is not a time; use now, now-<duration> such as now-1h, a Unix timestamp '
                             'or an RFC 3339 time such as 2026-12-01T08:00:00Z' % (name, value))
    return seconds


def resolve_range(range_, step, time, now):
    """(start, end, step) in seconds from the module's range/step/time options, or None for an instant query.

    range_ is a duration (the window ending at time, or now) or a dict with start, end (default now) and
    step; the step is given once, in the dict or as step."""
    if range_ is None or range_ == '':
        if step is not None:
            raise SelfologyError('step is only for a range query; give range too')
        return None
    if isinstance(range_, dict):
        unknown = sorted(set(range_) - {'start', 'end', 'step'})
        if unknown:
            raise SelfologyError('range: unknown key(s) %s; it takes start, end and step' % ', '.join(unknown))
        if range_.get('start') is None:
            raise SelfologyError('range: start is required when range is a dict (or give range as a duration such as 1h)')
        if time is not None:
            raise SelfologyError('time cannot be given with range.start/range.end; set range.end instead')
        if range_.get('step') is not None and step is not None:
            raise SelfologyError('give the step once, as range.step or as step')
        step = range_.get('step') if range_.get('step') is not None else step
        start = parse_time(range_['start'], 'range.start', now)
        end = parse_time(range_['end'], 'range.end', now) if range_.get('end') is not None else now
    else:
        window = parse_duration(range_, 'range', low=0.001)
        end = parse_time(time, 'time', now) if time is not None else now
        start = end - window
    if step is None:
        raise SelfologyError('a range query needs a step, such as step: 1m')
    step_s = parse_duration(step, 'step', low=0.001)
    if end < start:
        raise SelfologyError('range: end is before start')
    return start, end, step_s


# Answers

def _number(text):
    """A sample value as a float (Prometheus sends strings, including NaN, +Inf and -Inf)."""
    try:
        return float(text)
    except (TypeError, ValueError):
        raise UnexpectedAnswer('Prometheus sent a sample value that is not a number: %r' % (text,))


def _sample(pair):
    return float(pair[0]), _number(pair[1])


def convert_result(result_type, result):
    """The result list with values as floats: vector and scalar as [{metric, timestamp, value}], matrix as
    [{metric, values: [[timestamp, value], ...]}], string as one element whose value is the string."""
    if result_type == 'vector':
        converted = []
        for item in result:
            entry = dict(metric=item.get('metric') or {})
            if 'value' in item:
                entry['timestamp'], entry['value'] = _sample(item['value'])
            else:  # a native histogram sample (experimental in Prometheus 2.4x) is passed on as is
                entry['timestamp'], entry['value'] = float(item['histogram'][0]), None
                entry['histogram'] = item['histogram'][1]
            converted.append(entry)
        return converted
    if result_type == 'matrix':
        converted = []
        for item in result:
            entry = dict(metric=item.get('metric') or {}, values=[list(_sample(p)) for p in item.get('values') or []])
            if item.get('histograms'):
                entry['histograms'] = item['histograms']
            converted.append(entry)
        return converted
    if result_type == 'scalar':
        timestamp, value = _sample(result)
        return [dict(metric={}, timestamp=timestamp, value=value)]
    if result_type == 'string':
        return [dict(metric={}, timestamp=float(result[0]), value=result[1])]
    raise UnexpectedAnswer('Prometheus sent a result of unknown type %r' % (result_type,))


def single_value(result_type, converted):
    """The float of a scalar or of a vector holding exactly one sample, else None."""
    if result_type in ('scalar', 'vector') and len(converted) == 1:
        value = converted[0].get('value')
        return value if isinstance(value, float) else None
    return None


def _answer_data(status, answer, raw, where, endpoint):
    if isinstance(answer, dict) and answer.get('status') == 'error':
        error_type, error = answer.get('errorType') or 'error', answer.get('error') or 'no error text'
        raise QueryRefused('Prometheus at %s refused the query (%s): %s' % (where, error_type, error),
                           result=dict(error_type=error_type, error=error, status=status))
    if status != 200 or not isinstance(answer, dict) or answer.get('status') != 'success' \
            or not isinstance(answer.get('data'), dict):
        raise UnexpectedAnswer('Prometheus at %s answered %s to %s, not as its API does: %s' % (
            where, status, endpoint, excerpt(raw) or 'no body'), result=dict(status=status))
    return answer['data'], answer.get('warnings') or []


def query(url, promql, time=None, range_=None, step=None, timeout=10.0, validate_certs=True, now=None):
    """Runs an instant query (at time, default now) or, with range_, a range query; returns a dict with
    result, result_type, value, warnings and the times evaluated (Unix seconds)."""
    if not isinstance(promql, str) or not promql.strip():
        raise SelfologyError('query must not be empty')
    now = _time.time() if now is None else now
    window = resolve_range(range_, step, time, now)
    form = dict(query=promql, timeout='%g' % timeout)  # seconds; Prometheus refuses fractions with a unit (0.5s)
    if window is None:
        endpoint = '/api/v1/query'
        at = parse_time(time, 'time', now) if time is not None else now
        form['time'] = '%.3f' % at
        times = dict(time=at, start=None, end=None, step=None)
    else:
        endpoint = '/api/v1/query_range'
        start, end, step_s = window
        form.update(start='%.3f' % start, end='%.3f' % end, step='%g' % step_s)
        times = dict(time=None, start=start, end=end, step=step_s)
    status, answer, raw = request('Prometheus', url, 'POST', endpoint, form=form, timeout=timeout,
                                  validate_certs=validate_certs)
    data, warnings = _answer_data(status, answer, raw, shown_url(url), endpoint)
    result_type = data.get('resultType')
    converted = convert_result(result_type, data.get('result'))
    outcome = dict(result=converted, result_type=result_type, value=single_value(result_type, converted),
                   series=len(converted), query_warnings=warnings)
    outcome.update(times)
    return outcome
