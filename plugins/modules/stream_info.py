#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: stream_info
short_description: Describe an event stream, its consumer groups and their consumers
description:
  - The runbook's P1 "Event Processing Backlog" step 2 (C(XLEN), C(XINFO GROUPS)) as one read - length,
    first and last entries and their ages, each consumer group's position, lag and pending entries, each
    consumer's pending entries and idle time, and the consumers that look dead.
  - Never reads the entries themselves - C(XINFO STREAM) (without C(FULL)), C(XINFO GROUPS),
    C(XINFO CONSUMERS) and the summary form of C(XPENDING), in one C(MULTI) so the figures are one
    consistent snapshot. It answers in milliseconds on a stream of millions of entries.
  - Ages are computed from the millisecond time in an entry id, against the Redis server's clock.
  - Lag is what Redis reports. Redis 7 cannot always know it (after C(XDEL) of an entry the group has not
    read yet, or after C(XGROUP SETID)); then RV(groups[].lag) is null and RV(groups[].lag_known) false,
    never 0. Redis before 7.0 reports no lag at all.
  - Dead consumer rule - a consumer is dead when its idle time is greater than O(dead_after) and something
    shows it is not just waiting for entries - it holds pending entries (a live worker acknowledges what it
    is given within seconds), or entries were added to the stream after it was last seen (a live worker
    waiting on the stream would have been given them), or Redis is 7.2 or later (it reports
    RV(groups[].consumer_list[].inactive_ms), and its idle time counts blocked reads). Redis 7.0 does not
    count a blocked C(XREADGROUP) that gets nothing as activity, so a live worker waiting on a quiet stream
    has a growing idle time, and idle time alone would call it dead.
  - A dead consumer that holds pending entries strands them (RV(stranded_pending));
    M(selfology.ops.stream_maintenance) can claim them and then delete the consumer.
  - Read-only, never reports a change.
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.redis
options:
  stream:
    description: The stream key.
    type: str
    default: selfology:events
  dead_after:
    description:
      - Idle time after which a consumer counts as dead - a whole number and one unit, such as C(90s), C(5m) or C(500ms).
    type: str
    default: 5m
attributes:
  check_mode:
    support: full
    description: Read-only; check mode reads the same figures.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
'''

EXAMPLES = r'''
- name: Check the event stream (runbook P1, step 2)
  selfology.ops.stream_info:
    redis_port: 6379
  register: events

- name: Alert on a backlog or on stranded entries
  ansible.builtin.assert:
    that:
      - events.length < 10000
      - events.stranded_pending == 0
    fail_msg: "{{ events.dead_consumers | map(attribute='name') | list }} hold stranded entries"
'''

RETURN = r'''
stream:
  description: The stream key.
  returned: always
  type: str
  sample: selfology:events
exists:
  description: Whether the key exists. When it does not, the other figures are 0, empty or null.
  returned: always
  type: bool
  sample: true
length:
  description: Number of entries (C(XLEN)).
  returned: always
  type: int
  sample: 1523
first_entry_id:
  description: Id of the oldest entry, null for an empty stream.
  returned: always
  type: str
  sample: 1764400000000-0
first_entry_age_s:
  description: Seconds since the oldest entry's id time.
  returned: always
  type: float
  sample: 3600.5
last_entry_id:
  description: Id of the newest entry, null for an empty stream.
  returned: always
  type: str
  sample: 1764403600000-3
last_entry_age_s:
  description: Seconds since the newest entry's id time.
  returned: always
  type: float
  sample: 0.42
