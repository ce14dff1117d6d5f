# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module's interface and logic in one object, so that the module (on any host) and its action
plugin (in the controller's process, on a local connection) run exactly the same code."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError


class Task(object):
    """argument_spec and the AnsibleModule constraints (required_if, ...) of a module, and
    run(params, check_mode) -> result dict, which raises SelfologyError for an operator."""

    def __init__(self, argument_spec, run, **constraints):
        self.argument_spec = argument_spec
        self.run = run
        self.constraints = constraints


# The client libraries whose errors reach a module's caller: (top-level package, what it talks to).
DRIVERS = {'docker': 'Docker', 'requests': 'Docker', 'urllib3': 'Docker', 'redis': 'Redis', 'psycopg': 'PostgreSQL',
           'psycopg_pool': 'PostgreSQL'}


def operator_error(exc):
    """A driver's error (Docker API, Redis, PostgreSQL) or an OSError as a SelfologyError naming the
    backend; None for anything else, which is a bug and keeps its traceback. Matched by the
    exception's package, so no driver is imported here (each costs 75-130 ms per module run)."""
    backend = DRIVERS.get(type(exc).__module__.split('.')[0])
    if backend is None and not isinstance(exc, OSError):
        return None
    detail = str(exc).strip() or type(exc).__name__
    return SelfologyError('%s error (%s): %s' % (backend or 'system', type(exc).__name__, detail))


def failure_fields(exc):
    """What a failure returns besides its message (for example the lock holder that refused)."""
    return dict(getattr(exc, 'result', None) or {})


def main(task):
    """A module's main(): validate, run, exit or fail with a message an operator can act on."""
    module = AnsibleModule(argument_spec=task.argument_spec, supports_check_mode=True, **task.constraints)
    try:
        result = task.run(module.params, module.check_mode)
    except SelfologyError as exc:
        module.fail_json(msg=str(exc), **failure_fields(exc))
    except Exception as exc:  # pylint: disable=broad-except
        error = operator_error(exc)
        if error is None:
            raise
        module.fail_json(msg=str(error))
    module.exit_json(**result)
