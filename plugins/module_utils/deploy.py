# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring a slot's containers to a state, every service at once.

One module execution handles the whole slot: containers are created, started, stopped or
removed in parallel threads, and the health wait polls every container together. A loop of
per-service tasks would pay Ansible's per-execution cost once per service and phase.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.slots import (
    LABEL_SERVICE, LABEL_SLOT, LABEL_VERSION, MAX_REPLICAS, replica_name, validate_service, validate_slot,
    validate_version)

LABEL_CONFIG = 'org.selfology.config'
LABEL_REPLICA = 'org.selfology.replica'
CONTAINER_PORT = '8000/tcp'


class DeployFailed(SelfologyError):
    """Some containers did not become healthy; carries what an operator needs to see why."""

    def __init__(self, message, failures):
        super(DeployFailed, self).__init__(message)
        self.failures = failures


def desired_containers(params, image_id):
    """One spec per container the slot should run, in service order."""
    slot = validate_slot(params['slot'])
    version = validate_version(params['version'])
    specs = []
    for service in params['services']:
        name = validate_service(service['name'])
        replicas = int((params['replicas'] or {}).get(name, 1))
        if replicas < 1 or replicas > MAX_REPLICAS:
            raise SelfologyError('replicas of %s must be between 1 and %d, not %d' % (name, MAX_REPLICAS, replicas))
        for replica in range(1, replicas + 1):
            cname = replica_name(name, slot, replica)
            env = dict(params['env'] or {}, **(params.get('secret_env') or {}))
            env.update(SELFOLOGY_SERVICE=name, SELFOLOGY_SLOT=slot, SELFOLOGY_CONSUMER=cname)
            # Only the first replica publishes a host port: the others are reached through the load balancer.
            port = service.get('port') if replica == 1 else None
            config = {'image': image_id, 'env': env, 'port': port, 'network': params['network'],
                      'bind': params['bind_address']}
            specs.append({
                'name': cname, 'service': name, 'replica': replica, 'env': env, 'port': port,
                'labels': dict(params['labels'] or {}, **{
                    LABEL_SLOT: slot, LABEL_SERVICE: name, LABEL_VERSION: version, LABEL_REPLICA: str(replica),
                    LABEL_CONFIG: hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]}),
            })
    return specs


def plan(specs, existing):
    """What to do with each container: keep, start, create, recreate or remove."""
    actions = []
    wanted = set()
    for spec in specs:
        wanted.add(spec['name'])
        current = existing.get(spec['name'])
        if current is None:
            action = 'create'
        elif current['labels'].get(LABEL_CONFIG) != spec['labels'][LABEL_CONFIG]:
            action = 'recreate'
        elif current['status'] != 'running':
            action = 'start'
        else:
            action = 'keep'
        actions.append({'name': spec['name'], 'service': spec['service'], 'action': action})
    for name in sorted(set(existing) - wanted):
        actions.append({'name': name, 'service': existing[name]['labels'].get(LABEL_SERVICE), 'action': 'remove'})
    return actions


class SlotContainers(object):
    """Docker operations on one slot's containers."""

    def __init__(self, client_factory, params):
        self.client_factory = client_factory
        self.client = client_factory()
        self.params = params
        self.slot = validate_slot(params['slot'])

    def existing(self):
        found = {}
        for container in self.client.containers.list(all=True, filters={'label': '%s=%s' % (LABEL_SLOT, self.slot)}):
            found[container.name] = {'labels': container.labels, 'status': container.status, 'id': container.id}
        return found

    def image_id(self):
        reference = '%s:%s' % (self.params['image_repository'], validate_version(self.params['version']))
        try:
            return self.client.images.get(reference).id
        except Exception:
            raise SelfologyError('image %s is not on this host: build or load it first (no registry is pulled from)'
                                 % reference)

    def parallel(self, func, items):
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(16, len(items))) as pool:
            return list(pool.map(func, items))

    def _create(self, spec):
        client = self.client_factory()
        ports = {CONTAINER_PORT: (self.params['bind_address'], spec['port'])} if spec['port'] else {}
        container = client.containers.create(
            '%s:%s' % (self.params['image_repository'], self.params['version']), name=spec['name'],
            environment=spec['env'], labels=spec['labels'], network=self.params['network'], ports=ports,
            init=True, restart_policy={'Name': 'unless-stopped'}, stop_signal='SIGTERM', detach=True)
        container.start()

    def _remove(self, name):
        client = self.client_factory()
        try:
            container = client.containers.get(name)
        except Exception:
            return
        container.stop(timeout=self.params['stop_timeout'])
        container.remove(force=True)

    def apply(self, actions, specs):
        by_name = dict((s['name'], s) for s in specs)

        def run(item):
            started = time.monotonic()
            if item['action'] in ('recreate', 'remove'):
                self._remove(item['name'])
            if item['action'] in ('create', 'recreate'):
                self._create(by_name[item['name']])
            elif item['action'] == 'start':
                self.client_factory().containers.get(item['name']).start()
            item['seconds'] = round(time.monotonic() - started, 2)
            return item

        return self.parallel(run, [a for a in actions if a['action'] != 'keep'])

    def remove_all(self, names):
        return self.parallel(self._remove, names)

    def stop_all(self, names):
        return self.parallel(lambda name: self.client_factory().containers.get(name).stop(
            timeout=self.params['stop_timeout']), names)

    def wait_healthy(self, names, timeout):
        """Polls every container until all are healthy; a crash or 'unhealthy' fails at once."""
        deadline = time.monotonic() + timeout
        pending = set(names)
        states = {}
        restarts = {}  # restarts before the wait began (a kept container may have an old one)
        while pending:
            for name in sorted(pending):
                inspected = self.client.api.inspect_container(name)
                state = inspected['State']
                health = (state.get('Health') or {}).get('Status', 'none')
                states[name] = (state, health)
                restarted = inspected.get('RestartCount', 0) > restarts.setdefault(name, inspected.get('RestartCount', 0))
                if state.get('Status') in ('exited', 'dead', 'restarting') or restarted:
                    raise DeployFailed('%s crashed (exit code %s)' % (name, state.get('ExitCode')),
                                       self.diagnose([name], states))
                if health == 'unhealthy':
                    raise DeployFailed('%s is unhealthy' % name, self.diagnose([name], states))
                if health in ('healthy', 'none') and state.get('Status') == 'running':
                    pending.discard(name)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise DeployFailed('%s not healthy after %ss' % (', '.join(sorted(pending)), timeout),
                                   self.diagnose(sorted(pending), states))
            time.sleep(0.25)

    def diagnose(self, names, states):
        """The failing containers' health log and last log lines, for the operator."""
        out = []
        for name in names:
            state, health = states.get(name, ({}, 'unknown'))
            probes = [p.get('Output', '').strip() for p in ((state.get('Health') or {}).get('Log') or [])[-3:]]
            try:
                logs = self.client.containers.get(name).logs(tail=self.params['log_lines']).decode('utf-8', 'replace')
            except Exception as exc:  # the container may already be gone
                logs = 'logs unavailable: %s' % exc
            out.append({'container': name, 'status': state.get('Status'), 'health': health,
                        'exit_code': state.get('ExitCode'), 'health_log': probes, 'logs': logs.splitlines()})
        return out
