#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: lb_config
short_description: Give the nginx load balancer a new configuration, safely
description:
  - Compares O(content) with the configuration in use. When they differ, writes it as a
    candidate, has C(nginx -t) check it inside the load balancer container, and only then puts it
    in place and reloads nginx gracefully (old workers finish their requests). A candidate that
    nginx rejects leaves the running configuration untouched and fails the task with nginx's words.
  - With O(verify_url), waits until the load balancer answers O(verify_body) there, so the task
    ends when the new configuration serves traffic.
  - When the container is not running, the configuration is only written (it is read at start).
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.docker
options:
  content:
    description: The full nginx configuration.
    type: str
    required: true
  config_dir:
    description: Host directory holding C(nginx.conf), mounted into the container at O(mount_dir).
    type: path
    required: true
  mount_dir:
    description: Where O(config_dir) appears inside the container.
    type: str
    default: /etc/selfology-lb
  container:
    description: The load balancer container.
    type: str
    default: selfology-lb
  verify_url:
    description: URL whose body must equal O(verify_body) after the reload.
    type: str
  verify_body:
    description: Expected body at O(verify_url).
    type: str
  verify_timeout:
    description: Seconds to wait for O(verify_body).
    type: float
    default: 10
attributes:
  check_mode:
    support: full
    description: Reports whether the configuration would change; writes and reloads nothing.
  diff_mode:
    support: full
    description: Shows the configuration before and after.
'''

EXAMPLES = r'''
- name: Send traffic to the green slot
  selfology.ops.lb_config:
    content: "{{ lookup('ansible.builtin.template', 'nginx.conf.j2') }}"
    config_dir: /var/lib/selfology-ops/lb
    verify_url: http://127.0.0.1:8080/lb/health
    verify_body: green
'''

RETURN = r'''
reloaded:
  description: Whether nginx was reloaded with the new configuration.
  returned: always
  type: bool
  sample: true
seconds:
  description: Time from the check to the verified answer.
  returned: always
  type: float
  sample: 0.12
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfology.ops.plugins.module_utils import docker_client
from ansible_collections.selfology.ops.plugins.module_utils import loadbalancer
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError


def main():
    argument_spec = dict(
        content=dict(type='str', required=True),
        config_dir=dict(type='path', required=True),
        mount_dir=dict(type='str', default='/etc/selfology-lb'),
        container=dict(type='str', default='selfology-lb'),
        verify_url=dict(type='str'),
        verify_body=dict(type='str'),
        verify_timeout=dict(type='float', default=10),
    )
    argument_spec.update(docker_client.docker_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_together=[('verify_url', 'verify_body')])
    docker_client.require_docker(module)
    params = module.params
    started = time.monotonic()
    before = loadbalancer.current(params['config_dir'])
    changed = before != params['content']
    reloaded = False
    try:
        if changed and not module.check_mode:
            loadbalancer.write_candidate(params['config_dir'], params['content'])
            container = docker_client.connect(params).containers.list(filters={'name': '^/%s$' % params['container']})
            if container:
                loadbalancer.apply(container[0], params['config_dir'], params['mount_dir'])
                reloaded = True
            else:
                loadbalancer.install(params['config_dir'])
        if params['verify_url'] and not module.check_mode and (reloaded or not changed):
            loadbalancer.wait_for_answer(params['verify_url'], params['verify_body'], params['verify_timeout'])
    except SelfologyError as exc:
        module.fail_json(msg=str(exc), changed=False)
    module.exit_json(changed=changed, reloaded=reloaded, seconds=round(time.monotonic() - started, 3),
                     diff=dict(before=before or '', after=params['content']))


if __name__ == '__main__':
    main()
