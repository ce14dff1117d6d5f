# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  docker_host:
    description: Docker engine address. Falls back to E(DOCKER_HOST).
    type: str
    default: unix:///var/run/docker.sock
requirements:
  - docker (the Docker SDK for Python, on the managed host)
'''
