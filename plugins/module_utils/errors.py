# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain exceptions: module_utils raise these; only a module's main() turns them into fail_json."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class SelfologyError(Exception):
    """An error an operator can act on; str() is safe to show (no secrets, no query parameters).
    result: fields the failed task returns besides its message."""

    def __init__(self, message, result=None):
        super(SelfologyError, self).__init__(message)
        self.result = result or {}


class BackendUnavailable(SelfologyError):
    """PostgreSQL, Redis or Docker could not be reached."""


class UnsafeOperation(SelfologyError):
    """A destructive step was refused because the data says it is unsafe."""
