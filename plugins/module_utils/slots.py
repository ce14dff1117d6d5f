# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Slots, service names and the slot state file: the vocabulary of a blue-green host."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import tempfile

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError

SLOTS = ('blue', 'green')
SERVICE_NAME = re.compile(r'[a-z][a-z0-9-]{0,62}')
# A tag-like version: what docker accepts as a tag, without a leading separator.
VERSION = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}')
LABEL_SLOT = 'org.selfology.slot'
LABEL_SERVICE = 'org.selfology.service'
LABEL_VERSION = 'org.selfology.version'
# Containers of one service in a slot: the scale limit, and the servers the load balancer declares.
MAX_REPLICAS = 20


def validate_slot(slot):
    if slot not in SLOTS:
        raise SelfologyError('unknown slot %r: expected one of %s' % (slot, ', '.join(SLOTS)))
    return slot


def other_slot(slot):
    return SLOTS[1 - SLOTS.index(validate_slot(slot))]


def validate_service(name):
    if not isinstance(name, str) or not SERVICE_NAME.fullmatch(name):
        raise SelfologyError('invalid service name %r: lower-case letters, digits and dashes' % (name,))
    return name


def validate_version(version):
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        raise SelfologyError('invalid version %r: expected a tag such as 1.2.0 or v1.2.0' % (version,))
    return version


def container_name(service, slot, prefix='selfology'):
    return '%s-%s-%s' % (prefix, validate_service(service), validate_slot(slot))


def replica_name(service, slot, replica):
    """Replica 1 is the service's container; replica N > 1 gets the suffix -N."""
    base = container_name(service, slot)
    return base if replica == 1 else '%s-%d' % (base, replica)


def read_state(path):
    """The recorded slot state, or an empty dict when none was recorded yet."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SelfologyError('cannot read slot state %s: %s' % (path, exc))


def write_state(path, state):
    """Replaces the state file atomically: readers see the old or the new state, never half."""
    write_json(path, state)


def write_json(path, data, mode=None):
    """Replaces a JSON file atomically (mode: its permissions; default the temp file's 0600)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s-' % os.path.basename(path))
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write('\n')
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def scrape_targets(containers, active_slot, port):
    """Prometheus file service discovery for the slots' containers (docker_client.slot_containers):
    each one a target name:port with labels service, slot, version and active ("true" for the slot
    that takes traffic). Stopped containers stay targets, so that a stopped service shows up=0."""
    targets = []
    for container in sorted(containers, key=lambda c: c['container']):
        targets.append({'targets': ['%s:%d' % (container['container'], int(port))], 'labels': {
            'service': container['service'], 'slot': container['slot'], 'version': container['version'] or 'unknown',
            'active': 'true' if container['slot'] == active_slot else 'false', 'container': container['container']}})
    return targets
