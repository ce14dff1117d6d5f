# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # The options of module_utils/prometheus.py's prometheus_argument_spec().
    DOCUMENTATION = r'''
options:
  url:
    description:
      - Base URL of Prometheus, with its path prefix if it has one. Falls back to E(PROMETHEUS_URL).
      - User name and password may be given in it; they are never shown.
    type: str
    default: http://127.0.0.1:9090
  timeout:
    description: Seconds to wait for Prometheus's answer.
    type: float
    default: 10
  validate_certs:
    description: Verify the server's TLS certificate for an C(https) URL.
    type: bool
    default: true
'''
