#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: outbox_info
short_description: Report the event outbox, as the runbook's morning check and P1 backlog steps read it
description:
  - Counts the rows of C(selfology.event_outbox) by status; C(pending), C(published) and C(failed)
    are always reported, 0 when there are none.
  - Reports the age of the oldest pending row, pending counts by event type and the O(oldest_limit)
    oldest pending rows (the runbook's "Check oldest pending events").
  - Every figure comes from one read-only C(REPEATABLE READ) transaction, so they agree with each other.
  - The pending figures use the partial index on pending rows and stay cheap however many rows are
    published. The counts by status read the whole table once (about 0.1 s per million rows on the lab).
  - Never changes anything and never reports C(changed).
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.postgres
options:
  oldest_limit:
    description: How many of the oldest pending rows to list, from 0 (none) to 1000.
    type: int
    default: 10
attributes:
  check_mode:
    support: full
    description: Read-only; check mode reads the same figures.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
'''

EXAMPLES = r'''
- name: Morning check of the outbox
  selfology.ops.outbox_info:
    login_password: "{{ vault_postgres_password }}"
  register: outbox

- name: Pending events should stay below 100
  ansible.builtin.assert:
    that: outbox.counts.pending < 100
    fail_msg: "{{ outbox.counts.pending }} pending events, the oldest {{ outbox.oldest_pending_age_seconds }} s old"
'''

RETURN = r'''
counts:
  description: Rows per status; every status is present.
  returned: always
  type: dict
  sample: {"pending": 5, "published": 15234, "failed": 0}
total:
  description: All rows of the outbox.
  returned: always
  type: int
  sample: 15239
oldest_pending_age_seconds:
  description: Seconds since the oldest pending row was created; null when nothing is pending.
  returned: always
  type: float
  sample: 4.25
pending_by_type:
  description: Pending rows per event type.
  returned: always
  type: dict
  sample: {"answer.submitted": 4, "profile.updated": 1}
oldest_pending:
  description: The oldest pending rows, oldest first, at most O(oldest_limit).
  returned: always
  type: list
  elements: dict
  sample: [{"id": 15230, "event_type": "answer.submitted", "created_at": "2026-01-01T09:00:01.120000+00:00"}]
observed_at:
  description: The database time the figures were read at.
  returned: always
  type: str
  sample: "2026-01-01T09:00:05.370000+00:00"
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfology.ops.plugins.module_utils import postgres
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.outbox import outbox_info


def main():
    argument_spec = dict(
        oldest_limit=dict(type='int', default=10),
    )
    argument_spec.update(postgres.postgres_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    postgres.require_psycopg(module)
    try:
        info = outbox_info(module.params)
    except SelfologyError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **info)


if __name__ == '__main__':
    main()
