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
    JSON file holding C(owner), C(action), C(version), the holder process (C(host), the controller's
    host name; C(pid), the pid of its C(ansible-playbook); C(start), that process's start time),
    C(since), C(expires), C(lease) and C(token).
  - With O(state=present) the file is created with C(O_CREAT|O_EXCL), so of several callers racing for
    the lock exactly one gets it. When the lock is held the task fails at once, without waiting,
    naming the holder, since when, doing what and until when.
  - The lock is a lease of O(ttl) seconds. Taking the lock again with the holder's O(token) renews it;
    on a local connection the action plugin also starts a renewer on the controller that renews the
    lease every O(ttl)/6 seconds while the holder's C(ansible-playbook) runs, so a long step (a
    health wait, a backup) never loses it. On any other connection (SSH) no renewer can reach the
    host's lock file, so the lease is O(unrenewed_ttl) long instead.
  - A lock whose holder is provably gone is taken over at once, and RV(broken) and RV(taken_over) say
    whose it was and why - when the holder ran on the caller's controller and its process is not
    running any more (or its pid now belongs to a process started at another time), or when its lease
    ran out (a holder on another controller that died stops renewing). A holder known to be running
    on the caller's controller is never taken over.
  - A live lock is refused even with O(force=true), except for O(action=rollback) with O(force=true)
    and a O(reason), because an emergency rollback must always be possible; RV(broken) then names the
    old holder. A lock of the old format (no lease) past its expiry, or a lock file that cannot be read
    or parsed, is replaced only with O(force=true) and a O(reason).
  - With O(state=absent) the lock is removed when O(token) is the holder's. Without a lock file nothing
    changes. Someone else's lock is refused unless O(force=true) and a O(reason) are given. With
    O(interrupted_pid) (after an interrupted run) the lock is released only when its holder is that
    process on the caller's controller and the process is gone; any other lock is left alone.
  - The token is an identifier of the holder, not a secret. It is stored in the lock file and returned.
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
options:
  path:
    description: Path of the lock file on the host. Its directory is created when missing.
    type: path
    required: true
  state:
    description: V(present) takes (or renews) the lock, V(absent) releases it.
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
      - Seconds the lease lasts without a renewal. A lock whose lease ran out is taken over, unless
        its holder is known to be running on the caller's controller.
    type: int
    default: 90
  unrenewed_ttl:
    description:
      - Seconds of the lease when no renewer runs (the module runs on the host, as over SSH), long enough
        for the longest action. A holder on another controller that died blocks others this long,
        unless a forced rollback breaks the lock; one on the caller's controller is checked and taken
        over at once.
    type: int
    default: 1800
    version_added: 0.3.0
  token:
    description:
      - Identifies the holder. With O(state=present) a new lock gets this token (a random one when
        omitted), and a lock that already has this token is the caller's own (its lease is renewed).
      - With O(state=absent) the lock is released only when this is the holder's token.
    type: str
  force:
    description:
      - With O(state=present), replaces an unreadable lock or an expired one of the old format, and with
        O(action=rollback) also a live lock; any other live lock is refused anyway.
      - With O(state=absent), releases the lock whoever holds it.
      - Needs O(reason).
    type: bool
    default: false
  reason:
    description: Why the lock may be broken. Required with O(force=true); returned in RV(broken).
    type: str
  holder_host:
    description:
      - Host name of the controller the holder runs on. Set by the action plugin (the controller's
        host name); recorded in the lock and compared with the holder of a lock found.
    type: str
  holder_pid:
    description:
      - Pid of the holder process on O(holder_host). Set by the action plugin to the pid of the
        task's C(ansible-playbook) process.
    type: int
  holder_start:
    description:
      - Start time of O(holder_pid), in seconds since the epoch (from C(/proc/<pid>/stat) and the boot
        time), so that a pid used again is not mistaken for the holder. Set by the action plugin.
    type: float
  take_over:
    description:
      - Set by the action plugin when the module runs on another host than the controller, after it
        checked on the controller that the holder process is gone. Keys C(pid), C(start) and C(reason).
      - A lock is taken over (or, with O(interrupted_pid), released) on this word only when its holder is
        that process on O(holder_host).
    type: dict
  interrupted_pid:
    description:
      - With O(state=absent), the pid of the C(ansible-playbook) of an interrupted run. The lock is
        released only when its holder is that process on O(holder_host) and the process is gone.
    type: int
attributes:
  check_mode:
    support: full
    description: Reports whether the lock would be taken, broken or released, and fails when it would be refused, without touching the file.
  diff_mode:
    support: full
    description: Shows the lock before and after.
notes:
  - Record every lock that was broken or taken over in the audit log (M(selfology.ops.audit_log)) with RV(broken).
  - On a local connection the module runs inside C(ansible-playbook) (see the action plugin); its
    liveness checks read the controller's C(/proc). On another connection the module runs on the host
    and the action plugin does the checks on the controller.
'''

EXAMPLES = r'''
- name: Take the deploy lock
  selfology.ops.deploy_lock:
    path: /var/lib/selfology-ops/deploy.lock
    owner: alice@laptop
    action: deploy
    version: 1.2.0
  register: deploy_lock

- name: Renew its lease before a long step (the renewer does it on a local connection)
  selfology.ops.deploy_lock:
    path: /var/lib/selfology-ops/deploy.lock
    action: deploy
    token: "{{ deploy_lock.lock.token }}"

- name: Release it at the end (in an always block)
  selfology.ops.deploy_lock:
    path: /var/lib/selfology-ops/deploy.lock
    state: absent
    token: "{{ deploy_lock.lock.token }}"
  when: deploy_lock.acquired | default(false)

