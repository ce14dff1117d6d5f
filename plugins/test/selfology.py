# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja tests that apply the modules' own rules, so a role's preflight cannot drift from them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfology.ops.plugins.module_utils.durations import parse_duration
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.slots import MAX_REPLICAS, validate_version


def _passes(check, value):
    try:
        check(value)
    except SelfologyError:
        return False
    return True


def version(value):
    """A tag-like version, as slot_deploy and the CLI accept (slots.VERSION)."""
    return _passes(validate_version, value)


def replica_count(value):
    """A whole number of replicas from 1 to slots.MAX_REPLICAS (the servers the LB declares)."""
    text = str(value)
    return text.isdigit() and 1 <= int(text) <= MAX_REPLICAS


def duration(value):
    """A duration in the collection's grammar (durations.DURATION: 90s, 5m, 2h, 7d)."""
    return _passes(parse_duration, value)


class TestModule(object):
    def tests(self):
        return {'version': version, 'replica_count': replica_count, 'duration': duration}
