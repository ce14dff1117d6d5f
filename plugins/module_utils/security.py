# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The security audit (runbook - Monthly Checklist: Security audit): what the host shows (docker inspect of
every container and its image, Redis, PostgreSQL, file modes, the configured URLs) in, findings with a
severity out. Each check is one small function over readings, unit-tested without any service
(tests/unit/test_security_audit.py); the readers at the end gather the readings and change nothing.

A finding names its check and its subject (a container and variable, a path's name, a URL's name...),
never a secret's value. Accepted findings (the inventory's security_accepted_findings: check, subject glob,
reason) stay in the report with their reason and raise no status; an acceptance that matches nothing is
itself a finding, so stale acceptances are noticed."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import fnmatch
import ipaddress
import os
import re
import stat

from ansible.module_utils.six.moves.urllib.parse import unquote, urlsplit

from ansible_collections.selfology.ops.plugins.module_utils.checks import EXIT_CODES
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.slots import LABEL_SLOT

SEVERITIES = ('info', 'warning', 'critical')
# info is reported and changes nothing: the status of an audit whose findings are all info is ok.
STATUS_OF_SEVERITY = {'info': 'ok', 'warning': 'warning', 'critical': 'critical'}

# The checks in the report's order (the acceptances name one of them).
CHECKS = ('ports', 'privileged', 'docker_socket', 'secrets', 'redis_auth', 'redis_protected_mode', 'postgres_trust',
          'postgres_superuser', 'file_modes', 'redis_persistence', 'image_age', 'tls')
# The finding about an acceptance that matched nothing.
STALE = 'acceptance'

# Environment variable and label names that hold credentials. *_FILE names a file holding one, which is
# how a secret should be passed, so it is not a finding.
SECRET_NAME = re.compile(r'PASSW(OR)?D|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|AUTH_?KEY', re.I)
SECRET_REFERENCE = re.compile(r'_FILE$', re.I)
# A URL with a password in it: scheme://user:password@ (the user may be empty, as in redis://:pw@host).
CREDENTIAL_URL = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@')
POSTGRES_URL = re.compile(r'postgres(ql)?://', re.I)
DOCKER_SOCKETS = ('/var/run/docker.sock', '/run/docker.sock')
PLAIN_SCHEMES = ('http', 'ws')


def finding(check, subject, severity, message, **figures):
    if severity not in SEVERITIES:
        raise SelfologyError('unknown severity %r' % (severity,))
    return dict(check=check, subject=subject, severity=severity, message=message, figures=figures)


def unreadable(check, what, reading):
    """A check that could not read what it judges: a warning, so an audit that did not look is never ok."""
    return finding(check, 'unreadable', 'warning', 'not checked: cannot read %s: %s' % (what, reading.get('error')))


def _name(attrs):
    return (attrs.get('Name') or attrs.get('Id', '?')[:12]).lstrip('/')


def _running(attrs):
    return bool((attrs.get('State') or {}).get('Running'))


def is_loopback_host(host):
    """127.0.0.0/8, ::1 or localhost; anything else (0.0.0.0, ::, a name, an address) is not."""
    if not host:
        return False
    host = host.strip('[]')
    if host.lower() == 'localhost':
        return True
    try:
        return ipaddress.ip_address(u'%s' % host).is_loopback
    except ValueError:
        return False


# ---- Docker: ports, privileged, the Docker socket, secrets, image age -----------------------------------

def _bindings(attrs):
    """The host bindings of each container port: what is bound now for a running container, what would be
    bound at its start otherwise (HostIp '' there means every interface)."""
    if _running(attrs):
        return (attrs.get('NetworkSettings') or {}).get('Ports') or {}
    return (attrs.get('HostConfig') or {}).get('PortBindings') or {}


def _address(host, port):
    return '[%s]:%s' % (host, port) if ':' in host else '%s:%s' % (host, port)


