# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fast path for the steps of switch, rollback and status.

An ordinary module execution costs 180-200 ms here even when it does nothing (the zip, importing
ansible.module_utils.basic, then redis/psycopg/docker on every run). When the host is the
controller (connection local, no become), the action plugin runs the module's own Task - the same
argument spec, the same code - inside ansible-playbook, where the client libraries were imported
once: 13-22 ms a step. On any other connection it executes the module on the host as usual.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.task import failure_fields, operator_error


class InProcessAction(ActionBase):
    """Subclasses set MODULE (the module's FQCN) and TASK (its Task)."""

    MODULE = None
    TASK = None
    _supports_check_mode = True
    _supports_async = False

    def in_process(self):
        return self._connection.transport == 'local' and not self._play_context.become

    def module_args(self, task_vars):
        """The arguments the module gets; a subclass may add what only the controller knows."""
        return dict(self._task.args)

    def run(self, tmp=None, task_vars=None):
        result = super(InProcessAction, self).run(tmp, task_vars)
        del tmp
        args = self.module_args(task_vars)
        if not self.in_process():
            result.update(self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars))
            return result
        task = self.TASK
        validated = ArgumentSpecValidator(task.argument_spec, **task.constraints).validate(args)
        if validated.error_messages:
            result.update(failed=True, msg='; '.join(validated.error_messages))
            return result
        try:
            outcome = task.run(validated.validated_parameters, bool(self._task.check_mode))
        except SelfologyError as exc:
            outcome = dict(failure_fields(exc), failed=True, msg=str(exc))
        except Exception as exc:  # pylint: disable=broad-except
            error = operator_error(exc)
            if error is None:
                raise
            outcome = dict(failed=True, msg=str(error))
        outcome.setdefault('changed', False)
        if validated._no_log_values:
            outcome = remove_values(outcome, validated._no_log_values)
        result.update(outcome)
        return result
