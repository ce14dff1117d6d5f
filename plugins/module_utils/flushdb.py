# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""FLUSHDB of one Redis database, refused when it is unsafe - atomically with the flush.

One Lua script reads every stream of the database (SCAN TYPE stream, XINFO STREAM, XINFO GROUPS) and
its key count, as one snapshot, and returns the figures with a fingerprint of them (each stream's
length and last generated id, each group's pending count, last delivered id and lag). The plan - and
whether the flush is safe (checks.flushdb_plan) - is worked out from that snapshot. The flush is the
same script again, given the fingerprint the plan was judged on: it recomputes the fingerprint and
runs FLUSHDB only when it is unchanged, all in one atomic step. An entry added, delivered or
acknowledged between the check and the flush changes the fingerprint, so the flush is refused and the
entry survives; nothing can happen between the script's check and its FLUSHDB.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfology.ops.plugins.module_utils.checks import flushdb_plan
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError, UnsafeOperation

# ARGV[1]: 'read', or 'flush' with ARGV[2] the fingerprint the flush was judged on ('*': any).
# Returns {outcome, dbsize, fingerprint, streams}; each stream {key, length, last id, groups}, each
# group {name, pending, lag (-1: Redis cannot know it), last delivered id}.
_SCRIPT = """
local function fields(flat)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
local keys, cursor = {}, '0'
repeat
  local page = redis.call('SCAN', cursor, 'COUNT', 1000, 'TYPE', 'stream')
  cursor = page[1]
  for _, key in ipairs(page[2]) do table.insert(keys, key) end
until cursor == '0'
table.sort(keys)
local streams, prints = {}, {}
for _, key in ipairs(keys) do
  local info = fields(redis.call('XINFO', 'STREAM', key))
  local groups, print = {}, {key, tostring(info['length']), tostring(info['last-generated-id'])}
  for _, raw in ipairs(redis.call('XINFO', 'GROUPS', key)) do
    local g = fields(raw)
    local lag = g['lag']
    if type(lag) ~= 'number' then lag = -1 end
    table.insert(groups, {g['name'], g['pending'], lag, g['last-delivered-id']})
    table.insert(print, g['name'] .. '/' .. g['pending'] .. '/' .. g['last-delivered-id'] .. '/' .. lag)
  end
  table.insert(streams, {key, info['length'], info['last-generated-id'], groups})
  table.insert(prints, table.concat(print, ' '))
end
local fingerprint = table.concat(prints, '\\n')
local size = redis.call('DBSIZE')
if ARGV[1] ~= 'flush' then return {'read', size, fingerprint, streams} end
if ARGV[2] ~= '*' and ARGV[2] ~= fingerprint then return {'changed', size, fingerprint, streams} end
redis.call('FLUSHDB')
return {'flushed', size, fingerprint, streams}
"""


def _streams(rows):
    """The script's stream rows in the shape selfology.ops.stream_info returns."""
    found = []
    for key, length, last_id, groups in rows:
        found.append({'stream': key, 'exists': True, 'length': int(length), 'last_generated_id': last_id,
                      'groups': [{'name': name, 'pending': int(pending), 'lag': None if int(lag) < 0 else int(lag),
                                  'lag_known': int(lag) >= 0, 'last_delivered_id': delivered}
                                 for name, pending, lag, delivered in groups]})
    return found


def _call(client, mode, fingerprint=''):
    try:
        outcome, size, found, rows = client.register_script(_SCRIPT)(keys=[], args=[mode, fingerprint])
    except Exception as exc:  # redis.RedisError; the library may be missing where this is imported
        raise SelfologyError('Redis could not %s the database: %s' % (
            'read' if mode == 'read' else 'flush', exc))
    return outcome, int(size), found, _streams(rows)


def target(params, db):
    """host:port/db, what the operator must type to confirm a flush."""
    return '%s:%s/%d' % (params['redis_host'], params['redis_port'], db)


def flush(client, db, where, event_stream, confirm, allow_pending, check_mode):
    """Plans FLUSHDB of database db (the client's) and runs it when `confirm` equals `where`
    (host:port/db) and the plan is safe (or allow_pending), atomically with the check. Raises
    UnsafeOperation with result=dict(plan, refused) when refused. Returns dict(changed, flushed,
    deleted, plan)."""
    size, fingerprint, streams = _call(client, 'read')[1:]
    plan = dict(flushdb_plan(db, size, streams, event_stream), target=where, allow_pending=bool(allow_pending))

    def refuse(why, message):
        raise UnsafeOperation(message, result=dict(plan=plan, refused=why, flushed=False, deleted=0))

    if confirm != where:
        refuse('confirmation', 'refusing to flush %s (%d keys): %s; confirm with maintenance_flushdb_confirm=%s' % (
            where, plan['dbsize'], 'no confirmation was given' if not confirm else
            'the confirmation %r does not name it' % (confirm,), where))
    if not plan['safe'] and not allow_pending:
        refuse('unsafe', 'refusing to flush %s: %s; they would be lost. Let the workers finish, or override with '
                         'maintenance_flushdb_allow_pending=true' % (where, plan['stream_message']))
    if plan['dbsize'] == 0:
        return dict(changed=False, flushed=False, deleted=0, plan=plan)
    if check_mode:
        return dict(changed=True, flushed=False, deleted=plan['dbsize'], plan=plan)
    outcome, size, fingerprint_now, streams = _call(client, 'flush', '*' if allow_pending else fingerprint)
    del fingerprint_now
    if outcome != 'flushed':
        now = flushdb_plan(db, size, streams, event_stream)
        plan.update(changed_since_check=True, now=now)
        refuse('changed', 'refusing to flush %s: its streams changed between the check and the flush (now: %s); '
                          'nothing was flushed' % (where, now['stream_message']))
    plan['dbsize'] = size
    return dict(changed=True, flushed=True, deleted=size, plan=plan)
