# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  login_host:
    description: PostgreSQL host. Falls back to E(PGHOST).
    type: str
    default: 127.0.0.1
  login_port:
    description: PostgreSQL port. Falls back to E(PGPORT).
    type: int
    default: 5432
  login_user:
    description: PostgreSQL user. Falls back to E(PGUSER).
    type: str
    default: n8n
  login_password:
    description: PostgreSQL password. Falls back to E(PGPASSWORD). Never logged.
    type: str
  login_db:
    description: Database holding schema C(selfology). Falls back to E(PGDATABASE).
    type: str
    default: n8n
  connect_timeout:
    description: Seconds to wait for a connection.
    type: int
    default: 5
requirements:
  - psycopg >= 3.1 (on the managed host)
'''