- name: Break a live lock for an emergency rollback
  selfology.ops.deploy_lock:
    path: /var/lib/selfology-ops/deploy.lock
    owner: bob@laptop
    action: rollback
    force: true
    reason: deploy of 1.2.0 hangs in its health wait, alice agreed on the call

- name: Release the lock of an interrupted run, if its process is gone
  selfology.ops.deploy_lock:
    path: /var/lib/selfology-ops/deploy.lock
    state: absent
    interrupted_pid: 4242
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
      when refused, returned with the failure). Its C(expires) includes the renewals of the lease.
    - With O(state=absent), the lock that was released; null when there was none.
    - "An unreadable lock file is reported as C({\"unreadable\": \"why\"})."
  returned: always
  type: dict
  sample: {"owner": "alice@laptop", "action": "deploy", "version": "1.2.0", "pid": 4242, "host": "web1",
           "start": 1795935599.87, "since": "2026-11-29T07:00:00Z", "expires": "2026-11-29T07:01:30Z",
           "lease": 90, "token": "0f3c2f8d8a9e4a61b1d7f1e0b6f0f6b1"}
broken:
  description:
    - When a lock was taken over, broken or released for someone else, whose it was (C(previous)), how
      (C(taken_over), its holder being gone; C(forced); C(interrupted)), why (C(reason)), by whom and when;
      null otherwise. A forced rollback also says what the old holder looked like (C(holder_was)).
  returned: always
  type: dict
  sample: {"previous": {"owner": "alice@laptop", "action": "deploy", "version": "1.2.0", "pid": 4242,
                        "host": "web1", "since": "2026-11-29T07:00:00Z", "expires": "2026-11-29T07:01:30Z"},
           "how": "taken_over", "reason": "its process (pid 4242 on web1) is not running",
           "by": "bob@web1", "at": "2026-11-29T08:00:00Z"}
taken_over:
  description: Whether the lock of a holder that is gone was taken over.
  returned: with O(state=present)
  type: bool
  sample: false
renewed:
  description: Whether the caller's own lock (same O(token)) had its lease renewed.
  returned: with O(state=present)
  type: bool
  sample: false
why:
  description: With O(state=absent), why the lock was or was not released (for O(interrupted_pid)).
  returned: with O(state=absent)
  type: str
  sample: "its process (pid 4242 on web1) is not running"
renewer:
  description: Pid of the renewer the action plugin started on the controller; null when none was started.
  returned: with O(state=present), when acquired on a local connection
  type: int
  sample: 4300
'''

import socket

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils import lock
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def judge_from(params):
    """liveness(holder) as the caller sees it: read from /proc when the module runs on the caller's
    controller; otherwise only what the action plugin checked there (take_over)."""
    here = socket.gethostname()
    controller = params['holder_host'] or here
    vouched = params['take_over'] or {}

    def judge(holder):
        if not holder or holder.get('host') != controller:
            return lock.UNKNOWN, None
        if vouched.get('pid') and holder.get('pid') == vouched.get('pid') and (
                vouched.get('start') is None or holder.get('start') == vouched.get('start')):
            return lock.GONE, vouched.get('reason') or 'its process is gone (checked on the controller)'
        if controller == here:
            return lock.liveness(holder, here)
        return lock.UNKNOWN, None
    return judge


def run(params, check_mode):
    judge = judge_from(params)
    try:
        if params['state'] == 'present':
            process = None
            if params['holder_pid']:
                process = dict(host=params['holder_host'] or socket.gethostname(), pid=params['holder_pid'],
                               start=params['holder_start'])
            result = lock.acquire(params['path'], params['owner'], params['action'], version=params['version'],
                                  ttl=params['ttl'], token=params['token'], force=params['force'],
                                  reason=params['reason'], check_mode=check_mode, process=process, judge=judge)
        else:
            interrupted = None
            if params['interrupted_pid']:
                interrupted = dict(pid=params['interrupted_pid'], host=params['holder_host'] or socket.gethostname())
            result = lock.release(params['path'], token=params['token'], force=params['force'],
                                  reason=params['reason'], by=params['owner'] or lock.default_owner(),
                                  check_mode=check_mode, interrupted=interrupted, judge=judge)
    except lock.LockHeld as exc:
        raise SelfologyError(str(exc), result=dict(acquired=False, lock=exc.holder, broken=None))
    except SelfologyError as exc:
        raise SelfologyError(str(exc), result=dict(acquired=False, lock=None, broken=None))
    before = result.pop('before')
    after = result['lock'] if params['state'] == 'present' else None
    return dict(result, diff=dict(before=before or {}, after=after or {}))


argument_spec = dict(
    path=dict(type='path', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    owner=dict(type='str'),
    action=dict(type='str'),
    version=dict(type='str'),
    ttl=dict(type='int', default=lock.DEFAULT_TTL),
    unrenewed_ttl=dict(type='int', default=1800),
    token=dict(type='str', no_log=False),
    force=dict(type='bool', default=False),
    reason=dict(type='str'),
    holder_host=dict(type='str'),
    holder_pid=dict(type='int'),
    holder_start=dict(type='float'),
    take_over=dict(type='dict'),
    interrupted_pid=dict(type='int'),
)
TASK = Task(argument_spec, run,
            required_if=[('state', 'present', ['action']), ('force', True, ['reason'])],
            mutually_exclusive=[('interrupted_pid', 'token'), ('interrupted_pid', 'force')])


if __name__ == '__main__':
    main(TASK)
