# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: operator
version_added: 0.2.0
short_description: Who runs this play, as user@controller, for the lock and the audit log
description:
  - Returns C(user@host) of the controller running the play, read in-process (no subprocess, unlike
    C(lookup('pipe', 'id -un')) and C(lookup('pipe', 'hostname'))).
  - The user is E(SELFOPS_USER) when set, else the login name of the controller's process (from
    E(USER), E(LOGNAME) or the password database, as Python's C(getpass.getuser()) does), else C(uid<N>).
author: Selfology DevOps Team (@selfology-devops)
'''

EXAMPLES = r'''
- name: Name the operator
  ansible.builtin.debug:
    msg: "{{ lookup('selfology.ops.operator') }}"
'''

RETURN = r'''
_raw:
  description: One element, C(user@host).
  type: list
  elements: str
'''

import getpass
import os
import socket

from ansible.plugins.lookup import LookupBase


def controller_user():
    if os.environ.get('SELFOPS_USER'):
        return os.environ['SELFOPS_USER']
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return 'uid%d' % os.getuid()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return ['%s@%s' % (controller_user(), socket.gethostname())]
