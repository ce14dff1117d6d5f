# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""deploy_lock with what only the controller knows: which process holds the lock.

The task runs in a worker process that ansible-playbook forked for it, so os.getppid() is the pid of
the ansible-playbook that holds the lock for the whole play (ansible-runner's events report the same
pid). The plugin passes it, with the controller's host name and that process's start time, to the
module as holder_pid / holder_host / holder_start, on any connection.

On a local connection the module runs in-process (plugin_utils.in_process) and judges holders from
this machine's /proc itself; after taking the lock the plugin starts the renewer, a small process on
the controller that renews the lease while ansible-playbook runs. On any other connection the module
runs on the host, which cannot see the controller's processes: when the module refuses a lock held
from this controller, the plugin checks the holder here and, when it is gone, asks the module again
to take it over (take_over names the process it checked). No renewer can renew a lock file on
another host, so there the lease is unrenewed_ttl long (30 minutes by default).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import socket
import subprocess
import sys

from ansible_collections.selfology.ops.plugins.module_utils import lock
from ansible_collections.selfology.ops.plugins.modules import deploy_lock
from ansible_collections.selfology.ops.plugins.plugin_utils.in_process import InProcessAction

_RENEWER = ('import sys; sys.path.insert(0, sys.argv[1]); '
            'from ansible_collections.selfology.ops.plugins.module_utils.lock import renew_while; '
            'renew_while(*sys.argv[2:])')


def _collections_root():
    """The directory holding ansible_collections/ that this collection was loaded from."""
    parts = os.path.abspath(lock.__file__).split(os.sep)
    return os.sep.join(parts[:len(parts) - 1 - parts[::-1].index('ansible_collections')])


def start_renewer(path, token, pid, start, ttl):
    """A process that renews the lease every ttl/6 s while pid runs and the lock is token's. It stays in
    ansible-playbook's process group (a signal to the group stops it too) and holds none of its
    descriptors (ansible-runner waits for the end of ansible-playbook's output)."""
    interval = max(1, ttl // lock.RENEWALS_PER_LEASE)
    child = subprocess.Popen(
        [sys.executable, '-c', _RENEWER, _collections_root(), path, token, str(pid), str(start), str(interval)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True, cwd='/')
    return child.pid


class ActionModule(InProcessAction):
    MODULE = 'selfology.ops.deploy_lock'
    TASK = deploy_lock.TASK

    _take_over = None

    def module_args(self, task_vars):
        args = dict(self._task.args)
        if not args.get('holder_pid'):
            pid = os.getppid()
            args.update(holder_pid=pid, holder_start=lock.process_start(pid))
        args.setdefault('holder_host', socket.gethostname())
        if not self.in_process():
            # No renewer reaches the host's lock file: the lease must outlast the whole action.
            args['ttl'] = max(int(args.get('ttl', lock.DEFAULT_TTL)), int(args.get('unrenewed_ttl', 1800)))
        if self._take_over and not args.get('take_over'):
            args['take_over'] = self._take_over
        return args

    @staticmethod
    def _gone_here(pid, start=None):
        """take_over naming a process of this controller that is gone (with start: not the process that
        started then), or None when it runs."""
        here = socket.gethostname()
        if start is None:
            state, why = (lock.GONE, 'its process (pid %s on %s) is not running' % (pid, here)) \
                if lock.process_start(pid) is None else (lock.ALIVE, None)
        else:
            state, why = lock.liveness(dict(host=here, pid=pid, start=start), here)
        return dict(pid=pid, start=start, reason=why) if state == lock.GONE else None

    def run(self, tmp=None, task_vars=None):
        self._take_over = None
        args = self._task.args
        present = args.get('state', 'present') == 'present'
        if not present and args.get('interrupted_pid') and not self.in_process():
            self._take_over = self._gone_here(int(args['interrupted_pid']))
        result = super(ActionModule, self).run(tmp, task_vars)
        holder = result.get('lock') or {}
        if present and result.get('failed') and not self.in_process() and \
                holder.get('host') == socket.gethostname() and holder.get('pid') and holder.get('start') is not None:
            self._take_over = self._gone_here(holder['pid'], holder.get('start'))
            if self._take_over:
                result = super(ActionModule, self).run(tmp, task_vars)
        mine = result.get('lock') or {}
        if present and self.in_process() and result.get('changed') and result.get('acquired') \
                and not self._task.check_mode and mine.get('start') is not None:
            result['renewer'] = start_renewer(os.path.expanduser(args['path']), mine['token'], mine['pid'],
                                              mine['start'], mine['lease'])
        return result
