#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: stream_maintenance
short_description: Claim stranded entries, remove dead consumers and trim an event stream safely
description:
  - Three maintenance steps on a Redis stream read through consumer groups, chosen with O(action).
    Each one plans from what Redis reports, then acts in a Lua script that checks its precondition
    again atomically, so a worker that reads, acknowledges or comes back meanwhile only makes the
    step smaller. Check mode and diff mode report the plan; the result then says what was done.
  - Dead consumer rule (as M(selfology.ops.stream_info)) - a consumer is dead when its idle time is
    greater than O(dead_after) and it holds pending entries, or entries were added to the stream after it
    was last seen, or Redis is 7.2 or later. (Redis 7.0 does not count a blocked read that gets nothing as
    activity, so a live worker waiting on a quiet stream is not called dead.)
  - O(action=claim) moves the pending entries that have been idle for at least O(min_idle) from the dead
    consumers of O(group) that hold some (or from O(consumers)) to O(to_consumer), with C(XCLAIM ... JUSTID)
    (the delivery counter is not increased). Each entry moves only if its owner is still the source consumer
    and it is still idle enough. O(to_consumer) must be a live consumer of the group; the lab's worker then
    processes them through its own C(XAUTOCLAIM) or when it next reads its pending list.
  - O(action=delete_consumers) runs C(XGROUP DELCONSUMER) for the dead consumers of O(group) (or for
    O(consumers)) that hold no pending entry. A consumer that holds pending entries is never deleted - it is
    listed in RV(refused) (claim its entries first). A dead consumer that has come back is not deleted either.
  - O(action=trim) removes only entries every group has had delivered and has acknowledged. The safe trim id
    is the minimum over the groups of min(successor of the group's last delivered id, its oldest pending id);
    C(XTRIM MINID =) with it removes only entries below it, so no undelivered or pending entry is ever
    removed. It is exact (C(=), not C(~)) so that what check mode counts is what a run removes; C(~) would
    be as safe but removes only whole internal nodes, a number nobody can predict.
  - With O(maxlen), only as many entries as bring the stream down to O(maxlen) go, and never one at or past
    the safe trim id. A stream without groups is refused unless O(allow_no_groups).
  - Counting what a trim removes walks those entries on the server, 10,000 per Lua call (about 1.4 s for
    1,000,000 entries on the lab); nothing else reads entries.
  - Each change is logged on the managed host.
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.redis
options:
  action:
    description: The maintenance step.
    type: str
    required: true
    choices: [claim, delete_consumers, trim]
  stream:
    description: The stream key.
    type: str
    default: selfology:events
  group:
    description: The consumer group for O(action=claim) and O(action=delete_consumers). O(action=trim) considers every group.
    type: str
    default: analysis-workers
  consumers:
    description:
      - The consumers to claim from (O(action=claim)) or to delete (O(action=delete_consumers)), dead or not.
        When omitted, the dead consumers. Names not in the group are listed in RV(missing_consumers).
    type: list
    elements: str
  to_consumer:
    description: The live consumer that receives the claimed entries. Required with O(action=claim).
    type: str
  min_idle:
    description:
      - With O(action=claim), only entries delivered at least this long ago move, such as C(90s), C(5m) or
        C(500ms) (a whole number and one unit).
    type: str
    default: 5m
  dead_after:
    description: Idle time after which a consumer counts as dead, such as C(5m) (a whole number and one unit).
    type: str
    default: 5m
  maxlen:
    description:
      - With O(action=trim), keep at least this many entries, removing only down to this length and only
        below the safe trim id. When omitted, every entry below the safe trim id goes.
    type: int
  allow_no_groups:
    description: With O(action=trim), trim a stream that has no consumer group (then every entry counts as consumed).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Plans from the same reads and reports what would be claimed, deleted, refused or removed, without writing.
  diff_mode:
    support: full
    description: Pending counts per consumer (claim), consumer names (delete_consumers) or the stream's length (trim), before and after.
'''

EXAMPLES = r'''
- name: Hand the entries of dead workers to the active one
  selfology.ops.stream_maintenance:
    action: claim
    to_consumer: selfology-analysis-worker-blue
    min_idle: 1m

- name: Remove consumers that are gone and hold nothing
  selfology.ops.stream_maintenance:
    action: delete_consumers
    dead_after: 1h

- name: Weekly - trim what every group has consumed, keeping the last 100000 entries
  selfology.ops.stream_maintenance:
    action: trim
    maxlen: 100000
'''

RETURN = r'''
action:
  description: O(action).
  returned: always
  type: str
  sample: trim
stream:
  description: O(stream).
  returned: always
  type: str
  sample: selfology:events
group:
  description: O(group).
  returned: when O(action) is C(claim) or C(delete_consumers)
  type: str
  sample: analysis-workers
to_consumer:
  description: O(to_consumer).
  returned: when O(action=claim)
  type: str
  sample: selfology-analysis-worker-blue
claimed:
  description: Entries moved (in check mode, that would move).
  returned: when O(action=claim)
  type: int
  sample: 12
sources:
  description: One entry per consumer claimed from.
  returned: when O(action=claim)
  type: list
  elements: dict
  contains:
    consumer:
      description: The consumer the entries came from.
      type: str
    idle_ms:
      description: Its idle time when inspected.
      type: int
    dead:
      description: Whether it was dead by the rule.
      type: bool
    pending:
      description: Entries it held when inspected.
      type: int
    claimed:
      description: Entries moved from it.
      type: int
    ids:
      description: The ids moved, oldest first (at most 1000).
      type: list
      elements: str
    ids_truncated:
      description: Whether more ids moved than RV(sources[].ids) lists.
      type: bool
  sample:
    - {consumer: selfology-analysis-worker-green, idle_ms: 900000, dead: true, pending: 2, claimed: 2,
       ids: [1764403590000-0, 1764403590000-1], ids_truncated: false}
deleted:
  description: Consumers deleted (in check mode, that would be).
  returned: when O(action=delete_consumers)
  type: list
  elements: dict
  sample: [{name: selfology-analysis-worker-green, pending: 0, idle_ms: 900000}]
refused:
  description: Consumers not deleted, with the reason (they hold pending entries, or came back).
  returned: when O(action=delete_consumers)
  type: list
  elements: dict
  sample: [{name: old-worker, pending: 4, idle_ms: 7200000, reason: holds 4 pending entries; claim them first}]
missing_consumers:
  description: Names in O(consumers) that the group does not have.
  returned: when O(action) is C(claim) or C(delete_consumers)
  type: list
  elements: str
  sample: []
exists:
  description: Whether the stream exists.
  returned: when O(action=trim)
  type: bool
  sample: true
length_before:
  description: Entries before the trim.
  returned: when O(action=trim)
  type: int
  sample: 250000
length_after:
  description: Entries after the trim (in check mode, the length minus RV(removed)).
  returned: when O(action=trim)
  type: int
  sample: 100000
safe_trim_id:
  description: The safe trim id - no entry at or after it is removed. Null for a missing stream.
  returned: when O(action=trim)
  type: str
  sample: 1764403590000-0
limiting_group:
  description: The group whose position sets RV(safe_trim_id).
  returned: when O(action=trim)
  type: str
  sample: analysis-workers
trim_id:
  description: The id C(XTRIM MINID =) was given, null when nothing is removed.
  returned: when O(action=trim)
  type: str
  sample: 1764403000000-0
removed:
  description: Entries removed (in check mode, that would be).
  returned: when O(action=trim)
  type: int
  sample: 150000
removed_first_id:
  description: Oldest entry removed, as planned.
  returned: when O(action=trim)
  type: str
  sample: 1764300000000-0
removed_last_id:
  description: Newest entry removed, as planned.
  returned: when O(action=trim)
  type: str
  sample: 1764402999999-0
groups:
  description: Each group's position and the bound it puts on the trim.
  returned: when O(action=trim)
  type: list
  elements: dict
  sample:
    - {name: analysis-workers, last_delivered_id: 1764403600000-3, oldest_pending_id: 1764403590000-0,
       trim_bound: 1764403590000-0}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfology.ops.plugins.module_utils import redis_connection, streams
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError


def run_claim(module, client, params, dead_after_ms):
    min_idle_ms = streams.parse_duration(params['min_idle'], 'min_idle')
    plan = streams.plan_claim(client, params['stream'], params['group'], params['to_consumer'],
                              min_idle_ms, dead_after_ms, params['consumers'])
    moved = None
    if not module.check_mode:
        moved = streams.claim(client, params['stream'], params['group'], plan, min_idle_ms)
    report = streams.claim_report(plan, moved)
    before = dict((s['consumer'], s['pending']) for s in report['sources'])
    after = dict((s['consumer'], s['pending'] - s['claimed']) for s in report['sources'])
    if report['claimed'] and not module.check_mode:
        module.log('stream_maintenance: claimed %d entries of %s/%s for %s from %s' % (
            report['claimed'], params['stream'], params['group'], params['to_consumer'],
            ', '.join(s['consumer'] for s in report['sources'] if s['claimed'])))
    return dict(report, changed=report['claimed'] > 0,
                diff=dict(before=dict(pending=before), after=dict(pending=after)))


def run_delete(module, client, params, dead_after_ms):
    plan = streams.plan_delete_consumers(client, params['stream'], params['group'], dead_after_ms,
                                         params['consumers'])
    existing = sorted(row['name'] for row in plan['delete'] + plan['refused'])
    if module.check_mode:
        deleted, refused, missing = plan['delete'], plan['refused'], plan['missing']
    else:
        deleted, refused, missing = streams.delete_consumers(client, params['stream'], params['group'], plan,
                                                             dead_after_ms)
        if deleted:
            module.log('stream_maintenance: deleted consumers %s of %s/%s' % (
                ', '.join(r['name'] for r in deleted), params['stream'], params['group']))
    gone = set(r['name'] for r in deleted)
    return dict(changed=bool(deleted), deleted=deleted, refused=refused, missing_consumers=missing,
                diff=dict(before=dict(consumers=existing), after=dict(consumers=[n for n in existing if n not in gone])))


def run_trim(module, client, params):
    plan = streams.plan_trim(client, params['stream'], params['maxlen'], params['allow_no_groups'])
    removed, trim_id = plan['removed'], plan['trim_id']
    length_after = plan['length'] - removed
    if not module.check_mode and trim_id:
        removed, trim_id = streams.trim(client, params['stream'], plan, params['allow_no_groups'])
        length_after = client.xlen(params['stream'])
        module.log('stream_maintenance: trimmed %d entries of %s below %s' % (removed, params['stream'], trim_id))
    result = dict(
        changed=removed > 0, exists=plan['exists'], length_before=plan['length'], length_after=length_after,
        safe_trim_id=plan['safe_trim_id'], limiting_group=plan['limiting_group'], trim_id=trim_id if removed else None,
        removed=removed, removed_first_id=plan['removed_first_id'], removed_last_id=plan['removed_last_id'],
        groups=plan['groups'],
        diff=dict(before=dict(length=plan['length']), after=dict(length=length_after)),
    )
    return result


def main():
    argument_spec = dict(
        action=dict(type='str', required=True, choices=['claim', 'delete_consumers', 'trim']),
        stream=dict(type='str', default='selfology:events'),
        group=dict(type='str', default='analysis-workers'),
        consumers=dict(type='list', elements='str'),
        to_consumer=dict(type='str'),
        min_idle=dict(type='str', default='5m'),
        dead_after=dict(type='str', default='5m'),
        maxlen=dict(type='int'),
        allow_no_groups=dict(type='bool', default=False),
    )
    argument_spec.update(redis_connection.redis_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('action', 'claim', ['to_consumer'])])
    redis_connection.require_redis(module)
    params = module.params
    action = params['action']
    result = dict(action=action, stream=params['stream'])
    if action != 'trim':
        result['group'] = params['group']
    try:
        if params['maxlen'] is not None and (action != 'trim' or params['maxlen'] < 0):
            raise SelfologyError('maxlen is a length (0 or more) for action=trim only')
        dead_after_ms = streams.parse_duration(params['dead_after'], 'dead_after')
        client = redis_connection.connect(params)
        if action == 'claim':
            result.update(run_claim(module, client, params, dead_after_ms))
        elif action == 'delete_consumers':
            result.update(run_delete(module, client, params, dead_after_ms))
        else:
            result.update(run_trim(module, client, params))
    except SelfologyError as exc:
        module.fail_json(msg=str(exc), **result)
    except redis_connection.redis.RedisError as exc:
        module.fail_json(msg='Redis refused %s on stream %s: %s' % (action, params['stream'], exc), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
