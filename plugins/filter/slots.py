# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.selfology.ops.plugins.module_utils.durations import parse_duration
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.slots import MAX_REPLICAS, replica_name


def slot_endpoints(services, port_base):
    endpoints = []
    for service in services:
        try:
            endpoint = {'name': service['name'], 'port': int(port_base) + int(service['port'])}
        except (KeyError, TypeError, ValueError) as exc:
            raise AnsibleFilterError('slot_endpoints: each service needs a name and a numeric port offset (%s)' % exc)
        if service.get('probe'):
            endpoint['probe'] = service['probe']
        endpoints.append(endpoint)
    return endpoints


def replica_names(service, slot):
    try:
        return [replica_name(service, slot, replica) for replica in range(1, MAX_REPLICAS + 1)]
    except SelfologyError as exc:
        raise AnsibleFilterError('replica_names: %s' % exc)


def seconds(duration):
    """Seconds in a duration of the collection's grammar (30d, 12h, 5m, 2s, 500ms)."""
    try:
        return parse_duration(duration)
    except SelfologyError as exc:
        raise AnsibleFilterError('seconds: %s' % exc)


class FilterModule(object):
    def filters(self):
        return {'slot_endpoints': slot_endpoints, 'replica_names': replica_names, 'seconds': seconds}
