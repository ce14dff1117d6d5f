# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runbook's four smoke checks against one slot, each timed and reported on its own."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time
import uuid

from ansible.module_utils.urls import open_url

from ansible_collections.selfology.ops.plugins.module_utils import postgres, redis_connection
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError

TITLES = {
    'service_response': 'Service response check',
    'database': 'Database connectivity',
    'redis': 'Redis connectivity',
    'event_bus': 'Event bus check',
}


def timed(name, func):
    """Runs one check; any SelfologyError or backend error is that check's failure, not the run's."""
    started = time.monotonic()
    try:
        detail = func()
        passed, message = True, detail.pop('message', 'passed')
    except SelfologyError as exc:
        detail, passed, message = {}, False, str(exc)
    return dict(detail, name=name, title=TITLES[name], passed=passed, message=message,
                duration_ms=round((time.monotonic() - started) * 1000, 1))


def http_get(url, timeout):
    """(status, parsed JSON or None, seconds); connection failures raise SelfologyError."""
    started = time.monotonic()
    try:
        response = open_url(url, timeout=timeout, validate_certs=False)
        status, body = response.getcode(), response.read()
    except Exception as exc:  # open_url raises HTTPError for 4xx/5xx: it still has a status
        status = getattr(exc, 'code', None)
        if status is None:
            raise SelfologyError('%s did not answer: %s' % (url, getattr(exc, 'reason', exc)))
        body = exc.read() if hasattr(exc, 'read') else b''
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    return status, parsed, time.monotonic() - started


def check_services(services, slot, host, expected_version, timeout, max_latency):
    rows, problems = [], []
    for service in services:
        try:
            rows.append(check_service(service, slot, host, expected_version, timeout, max_latency, problems))
        except SelfologyError as exc:
            problems.append(str(exc))
    if problems:
        raise SelfologyError('; '.join(problems))
    return {'services': rows, 'message': '%d services answered' % len(rows)}


def check_service(service, slot, host, expected_version, timeout, max_latency, problems):
    """Checks one service; appends what is wrong to problems and returns what it saw."""
    base = 'http://%s:%s' % (host, service['port'])
    status, health, _seconds = http_get(base + '/health', timeout)
    row = {'service': service['name'], 'health_status': status,
           'health': (health or {}).get('status'), 'version': (health or {}).get('version')}
    if status != 200:
        failing = sorted(k for k, v in ((health or {}).get('checks') or {}).items() if v != 'healthy')
        problems.append('%s /health answered %s%s' % (
            service['name'], status, (' (%s unhealthy)' % ', '.join(failing)) if failing else ''))
    elif (health or {}).get('slot') != slot:
        problems.append('%s answers for slot %s, not %s' % (service['name'], health.get('slot'), slot))
    elif expected_version and health.get('version') != expected_version:
        problems.append('%s runs %s, not %s' % (service['name'], health.get('version'), expected_version))
    if service.get('probe'):
        status, _body, seconds = http_get(base + service['probe'], timeout)
        row.update(probe=service['probe'], probe_status=status, probe_ms=round(seconds * 1000, 1))
        if status >= 500:
            problems.append('%s %s answered %s' % (service['name'], service['probe'], status))
        elif seconds > max_latency:
            problems.append('%s %s took %.0f ms (limit %.0f ms)' % (
                service['name'], service['probe'], seconds * 1000, max_latency * 1000))
    return row


def check_database(params):
    conn = postgres.connect(params, application_name='selfology.ops smoke_test')
    try:
        found = conn.execute("SELECT to_regclass('selfology.event_outbox') IS NOT NULL").fetchone()[0]
    except postgres.psycopg.Error as exc:
        raise SelfologyError('PostgreSQL query failed: %s' % postgres.first_line(exc))
    finally:
        conn.close()
    if not found:
        raise SelfologyError('PostgreSQL answers but table selfology.event_outbox does not exist')
    return {'message': 'SELECT answered, selfology.event_outbox present'}


def check_redis(params, stream):
    client = redis_connection.connect(params)
    try:
        length = client.xlen(stream)
    except redis_connection.redis.RedisError as exc:
        raise SelfologyError('Redis answered PING but XLEN %s failed: %s' % (stream, exc))
    return {'stream': stream, 'stream_length': length, 'message': 'PING answered, %s has %d entries' % (stream, length)}


def check_event_bus(params, slot, timeout):
    """A real round trip: an outbox row must be relayed and consumed by this slot's worker."""
    token = uuid.uuid4().hex
    conn = postgres.connect(params, application_name='selfology.ops smoke_test')
    try:
        event_id = conn.execute(
            "INSERT INTO selfology.event_outbox (event_type, payload) VALUES ('smoke.ping', %s) RETURNING id",
            (json.dumps({'slot': slot, 'token': token, 'origin': 'selfology.ops smoke_test'}),),
        ).fetchone()[0]
        deadline = time.monotonic() + timeout
        while True:
            row = conn.execute(
                'SELECT consumer, slot FROM selfology.processed_events WHERE event_id = %s', (event_id,)).fetchone()
            if row:
                return {'event_id': event_id, 'consumer': row[0],
                        'message': 'event %d relayed and consumed by %s' % (event_id, row[0])}
            if time.monotonic() > deadline:
                status = conn.execute(
                    'SELECT status FROM selfology.event_outbox WHERE id = %s', (event_id,)).fetchone()[0]
                if status == 'pending':
                    raise SelfologyError('event %d still pending after %ss: the outbox relay is not publishing'
                                         % (event_id, timeout))
                raise SelfologyError('event %d was published but no %s worker consumed it within %ss'
                                     % (event_id, slot, timeout))
            time.sleep(0.05)
    except postgres.psycopg.Error as exc:
        raise SelfologyError('PostgreSQL failed during the round trip: %s' % postgres.first_line(exc))
    finally:
        conn.close()


def run_checks(params, check_mode):
    slot = params['slot']
    checks = [
        timed('service_response', lambda: check_services(
            params['services'], slot, params['service_host'], params['expected_version'],
            params['http_timeout'], params['max_latency_ms'] / 1000.0)),
        timed('database', lambda: check_database(params)),
        timed('redis', lambda: check_redis(params, params['stream'])),
    ]
    if check_mode:
        checks.append(dict(name='event_bus', title=TITLES['event_bus'], passed=True, skipped=True,
                           message='skipped in check mode: it writes an outbox row', duration_ms=0.0))
    else:
        checks.append(timed('event_bus', lambda: check_event_bus(params, slot, params['event_timeout'])))
    return checks
