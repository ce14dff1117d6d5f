# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_catalog, in ansible-playbook's own process on a local connection (see plugin_utils.in_process)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.selfology.ops.plugins.modules import backup_catalog
from ansible_collections.selfology.ops.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    MODULE = 'selfology.ops.backup_catalog'
    TASK = backup_catalog.TASK
