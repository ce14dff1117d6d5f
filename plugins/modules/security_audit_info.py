#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: security_audit_info
short_description: The runbook's security audit - findings with a severity from Docker, Redis, PostgreSQL, files and URLs
description:
  - Reads the host and judges it, changing nothing (runbook - Monthly Checklist, Security audit).
  - C(ports) - a container port published beyond 127.0.0.1 (on 0.0.0.0, [::] or another address) is V(critical);
    a container on the host's network is a V(warning).
  - C(privileged) - a privileged container, and C(docker_socket) - a container with the Docker socket mounted,
    are V(critical).
  - C(secrets) - an environment variable or label whose name says it holds a credential (PASSWORD, SECRET, TOKEN,
    API_KEY...) or whose value is a URL with a password (user:password@) is a V(warning). Only the container and the
    variable are named, never the value.
  - C(redis_auth) - a Redis that answers an unauthenticated PING is V(critical); C(redis_protected_mode) - protected
    mode off without a password is a V(warning); C(redis_persistence) - appendonly no and no save points is a
    V(warning). Redis is named by the container that publishes its port.
  - C(postgres_trust) - a C(trust) rule of pg_hba.conf is V(critical) beyond loopback and a V(warning) on the local
    socket or loopback. The rules are read from C(pg_hba_file_rules) as the configured user; that view needs a
    superuser, so for any other role pg_hba.conf is read with C(docker exec) (cat) in O(postgres_container).
  - C(postgres_superuser) - a role the services connect as (O(login_user) and the users of the postgres URLs in the
    slot containers' environment) that is a superuser is a V(warning).
  - C(file_modes) - a world-writable path is V(critical), a group-writable one a V(warning), and a path holding
    secrets that anyone can read is V(critical).
  - C(image_age) - an image a container uses built longer ago than O(image_max_age) is a V(warning).
  - C(tls) - an http URL of O(urls) whose host is not loopback is a V(warning).
  - A check that cannot read what it judges is a V(warning) with subject C(unreadable). V(info) findings change
    no status.
  - Findings matching O(accepted) are returned marked accepted with their reason and raise no status; an acceptance
    that matches nothing is a V(warning) of check C(acceptance).
  - Never fails on a finding; the security role fails the play on RV(status).
version_added: 0.5.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.docker
  - selfology.ops.postgres
  - selfology.ops.redis
options:
  postgres_container:
    description: The PostgreSQL container, where pg_hba.conf is read when C(pg_hba_file_rules) is not readable.
    type: str
    default: n8n-postgres
  paths:
    description: The paths whose modes are checked. A path that does not exist is not a finding.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The path's name in the findings (their subject), such as C(alertmanager_config).
        type: str
        required: true
      path:
        description: The path on the host.
        type: path
        required: true
      secret:
        description: Whether it holds secrets, so that being world-readable is a finding.
        type: bool
        default: false
  urls:
    description: The configured URLs by name (the subject of their findings); empty values are skipped.
    type: dict
    default: {}
  image_max_age:
    description: The age of an image above which it is a finding, such as C(90d).
    type: str
    default: 90d
  accepted:
    description: The accepted findings. Each names a check, a subject (a glob) and the reason it is accepted.
    type: list
    elements: dict
    default: []
    suboptions:
      check:
        description: The finding's check.
        type: str
        required: true
        choices: [ports, privileged, docker_socket, secrets, redis_auth, redis_protected_mode, postgres_trust,
                  postgres_superuser, file_modes, redis_persistence, image_age, tls]
      subject:
        description: A glob of the finding's subject, such as C(selfology-*/env/DATABASE_URL).
        type: str
        required: true
      reason:
        description: Why it is accepted, kept in the report.
        type: str
        required: true
attributes:
  check_mode:
    support: full
    description: Read-only; check mode reads and judges the same.
  diff_mode:
    support: none
    description: Nothing changes.
'''

EXAMPLES = r'''
- name: Audit the host
  selfology.ops.security_audit_info:
    login_password: "{{ selfology_postgres_password }}"
    redis_port: 6379
    paths:
      - {name: backups, path: /var/lib/selfology-ops/backups, secret: true}
    urls:
      prometheus: http://127.0.0.1:9090
    accepted:
      - check: postgres_trust
        subject: local *
        reason: only processes inside the PostgreSQL container use its socket
  register: audit
'''

RETURN = r'''
status:
  description: V(ok), V(warning) or V(critical) - the worst severity of the findings not accepted (info counts as ok).
  returned: always
  type: str
  sample: critical
exit_code:
  description: 0 for V(ok), 1 for V(warning), 2 for V(critical) (what C(selfops audit security) exits with).
  returned: always
  type: int
  sample: 2
findings:
  description:
    - Every finding, the worst first - C(check), C(subject), C(severity), C(message), C(figures), C(accepted) and
      the acceptance's C(reason); the stale acceptances last (check C(acceptance)).
  returned: always
  type: list
  elements: dict
counts:
  description: The findings not accepted by severity (C(critical), C(warning), C(info)), and C(accepted) and C(stale).
  returned: always
  type: dict
  sample: {critical: 1, warning: 2, info: 0, accepted: 9, stale: 0}
checked:
  description: What was read - C(containers) and C(images) (counts), C(redis) and C(postgres) (addresses), C(hba_source).
  returned: always
  type: dict
'''

import time

from ansible_collections.selfology.ops.plugins.module_utils import docker_client, postgres, redis_connection, security
from ansible_collections.selfology.ops.plugins.module_utils.durations import parse_duration
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def read(params):
    """Everything the checks judge, read once; a backend that does not answer is recorded, not raised."""
    docker_client.require()
    redis_connection.require()
    postgres.require()
    client = None
    try:
        client = docker_client.connect(params)
        containers = security.read_containers(client)
        images = security.read_images(client, containers)
    except SelfologyError as exc:
        containers, images = dict(error=str(exc)), []
    socket = params['docker_host'][len('unix://'):] if params['docker_host'].startswith('unix://') else None
    listed = [] if isinstance(containers, dict) else containers
    return dict(
        containers=containers, images=images, now=time.time(),
        sockets=security.DOCKER_SOCKETS + ((socket,) if socket else ()),
        redis=security.read_redis(redis_connection.redis, params, containers),
        postgres=security.read_postgres(postgres, params, security.service_postgres_users(listed, params['login_user']),
                                        client, params['postgres_container']),
        paths=security.read_paths(params['paths']),
        urls=params['urls'],
        image_max_age=parse_duration(params['image_max_age'], 'image_max_age', low=86400),
    )


def run(params, check_mode):
    del check_mode  # reads only
    readings = read(params)
    result = security.audit(readings, params['accepted'])
    containers = readings['containers']
    result['checked'] = dict(
        containers=None if isinstance(containers, dict) else len(containers), images=len(readings['images']),
        redis=readings['redis']['address'], postgres='%s:%s' % (params['login_host'], params['login_port']),
        hba_source=readings['postgres']['hba_source'])
    return dict(result, changed=False)


def argument_spec():
    spec = dict(
        postgres_container=dict(type='str', default='n8n-postgres'),
        paths=dict(type='list', elements='dict', default=[], options=dict(
            name=dict(type='str', required=True),
            path=dict(type='path', required=True),
            secret=dict(type='bool', default=False),
        )),
        urls=dict(type='dict', default={}),
        image_max_age=dict(type='str', default='90d'),
        accepted=dict(type='list', elements='dict', default=[], options=dict(
            check=dict(type='str', required=True, choices=list(security.CHECKS)),
            subject=dict(type='str', required=True),
            reason=dict(type='str', required=True),
        )),
    )
    spec.update(docker_client.docker_argument_spec())
    spec.update(postgres.postgres_argument_spec())
    spec.update(redis_connection.redis_argument_spec())
    return spec


TASK = Task(argument_spec(), run)


if __name__ == '__main__':
    main(TASK)
