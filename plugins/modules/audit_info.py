#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: audit_info
short_description: Read the newest entries of the audit log, counting torn lines
description:
  - Reads the JSON-lines audit log that M(selfology.ops.audit_log) appends to and returns its newest O(lines) entries,
    oldest first (what C(selfops history) shows).
  - A line that is not a JSON object (a torn write, an edit by hand) is left out and counted in RV(torn); blank lines
    are ignored. A missing log has no entries.
  - Read-only, never reports a change.
version_added: 0.2.0
author: Selfology DevOps Team (@selfology-devops)
options:
  path:
    description: Path of the audit log on the host.
    type: path
    required: true
  lines:
    description: How many of the newest entries to return, from 1.
    type: int
    default: 20
  action:
    description: Only the entries of this action, such as C(switch).
    type: str
attributes:
  check_mode:
    support: full
    description: Read-only; check mode reads the same entries.
  diff_mode:
    support: none
    description: Nothing changes.
'''

EXAMPLES = r'''
- name: The last ten lifecycle actions
  selfology.ops.audit_info:
    path: /var/lib/selfology-ops/audit.log
    lines: 10
  register: history
'''

RETURN = r'''
entries:
  description: The entries, oldest first, newest last.
  returned: always
  type: list
  elements: dict
  sample: [{at: "2026-11-29T07:04:12.345678Z", action: switch, outcome: success, who: alice@laptop}]
torn:
  description: Lines of the whole log that are not a JSON object and were left out.
  returned: always
  type: int
  sample: 0
exists:
  description: Whether the log exists.
  returned: always
  type: bool
  sample: true
path:
  description: The audit log's path.
  returned: always
  type: str
'''

import os

from ansible_collections.selfology.ops.plugins.module_utils.audit import read_entries
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    del check_mode  # read-only
    if params['lines'] < 1:
        raise SelfologyError('lines must be 1 or more, not %d' % params['lines'])
    history = read_entries(params['path'], limit=params['lines'], action=params['action'])
    return dict(changed=False, entries=history.entries, torn=history.skipped, exists=os.path.exists(params['path']),
                path=params['path'])


TASK = Task(dict(
    path=dict(type='path', required=True),
    lines=dict(type='int', default=20),
    action=dict(type='str'),
), run)


if __name__ == '__main__':
    main(TASK)
