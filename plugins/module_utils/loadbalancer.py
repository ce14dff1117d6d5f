# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HAProxy load balancer: its configuration on disk and its live state through the admin socket.

Traffic moves without a reload, so no client connection is closed: every backend of both slots is
declared in the configuration, and one map entry (``active`` in slot.map) chooses the slot for
every request. A switch is one ``set map`` on the runtime API; the next request of a keep-alive
connection goes to the new slot. The map file is rewritten too, so a restarted HAProxy comes back
on the active slot. Replicas are servers r1..rN of each backend, put in or out of service at runtime.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re
import socket
import tempfile
import time

from ansible_collections.selfology.ops.plugins.module_utils.errors import BackendUnavailable, SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.slots import (
    MAX_REPLICAS, SLOTS, replica_name, validate_service, validate_slot)

CONFIG = 'haproxy.cfg'
CANDIDATE = 'haproxy.cfg.next'
MAP = 'slot.map'
MAP_KEY = 'active'
SOCKET = 'admin.sock'
# What HAProxy loads at start (server-state-file): addresses and states, saved after every change.
SERVER_STATE = 'servers.state'
_PROMPT = b'\n> '


def backend_name(service, slot):
    return '%s_%s' % (validate_service(service).replace('-', '_'), validate_slot(slot))


def server_name(replica):
    return 'r%d' % replica


# ---------------------------------------------------------------- files on the host

def read_file(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SelfologyError('cannot read %s: %s' % (path, exc.strerror))


def write_atomically(path, content, mode=0o644):
    """Replaces path in one rename: a reader (or a restarting HAProxy) sees the old or the new file."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path))
    try:
        with os.fdopen(handle, 'w') as out:
            out.write(content)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as exc:
        os.unlink(temporary)
        raise SelfologyError('cannot write %s: %s' % (path, exc.strerror))


def map_content(slot):
    return '%s %s\n' % (MAP_KEY, validate_slot(slot))


def slot_in_map(content):
    """The slot a map file's content names, or None."""
    for line in (content or '').splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == MAP_KEY and parts[1] in SLOTS:
            return parts[1]
    return None


def validate_candidate(container, mount_dir):
    """haproxy -c on the candidate inside the load balancer container; raises with HAProxy's words."""
    code, output = container.exec_run(['haproxy', '-c', '-f', '%s/%s' % (mount_dir, CANDIDATE)])
    if code != 0:
        lines = output.decode('utf-8', 'replace').strip().splitlines()
        alerts = [line for line in lines if '[ALERT]' in line] or lines
        raise SelfologyError('haproxy -c refused the new configuration, the running one stays: %s' % ' | '.join(alerts))


# ---------------------------------------------------------------- the runtime API

class AdminSocket(object):
    """HAProxy's runtime API on its stats socket, in interactive mode: one connection, one
    command at a time, each answer read up to the prompt."""

    def __init__(self, path, timeout=5.0, wait=0.0):
        self.path = path
        self.timeout = timeout
        self.wait = wait  # seconds to keep trying to connect (a load balancer that is starting)
        self._sock = None

    def __enter__(self):
        deadline = time.monotonic() + self.wait
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.path)
                break
            except (OSError, socket.timeout) as exc:
                sock.close()
                if time.monotonic() >= deadline:
                    raise BackendUnavailable('the load balancer\'s admin socket %s does not answer: %s'
                                             % (self.path, getattr(exc, 'strerror', None) or exc))
                time.sleep(0.05)
        self._sock = sock
        self._read_until_prompt(b'prompt\n')
        return self

    def __exit__(self, *exc):
        try:
            self._sock.sendall(b'quit\n')
        except OSError:
            pass
        self._sock.close()

    def _read_until_prompt(self, data):
        self._sock.sendall(data)
        answer = b''
        while not answer.endswith(_PROMPT) and answer != b'> ':
            try:
                chunk = self._sock.recv(65536)
            except (OSError, socket.timeout) as exc:
                raise BackendUnavailable('the load balancer\'s admin socket stopped answering: %s' % exc)
            if not chunk:
                raise BackendUnavailable('the load balancer closed its admin socket')
            answer += chunk
        return answer[:-len(_PROMPT)].decode('utf-8', 'replace') if answer.endswith(_PROMPT) else ''

    def command(self, line):
        """The answer to one command; raises when HAProxy answers with an error. A `set` command
        answers nothing, or says the address changed (or needed no change); anything else refused it."""
        if '\n' in line or ';' in line:
            raise SelfologyError('one runtime command at a time, not %r' % line)
        answer = self._read_until_prompt(line.encode() + b'\n').strip()
        lowered = answer.lower()
        refused = lowered.startswith(('no such', 'unknown', 'require', 'invalid', 'unable', 'error')) \
            or 'can\'t' in lowered or 'cannot' in lowered
        if line.startswith('set ') and answer and not re.search(r'changed from|no need to change', lowered):
            refused = True
        if refused:
            raise SelfologyError('the load balancer refused %r: %s' % (line, answer))
        return answer


