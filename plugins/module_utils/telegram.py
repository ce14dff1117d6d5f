# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Telegram notifications through the Bot API's sendMessage.

The bot token is part of every Bot API URL (/bot<token>/sendMessage), so any text that may hold the
URL (an exception, an answer) is scrubbed of the token before it is shown.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
from urllib.parse import quote

from ansible.module_utils.urls import open_url

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError

DEFAULT_API_URL = 'https://api.telegram.org'
MAX_TEXT = 4096  # what sendMessage accepts
MASK = '********'


class NotificationFailed(SelfologyError):
    """The message was not sent; str() never holds the token."""


def scrub(text, token):
    """text with every form of token in it (as is, URL-quoted) replaced by a mask."""
    text = str(text)
    if token:
        for form in sorted({token, quote(token, safe=''), quote(token)}, key=len, reverse=True):
            text = text.replace(form, MASK)
    return text


def shorten(text, limit=MAX_TEXT):
    """text cut to what Telegram accepts, ending in an ellipsis when it was cut."""
    return text if len(text) <= limit else text[:limit - 1] + u'\u2026'


def _answer(body):
    try:
        answer = json.loads(body)
    except (TypeError, ValueError):
        return {}
    return answer if isinstance(answer, dict) else {}


def send_message(token, chat_id, text, api_url=DEFAULT_API_URL, timeout=10, check_mode=False):
    """Sends text to chat_id; returns dict(sent, message_id, text). In check mode nothing is sent.

    Raises NotificationFailed, without the token in its message, when the API cannot be reached or
    does not answer ok."""
    if not token:
        raise NotificationFailed('no bot token given')
    if not text:
        raise NotificationFailed('no text to send')
    text = shorten(text)
    base = (api_url or DEFAULT_API_URL).rstrip('/')
    if not base.startswith(('https://', 'http://')):
        raise NotificationFailed('api_url must be an http(s) URL, not %s' % scrub(base, token))
    if check_mode:
        return dict(sent=False, message_id=None, text=text)
    url = '%s/bot%s/sendMessage' % (base, token)
    payload = json.dumps(dict(chat_id=chat_id, text=text, disable_web_page_preview=True)).encode('utf-8')
    where = '%s/bot%s/sendMessage' % (base, MASK)
    try:
        response = open_url(url, data=payload, method='POST', timeout=timeout,
                            headers={'Content-Type': 'application/json'})
        status, body = response.getcode(), response.read()
    except Exception as exc:  # open_url raises HTTPError (with a status) for 4xx/5xx; the rest never got an answer
        status = getattr(exc, 'code', None)
        if status is None:
            raise NotificationFailed(scrub('Telegram API %s did not answer: %s' % (
                where, getattr(exc, 'reason', None) or exc), token))
        try:
            body = exc.read()
        except Exception:
            body = b''
    answer = _answer(body)
    if status != 200 or not answer.get('ok'):
        description = answer.get('description') or (body[:200].decode('utf-8', 'replace') if body else 'no answer')
        raise NotificationFailed(scrub('Telegram API %s answered %s to sendMessage for chat %s: %s' % (
            where, status, chat_id, description), token))
    message_id = (answer.get('result') or {}).get('message_id')
    return dict(sent=True, message_id=message_id, text=text)
