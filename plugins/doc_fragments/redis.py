# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  redis_host:
    description: Redis host. Falls back to E(REDIS_HOST).
    type: str
    default: 127.0.0.1
  redis_port:
    description: Redis port. Falls back to E(REDIS_PORT).
    type: int
    default: 6379
  redis_password:
    description: Redis password. Falls back to E(REDIS_PASSWORD). Never logged.
    type: str
  redis_db:
    description: Redis database number.
    type: int
    default: 0
  redis_tls:
    description: Connect with TLS.
    type: bool
    default: false
  redis_timeout:
    description: Socket timeout in seconds.
    type: float
    default: 5.0
requirements:
  - redis >= 4.3 (redis-py, on the managed host)
'''
