# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one PostgreSQL connection spec of the collection (doc fragment selfology.ops.postgres)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.selfology.ops.plugins.module_utils.errors import BackendUnavailable, SelfologyError

try:
    import psycopg
    HAS_PSYCOPG = True
    PSYCOPG_IMPORT_ERROR = None
except ImportError:
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()


def postgres_argument_spec():
    return dict(
        login_host=dict(type='str', default='127.0.0.1', fallback=(env_fallback, ['PGHOST'])),
        login_port=dict(type='int', default=5432, fallback=(env_fallback, ['PGPORT'])),
        login_user=dict(type='str', default='n8n', fallback=(env_fallback, ['PGUSER'])),
        login_password=dict(type='str', no_log=True, fallback=(env_fallback, ['PGPASSWORD'])),
        login_db=dict(type='str', default='n8n', fallback=(env_fallback, ['PGDATABASE'])),
        connect_timeout=dict(type='int', default=5),
    )


def require():
    """Raises SelfologyError when psycopg is missing on the host."""
    if not HAS_PSYCOPG:
        raise SelfologyError(missing_required_lib('psycopg'))


def require_psycopg(module):
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib('psycopg'), exception=PSYCOPG_IMPORT_ERROR)


def connect(params, autocommit=True, application_name='selfology.ops'):
    """Opens a connection from module params; raises BackendUnavailable with a message safe to show."""
    try:
        return psycopg.connect(
            host=params['login_host'], port=params['login_port'], user=params['login_user'],
            password=params['login_password'], dbname=params['login_db'],
            connect_timeout=params['connect_timeout'], autocommit=autocommit,
            application_name=application_name,
        )
    except psycopg.Error as exc:
        raise BackendUnavailable('PostgreSQL at %s:%s is unreachable: %s' % (
            params['login_host'], params['login_port'], first_line(exc)))


def first_line(exc):
    """The driver's message without the context lines that may quote a statement."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
