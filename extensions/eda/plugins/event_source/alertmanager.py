# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""selfology.ops.alertmanager: an ansible-rulebook event source receiving Alertmanager's webhook.

The ansible.eda collection (whose alertmanager source this mirrors) cannot be fetched here, so the
collection ships its own. ansible-rulebook loads this file and awaits main(queue, args).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import asyncio
import hmac
import json
import logging

from aiohttp import web

DOCUMENTATION = r'''
---
short_description: Receive Alertmanager's webhook notifications, one event per alert
description:
  - An ansible-rulebook event source. An HTTP server receives the POSTs of an Alertmanager
    C(webhook_configs) receiver (payload version 4) on any path and puts one event on the queue for
    each alert of the notification.
  - "Each event is C(alert) (the alert's C(status), C(labels), C(annotations), C(startsAt), C(endsAt),
    C(generatorURL) and C(fingerprint)) with the notification's C(receiver), C(externalURL),
    C(groupKey) and C(endpoint) (the path posted to, without its leading slash)."
  - A body that is not JSON, not version 4 or holds a malformed alert is refused with 400 and puts no
    event; Alertmanager then logs the failure. An accepted notification is answered 202.
  - "With O(token), a POST without the header C(Authorization: Bearer <token>) is refused with 401
    (Alertmanager's C(http_config.authorization) sends it)."
  - GET C(/health) answers 200 without a token, so a supervisor can tell that the source listens.
options:
  host:
    description:
      - The address to listen on. Keep it off public interfaces, such as the Docker network's
        gateway address that a containerised Alertmanager reaches the host on.
    type: str
    default: 127.0.0.1
  port:
    description: The TCP port to listen on.
    type: int
    default: 5001
  token:
    description: The bearer token every POST must carry; empty or omitted, none is asked for.
    type: str
'''

EXAMPLES = r'''
- selfology.ops.alertmanager:
    host: 172.18.0.1
    port: 5001
    token: "{{ SELFOLOGY_EDA_TOKEN }}"
'''

logger = logging.getLogger('selfology.ops.alertmanager')
QUEUE = web.AppKey('selfology_queue', object)
TOKEN = web.AppKey('selfology_token', str)

ALERT_FIELDS = ('status', 'labels', 'annotations', 'startsAt', 'endsAt', 'generatorURL', 'fingerprint')
GROUP_FIELDS = ('receiver', 'externalURL', 'groupKey')
STATUSES = ('firing', 'resolved')
# Alertmanager sends every alert of a group in one body; allow far more than a busy group holds.
MAX_BODY = 8 * 1024 * 1024


class InvalidPayload(ValueError):
    """The body is not an Alertmanager webhook notification of version 4."""


def _alert(index, alert):
    if not isinstance(alert, dict):
        raise InvalidPayload('alerts[%d] is not an object' % index)
    labels = alert.get('labels')
    if not isinstance(labels, dict) or not isinstance(labels.get('alertname'), str):
        raise InvalidPayload('alerts[%d] has no labels with an alertname' % index)
    if alert.get('status') not in STATUSES:
        raise InvalidPayload('alerts[%d] has status %r, not firing or resolved' % (index, alert.get('status')))
    if not isinstance(alert.get('fingerprint'), str) or not alert['fingerprint']:
        raise InvalidPayload('alerts[%d] has no fingerprint' % index)
    annotations = alert.get('annotations') or {}
    if not isinstance(annotations, dict):
        raise InvalidPayload('alerts[%d] has annotations that are not an object' % index)
    event = dict((name, alert.get(name)) for name in ALERT_FIELDS)
    event['annotations'] = annotations
    return event


def alert_events(payload, endpoint=''):
    """The events of one webhook notification: one per alert, in the notification's order."""
    if not isinstance(payload, dict):
        raise InvalidPayload('the body is not a JSON object')
    if str(payload.get('version')) != '4':
        raise InvalidPayload('version %r: only version 4 of the webhook payload is understood' % payload.get('version'))
    alerts = payload.get('alerts')
    if not isinstance(alerts, list):
        raise InvalidPayload('alerts is not a list')
    parsed = [_alert(index, alert) for index, alert in enumerate(alerts)]
    group = dict((name, payload.get(name)) for name in GROUP_FIELDS)
    group['endpoint'] = endpoint
    return [dict(group, alert=alert) for alert in parsed]


def authorized(header, token):
    """Whether an Authorization header carries the bearer token (always, when no token is set)."""
    if not token:
        return True
    parts = (header or '').split(None, 1)
    scheme, given = (parts + ['', ''])[:2]
    return scheme.lower() == 'bearer' and hmac.compare_digest(given.strip().encode(), token.encode())


async def _receive(request):
    if not authorized(request.headers.get('Authorization'), request.app[TOKEN]):
        raise web.HTTPUnauthorized(text='a bearer token is required')
    try:
        payload = json.loads(await request.text())
        events = alert_events(payload, endpoint=request.match_info.get('endpoint', ''))
    except ValueError as exc:  # InvalidPayload and json's errors alike
        logger.warning('refused an Alertmanager notification: %s', exc)
        raise web.HTTPBadRequest(text='not an Alertmanager webhook notification (version 4): %s' % exc)
    for event in events:
        alert = event['alert']
        logger.info('alert %s %s (fingerprint %s, service %s)', alert['labels']['alertname'], alert['status'],
                    alert['fingerprint'], alert['labels'].get('service', '-'))
        await request.app[QUEUE].put(event)
    return web.Response(status=202, text='%d alerts received\n' % len(events))


async def _health(request):
    del request
    return web.Response(text='ok\n')


def application(queue, token=None):
    app = web.Application(client_max_size=MAX_BODY)
    app[QUEUE] = queue
    app[TOKEN] = token or ''
    app.router.add_get('/health', _health)
    app.router.add_post(r'/{endpoint:.*}', _receive)
    return app


async def main(queue, args):
    """Serves until the task is cancelled (ansible-rulebook's shutdown)."""
    host = args.get('host') or '127.0.0.1'
    port = int(args.get('port') or 5001)
    runner = web.AppRunner(application(queue, args.get('token')), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        logger.info('receiving Alertmanager notifications on http://%s:%d/', host, port)
        await asyncio.Future()
    finally:
        await runner.cleanup()


if __name__ == '__main__':
    # Run by hand: print the events of what is posted to 127.0.0.1:5001.
    class _PrintQueue(object):
        async def put(self, event):
            print(json.dumps(event, indent=2))

    logging.basicConfig(level=logging.INFO)
    asyncio.run(main(_PrintQueue(), {}))
