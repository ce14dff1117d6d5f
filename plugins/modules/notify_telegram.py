#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: notify_telegram
short_description: Send a message to a Telegram chat through the Bot API
description:
  - Posts O(text) to O(chat_id) with the Bot API's C(sendMessage), as plain text without link previews.
  - A notification that cannot be sent gives a warning and does not fail the task, so a deploy is not
    failed by its notification, unless O(fail_on_error=true).
  - The bot token is part of the API URL; it is never shown in a message, warning or error.
  - Text longer than Telegram's 4096 characters is cut, ending in an ellipsis.
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
options:
  api_url:
    description: Base URL of the Bot API. Change it only for a proxy or a stand-in used by tests.
    type: str
    default: https://api.telegram.org
  token:
    description: The bot's token, as given by BotFather. Keep it in a vault.
    type: str
    required: true
  chat_id:
    description: The chat to send to, such as C(-1001234567890) or C(@selfology_alerts).
    type: str
    required: true
  text:
    description: The message.
    type: str
    required: true
  timeout:
    description: Seconds to wait for the API's answer.
    type: float
    default: 10
  fail_on_error:
    description: Fail the task when the message cannot be sent, instead of warning.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Sends nothing and returns the text that would be sent.
  diff_mode:
    support: none
    description: A message has no before and after.
'''

EXAMPLES = r'''
- name: Tell the team
  selfology.ops.notify_telegram:
    token: "{{ vault_telegram_bot_token }}"
    chat_id: "{{ selfology_telegram_chat_id }}"
    text: "Deployment v1.2.0 successful (green is live, by alice@laptop)"
'''

RETURN = r'''
sent:
  description: Whether the API accepted the message. False in check mode and when it could not be sent.
  returned: always
  type: bool
  sample: true
message_id:
  description: The id Telegram gave the message.
  returned: when the API answered ok
  type: int
  sample: 1234
text:
  description: The text sent (in check mode, the text that would be sent), cut to 4096 characters.
  returned: always
  type: str
  sample: Deployment v1.2.0 successful
error:
  description: Why the message was not sent (without the token).
  returned: when the message could not be sent
  type: str
  sample: "Telegram API https://api.telegram.org/bot********/sendMessage answered 401 to sendMessage for chat -100123: Unauthorized"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.telegram import (
    DEFAULT_API_URL, scrub, send_message, shorten)


def main():
    argument_spec = dict(
        api_url=dict(type='str', default=DEFAULT_API_URL),
        token=dict(type='str', required=True, no_log=True),
        chat_id=dict(type='str', required=True),
        text=dict(type='str', required=True),
        timeout=dict(type='float', default=10),
        fail_on_error=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    try:
        result = send_message(params['token'], params['chat_id'], params['text'], api_url=params['api_url'],
                              timeout=params['timeout'], check_mode=module.check_mode)
    except SelfologyError as exc:
        error = scrub(exc, params['token'])
        if params['fail_on_error']:
            module.fail_json(msg=error, sent=False, text=shorten(params['text']), error=error)
        module.warn('Telegram notification not sent: %s' % error)
        module.exit_json(changed=False, sent=False, text=shorten(params['text']), error=error)
    if result['message_id'] is None:
        result.pop('message_id')
    module.exit_json(changed=result['sent'] or module.check_mode, **result)


if __name__ == '__main__':
    main()