def live_slot(admin, map_path):
    """The slot the running HAProxy sends traffic to (the map entry in memory)."""
    for line in admin.command('show map %s' % map_path).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == MAP_KEY:
            return parts[2] if parts[2] in SLOTS else None
    return None


def server_states(admin):
    """{backend: {server: {'addr', 'ready'}}} from 'show servers state'."""
    states = {}
    for line in admin.command('show servers state').splitlines():
        fields = line.split()
        if len(fields) < 7 or line.startswith('#') or not fields[0].isdigit():
            continue
        backend, server, addr, admin_state = fields[1], fields[3], fields[4], int(fields[6])
        # Forced (0x01) or DNS (0x20) maintenance take a server out; configured flags alone do not.
        states.setdefault(backend, {})[server] = {'addr': addr, 'ready': not admin_state & 0x21}
    return states


def in_flight(admin, backends, servers):
    """Requests being served now (scur) by the given backends, and by the given (backend, server) pairs."""
    total, header = 0, None
    for line in admin.command('show stat -1 4 -1').splitlines():
        if line.startswith('# '):
            header = line[2:].split(',')
            continue
        fields = line.split(',')
        if header and (fields[0] in backends or (fields[0], fields[1]) in servers):
            total += int(fields[header.index('scur')] or 0)
    return total


def runtime_plan(services, slot, replicas, addresses, states):
    """The runtime commands that give each service of slot replicas[service] servers (addresses:
    container name -> IP); servers beyond the count go to maintenance. Returns (commands, the
    (backend, server) pairs taken out of service)."""
    commands, taken_out = [], set()
    for service in services:
        backend = backend_name(service, slot)
        count = int(replicas.get(service, 1))
        if not 1 <= count <= MAX_REPLICAS:
            raise SelfologyError('replicas of %s must be between 1 and %d, not %d' % (service, MAX_REPLICAS, count))
        for replica in range(1, MAX_REPLICAS + 1):
            server = server_name(replica)
            seen = states.get(backend, {}).get(server)
            if seen is None:
                raise SelfologyError('the load balancer has no server %s/%s: its configuration does not '
                                     'match the topology (install it again: selfops lab up)' % (backend, server))
            if replica <= count:
                container = replica_name(service, slot, replica)
                addr = addresses.get(container)
                if not addr:
                    raise SelfologyError('%s has no address on the load balancer\'s network: is it running?' % container)
                if seen['addr'] != addr:
                    commands.append('set server %s/%s addr %s' % (backend, server, addr))
                if not seen['ready']:
                    commands.append('set server %s/%s state ready' % (backend, server))
            elif seen['ready']:
                commands.append('set server %s/%s state maint' % (backend, server))
                taken_out.add((backend, server))
    return commands, taken_out


def route(socket_path, map_file, map_path, services, slot, replicas, addresses, drain_timeout, check_mode,
          connect_wait=5.0, state_file=None):
    """Routes every service to slot with the given replicas, persists the map file, then waits (at
    most drain_timeout) until what traffic left - the old slot, replicas taken out - has finished
    its in-flight requests. Returns what it did and when traffic moved."""
    started = time.monotonic()
    with AdminSocket(socket_path, wait=connect_wait) as admin:
        before = live_slot(admin, map_path)
        commands, taken_out = runtime_plan(services, slot, replicas, addresses, server_states(admin))
        moves = before != slot
        if moves:
            commands.append('set map %s %s %s' % (map_path, MAP_KEY, slot))
        file_changed = read_file(map_file) != map_content(slot)
        result = dict(changed=bool(commands) or file_changed, slot_before=before, slot=slot,
                      commands=commands, drained=True, drain_seconds=0.0, moved_after=None)
        if check_mode:
            return result
        for command in commands:
            admin.command(command)
        if moves:
            result['moved_after'] = round(time.monotonic() - started, 4)
            if live_slot(admin, map_path) != slot:
                raise SelfologyError('the load balancer did not take slot %s' % slot)
        if file_changed:
            write_atomically(map_file, map_content(slot))
        if state_file:
            saved = admin.command('show servers state') + '\n'
            if read_file(state_file) != saved:
                write_atomically(state_file, saved)
        left = set(backend_name(s, before) for s in services) if moves and before in SLOTS else set()
        if left or taken_out:
            drain_started = time.monotonic()
            while in_flight(admin, left, taken_out) and time.monotonic() - drain_started < drain_timeout:
                time.sleep(0.02)
            result['drained'] = not in_flight(admin, left, taken_out)
            result['drain_seconds'] = round(time.monotonic() - drain_started, 3)
    return result