def port_findings(containers):
    """Ports published beyond loopback (0.0.0.0, ::, or another address) are critical: everything is meant to
    listen on 127.0.0.1 only. A container on the host's network publishes nothing through Docker, so what it
    listens on cannot be judged here: a warning."""
    found = []
    for attrs in containers:
        name = _name(attrs)
        host_config = attrs.get('HostConfig') or {}
        if host_config.get('NetworkMode') == 'host':
            found.append(finding('ports', '%s/host-network' % name, 'warning',
                                 'container %s uses the host\'s network: every port it listens on is on the host\'s '
                                 'interfaces, unchecked by Docker' % name))
        if host_config.get('PublishAllPorts') and not _running(attrs):
            found.append(finding('ports', '%s/all' % name, 'critical',
                                 'container %s publishes every exposed port on every interface (-P)' % name))
        for port, bindings in sorted(_bindings(attrs).items()):
            wide = [_address(b.get('HostIp') or '0.0.0.0', b.get('HostPort') or '?') for b in bindings or []
                    if not is_loopback_host(b.get('HostIp'))]
            if wide:
                found.append(finding('ports', '%s/%s' % (name, port), 'critical',
                                     'container %s publishes %s on %s: beyond 127.0.0.1' % (name, port, ', '.join(wide)),
                                     container=name, port=port, bindings=wide))
    return found


def privileged_findings(containers):
    """A privileged container is root on the host."""
    return [finding('privileged', _name(a), 'critical',
                    'container %s runs privileged: it has every capability and every device of the host' % _name(a))
            for a in containers if (a.get('HostConfig') or {}).get('Privileged')]


def docker_socket_findings(containers, sockets=DOCKER_SOCKETS):
    """The Docker socket mounted in a container gives it the Docker engine, which is root on the host."""
    found = []
    for attrs in containers:
        for mount in attrs.get('Mounts') or []:
            source, target = mount.get('Source') or '', mount.get('Destination') or ''
            if source in sockets or source.endswith('/docker.sock') or target.endswith('/docker.sock'):
                found.append(finding('docker_socket', _name(attrs), 'critical',
                                     'container %s has the Docker socket %s mounted at %s: it controls the Docker '
                                     'engine, which is root on the host' % (_name(attrs), source, target)))
                break
    return found


def secret_kind(name, value):
    """Why a variable or label holds a credential (its name, or a password in a URL), or None. Empty values and
    *_FILE references are not secrets."""
    if not value:
        return None
    if SECRET_NAME.search(name) and not SECRET_REFERENCE.search(name):
        return 'its name says it holds a credential'
    if CREDENTIAL_URL.search(value):
        return 'it holds a URL with a password (user:password@)'
    return None


def _env(attrs):
    pairs = []
    for item in (attrs.get('Config') or {}).get('Env') or []:
        name, _sep, value = item.partition('=')
        pairs.append((name, value))
    return pairs


def secret_findings(containers):
    """Credentials in a container's environment or labels: docker inspect shows them to anyone with Docker access
    (and labels travel with the image). Only the container and the variable are named, never the value."""
    found = []
    for attrs in containers:
        name = _name(attrs)
        places = [('env', 'environment variable', _env(attrs)),
                  ('label', 'label', sorted(((attrs.get('Config') or {}).get('Labels') or {}).items()))]
        for where, noun, pairs in places:
            for key, value in pairs:
                why = secret_kind(key, value)
                if why:
                    found.append(finding('secrets', '%s/%s/%s' % (name, where, key), 'warning',
                                         '%s %s of container %s: %s; docker inspect shows it' % (noun, key, name, why),
                                         container=name, variable=key, where=where))
    return found


def parse_docker_time(text):
    """Seconds since the epoch from Docker's RFC 3339 time (2026-12-01T23:26:01.123456789Z, or with an offset)."""
    match = re.match(r'(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$', text or '')
    if not match:
        raise SelfologyError('not a time: %r' % (text,))
    fields = [int(match.group(i)) for i in range(1, 7)]
    seconds = calendar.timegm(tuple(fields) + (0, 0, 0)) + float(match.group(7) or 0)
    zone = match.group(8)
    if zone != 'Z':
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[0] == '+' else -offset
    return seconds


