# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incident response: service logs classified, the timeline of an incident, the runbook's report.

classify_logs() sorts the lines the runbook tells us to look for (P0 step 2: crash stack traces, out
of memory errors, connection errors to the database, Redis and the AI APIs) into classes, with counts,
the first and last line of each class and the dominant class.

An incident is a dict (or an Incident, which builds one): kind, severity, impact, the steps taken
with their result and duration, the evidence and the fix that resolved it. render_report() fills in
the runbook's incident report template ("4. Document Incident") as Markdown; write_report() writes it
with the incident as JSON beside it, atomically, never over an earlier report.

Every text that reaches a result or a report goes through mask_secrets(): credentials in URLs
(scheme://user:password@host), secret-named key=value pairs and Telegram bot tokens are masked.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import datetime
import errno
import json
import os
import re
import time

from ansible_collections.selfology.ops.plugins.module_utils.audit import FILE_MODE, REDACTED, redact
from ansible_collections.selfology.ops.plugins.module_utils.audit import _make_dirs as make_dirs
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError

LINE_LIMIT = 300          # characters kept of a log line in a classification or a report
TRACEBACK_LIMIT = 60      # lines kept of the last traceback
EVIDENCE_LINES = 200      # log lines kept of one piece of evidence in a report
SEVERITIES = ('P0', 'P1', 'P2', 'P3')
RESULTS = ('ok', 'failed', 'skipped')
KIND = re.compile(r'[a-z0-9][a-z0-9_-]{0,63}')
INCIDENT_FIELDS = ('kind', 'severity', 'impact', 'title', 'service', 'trigger', 'started', 'summary', 'steps',
                   'resolved_by', 'evidence')
STEP_FIELDS = ('name', 'started', 'duration_s', 'result', 'details')
TIMESTAMP = '%Y%m%d_%H%M%S'  # the runbook's $(date +%Y%m%d_%H%M%S), in UTC

# The runbook's template ("4. Document Incident"); Timeline and Evidence are ours, before Root Cause.
HEADINGS = ('Timeline', 'Evidence', 'Root Cause', 'Resolution', 'Prevention')
ROOT_CAUSE_PLACEHOLDER = '[Fill in after investigation]'
PREVENTION_PLACEHOLDER = '[How to prevent in future]'

# ---------------------------------------------------------------------------------------------------
# Secrets

MASK = REDACTED
_URL_CREDENTIALS = re.compile(r'(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#]*@')
_SECRET_PAIR = re.compile(
    r'(?P<key>\b[\w.-]*?(?:passw(?:or)?d|pwd|token|secret|api[_-]?key|private[_-]?key|credential)\b'
    r'["\']?\s*[=:]\s*)(?:(?P<quote>["\'])[^"\']*["\']|[^\s,;&\'"(){}\[\]<>]+)', re.IGNORECASE)
_BEARER = re.compile(r'(?P<key>\bBearer\s+)[\w.~+/=-]+', re.IGNORECASE)
_BOT_TOKEN = re.compile(r'(?P<key>/bot)\d+:[\w-]+')


def mask_secrets(text):
    """text with the credentials of every URL (scheme://user:password@ -> scheme://********@),
    the values of secret-named keys (password=, token:, api_key=, ...), bearer tokens and Telegram
    bot tokens (/bot<token>/) replaced by ********."""
    text = _URL_CREDENTIALS.sub(lambda m: m.group('scheme') + MASK + '@', str(text))
    text = _SECRET_PAIR.sub(lambda m: m.group('key') + (m.group('quote') or '') + MASK + (m.group('quote') or ''), text)
    text = _BEARER.sub(lambda m: m.group('key') + MASK, text)
    return _BOT_TOKEN.sub(lambda m: m.group('key') + MASK, text)


def clip(text, limit=LINE_LIMIT):
    """text masked, then cut to limit characters (ending in an ellipsis when cut)."""
    text = mask_secrets(text)
    return text if len(text) <= limit else text[:limit - 1] + u'\u2026'


def scrub(value):
    """A copy of value with secret-named keys redacted and every string masked, at any depth."""
    value = redact(value)
    if isinstance(value, dict):
        return dict((str(key), scrub(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [scrub(item) for item in value]
    if isinstance(value, str):
        return mask_secrets(value)
    return value


# ---------------------------------------------------------------------------------------------------
# Log classification

CLASSES = ('crash', 'out_of_memory', 'database', 'redis', 'ai_provider', 'other_error')
CLASS_TITLES = {
    'crash': 'crash traces',
    'out_of_memory': 'out of memory',
    'database': 'database connection errors',
    'redis': 'Redis connection errors',
    'ai_provider': 'AI provider errors',
    'other_error': 'other errors',
}
# Which class wins a tie for the most lines: the specific causes before a bare crash or error.
DOMINANCE = ('out_of_memory', 'database', 'redis', 'ai_provider', 'crash', 'other_error')

_FAILURE = (r'(?:time[sd]? ?out|\b5\d\d\b|HTTPError|HTTP Error|Service Unavailable|Bad Gateway|Gateway Time-?out'
            r'|refused|unreachable|reset by peer|\berror\b|fail(?:ed|ure)?\b|unavailable)')
_AI_NAMES = (r'(?:\bai\b|openai|anthropic|\bclaude\b|\bgpt-|chat/completions|\bai[-_ ]?(?:provider|router|stub|api)\b'
             r'|\bllm\b)')


def _near(names):
    """A pattern for a line that names one of names and a failure, in either order."""
    return r'(?:%s).*?%s|%s.*?(?:%s)' % (names, _FAILURE, _FAILURE, names)


# (class, pattern) in the order a line is tested; the first match classifies it. redis-py 7+ shows its
# errors as <type>:<class> (network:ConnectionError, server:OutOfMemoryError) in repr(), without the message.
RULES = (
    ('redis', re.compile(r'OOM command not allowed|used memory > .maxmemory|\bserver:OutOfMemoryError\b', re.IGNORECASE)),
    ('out_of_memory', re.compile(
        r'\bMemoryError\b|\bout of memory\b|OOM[ -]?Kill|\bOOM\b|oom[-_ ]kill|(?-i:\bKilled\b)|Cannot allocate memory'
        r'|\bENOMEM\b|bad_alloc|exit(?:ed)?(?: with)? (?:code|status)[: ]*137\b|signal 9\b|SIGKILL', re.IGNORECASE)),
    ('database', re.compile(
        r'OperationalError|could not connect to server|connection to server (?:at|on)\b'
        r'|server closed the connection unexpectedly|the database system is (?:starting up|shutting down|in recovery)'
        r'|terminating connection due to|too many clients|password authentication failed|PoolTimeout'
        r'|psycopg\w*\.\w*(?:Error|Timeout)|' + _near(r'\bpostgres(?:ql)?\b|:5432\b|\bport 5432\b'), re.IGNORECASE)),
    ('redis', re.compile(
        r'redis\.exceptions\.|Error \d+ connecting to|\b(?:network|tls|auth|server):\w+Error\b|' + _near(r'\bredis\b|:6379\b|\bport 6379\b')
        + r'|\bredis\b.*?(?:lost|closed|LOADING|MISCONF|NOAUTH|READONLY)', re.IGNORECASE)),
    ('ai_provider', re.compile(
        r'circuit[ _-]?breaker\b.*?(?<!half-)\bopen\b(?!\s*->)|' + _near(_AI_NAMES), re.IGNORECASE)),
    ('crash', re.compile(
        r'Traceback \(most recent call last\)|Fatal Python error|Segmentation fault|core dumped|\bpanic:|SIGSEGV'
        r'|SIGABRT|exit(?:ed)?(?: with)? (?:code|status)[: ]*[1-9]\d*|\bcrash(?:ed|es|ing)?\b|Unhandled exception'
        r'|uncaught exception|\bSystemExit\b|terminated unexpectedly', re.IGNORECASE)),
    ('other_error', re.compile(
        r'\b(?:ERROR|CRITICAL|FATAL|PANIC)\b|(?i:\blevel\W{0,3}(?:error|critical|fatal)\b)|\b\w*(?:Error|Exception)\b[:(]'
        r'|(?i:\berror\b)')),
)
_TRACEBACK = re.compile(r'Traceback \(most recent call last\):?')
_CHAINED = re.compile(r'During handling of the above exception|The above exception was the direct cause')
# The prefix `docker logs --timestamps` adds to every line; frames are indented after it.
_DOCKER_TIME = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)? ')


def _ai_rule(ai_url):
    """A rule for failures that name the AI provider's host (from its URL), or None."""
    match = re.match(r'^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/@\s]*@)?([^/\s?#]+)', ai_url or '')
    if not match:
        return None
    host = re.escape(match.group(1))
    return ('ai_provider', re.compile(_near(host), re.IGNORECASE))


def _classify_line(line, rules):
    for name, pattern in rules:
        if pattern.search(line):
            return name
    return None


def _as_lines(lines):
    if lines is None:
        return []
    if isinstance(lines, (bytes, bytearray)):
        lines = lines.decode('utf-8', 'replace')
    if isinstance(lines, str):
        return lines.splitlines()
    if not isinstance(lines, (list, tuple)):
        raise SelfologyError('log lines must be a list of strings or a text, not %s' % type(lines).__name__)
    found = []
    for item in lines:
        if item is None:
            continue
        if isinstance(item, (bytes, bytearray)):
            item = item.decode('utf-8', 'replace')
        found.extend(str(item).splitlines() or [''])
    return found


class _Tally(object):
    def __init__(self):
        self.counts = dict((name, 0) for name in CLASSES)
        self.first = dict((name, None) for name in CLASSES)
        self.last = dict((name, None) for name in CLASSES)

    def add(self, name, line):
        self.counts[name] += 1
        self.last[name] = clip(line)
        if self.first[name] is None:
            self.first[name] = self.last[name]

    def relabel_last(self, name, line):
        """The last line of name becomes line (and the first, when it was the only one)."""
        self.last[name] = clip(line)
        if self.counts[name] == 1:
            self.first[name] = self.last[name]


def classify_logs(lines, ai_url=None):
    """Classifies service log lines (a list, or one text) into CLASSES.

    Each line counts in one class at most: the first rule of RULES it matches, so a connection error
    logged at ERROR level counts as that connection error, not as another error. A Python traceback
    counts once as a crash (its sample is the exception it ends with); its frames are not classified,
    a chained traceback ("During handling of the above exception") continues it, and its exception
    line counts in addition when it names a cause (out of memory, database, Redis, AI provider).
    ai_url, the AI provider's URL, makes failures that name its host AI provider errors.

    Returns total_lines, counts (every class), classes (class -> title, count, first, last; the lines
    masked and cut to LINE_LIMIT), dominant (the class with the most lines, ties going to DOMINANCE's
    order; None when nothing matched), tracebacks (how many), traceback (the last one's lines) and
    summary (one line for a person)."""
    rules = RULES
    extra = _ai_rule(ai_url)
    if extra:
        rules = RULES[:-2] + (extra,) + RULES[-2:]
    causes = tuple(rule for rule in rules if rule[0] not in ('crash', 'other_error'))
    tally = _Tally()
    all_lines = _as_lines(lines)
    tracebacks, last_traceback = 0, []
    in_traceback, chain_pending = False, False
    for raw in all_lines:
        line = raw.rstrip('\r\n')
        body = _DOCKER_TIME.sub('', line, count=1)
        if _TRACEBACK.search(body):
            if not chain_pending:
                tracebacks += 1
                tally.add('crash', line)
                last_traceback = []
            in_traceback, chain_pending = True, False
            last_traceback.append(clip(line))
            continue
        if in_traceback:
            if not body.strip() or body[:1].isspace():
                last_traceback.append(clip(line))
                continue
            in_traceback = False
            last_traceback.append(clip(line))
            tally.relabel_last('crash', 'Traceback (most recent call last) ... ' + body.strip())
            cause = _classify_line(body, causes)
            if cause:
                tally.add(cause, line)
            continue
        if _CHAINED.search(body) and last_traceback:
            chain_pending = True
            last_traceback.append(clip(line))
            continue
        if not body.strip():
            continue
        chain_pending = False
        name = _classify_line(body, rules)
        if name:
            tally.add(name, line)
    dominant = None
    ranked = sorted((name for name in CLASSES if tally.counts[name]),
                    key=lambda name: (-tally.counts[name], DOMINANCE.index(name)))
    if ranked:
        dominant = ranked[0]
    classes = dict((name, dict(title=CLASS_TITLES[name], count=tally.counts[name], first=tally.first[name],
                               last=tally.last[name])) for name in CLASSES)
    if ranked:
        summary = ', '.join('%s %d%s' % (CLASS_TITLES[name], tally.counts[name], ' (dominant)' if name == dominant else '')
                            for name in ranked) + ' in %d lines' % len(all_lines)
    else:
        summary = 'no error lines in %d lines' % len(all_lines)
    return dict(total_lines=len(all_lines), counts=dict(tally.counts), classes=classes, dominant=dominant,
                matched=sum(tally.counts.values()), tracebacks=tracebacks,
                traceback=last_traceback[-TRACEBACK_LIMIT:], summary=summary)


# ---------------------------------------------------------------------------------------------------
# Times

def _utc(moment):
    return moment.astimezone(datetime.timezone.utc) if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def parse_time(value, what='time'):
    """A datetime (UTC) from an ISO 8601 text (Z or an offset; none means UTC), epoch seconds or a datetime."""
    if isinstance(value, datetime.datetime):
        return _utc(value)
    if isinstance(value, bool):
        raise SelfologyError('%s must be an ISO 8601 time or epoch seconds, not %r' % (what, value))
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    text = str(value or '').strip()
    if re.match(r'^\d+(\.\d+)?$', text):
        return datetime.datetime.fromtimestamp(float(text), datetime.timezone.utc)
    iso = re.sub(r'[Zz]$', '+00:00', text.replace(' ', 'T', 1))
    iso = re.sub(r'(\.\d{6})\d+', r'\1', iso)  # nanoseconds (docker) to microseconds
    try:
        return _utc(datetime.datetime.fromisoformat(iso))
    except ValueError:
        raise SelfologyError('%s must be an ISO 8601 time such as 2025-01-01T09:30:00Z or epoch seconds, not %r' % (
            what, value))


def iso(moment):
    """The ISO 8601 text of a UTC datetime, to the millisecond, with Z."""
    return _utc(moment).strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (moment.microsecond // 1000)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


# ---------------------------------------------------------------------------------------------------
# The incident

def _text(value, what, required=False):
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise SelfologyError('an incident needs %s' % what)
        return None
    if isinstance(value, (dict, list, tuple)):
        raise SelfologyError('%s must be a text, not %s' % (what, type(value).__name__))
    return mask_secrets(str(value).strip())


def normalize_step(step, index=0):
    """A timeline step checked and in its canonical form: name, started (ISO, UTC), duration_s
    (seconds or None), result (ok, failed or skipped), details (masked)."""
    if not isinstance(step, dict):
        raise SelfologyError('step %d must be a dict with name and result, not %r' % (index + 1, step))
    unknown = sorted(set(step) - set(STEP_FIELDS))
    if unknown:
        raise SelfologyError('step %d has unknown fields %s: expected %s' % (
            index + 1, ', '.join(map(str, unknown)), ', '.join(STEP_FIELDS)))
    name = _text(step.get('name'), 'a name for step %d' % (index + 1), required=True)
    result = step.get('result')
    if result not in RESULTS:
        raise SelfologyError('step %r has result %r: expected one of %s' % (name, result, ', '.join(RESULTS)))
    duration = step.get('duration_s')
    if duration is not None:
        try:
            duration = round(float(duration), 3)
        except (TypeError, ValueError):
            raise SelfologyError('step %r has duration_s %r: expected seconds' % (name, duration))
        if duration < 0:
            raise SelfologyError('step %r has a negative duration_s' % name)
    started = step.get('started')
    started = iso(parse_time(started, 'started of step %r' % name)) if started not in (None, '') else None
    details = step.get('details')
    if isinstance(details, str):
        details = details.strip() or None
    return dict(name=name, started=started, duration_s=duration, result=result,
                details=scrub(details) if details not in (None, {}, []) else None)


def _evidence_kind(content):
    if isinstance(content, dict) and 'counts' in content and 'dominant' in content and 'classes' in content:
        return 'classification'
    if isinstance(content, dict):
        return 'figures'
    if isinstance(content, (list, tuple)) and content and all(isinstance(item, dict) for item in content):
        return 'table'
    if isinstance(content, (list, tuple)):
        return 'log'
    return 'text'


EVIDENCE_KINDS = ('log', 'figures', 'table', 'text', 'classification', 'query')


def normalize_evidence(evidence):
    """Evidence as a list of dict(title, kind, content[, query]): from such a list, or a dict of
    title -> content. kind is log (lines), figures (a dict), table (a list of dicts), text,
    classification (what classify_logs returned) or query (content is the answer to query); it is
    inferred from the content when not given. Everything is masked."""
    if evidence in (None, '', [], {}):
        return []
    if isinstance(evidence, dict):
        evidence = [dict(title=str(title), content=content) for title, content in evidence.items()]
    if not isinstance(evidence, (list, tuple)):
        raise SelfologyError('evidence must be a list of dict(title, content) or a dict of title -> content')
    found = []
    for index, item in enumerate(evidence):
        if not isinstance(item, dict) or 'content' not in item:
            raise SelfologyError('evidence %d must be a dict with title and content, not %r' % (index + 1, item))
        unknown = sorted(set(item) - {'title', 'kind', 'content', 'query'})
        if unknown:
            raise SelfologyError('evidence %d has unknown fields %s: expected title, kind, content, query' % (
                index + 1, ', '.join(map(str, unknown))))
        content = item['content']
        kind = item.get('kind') or ('query' if item.get('query') else _evidence_kind(content))
        if kind not in EVIDENCE_KINDS:
            raise SelfologyError('evidence %d has kind %r: expected one of %s' % (
                index + 1, kind, ', '.join(EVIDENCE_KINDS)))
        if kind == 'log':
            content = [clip(line) for line in _as_lines(content)]
        entry = dict(title=_text(item.get('title'), 'title') or 'Evidence %d' % (index + 1), kind=kind,
                     content=scrub(content))
        if item.get('query'):
            entry['query'] = mask_secrets(item['query'])
        found.append(entry)
    return found


def _step_end(step):
    if step['started'] is None or step['duration_s'] is None:
        return None
    return parse_time(step['started']) + datetime.timedelta(seconds=step['duration_s'])


def normalize_incident(incident, now=None):
    """The incident checked and in its canonical form (a new dict; the input is not changed).

    Needs kind (lower case, digits, - and _), severity (P0..P3) and impact. started defaults to the
    first step's start, else now. resolved_by, when given, must name a step whose last run was ok.
    Adds status (resolved or unresolved), ended (the last step's end) and time_to_resolve_s (from
    started to the end of the step that resolved it)."""
    if isinstance(incident, Incident):
        incident = incident.as_dict()
    if not isinstance(incident, dict):
        raise SelfologyError('an incident must be a dict, not %s' % type(incident).__name__)
    computed = ('status', 'ended', 'time_to_resolve_s')
    unknown = sorted(set(incident) - set(INCIDENT_FIELDS) - set(computed))
    if unknown:
        raise SelfologyError('the incident has unknown fields %s: expected %s' % (
            ', '.join(map(str, unknown)), ', '.join(INCIDENT_FIELDS)))
    kind = incident.get('kind')
    if not isinstance(kind, str) or not KIND.fullmatch(kind):
        raise SelfologyError('incident kind %r must be lower-case letters, digits, - and _ (such as service-down)' % (
            kind,))
    severity = incident.get('severity')
    if severity not in SEVERITIES:
        raise SelfologyError('incident severity %r: expected one of %s' % (severity, ', '.join(SEVERITIES)))
    steps = incident.get('steps') or []
    if not isinstance(steps, (list, tuple)):
        raise SelfologyError('incident steps must be a list')
    steps = [normalize_step(step, index) for index, step in enumerate(steps)]
    started = incident.get('started')
    if started in (None, ''):
        starts = [step['started'] for step in steps if step['started']]
        started = min(starts, key=parse_time) if starts else iso(now or utcnow())
    started = iso(parse_time(started, 'incident started'))
    resolved_by = _text(incident.get('resolved_by'), 'resolved_by')
    time_to_resolve = None
    if resolved_by:
        runs = [step for step in steps if step['name'] == resolved_by]
        if not runs:
            raise SelfologyError('resolved_by %r names no step of the incident: its steps are %s' % (
                resolved_by, ', '.join(step['name'] for step in steps) or 'none'))
        if runs[-1]['result'] != 'ok':
            raise SelfologyError('resolved_by %r names a step whose result is %s, not ok' % (
                resolved_by, runs[-1]['result']))
        end = _step_end(runs[-1])
        if end is not None:
            time_to_resolve = round((end - parse_time(started)).total_seconds(), 3)
    ends = [end for end in (_step_end(step) for step in steps) if end is not None]
    return dict(
        kind=kind, severity=severity,
        impact=_text(incident.get('impact'), 'an impact', required=True),
        title=_text(incident.get('title'), 'title') or _default_title(kind, incident.get('service')),
        service=_text(incident.get('service'), 'service'),
        trigger=_text(incident.get('trigger'), 'trigger'),
        started=started,
        ended=iso(max(ends)) if ends else None,
        summary=_text(incident.get('summary'), 'summary'),
        steps=steps,
        resolved_by=resolved_by,
        status='resolved' if resolved_by else 'unresolved',
        time_to_resolve_s=time_to_resolve,
        evidence=normalize_evidence(incident.get('evidence')),
    )


def _default_title(kind, service):
    words = kind.replace('_', ' ').replace('-', ' ').strip()
    title = words[:1].upper() + words[1:]
    return '%s: %s' % (title, mask_secrets(service)) if service else title


class Incident(object):
    """Builds an incident as its steps run.

        incident = Incident('service-down', 'P0', 'Users unable to get analysis', service='analysis-worker')
        with incident.step('Fix A: restart service') as step:
            ...                      # an exception marks the step failed and propagates
            step['result'] = 'failed'  # or set the result (ok by default) and details
        incident.resolve('Fix A: restart service')
    """

    def __init__(self, kind, severity, impact, started=None, clock=time.time, **fields):
        self.clock = clock
        self.data = dict(fields, kind=kind, severity=severity, impact=impact,
                         started=started if started is not None else iso(parse_time(clock())),
                         steps=[], evidence=[])

    def add_step(self, name, result, started=None, duration_s=None, details=None):
        step = normalize_step(dict(name=name, result=result, started=started, duration_s=duration_s,
                                   details=details), len(self.data['steps']))
        self.data['steps'].append(step)
        return step

    @contextlib.contextmanager
    def step(self, name):
        """Times the block as a step; the block may set result (default ok) and details in the dict."""
        started, begin = self.clock(), time.monotonic()
        record = dict(result='ok', details=None)
        try:
            yield record
        except Exception as exc:
            record.update(result='failed', details=record.get('details') or '%s: %s' % (type(exc).__name__, exc))
            raise
        finally:
            self.add_step(name, record['result'], started=started, duration_s=time.monotonic() - begin,
                          details=record.get('details'))

    def add_evidence(self, title, content, kind=None, query=None):
        item = dict(title=title, content=content)
        if kind:
            item['kind'] = kind
        if query:
            item['query'] = query
        self.data['evidence'].extend(normalize_evidence([item]))

    def resolve(self, step_name):
        self.data['resolved_by'] = step_name

    def as_dict(self):
        return normalize_incident(self.data)


# ---------------------------------------------------------------------------------------------------
# The report

def _cell(value):
    """A Markdown table cell: one line, pipes escaped."""
    if value is None or value == '':
        return '-'
    if not isinstance(value, str):
        value = json.dumps(value, sort_keys=True, default=str, separators=(', ', ': '))
    return ' '.join(value.split()).replace('|', '\\|')


def _fence(lines, info='text'):
    longest = max([len(run) for line in lines for run in re.findall(r'`+', line)] + [2])
    fence = '`' * (longest + 1)
    return [fence + info] + list(lines) + [fence]


def _duration(seconds):
    if seconds is None:
        return '-'
    if seconds < 60:
        return '%.1f s' % seconds
    minutes, rest = divmod(seconds, 60)
    return '%dm %02ds' % (minutes, rest)


def _render_evidence(item):
    content, kind = item['content'], item['kind']
    out = ['### %s' % item['title'].replace('\n', ' '), '']
    if item.get('query'):
        out += ['Query: `%s`' % item['query'].replace('`', "'"), '']
    if kind == 'classification' and isinstance(content, dict):
        out += ['%s.' % content.get('summary', ''), '',
                '| Class | Lines | First | Last |', '|---|---|---|---|']
        classes = content.get('classes') or {}
        for name in CLASSES:
            entry = classes.get(name) or {}
            if entry.get('count'):
                out.append('| %s%s | %s | %s | %s |' % (
                    _cell(entry.get('title', name)), ' (dominant)' if name == content.get('dominant') else '',
                    entry['count'], _cell(entry.get('first')), _cell(entry.get('last'))))
        if content.get('traceback'):
            out += [''] + _fence([str(line) for line in content['traceback']])
    elif kind == 'log':
        lines = [str(line) for line in content] if isinstance(content, list) else str(content).splitlines()
        cut = len(lines) - EVIDENCE_LINES
        if cut > 0:
            lines = ['[%d earlier lines left out]' % cut] + lines[-EVIDENCE_LINES:]
        out += _fence(lines or ['(no lines)'])
    elif isinstance(content, dict) and kind in ('figures', 'query'):
        out += ['| Figure | Value |', '|---|---|']
        out += ['| %s | %s |' % (_cell(str(key)), _cell(value)) for key, value in content.items()]
    elif isinstance(content, list) and content and all(isinstance(row, dict) for row in content):
        columns = []
        for row in content:
            columns.extend(key for key in row if key not in columns)
        out += ['| %s |' % ' | '.join(_cell(str(key)) for key in columns), '|%s' % ('---|' * len(columns))]
        out += ['| %s |' % ' | '.join(_cell(row.get(key)) for key in columns) for row in content]
    elif isinstance(content, str) and '\n' not in content.strip():
        out.append(content.strip() or '(empty)')
    else:
        text = content if isinstance(content, str) else json.dumps(content, indent=2, sort_keys=True, default=str)
        out += _fence(text.splitlines() or ['(empty)'], 'json' if not isinstance(content, str) else 'text')
    return out + ['']


def _resolving_index(data):
    """The index of the step that resolved the incident (the last run of resolved_by), or None."""
    runs = [index for index, step in enumerate(data['steps']) if step['name'] == data['resolved_by']]
    return runs[-1] if runs else None


def render_report(incident):
    """The runbook's incident report ("4. Document Incident") filled in, as Markdown: the title,
    Time, Severity and Impact, then Timeline (every step with its start, duration, result and
    details) and Evidence, then the template's Root Cause (left for a person), Resolution (the fix
    that resolved it, or that none did) and Prevention (left for a person)."""
    data = normalize_incident(incident)
    out = ['# Incident: %s' % data['title'].replace('\n', ' '), '',
           '**Time:** %s' % data['started'],
           '**Severity:** %s' % data['severity'],
           '**Impact:** %s' % ' '.join(data['impact'].split())]
    if data['service']:
        out.append('**Service:** %s' % data['service'])
    if data['trigger']:
        out.append('**Trigger:** %s' % ' '.join(data['trigger'].split()))
    if data['status'] == 'resolved':
        out.append('**Status:** resolved by %s%s' % (data['resolved_by'], ' after %s' % _duration(
            data['time_to_resolve_s']) if data['time_to_resolve_s'] is not None else ''))
    else:
        out.append('**Status:** unresolved')
    if data['summary']:
        out += ['', data['summary']]
    out += ['', '## Timeline', '']
    if data['steps']:
        out += ['| # | Step | Started | Duration | Result | Details |', '|---|---|---|---|---|---|']
        resolving = _resolving_index(data)
        for number, step in enumerate(data['steps'], 1):
            out.append('| %d | %s | %s | %s | %s | %s |' % (
                number, _cell(step['name']), _cell(step['started']), _duration(step['duration_s']),
                step['result'] + (' (resolved it)' if number - 1 == resolving else ''), _cell(step['details'])))
    else:
        out.append('No steps were recorded.')
    out += ['', '## Evidence', '']
    if data['evidence']:
        for item in data['evidence']:
            out += _render_evidence(item)
    else:
        out += ['No evidence was recorded.', '']
    out += ['## Root Cause', '', ROOT_CAUSE_PLACEHOLDER, '', '## Resolution', '']
    if data['status'] == 'resolved':
        resolving = data['steps'][_resolving_index(data)]
        line = '%s resolved it' % data['resolved_by']
        if data['time_to_resolve_s'] is not None:
            line += ', %s after the incident started' % _duration(data['time_to_resolve_s'])
        out.append(line + '.')
        if resolving['details']:
            out += ['', 'Details: %s' % _cell(resolving['details'])]
        tried = [step['name'] for step in data['steps'] if step['result'] == 'failed']
        if tried:
            out += ['', 'Tried first without success: %s.' % ', '.join(tried)]
    else:
        failed = [step['name'] for step in data['steps'] if step['result'] == 'failed']
        out.append('No step resolved it%s: a person must take over.' % (
            ' (failed: %s)' % ', '.join(failed) if failed else ''))
    out += ['', '## Prevention', '', PREVENTION_PLACEHOLDER, '']
    return '\n'.join(out)


# ---------------------------------------------------------------------------------------------------
# Writing

def report_stem(directory, kind, now=None):
    """The path without extension of the next report: <directory>/<YYYYmmdd_HHMMSS>_<kind> (UTC, the
    kind's - written _ as in the runbook's ..._service_down.md), with -2, -3, ... when a report (.md
    or .json) of that name exists."""
    stamp = _utc(now or utcnow()).strftime(TIMESTAMP)
    base = os.path.join(directory, '%s_%s' % (stamp, kind.replace('-', '_')))
    stem, number = base, 1
    while os.path.lexists(stem + '.md') or os.path.lexists(stem + '.json'):
        number += 1
        stem = '%s-%d' % (base, number)
    return stem


def report_paths(directory, incident, now=None):
    """(markdown path, json path) write_report would write now; nothing is written."""
    data = normalize_incident(incident, now=now)
    stem = report_stem(directory, data['kind'], now)
    return stem + '.md', stem + '.json'


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_file(directory, data):
    """A hidden temporary file in directory holding data, written and synced, mode FILE_MODE."""
    for attempt in range(100):
        path = os.path.join(directory, '.incident-%d-%d-%d.tmp' % (os.getpid(), int(time.time() * 1000), attempt))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            continue
        try:
            os.fchmod(fd, FILE_MODE)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)
        return path
    raise SelfologyError('cannot create a temporary file in %s' % directory)


def _claim(temp, path):
    """Moves temp to path unless path exists; True when it did. A hard link is atomic and never
    replaces; where the file system has none, the name is claimed with O_EXCL, then replaced."""
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS, errno.EXDEV):
            raise
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:
            return False
        os.replace(temp, path)
        return True
    os.unlink(temp)
    return True


def write_report(directory, incident, now=None):
    """Writes the report (render_report) to <directory>/<timestamp>_<kind>.md and the incident as JSON
    beside it (.json); returns (markdown path, json path).

    The directory is created with mode 0750, the files with 0640. Each file is written to a temporary
    file, synced and moved into place atomically, so a reader never sees part of a report; a report
    is never overwritten: an existing name gets the next -2, -3, ... suffix."""
    data = normalize_incident(incident, now=now)
    markdown = render_report(data).encode('utf-8')
    try:
        make_dirs(os.path.abspath(directory))
        temp = _temp_file(directory, markdown)
        try:
            stem = report_stem(directory, data['kind'], now)
            while not _claim(temp, stem + '.md'):  # another writer took the name since report_stem looked
                stem = report_stem(directory, data['kind'], now)
        finally:
            if os.path.lexists(temp):
                os.unlink(temp)
        md_path, json_path = stem + '.md', stem + '.json'
        record = dict(data, report=os.path.basename(md_path))
        body = (json.dumps(record, indent=2, sort_keys=True, default=str) + '\n').encode('utf-8')
        temp = _temp_file(directory, body)
        try:
            os.replace(temp, json_path)
        finally:
            if os.path.lexists(temp):
                os.unlink(temp)
        _fsync_dir(directory)
    except OSError as exc:
        raise SelfologyError('cannot write the incident report in %s: %s' % (directory, exc.strerror or exc))
    return md_path, json_path
