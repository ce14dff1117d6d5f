# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: operator
version_added: 0.2.0
short_description: Who runs this play - the AWX/Tower user and job, or user@controller - for the lock and the audit log
description:
  - Under AWX or Tower (the extra vars C(awx_user_name), C(awx_job_id), C(awx_job_template_name) it passes to every
    job, or their C(tower_*) forms), returns C(USER (AWX job ID, TEMPLATE)), such as C(alice (AWX job 42, Deploy)).
  - Otherwise returns C(user@host) of the controller running the play, read in-process (no subprocess, unlike
    C(lookup('pipe', 'id -un')) and C(lookup('pipe', 'hostname'))). The user is E(SELFOPS_USER) when set, else
    the login name of the controller's process (from E(USER), E(LOGNAME) or the password database, as Python's
    C(getpass.getuser()) does), else C(uid<N>).
  - With the term C(job), returns the AWX/Tower job instead - a dict with C(platform), C(id), C(template) and
    C(user) - or an empty dict outside AWX, for the details of an audit entry.
options:
  _terms:
    description: Nothing for the operator's name; C(job) for the AWX/Tower job.
    required: false
author: Selfology DevOps Team (@selfology-devops)
'''

EXAMPLES = r'''
- name: Name the operator
  ansible.builtin.debug:
    msg: "{{ lookup('selfology.ops.operator') }}"

- name: Name the AWX job, if any
  ansible.builtin.debug:
    msg: "{{ query('selfology.ops.operator', 'job') | first }}"
'''

RETURN = r'''
_raw:
  description: One element - C(user@host), C(USER (AWX job ID, TEMPLATE)), or with the term C(job) a dict.
  type: list
'''

import getpass
import os
import socket

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

# The extra vars AWX passes to every job, and their names under Tower.
PLATFORMS = (('AWX', 'awx_'), ('Tower', 'tower_'))


def controller_user():
    if os.environ.get('SELFOPS_USER'):
        return os.environ['SELFOPS_USER']
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return 'uid%d' % os.getuid()


def awx_job(variables):
    """The AWX/Tower job this play runs in, from the extra vars AWX passes, or {} outside AWX."""
    variables = variables or {}
    for platform, prefix in PLATFORMS:
        user, job = variables.get(prefix + 'user_name'), variables.get(prefix + 'job_id')
        if user or job:
            return dict(platform=platform, id=job, template=variables.get(prefix + 'job_template_name'),
                        user=user or 'unknown user')
    return {}


def operator(variables):
    """USER (AWX job ID, TEMPLATE) under AWX/Tower, else user@controller."""
    job = awx_job(variables)
    if job:
        run = '%s job %s' % (job['platform'], job['id']) if job['id'] is not None else job['platform']
        where = ', '.join(str(part) for part in (run, job['template']) if part)
        return '%s (%s)' % (job['user'], where)
    return '%s@%s' % (controller_user(), socket.gethostname())


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if not terms:
            return [operator(variables)]
        if list(terms) == ['job']:
            return [awx_job(variables)]
        raise AnsibleError('selfology.ops.operator takes no term, or job: got %r' % (terms,))
