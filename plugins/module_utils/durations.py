# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one duration grammar of the collection: a whole number and one unit, such as 30d, 5m or 500ms."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError

DURATION = re.compile(r'(0|[1-9][0-9]{0,9})(ms|s|m|h|d|w)')
UNIT_SECONDS = {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800}
CENTURY = 36500 * 86400


def format_seconds(seconds):
    for unit in ('w', 'd', 'h', 'm', 's'):
        if seconds >= UNIT_SECONDS[unit] and seconds % UNIT_SECONDS[unit] == 0:
            return '%d%s' % (seconds // UNIT_SECONDS[unit], unit)
    return '%dms' % round(seconds * 1000)


def parse_duration(value, name='duration', low=0, high=CENTURY):
    """Seconds from '30d', '12h', '5m', '2s', '500ms'; anything else (spaces, signs, fractions,
    compound forms, PostgreSQL interval syntax) is refused, as is a value outside [low, high]."""
    text = value if isinstance(value, str) else ''
    match = DURATION.fullmatch(text)
    if not match:
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + '...'
        raise SelfologyError('%s: %r is not a duration; use a whole number and one unit of ms, s, m, h, d, w, '
                             'such as 30d, 12h or 2s' % (name, shown))
    seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2)]
    if seconds < low or seconds > high:
        raise SelfologyError('%s: %s is out of range (%s to %s)' % (
            name, text, format_seconds(low) if low else '0s', format_seconds(high)))
    return seconds