def image_age_findings(images, max_age_seconds, now):
    """An image built longer ago than the limit carries that old a system: rebuild it for security updates."""
    found = []
    for image in images:
        if image.get('error'):
            found.append(unreadable('image_age', 'image %s' % image.get('name'), image))
            continue
        try:
            age = now - parse_docker_time(image.get('created'))
        except SelfologyError:
            found.append(finding('image_age', image['name'], 'info',
                                 'image %s has no build date Docker can give (%r)' % (image['name'], image.get('created'))))
            continue
        if age > max_age_seconds:
            found.append(finding('image_age', image['name'], 'warning',
                                 'image %s was built %d days ago (limit %d days), used by %s: rebuild it'
                                 % (image['name'], age // 86400, max_age_seconds // 86400,
                                    ', '.join(image.get('containers') or []) or 'no container'),
                                 age_days=int(age // 86400), containers=image.get('containers') or []))
    return found


def service_postgres_users(containers, login_user):
    """The PostgreSQL roles the services connect as, each with who uses it: the configured login and the users
    of the postgres:// URLs in the slot containers' environment (the user name only; the URL is never kept)."""
    users = {}
    if login_user:
        users.setdefault(login_user, []).append('the configured login')
    for attrs in containers:
        if LABEL_SLOT not in ((attrs.get('Config') or {}).get('Labels') or {}):
            continue
        for value in [v for _k, v in _env(attrs) if POSTGRES_URL.match(v or '')]:
            try:
                user = urlsplit(value).username
            except ValueError:
                continue
            if user:
                users.setdefault(unquote(user), []).append(_name(attrs))
    return users


def publisher(containers, host, port):
    """The container that publishes host:port (a loopback address or every interface), to name Redis by its
    container; None when none does (Redis elsewhere)."""
    for attrs in containers:
        for bindings in _bindings(attrs).values():
            for binding in bindings or []:
                bound = binding.get('HostIp') or '0.0.0.0'
                reaches = bound in ('0.0.0.0', '::', host) or (is_loopback_host(bound) and is_loopback_host(host))
                if str(binding.get('HostPort')) == str(port) and reaches:
                    return _name(attrs)
    return None


# ---- Redis -----------------------------------------------------------------------------------------------

def _redis_subject(reading):
    return reading.get('container') or reading.get('address')


def redis_auth_findings(reading):
    """A Redis that answers PING without a password lets anyone who reaches it read and write every key."""
    subject = _redis_subject(reading)
    ping = reading.get('ping')
    if ping == 'unreachable':
        return [unreadable('redis_auth', 'Redis at %s' % reading.get('address'), reading)]
    if ping == 'ok':
        return [finding('redis_auth', subject, 'critical',
                        'Redis %s (%s) answers without a password (requirepass is empty): anyone reaching it reads and '
                        'writes every key' % (subject, reading.get('address')), address=reading.get('address'))]
    if ping == 'denied':
        return [finding('redis_auth', subject, 'warning',
                        'Redis %s (%s) has no password; only its protected mode refuses clients beyond its own '
                        'loopback' % (subject, reading.get('address')), address=reading.get('address'))]
    return []


def _redis_config(reading, check):
    """Redis's CONFIG values, or why they are not known (a finding of severity info)."""
    if reading.get('ping') in ('unreachable', 'denied'):
        return None, []
    if reading.get('config') is None:
        return None, [finding(check, _redis_subject(reading), 'info',
                              'not checked: cannot read CONFIG of Redis %s: %s' % (
                                  _redis_subject(reading), reading.get('config_error') or 'no answer'))]
    return reading['config'], []


def redis_protected_mode_findings(reading):
    """Protected mode off: without a password Redis answers every client of every interface it binds. With a
    password, protected mode does nothing, so it is only noted."""
    config, found = _redis_config(reading, 'redis_protected_mode')
    if config is None or config.get('protected-mode') != 'no':
        return found
    subject = _redis_subject(reading)
    if reading.get('ping') == 'ok':
        return [finding('redis_protected_mode', subject, 'warning',
                        'Redis %s runs with protected mode off and no password: it answers clients on every interface '
                        'it binds' % subject)]
    return [finding('redis_protected_mode', subject, 'info',
                    'Redis %s runs with protected mode off (it only acts without a password)' % subject)]


def redis_persistence_findings(reading):
    """appendonly no and no save points: a restart loses every stream, consumer group and key."""
    config, found = _redis_config(reading, 'redis_persistence')
    if config is None:
        return found
    if config.get('appendonly') == 'no' and not (config.get('save') or '').strip():
        subject = _redis_subject(reading)
        return [finding('redis_persistence', subject, 'warning',
                        'Redis %s keeps nothing on disk (appendonly no, no save points): a restart loses the event '
                        'stream, its consumer groups and every key' % subject)]
    return []


# ---- PostgreSQL ------------------------------------------------------------------------------------------

def _prefix(netmask):
    try:
        return bin(int(ipaddress.ip_address(u'%s' % netmask))).count('1')
    except ValueError:
        return None


def hba_address(rule):
    """A rule's address as one network (127.0.0.1/32) when it is one, else as written (all, samenet, a name)."""
    address, netmask = rule.get('address'), rule.get('netmask')
    if not address:
        return ''
    if netmask and '/' not in address and _prefix(netmask) is not None:
        return '%s/%d' % (address, _prefix(netmask))
    return address


def is_loopback_network(address):
    if address in ('localhost', 'samehost'):
        return True
    try:
        network = ipaddress.ip_network(u'%s' % address, strict=False)
    except ValueError:
        return False
    return network.network_address.is_loopback and network.broadcast_address.is_loopback


def parse_pg_hba(text):
    """The rules of a pg_hba.conf as pg_hba_file_rules gives them (line_number, type, database, user_name,
    address, netmask, auth_method), for when that view is not readable and the file is read instead.
    include directives and quoted commas are rare enough to be left out: such a line is kept as written."""
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split('#', 1)[0].split()
        if not fields or fields[0].startswith('include'):
            continue
        kind = fields[0]
        rest = fields[1:]
        if len(rest) < (3 if kind == 'local' else 4):
            rules.append(dict(line_number=number, type=kind, database=[], user_name=[], address=None, netmask=None,
                              auth_method=None, error='too few fields'))
            continue
        database, user = rest[0].split(','), rest[1].split(',')
        address = netmask = None
        rest = rest[2:]
        if kind != 'local':
            address, rest = rest[0], rest[1:]
            if '/' not in address and rest and _prefix(rest[0]) is not None and len(rest) > 1:
                netmask, rest = rest[0], rest[1:]
        rules.append(dict(line_number=number, type=kind, database=database, user_name=user, address=address,
                          netmask=netmask, auth_method=rest[0] if rest else None, error=None))
    return rules


def hba_subject(rule):
    parts = [rule.get('type'), ','.join(rule.get('database') or []), ','.join(rule.get('user_name') or [])]
    if hba_address(rule):
        parts.append(hba_address(rule))
    return ' '.join(parts)


def postgres_trust_findings(reading):
    """trust lets a client in as any role it names, with no password: critical from beyond loopback, a warning
    on the local socket or loopback (anyone on the host or in the container)."""
    if reading.get('hba_error'):
        return [unreadable('postgres_trust', 'pg_hba.conf', dict(error=reading['hba_error']))]
    found = []
    for rule in reading.get('rules') or []:
        if rule.get('auth_method') != 'trust' or rule.get('error'):
            continue
        address = hba_address(rule)
        near = rule.get('type') == 'local' or is_loopback_network(address)
        where = 'the local socket' if rule.get('type') == 'local' else address
        found.append(finding('postgres_trust', hba_subject(rule), 'warning' if near else 'critical',
                             'pg_hba.conf line %s trusts %s: any client there connects as any role without a password'
                             % (rule.get('line_number'), where), line=rule.get('line_number'),
                             source=reading.get('hba_source')))
    return found


def postgres_superuser_findings(reading):
    """A service connecting as a superuser can read, change or drop anything, and run programs as the server."""
    if reading.get('error'):
        return [unreadable('postgres_superuser', 'PostgreSQL roles', reading)]
    found = []
    for role, superuser in sorted((reading.get('roles') or {}).items()):
        if superuser:
            users = (reading.get('users') or {}).get(role) or []
            named = ', '.join(users[:5]) + (' and %d more' % (len(users) - 5) if len(users) > 5 else '')
            found.append(finding('postgres_superuser', role, 'warning',
                                 'role %s is a superuser and is used by %s: give the services a role with only the '
                                 'rights they need' % (role, named), users=users))
    return found


# ---- files and URLs --------------------------------------------------------------------------------------

def file_mode_findings(paths):
    """World-writable (anyone replaces it) is critical, group-writable a warning; a path holding secrets that
    anyone can read is critical. Paths that do not exist (no lock held) are not findings."""
    found = []
    for entry in paths:
        name, path = entry.get('name') or entry.get('path'), entry.get('path')
        if entry.get('error'):
            found.append(unreadable('file_modes', path, entry))
            continue
        if not entry.get('exists'):
            continue
        mode, is_dir = entry['mode'], entry.get('is_dir')
        shown = '%s (%s, mode %04o)' % (name, path, stat.S_IMODE(mode))
        readable = mode & (stat.S_IROTH | stat.S_IXOTH if is_dir else stat.S_IROTH)
        if mode & stat.S_IWOTH:
            found.append(finding('file_modes', name, 'critical', '%s is world-writable' % shown, path=path))
        elif mode & stat.S_IWGRP:
            found.append(finding('file_modes', name, 'warning', '%s is group-writable' % shown, path=path))
        if entry.get('secret') and readable:
            found.append(finding('file_modes', name, 'critical', '%s holds secrets and is world-readable' % shown,
                                 path=path))
    return found


def tls_findings(urls):
    """Plain http:// to a host that is not loopback crosses a network in clear text. Only scheme, host and port
    are shown: a path may hold a token (Telegram's /bot<token>/)."""
    found = []
    for name, url in sorted((urls or {}).items()):
        try:
            parts = urlsplit(url or '')
            host = parts.hostname
        except ValueError:
            continue
        if parts.scheme.lower() in PLAIN_SCHEMES and host and not is_loopback_host(host):
            where = '%s://%s%s' % (parts.scheme, host, ':%s' % parts.port if parts.port else '')
            found.append(finding('tls', name, 'warning',
                                 '%s is %s: plain %s to a host that is not loopback' % (name, where, parts.scheme),
                                 url=where))
    return found


# ---- acceptances and the verdict -------------------------------------------------------------------------

def validate_acceptances(acceptances):
    for entry in acceptances:
        if entry.get('check') not in CHECKS:
            raise SelfologyError('accepted finding %r: check must be one of %s' % (entry, ', '.join(CHECKS)))
        if not (entry.get('subject') or '').strip() or not (entry.get('reason') or '').strip():
            raise SelfologyError('accepted finding of check %s needs a subject and a reason' % entry.get('check'))


def apply_acceptances(findings, acceptances):
    """Marks each finding an acceptance matches (same check, subject matching its glob) accepted, with the
    reason; returns the findings and one warning per acceptance that matched nothing."""
    validate_acceptances(acceptances)
    used = set()
    for item in findings:
        item['accepted'], item['reason'] = False, None
        for index, entry in enumerate(acceptances):
            if entry['check'] == item['check'] and fnmatch.fnmatchcase(item['subject'], entry['subject']):
                item['accepted'], item['reason'] = True, entry['reason']
                used.add(index)
                break
    stale = [dict(finding(STALE, '%s %s' % (entry['check'], entry['subject']), 'warning',
                          'the accepted finding %s %s matches nothing: remove it or correct its subject (its reason: %s)'
                          % (entry['check'], entry['subject'], entry['reason'])), accepted=False, reason=None)
             for index, entry in enumerate(acceptances) if index not in used]
    return findings, stale


def audit(readings, acceptances):
    """Every check over the readings, acceptances applied; the status is the worst severity of what is not
    accepted (info counts as ok)."""
    containers = readings.get('containers')
    docker_down = isinstance(containers, dict)
    checks = {
        'ports': lambda: port_findings(containers),
        'privileged': lambda: privileged_findings(containers),
        'docker_socket': lambda: docker_socket_findings(containers, readings.get('sockets') or DOCKER_SOCKETS),
        'secrets': lambda: secret_findings(containers),
        'redis_auth': lambda: redis_auth_findings(readings['redis']),
        'redis_protected_mode': lambda: redis_protected_mode_findings(readings['redis']),
        'postgres_trust': lambda: postgres_trust_findings(readings['postgres']),
        'postgres_superuser': lambda: postgres_superuser_findings(readings['postgres']),
        'file_modes': lambda: file_mode_findings(readings.get('paths') or []),
        'redis_persistence': lambda: redis_persistence_findings(readings['redis']),
        'image_age': lambda: image_age_findings(readings.get('images') or [], readings['image_max_age'], readings['now']),
        'tls': lambda: tls_findings(readings.get('urls')),
    }
    on_docker = ('ports', 'privileged', 'docker_socket', 'secrets', 'image_age')
    findings = []
    for name in CHECKS:
        if docker_down and name in on_docker:
            findings.append(unreadable(name, 'the containers', containers))
        else:
            findings.extend(checks[name]())
    findings, stale = apply_acceptances(findings, acceptances)
    findings = sorted(findings, key=lambda f: (-SEVERITIES.index(f['severity']), CHECKS.index(f['check']), f['subject']))
    everything = findings + stale
    open_findings = [f for f in everything if not f['accepted']]
    worst = max([SEVERITIES.index(f['severity']) for f in open_findings] or [0])
    status = STATUS_OF_SEVERITY[SEVERITIES[worst]]
    counts = dict((s, len([f for f in open_findings if f['severity'] == s])) for s in SEVERITIES)
    counts.update(accepted=len(everything) - len(open_findings), stale=len(stale))
    return dict(status=status, exit_code=EXIT_CODES[status], findings=everything, counts=counts)


# ---- readers: what the host shows, read-only -------------------------------------------------------------

def read_containers(client):
    """docker inspect of every container, running or not."""
    found = []
    for summary in client.api.containers(all=True):
        try:
            found.append(client.api.inspect_container(summary['Id']))
        except Exception as exc:  # pylint: disable=broad-except
            # Removed between the list and the inspect: it is gone, nothing to judge.
            if type(exc).__name__ != 'NotFound':
                raise
    return found


def read_images(client, containers):
    """Each image the containers use, once: its name, build date and the containers using it."""
    images = {}
    for attrs in containers:
        image = images.setdefault(attrs.get('Image'), dict(name=(attrs.get('Config') or {}).get('Image'), containers=[]))
        image['containers'].append(_name(attrs))
    found = []
    for image_id, image in sorted(images.items()):
        try:
            inspected = client.api.inspect_image(image_id)
            tags = inspected.get('RepoTags') or []
            found.append(dict(image, name=tags[0] if tags else image['name'] or image_id[:19],
                              created=inspected.get('Created')))
        except Exception as exc:  # pylint: disable=broad-except
            if type(exc).__name__ != 'NotFound':
                raise
            found.append(dict(image, name=image['name'] or image_id[:19], error='the image is gone'))
    return found


def read_redis(redis, params, containers):
    """Whether Redis answers PING without a password, and its protected-mode, appendonly and save settings
    (read with the configured password when it needs one). `redis` is the redis-py module."""
    address = '%s:%s' % (params['redis_host'], params['redis_port'])
    reading = dict(address=address, ping=None, config=None, config_error=None,
                   container=None if isinstance(containers, dict) else publisher(
                       containers, params['redis_host'], params['redis_port']))

    def client(password):
        return redis.Redis(host=params['redis_host'], port=params['redis_port'], password=password,
                           db=params['redis_db'], ssl=params['redis_tls'], socket_timeout=params['redis_timeout'],
                           socket_connect_timeout=params['redis_timeout'], decode_responses=True)

    anonymous = client(None)
    try:
        anonymous.ping()
        reading['ping'], reader = 'ok', anonymous
    except redis.RedisError as exc:
        text = str(exc)
        if isinstance(exc, redis.AuthenticationError) or 'NOAUTH' in text:
            reading['ping'] = 'noauth'
        elif 'DENIED' in text:
            reading['ping'] = 'denied'
        else:
            reading['ping'], reading['error'] = 'unreachable', text or type(exc).__name__
        reader = client(params['redis_password']) if reading['ping'] == 'noauth' and params['redis_password'] else None
        if reading['ping'] == 'noauth' and reader is None:
            reading['config_error'] = 'it needs a password and none is configured'
    if reader is not None:
        try:
            config = {}
            for key in ('protected-mode', 'appendonly', 'save'):
                config.update(reader.config_get(key))
            reading['config'] = config
        except redis.RedisError as exc:
            # CONFIG renamed or refused (a hardened Redis): not known, said so.
            reading['config_error'] = str(exc) or type(exc).__name__
    return reading


HBA_QUERY = ('SELECT line_number, type, database, user_name, address, netmask, auth_method, error '
             'FROM pg_catalog.pg_hba_file_rules ORDER BY line_number')
# Where the official image and the lab keep pg_hba.conf (PGDATA is in the container's environment).
HBA_FILE_COMMAND = ['sh', '-c', 'cat "${PGDATA:-/var/lib/postgresql/data}/pg_hba.conf"']


def read_hba_in_container(docker_client, container):
    """pg_hba.conf read with docker exec (cat) in the PostgreSQL container, when pg_hba_file_rules is not
    readable as the configured user (it needs a superuser)."""
    if docker_client is None:
        raise SelfologyError('the Docker engine is unreachable')
    result = docker_client.containers.get(container).exec_run(HBA_FILE_COMMAND, stdout=True, stderr=False)
    if result.exit_code != 0:
        raise SelfologyError('cat pg_hba.conf in container %s exited %s' % (container, result.exit_code))
    return parse_pg_hba(result.output.decode('utf-8', 'replace'))


def read_postgres(postgres, params, users, docker_client, container):
    """pg_hba's rules (through pg_hba_file_rules as the configured user, else docker exec in the container)
    and whether each role the services use is a superuser. `postgres` is the collection's postgres module_utils."""
    reading = dict(users=users, roles={}, rules=[], hba_source=None, hba_error=None, error=None)
    conn = None
    try:
        conn = postgres.connect(params, application_name='selfology.ops security audit')
    except SelfologyError as exc:
        reading['error'] = str(exc)
    try:
        if conn is not None:
            rows = conn.execute('SELECT rolname, rolsuper FROM pg_catalog.pg_roles WHERE rolname = ANY(%s)',
                                [sorted(users)]).fetchall()
            reading['roles'] = dict(rows)
            try:
                columns = ('line_number', 'type', 'database', 'user_name', 'address', 'netmask', 'auth_method', 'error')
                reading['rules'] = [dict(zip(columns, row)) for row in conn.execute(HBA_QUERY).fetchall()]
                reading['hba_source'] = 'pg_hba_file_rules'
            except postgres.psycopg.errors.InsufficientPrivilege:
                pass
        if reading['hba_source'] is None:
            try:
                reading['rules'] = read_hba_in_container(docker_client, container)
                reading['hba_source'] = 'docker exec %s cat pg_hba.conf' % container
            except Exception as exc:  # pylint: disable=broad-except
                reading['hba_error'] = '%s (pg_hba_file_rules needs a superuser; docker exec in %s: %s)' % (
                    reading['error'] or 'not readable as %s' % params['login_user'], container, exc)
    finally:
        if conn is not None:
            conn.close()
    return reading


def read_paths(paths):
    """Each path's mode (following links), or that it does not exist."""
    found = []
    for entry in paths:
        reading = dict(entry, exists=False)
        try:
            info = os.stat(entry['path'])
            reading.update(exists=True, mode=info.st_mode, is_dir=stat.S_ISDIR(info.st_mode))
        except OSError as exc:
            if exc.errno != 2:  # ENOENT: not a finding (no lock held, no monitoring installed)
                reading['error'] = exc.strerror
        found.append(reading)
    return found
