#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: deploy_lock
short_description: Take or release the host's deploy lock, so that one lifecycle action runs at a time
description:
  - One lifecycle action (deploy, switch, rollback, cleanup, scale) at a time per host. The lock is a
    JSON file holding C(owner), C(action), C(version), C(pid), C(host), C(since), C(expires) and
    C(token).
  - With O(state=present) the file is created with C(O_CREAT|O_EXCL), so of several callers racing for
    the lock exactly one gets it. When the lock is held the task fails at once, without waiting,
    naming the holder, since when, doing what and until when.
  - A lock past its expiry (stale) is still refused. It is replaced only with O(force=true) and a
    O(reason); the result's RV(broken) then says whose lock was broken and why. A lock that has not
    expired is never broken, even with O(force=true). A lock file that cannot be read or parsed counts
    as held.
  - With O(state=absent) the lock is removed when O(token) is the holder's. Without a lock file nothing
    changes. Someone else's lock is refused unless O(force=true) and a O(reason) are given.
  - The token is an identifier of the holder, not a secret. It is stored in the lock file and returned.
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
options:
  path:
    description: Path of the lock file on the host. Its directory is created when missing.
    type: path
    required: true
  state:
    description: V(present) takes the lock, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  owner:
    description:
      - Who takes the lock, such as C(alice@laptop). Shown to anyone refused by the lock.
      - Defaults to the user and host name of the process that runs the module.
    type: str
  action:
    description: What the holder is doing, such as C(deploy), C(switch), C(rollback), C(cleanup) or C(scale).
    type: str
  version:
    description: The version the action is about, shown to anyone refused by the lock.
    type: str
  ttl:
    description:
      - Seconds after which the lock counts as expired (stale). An expired lock is still refused; it
        can then be broken with O(force=true) and a O(reason).
    type: int
    default: 1800
  token:
    description:
      - Identifies the holder. With O(state=present) a new lock gets this token (a random one when
        omitted), and a lock that already has this token is the caller's own (nothing changes).
      - With O(state=absent) the lock is released only when this is the holder's token.
    type: str
  force:
    description:
      - With O(state=present), replaces an expired or unreadable lock; a live lock is refused anyway.
      - With O(state=absent), releases the lock whoever holds it.
      - Needs O(reason).
    type: bool
    default: false
  reason:
    description: Why the lock may be broken. Required with O(force=true); returned in RV(broken).
    type: str
attributes:
  check_mode:
    support: full
    description: Reports whether the lock would be taken, broken or released, and fails when it would be refused, without touching the file.
  diff_mode:
    support: full
    description: Shows the lock before and after.
notes:
  - Record every lock that was broken in the audit log (M(selfology.ops.audit_log)) with RV(broken).
'''

EXAMPLES = r'''
- name: Take the deploy lock
  selfology.ops.deploy_lock:
    path: /var/lib/selfology-ops/deploy.lock
    owner: "{{ lookup('env', 'USER') }}@{{ lookup('pipe', 'hostname') }}"
    action: deploy
    version: 1.2.0
  register: deploy_lock

- name: Release it at the end (in an always block)
  selfology.ops.deploy_lock:
    path: /var/lib/selfology-ops/deploy.lock
    state: absent
    token: "{{ deploy_lock.lock.token }}"
  when: deploy_lock.acquired | default(false)

- name: Break a stale lock left by a crashed run
  selfology.ops.deploy_lock:
    path: /var/lib/selfology-ops/deploy.lock
    owner: bob@laptop
    action: rollback
    force: true
    reason: deploy of 1.2.0 crashed at 07:04, alice agreed on the call
'''

RETURN = r'''
acquired:
  description: Whether the caller holds the lock after the task (in check mode, whether it would). Always false with O(state=absent).
  returned: always
  type: bool
  sample: true
lock:
  description:
    - With O(state=present), the lock held after the task (the caller's when acquired; the holder's
      when refused, returned with the failure).
    - With O(state=absent), the lock that was released; null when there was none.
    - "An unreadable lock file is reported as C({\"unreadable\": \"why\"})."
  returned: always
  type: dict
  sample: {"owner": "alice@laptop", "action": "deploy", "version": "1.2.0", "pid": 4242, "host": "web1",
           "since": "2026-11-29T07:00:00Z", "expires": "2026-11-29T07:30:00Z",
           "token": "0f3c2f8d8a9e4a61b1d7f1e0b6f0f6b1"}
broken:
  description: When a lock was broken (O(force=true)), whose it was, why, by whom and when; null otherwise.
  returned: always
  type: dict
  sample: {"previous": {"owner": "alice@laptop", "action": "deploy", "version": "1.2.0",
                        "since": "2026-11-29T07:00:00Z", "expires": "2026-11-29T07:30:00Z"},
           "reason": "deploy crashed", "by": "bob@laptop", "at": "2026-11-29T08:00:00Z"}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.lock import (
    DEFAULT_TTL, LockHeld, acquire, default_owner, release)


def main():
    argument_spec = dict(
        path=dict(type='path', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        owner=dict(type='str'),
        action=dict(type='str'),
        version=dict(type='str'),
        ttl=dict(type='int', default=DEFAULT_TTL),
        token=dict(type='str', no_log=False),
        force=dict(type='bool', default=False),
        reason=dict(type='str'),
    )
    module = AnsibleModule(
        argument_spec=argument_spec, supports_check_mode=True,
        required_if=[('state', 'present', ['action']), ('force', True, ['reason'])],
    )
    params = module.params
    try:
        if params['state'] == 'present':
            result = acquire(params['path'], params['owner'], params['action'], version=params['version'],
                             ttl=params['ttl'], token=params['token'], force=params['force'],
                             reason=params['reason'], check_mode=module.check_mode)
        else:
            result = release(params['path'], token=params['token'], force=params['force'],
                             reason=params['reason'], by=params['owner'] or default_owner(),
                             check_mode=module.check_mode)
    except LockHeld as exc:
        module.fail_json(msg=str(exc), acquired=False, lock=exc.holder, broken=None)
    except SelfologyError as exc:
        module.fail_json(msg=str(exc), acquired=False, lock=None, broken=None)
    before = result.pop('before')
    after = result['lock'] if params['state'] == 'present' else None
    module.exit_json(diff=dict(before=before or {}, after=after or {}), **result)


if __name__ == '__main__':
    main()
