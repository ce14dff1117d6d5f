# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Redis connection spec of the collection (doc fragment selfology.ops.redis)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.selfology.ops.plugins.module_utils.errors import BackendUnavailable, SelfologyError

try:
    import redis
    HAS_REDIS = True
    REDIS_IMPORT_ERROR = None
except ImportError:
    HAS_REDIS = False
    REDIS_IMPORT_ERROR = traceback.format_exc()


def redis_argument_spec():
    return dict(
        redis_host=dict(type='str', default='127.0.0.1', fallback=(env_fallback, ['REDIS_HOST'])),
        redis_port=dict(type='int', default=6379, fallback=(env_fallback, ['REDIS_PORT'])),
        redis_password=dict(type='str', no_log=True, fallback=(env_fallback, ['REDIS_PASSWORD'])),
        redis_db=dict(type='int', default=0),
        redis_tls=dict(type='bool', default=False),
        redis_timeout=dict(type='float', default=5.0),
    )


def require():
    """Raises SelfologyError when the redis library is missing on the host."""
    if not HAS_REDIS:
        raise SelfologyError(missing_required_lib('redis'))


def require_redis(module):
    if not HAS_REDIS:
        module.fail_json(msg=missing_required_lib('redis'), exception=REDIS_IMPORT_ERROR)


def connect(params):
    """A client that has answered PING; raises BackendUnavailable with a message safe to show."""
    client = redis.Redis(
        host=params['redis_host'], port=params['redis_port'], password=params['redis_password'],
        db=params['redis_db'], ssl=params['redis_tls'], socket_timeout=params['redis_timeout'],
        socket_connect_timeout=params['redis_timeout'], decode_responses=True,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BackendUnavailable('Redis at %s:%s is unreachable: %s' % (
            params['redis_host'], params['redis_port'], exc))
    return client
