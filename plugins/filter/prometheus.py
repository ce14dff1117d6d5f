# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError


def prometheus_rows(result, value_name='value', digits=4):
    """A prometheus_query vector result as table rows: each series' labels and its value."""
    if not isinstance(result, list):
        raise AnsibleFilterError('prometheus_rows: expected the result list of selfology.ops.prometheus_query')
    rows = []
    for series in result:
        row = dict(series.get('metric') or {})
        row.pop('__name__', None)
        value = series.get('value')
        row[value_name] = round(value, int(digits)) if isinstance(value, float) else value
        rows.append(row)
    return rows


class FilterModule(object):
    def filters(self):
        return {'prometheus_rows': prometheus_rows}
