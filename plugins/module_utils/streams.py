# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The event stream and its consumer groups: what they hold, and the three maintenance steps.

Reading never scans entries: XINFO STREAM (without FULL), XINFO GROUPS, XINFO CONSUMERS and
the summary form of XPENDING, in one MULTI so the figures are one consistent snapshot.

Rules (the modules' documentation repeats them):

- A consumer is dead when its idle time is greater than dead_after and one of these shows it
  is not merely waiting: it holds pending entries (a live worker acknowledges what it is given
  within seconds, so entries it got more than dead_after ago are stuck with it); or entries
  were added to the stream after it was last seen; or Redis is 7.2 or later (it reports
  `inactive`). Redis 7.0 does not count a blocked XREADGROUP that gets nothing as activity:
  a live worker waiting on a quiet stream sees its idle time grow, so idle alone would call
  it dead. From 7.2 idle counts every attempt, blocked reads included. A dead consumer that
  holds pending entries strands them: those are what claim moves and what stops delete.
- The safe trim id of a group is min(successor(last-delivered-id), oldest pending id). Every
  entry below it was delivered to the group and acknowledged by it. The stream's safe trim id
  is the minimum over its groups; XTRIM MINID = that id removes only entries below it.

Every write sits in a Lua script that checks its precondition again, atomically, just before
it acts. module_utils raise SelfologyError / UnsafeOperation; modules turn them into fail_json.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.selfology.ops.plugins.module_utils import durations
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError, UnsafeOperation

try:
    from redis.exceptions import ResponseError
except ImportError:  # the module's require_redis() reports it; keep the pure helpers importable
    ResponseError = Exception

MAX_ID_PART = 2 ** 64 - 1
PAGE = 1000          # XPENDING rows per page when listing entries to claim
CLAIM_BATCH = 500    # ids per atomic claim script call
WALK_PAGE = 10000    # entries per XRANGE page when counting what a trim removes
ID_SAMPLE = 1000     # ids listed per consumer in a claim report (the count is always exact)

_ID = re.compile(r'^(\d+)(?:-(\d+))?$')


# ---------------------------------------------------------------- pure helpers

def parse_duration(value, name='duration'):
    """Milliseconds from a duration option such as '500ms', '30s' or '5m'."""
    return int(round(durations.parse_duration(value, name) * 1000))


def parse_id(value):
    """(ms, seq) of a stream id 'ms-seq' (or 'ms', read as 'ms-0')."""
    match = _ID.match(str(value))
    if not match:
        raise SelfologyError('%r is not a stream id (ms-seq)' % (value,))
    ms, seq = int(match.group(1)), int(match.group(2) or 0)
    if ms > MAX_ID_PART or seq > MAX_ID_PART:
        raise SelfologyError('%r is beyond the largest stream id' % (value,))
    return ms, seq


def format_id(parts):
    return '%d-%d' % parts


def id_successor(value):
    """The smallest id greater than value; the largest id is its own bound (nothing follows it)."""
    ms, seq = parse_id(value)
    if seq < MAX_ID_PART:
        return format_id((ms, seq + 1))
    if ms < MAX_ID_PART:
        return format_id((ms + 1, 0))
    return format_id((ms, seq))


def min_id(*ids):
    """The smallest of the ids that are not None, or None."""
    present = [i for i in ids if i is not None]
    return min(present, key=parse_id) if present else None


def id_less(a, b):
    return parse_id(a) < parse_id(b)


def id_age_s(value, now_ms):
    """Seconds since the millisecond time in an id, against the Redis server's clock; never negative."""
    if value is None:
        return None
    return round(max(0, now_ms - parse_id(value)[0]) / 1000.0, 3)


def is_dead(consumer, dead_after_ms, last_entry_ms=None, now_ms=None):
    """The dead-consumer rule (see the module docstring).

    consumer: {'idle_ms', 'pending', 'inactive_ms'}; last_entry_ms: the millisecond part of the
    stream's last generated id; now_ms: the Redis server's clock.
    """
    idle = consumer.get('idle_ms')
    if idle is None or idle <= dead_after_ms:
        return False
    if consumer.get('pending') or consumer.get('inactive_ms') is not None:
        return True
    return last_entry_ms is not None and now_ms is not None and last_entry_ms > now_ms - idle


def group_trim_bound(group):
    """The id below which every entry was delivered to the group and acknowledged by it."""
    return min_id(id_successor(group['last_delivered_id']), group.get('oldest_pending_id'))


def safe_trim_id(groups, last_generated_id=None, allow_no_groups=False):
    """(id, limiting group name): XTRIM MINID = id removes nothing some group still needs.

    With no groups the stream is refused (UnsafeOperation) unless allow_no_groups, when every
    entry up to last_generated_id counts as done.
    """
    if not groups:
        if not allow_no_groups:
            raise UnsafeOperation('the stream has no consumer group, so nothing proves its entries were '
                                  'consumed; refusing to trim (set allow_no_groups to trim it anyway)')
        return id_successor(last_generated_id or '0-0'), None
    bounds = sorted(((group_trim_bound(g), g['name']) for g in groups), key=lambda b: (parse_id(b[0]), b[1]))
    return bounds[0]


def trim_target(safe_id, removable_below_safe, length, maxlen, nth_entry_id=None):
    """Decides a trim: (MINID target or None, number of entries removed).

    removable_below_safe: entries with an id below safe_id (counted, up to what maxlen asks for);
    nth_entry_id: with maxlen, the id of the (length - maxlen)th entry, when that entry lies
    below safe_id. Without maxlen everything below safe_id goes; with it, only what brings the
    stream down to maxlen, and never past safe_id.
    """
    if maxlen is None:
        return (safe_id, removable_below_safe) if removable_below_safe else (None, 0)
    excess = max(0, length - maxlen)
    if excess == 0 or removable_below_safe == 0:
        return None, 0
    if removable_below_safe >= excess and nth_entry_id is not None:
        return id_successor(nth_entry_id), excess
    return safe_id, removable_below_safe


# ---------------------------------------------------------------- reading

def _field(mapping, *names):
    for name in names:
        if name in mapping:
            return mapping[name]
    return None


def _entry_id(entry):
    if not entry:
        return None
    if isinstance(entry, (list, tuple)):
        return entry[0]
    return entry.get('id') if isinstance(entry, dict) else None


def _no_key(exc):
    return 'no such key' in str(exc).lower()


def _raise_if_error(value, stream):
    if isinstance(value, Exception):
        if 'WRONGTYPE' in str(value):
            raise SelfologyError('key %s is not a stream' % stream)
        raise SelfologyError('Redis refused to describe stream %s: %s' % (stream, value))
    return value


def _server_ms(time_reply):
    seconds, micros = time_reply
    return int(seconds) * 1000 + int(micros) // 1000


def _read(client, stream, names):
    """One round trip: TIME, XINFO STREAM, XINFO GROUPS and, for each named group, XINFO CONSUMERS and
    the XPENDING summary. With names, in MULTI, so that every figure belongs to the same instant."""
    pipe = client.pipeline(transaction=bool(names))
    pipe.time()
    pipe.xinfo_stream(stream)
    pipe.xinfo_groups(stream)
    for name in names:
        pipe.xinfo_consumers(stream, name)
        pipe.xpending(stream, name)
    replies = pipe.execute(raise_on_error=False)
    now, info, groups = replies[:3]
    now_ms = _server_ms(_raise_if_error(now, stream))
    if isinstance(info, Exception) and _no_key(info):
        return now_ms, None, [], {}
    _raise_if_error(info, stream)
    groups = _raise_if_error(groups, stream)
    details = dict((name, (replies[3 + 2 * i], replies[4 + 2 * i])) for i, name in enumerate(names))
    return now_ms, info, groups, details


def _snapshot(client, stream):
    """(now_ms, stream info or None, groups, {group: (consumers, pending summary)}), one consistent snapshot.

    The first round trip learns the group names (and is the only one for a stream without groups);
    the second reads everything again with each group's details. A group created or removed in
    between is picked up by reading once more (at most four reads, then what the last one gave).
    """
    names = []
    for _attempt in range(4):
        now_ms, info, groups, details = _read(client, stream, names)
        current = [g['name'] for g in groups]
        complete = not any(isinstance(v, Exception) for pair in details.values() for v in pair)
        if current == names and complete:
            break
        names = current
    return now_ms, info, groups, details


def _consumer_row(raw, dead_after_ms, last_entry_ms, now_ms):
    row = {
        'name': raw['name'],
        'pending': int(raw.get('pending') or 0),
        'idle_ms': None if raw.get('idle') is None else int(raw['idle']),
        'inactive_ms': None if raw.get('inactive') is None else int(raw['inactive']),
    }
    row['dead'] = is_dead(row, dead_after_ms, last_entry_ms, now_ms)
    return row


def _group_row(raw, consumers, pending, now_ms, dead_after_ms, last_entry_ms=None):
    lag = _field(raw, 'lag')
    row = {
        'name': raw['name'],
        'consumers': int(raw.get('consumers') or 0),
        'pending': int(raw.get('pending') or 0),
        'last_delivered_id': _field(raw, 'last-delivered-id', 'last_delivered_id'),
        'entries_read': _field(raw, 'entries-read', 'entries_read'),
        'lag': None if lag is None else int(lag),
        'lag_known': lag is not None,
        'oldest_pending_id': None,
        'oldest_pending_age_s': None,
        'newest_pending_id': None,
        'consumer_list': [],
    }
    if isinstance(pending, dict) and pending.get('pending'):
        row['oldest_pending_id'] = pending.get('min')
        row['newest_pending_id'] = pending.get('max')
        row['oldest_pending_age_s'] = id_age_s(pending.get('min'), now_ms)
    if isinstance(consumers, list):
        row['consumer_list'] = [_consumer_row(c, dead_after_ms, last_entry_ms, now_ms) for c in consumers]
    return row


def stream_info(client, stream, dead_after_ms):
    """What stream_info returns (see its RETURN): the stream, its groups and their consumers."""
    now_ms, info, groups, details = _snapshot(client, stream)
    result = {
        'stream': stream, 'exists': info is not None, 'length': 0,
        'first_entry_id': None, 'first_entry_age_s': None, 'last_entry_id': None, 'last_entry_age_s': None,
        'last_generated_id': None, 'entries_added': None, 'max_deleted_entry_id': None,
        'groups': [], 'dead_after_ms': dead_after_ms, 'dead_consumers': [], 'stranded_pending': 0,
        'safe_trim_id': None, 'server_time_ms': now_ms,
    }
    if info is None:
        return result
    first, last = _entry_id(info.get('first-entry')), _entry_id(info.get('last-entry'))
    result.update({
        'length': int(info.get('length') or 0),
        'first_entry_id': first, 'first_entry_age_s': id_age_s(first, now_ms),
        'last_entry_id': last, 'last_entry_age_s': id_age_s(last, now_ms),
        'last_generated_id': info.get('last-generated-id'),
        'entries_added': info.get('entries-added'),
        'max_deleted_entry_id': info.get('max-deleted-entry-id'),
    })
    last_entry_ms = _id_ms(result['last_generated_id'])
    for raw in groups:
        consumers, pending = details.get(raw['name'], (None, None))
        result['groups'].append(_group_row(raw, consumers, pending, now_ms, dead_after_ms, last_entry_ms))
    for group in result['groups']:
        for consumer in group['consumer_list']:
            if consumer['dead']:
                result['dead_consumers'].append(dict(consumer, group=group['name']))
                result['stranded_pending'] += consumer['pending']
    if result['groups'] and all(isinstance(d[1], dict) for d in details.values()) and \
            set(details) == set(g['name'] for g in result['groups']):
        result['safe_trim_id'] = safe_trim_id(result['groups'])[0]
    return result


def _id_ms(value):
    return parse_id(value)[0] if value else None


def _consumers(client, stream, group, dead_after_ms):
    """The group's consumers, each with the dead-consumer rule applied (one MULTI)."""
    pipe = client.pipeline(transaction=True)
    pipe.time()
    pipe.xinfo_stream(stream)
    pipe.xinfo_consumers(stream, group)
    now, info, raw = pipe.execute(raise_on_error=False)
    for reply in (info, raw):
        if isinstance(reply, ResponseError) and ('NOGROUP' in str(reply) or _no_key(reply)):
            raise SelfologyError('stream %s has no consumer group %s' % (stream, group))
        _raise_if_error(reply, stream)
    now_ms, last_ms = _server_ms(_raise_if_error(now, stream)), _id_ms(info.get('last-generated-id'))
    return [_consumer_row(c, dead_after_ms, last_ms, now_ms) for c in raw]


# ---------------------------------------------------------------- claim

# Moves the given ids to the target consumer, but only those the source still owns and that are
# still idle for at least min-idle: ownership and idle time are checked in the same atomic step.
_CLAIM = """
local ids = {}
for i = 5, #ARGV do
  local row = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[4], ARGV[i], ARGV[i], 1, ARGV[2])
  if #row == 1 then ids[#ids + 1] = ARGV[i] end
end
if #ids == 0 then return {} end
ids[#ids + 1] = 'JUSTID'
return redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], ARGV[4], unpack(ids))
"""


def _pending_ids(client, stream, group, consumer, min_idle_ms):
    """Ids the consumer holds that are idle for at least min_idle_ms, oldest first (paged XPENDING)."""
    ids, start = [], '-'
    while True:
        rows = client.xpending_range(stream, group, min=start, max='+', count=PAGE,
                                     consumername=consumer, idle=min_idle_ms)
        ids.extend(r['message_id'] for r in rows)
        if len(rows) < PAGE:
            return ids
        start = '(' + rows[-1]['message_id']


def plan_claim(client, stream, group, to_consumer, min_idle_ms, dead_after_ms, consumers=None):
    """What claim would move: {'sources': [{consumer, idle_ms, pending, ids}], 'to_consumer': ...}."""
    found = dict((c['name'], c) for c in _consumers(client, stream, group, dead_after_ms))
    target = found.get(to_consumer)
    if target is None:
        raise UnsafeOperation('consumer %s is not in group %s of %s; claiming to it would strand the entries '
                              'again' % (to_consumer, group, stream))
    if target['dead']:
        raise UnsafeOperation('consumer %s has been idle for %d ms (more than dead_after); claim to a live '
                              'consumer' % (to_consumer, target['idle_ms']))
    if consumers:
        if to_consumer in consumers:
            raise SelfologyError('to_consumer %s is also a consumer to claim from' % to_consumer)
        sources = [found[name] for name in consumers if name in found]
        missing = [name for name in consumers if name not in found]
    else:
        sources = [c for c in found.values() if c['dead'] and c['pending']]
        missing = []
    plan = []
    for source in sorted(sources, key=lambda c: c['name']):
        ids = _pending_ids(client, stream, group, source['name'], min_idle_ms) if source['pending'] else []
        plan.append({'consumer': source['name'], 'idle_ms': source['idle_ms'], 'dead': source['dead'],
                     'pending': source['pending'], 'ids': ids})
    return {'to_consumer': to_consumer, 'sources': plan, 'missing': missing}


def claim(client, stream, group, plan, min_idle_ms):
    """Claims what the plan lists, batch by batch; returns {consumer: [ids actually moved]}."""
    script = client.register_script(_CLAIM)
    moved = {}
    for source in plan['sources']:
        done = []
        for start in range(0, len(source['ids']), CLAIM_BATCH):
            batch = source['ids'][start:start + CLAIM_BATCH]
            done.extend(script(keys=[stream], args=[group, source['consumer'], plan['to_consumer'],
                                                    min_idle_ms] + batch))
        moved[source['consumer']] = done
    return moved


def claim_report(plan, moved=None):
    """The module's result rows; counts from the plan (check mode) or from what moved."""
    rows, total = [], 0
    for source in plan['sources']:
        ids = source['ids'] if moved is None else moved.get(source['consumer'], [])
        total += len(ids)
        rows.append({'consumer': source['consumer'], 'idle_ms': source['idle_ms'], 'dead': source['dead'],
                     'pending': source['pending'], 'claimed': len(ids), 'ids': ids[:ID_SAMPLE],
                     'ids_truncated': len(ids) > ID_SAMPLE})
    return {'to_consumer': plan['to_consumer'], 'claimed': total, 'sources': rows,
            'missing_consumers': plan['missing']}


# ---------------------------------------------------------------- delete consumers

# Deletes the consumer only if it holds no pending entry and, when ARGV[3] >= 0, is still idle for
# longer than ARGV[3] ms. -1: holds pending entries; -2: came back to life; -3: already gone.
_DELETE = """
local found = false
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, idle
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1] elseif c[i] == 'idle' then idle = c[i + 1] end
  end
  if name == ARGV[2] then
    found = true
    if tonumber(ARGV[3]) >= 0 and idle <= tonumber(ARGV[3]) then return -2 end
  end
end
if not found then return -3 end
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return -1 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
"""


def plan_delete_consumers(client, stream, group, dead_after_ms, consumers=None):
    """{'delete': [rows], 'refused': [rows], 'missing': [names]}: named consumers, or the dead ones."""
    found = dict((c['name'], c) for c in _consumers(client, stream, group, dead_after_ms))
    if consumers:
        candidates = [found[name] for name in consumers if name in found]
        missing = [name for name in consumers if name not in found]
    else:
        candidates = [c for c in found.values() if c['dead']]
        missing = []
    plan = {'delete': [], 'refused': [], 'missing': missing, 'named': bool(consumers)}
    for consumer in sorted(candidates, key=lambda c: c['name']):
        row = {'name': consumer['name'], 'pending': consumer['pending'], 'idle_ms': consumer['idle_ms']}
        if consumer['pending']:
            row['reason'] = 'holds %d pending entries; claim them first' % consumer['pending']
            plan['refused'].append(row)
        else:
            plan['delete'].append(row)
    return plan


def delete_consumers(client, stream, group, plan, dead_after_ms):
    """Deletes what the plan lists, each checked again atomically; returns (deleted, refused, missing)."""
    script = client.register_script(_DELETE)
    deleted, refused, missing = [], list(plan['refused']), list(plan['missing'])
    for row in plan['delete']:
        outcome = script(keys=[stream], args=[group, row['name'], -1 if plan['named'] else dead_after_ms])
        if outcome == -1:
            refused.append(dict(row, reason='received pending entries since it was inspected'))
        elif outcome == -2:
            refused.append(dict(row, reason='became active since it was inspected'))
        elif outcome == -3:
            missing.append(row['name'])
        else:
            deleted.append(row)
    return deleted, refused, missing


# ---------------------------------------------------------------- trim

# One XRANGE page, reduced to (count, first id, last id) so no entry travels to the client.
_WALK = """
local rows = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
if #rows == 0 then return {0} end
return {#rows, rows[1][1], rows[#rows][1]}
"""

# Recomputes every group's bound (as group_trim_bound) and trims at min(planned id, bounds), in
# one atomic step: a group created or moved back since the plan only makes the trim smaller.
_TRIM = """
local MAX = '18446744073709551615'
local function num_cmp(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  if a == b then return 0 end
  return a < b and -1 or 1
end
local function split(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms, seq
end
local function id_less(a, b)
  local am, as = split(a)
  local bm, bs = split(b)
  local c = num_cmp(am, bm)
  if c ~= 0 then return c < 0 end
  return num_cmp(as, bs) < 0
end
local function incr(s)
  local out, carry = {}, 1
  for i = #s, 1, -1 do
    local d = string.byte(s, i) - 48 + carry
    if d == 10 then d, carry = 0, 1 else carry = 0 end
    out[i] = string.char(48 + d)
  end
  local r = table.concat(out)
  if carry == 1 then r = '1' .. r end
  return r
end
local function successor(id)
  local ms, seq = split(id)
  if seq ~= MAX then return ms .. '-' .. incr(seq) end
  if ms ~= MAX then return incr(ms) .. '-0' end
  return id
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local target = ARGV[1]
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 and ARGV[2] ~= '1' then return {'nogroups'} end
for _, g in ipairs(groups) do
  local name, delivered
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then delivered = g[i + 1] end
  end
  local bound = successor(delivered)
  local pending = redis.call('XPENDING', KEYS[1], name)
  if pending[1] > 0 and id_less(pending[2], bound) then bound = pending[2] end
  if id_less(bound, target) then target = bound end
end
return {'ok', redis.call('XTRIM', KEYS[1], 'MINID', '=', target), target}
"""


def _walk(client, stream, below, limit=None):
    """(count, first id, last id) of the entries with an id below `below`, stopping after limit."""
    script = client.register_script(_WALK)
    count, first, last, start = 0, None, None, '-'
    while limit is None or count < limit:
        page = WALK_PAGE if limit is None else min(WALK_PAGE, limit - count)
        reply = script(keys=[stream], args=[start, '(' + below, page])
        if not reply[0]:
            break
        count += int(reply[0])
        first = first or reply[1]
        last = reply[2]
        if int(reply[0]) < page:
            break
        start = '(' + last
    return count, first, last


def plan_trim(client, stream, maxlen=None, allow_no_groups=False):
    """What trim would do: the safe id, its limiting group, the MINID target and the entries removed."""
    _now, info, groups, details = _snapshot(client, stream)
    plan = {'exists': info is not None, 'length': 0, 'safe_trim_id': None, 'limiting_group': None,
            'trim_id': None, 'removed': 0, 'removed_first_id': None, 'removed_last_id': None, 'groups': []}
    if info is None:
        return plan
    plan['length'] = int(info.get('length') or 0)
    rows = []
    for raw in groups:
        pending = details.get(raw['name'], (None, None))[1]
        if isinstance(pending, Exception) or pending is None:
            raise SelfologyError('could not read the pending entries of group %s; try again' % raw['name'])
        row = {'name': raw['name'], 'last_delivered_id': _field(raw, 'last-delivered-id'),
               'oldest_pending_id': pending.get('min') if pending.get('pending') else None}
        row['trim_bound'] = group_trim_bound(row)
        rows.append(row)
    plan['groups'] = rows
    safe, limiting = safe_trim_id(rows, info.get('last-generated-id'), allow_no_groups)
    plan['safe_trim_id'], plan['limiting_group'] = safe, limiting
    limit = None if maxlen is None else max(0, plan['length'] - maxlen)
    if limit == 0:
        return plan
    count, first, last = _walk(client, stream, safe, limit)
    target, removed = trim_target(safe, count, plan['length'], maxlen, last if count == limit else None)
    plan.update(trim_id=target, removed=removed, removed_first_id=first if removed else None,
                removed_last_id=last if removed else None)
    return plan


def trim(client, stream, plan, allow_no_groups=False):
    """Trims at the plan's id, lowered to the groups' bounds as they are at that instant: (removed, id)."""
    if not plan['trim_id']:
        return 0, None
    reply = client.register_script(_TRIM)(keys=[stream], args=[plan['trim_id'], '1' if allow_no_groups else '0'])
    if reply[0] == 'missing':
        return 0, None
    if reply[0] == 'nogroups':
        raise UnsafeOperation('the consumer groups of %s disappeared before the trim; refusing to trim' % stream)
    return int(reply[1]), reply[2]
