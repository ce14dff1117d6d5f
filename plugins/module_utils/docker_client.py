# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker access through the Docker SDK for Python, and what our modules read from containers."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.selfology.ops.plugins.module_utils.errors import BackendUnavailable, SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.slots import LABEL_SERVICE, LABEL_SLOT, LABEL_VERSION

try:
    import docker
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()


def docker_argument_spec():
    return dict(
        docker_host=dict(type='str', default='unix:///var/run/docker.sock', fallback=(env_fallback, ['DOCKER_HOST'])),
    )


def require():
    """Raises SelfologyError when the docker library is missing on the host."""
    if not HAS_DOCKER:
        raise SelfologyError(missing_required_lib('docker'))


def require_docker(module):
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib('docker'), exception=DOCKER_IMPORT_ERROR)


def connect(params):
    try:
        client = docker.DockerClient(base_url=params['docker_host'], timeout=60)
        client.ping()
        return client
    except docker.errors.DockerException as exc:
        raise BackendUnavailable('Docker engine at %s is unreachable: %s' % (params['docker_host'], exc))


def describe(container):
    """The facts an operator reads about one service container."""
    attrs = container.attrs
    state = attrs.get('State', {})
    labels = attrs.get('Config', {}).get('Labels') or {}
    health = (state.get('Health') or {}).get('Status', 'none')
    return {
        'container': container.name,
        'service': labels.get(LABEL_SERVICE),
        'slot': labels.get(LABEL_SLOT),
        'version': labels.get(LABEL_VERSION),
        'image': attrs.get('Config', {}).get('Image'),
        'state': state.get('Status', 'unknown'),
        'health': health if state.get('Status') == 'running' else state.get('Status', 'unknown'),
        'started_at': state.get('StartedAt'),
        'exit_code': state.get('ExitCode'),
    }


def slot_containers(client, slot=None):
    """Service containers of one slot (or both), found by label, not by name."""
    labels = [LABEL_SLOT + ('=' + slot if slot else '')]
    return [describe(c) for c in client.containers.list(all=True, filters={'label': labels})]