last_generated_id:
  description: The last id the stream generated (the newest entry's, unless it was deleted).
  returned: always
  type: str
  sample: 1764403600000-3
entries_added:
  description: Entries ever added (Redis 7 and later, else null).
  returned: always
  type: int
  sample: 250000
max_deleted_entry_id:
  description: Largest id ever deleted (Redis 7 and later, else null).
  returned: always
  type: str
  sample: 0-0
server_time_ms:
  description: The Redis server's clock when it answered, in Unix milliseconds; the ages are relative to it.
  returned: always
  type: int
  sample: 1764403600420
groups:
  description: One entry per consumer group, as C(XINFO GROUPS), C(XPENDING) and C(XINFO CONSUMERS) report it.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Group name.
      type: str
    consumers:
      description: Number of consumers.
      type: int
    pending:
      description: Entries delivered to the group and not acknowledged yet.
      type: int
    last_delivered_id:
      description: Id of the last entry delivered to the group.
      type: str
    entries_read:
      description: Logical read counter of the group; null when Redis does not know it.
      type: int
    lag:
      description: Entries not delivered to the group yet; null when Redis cannot know it (never 0 for unknown).
      type: int
    lag_known:
      description: Whether Redis reported the lag.
      type: bool
    oldest_pending_id:
      description: Smallest pending id (from the C(XPENDING) summary), null when nothing is pending.
      type: str
    oldest_pending_age_s:
      description: Seconds since the oldest pending entry's id time.
      type: float
    newest_pending_id:
      description: Largest pending id, null when nothing is pending.
      type: str
    consumer_list:
      description: The group's consumers.
      type: list
      elements: dict
      contains:
        name:
          description: Consumer name (the worker's container name in the lab).
          type: str
        pending:
          description: Entries delivered to this consumer and not acknowledged.
          type: int
        idle_ms:
          description: Milliseconds since the consumer last tried to read or claim.
          type: int
        inactive_ms:
          description: Milliseconds since its last successful read or claim (Redis 7.2 and later, else null).
          type: int
        dead:
          description: Whether the consumer is dead by the rule above.
          type: bool
  sample:
    - name: analysis-workers
      consumers: 2
      pending: 3
      last_delivered_id: 1764403600000-3
      entries_read: 250000
      lag: 0
      lag_known: true
      oldest_pending_id: 1764403590000-0
      oldest_pending_age_s: 10.42
      newest_pending_id: 1764403600000-3
      consumer_list:
        - {name: selfology-analysis-worker-blue, pending: 3, idle_ms: 120, inactive_ms: null, dead: false}
        - {name: selfology-analysis-worker-green, pending: 0, idle_ms: 900000, inactive_ms: null, dead: true}
dead_after_ms:
  description: O(dead_after) in milliseconds.
  returned: always
  type: int
  sample: 300000
dead_consumers:
  description: The consumers that are dead by the rule above, in every group, each with its group.
  returned: always
  type: list
  elements: dict
  sample:
    - {group: analysis-workers, name: selfology-analysis-worker-green, pending: 0, idle_ms: 900000,
       inactive_ms: null, dead: true}
stranded_pending:
  description: Pending entries held by dead consumers, over all groups.
  returned: always
  type: int
  sample: 0
safe_trim_id:
  description:
    - The id below which every group has had every entry delivered and acknowledged - the minimum over the
      groups of min(successor of the last delivered id, oldest pending id). What
      M(selfology.ops.stream_maintenance) O(selfology.ops.stream_maintenance#module:action=trim) would trim to. Null without groups.
  returned: always
  type: str
  sample: 1764403590000-0
'''

from ansible_collections.selfology.ops.plugins.module_utils import redis_connection
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.streams import parse_duration, stream_info
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    del check_mode  # read-only
    redis_connection.require()
    dead_after_ms = parse_duration(params['dead_after'], 'dead_after')
    client = redis_connection.connect(params)
    try:
        result = stream_info(client, params['stream'], dead_after_ms)
    except redis_connection.redis.RedisError as exc:
        raise SelfologyError('Redis could not describe stream %s: %s' % (params['stream'], exc))
    return dict(result, changed=False)


argument_spec = dict(
    stream=dict(type='str', default='selfology:events'),
    dead_after=dict(type='str', default='5m'),
)
argument_spec.update(redis_connection.redis_argument_spec())
TASK = Task(argument_spec, run)


if __name__ == '__main__':
    main(TASK)
