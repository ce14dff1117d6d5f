#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: backup_catalog
short_description: Verify every backup set, keep the failed ones apart and prune by the retention policy
description:
  - Reads every set's manifest and checks each file's size and sha256 against it. A set that fails is moved to
    C(failed/) under the backup directory with a note of why, reported, and never counted as the newest.
  - With O(prune), applies the retention policy to the verified sets (the C(last) N newest, and the newest set of
    each of the last C(daily) N days, C(weekly) N ISO weeks and C(monthly) N months) and deletes the rest; the
    newest verified set is always kept. Sets kept apart are not the policy's to count or delete.
  - Removes leftovers of interrupted backups (C(.partial)) older than O(partial_max_age) seconds.
  - Returns the node exporter textfile (RV(metrics)) the BackupTooOld alert reads, for the caller to install.
version_added: 0.5.0
author: Selfology DevOps Team (@selfology-devops)
options:
  backup_dir:
    description: Directory of the backup sets.
    type: path
    required: true
  retention:
    description: How many of the newest (C(last)), daily, weekly and monthly sets to keep.
    type: dict
    default: {last: 3, daily: 7, weekly: 4, monthly: 6}
  prune:
    description: Whether to delete the sets the policy does not keep (false verifies only).
    type: bool
    default: true
  partial_max_age:
    description: Age in seconds after which an interrupted backup's leftovers are removed.
    type: int
    default: 3600
attributes:
  check_mode:
    support: full
    description: Verifies, and reports what it would set apart, prune and remove, changing nothing.
'''

EXAMPLES = r'''
- name: Verify the sets and apply the retention policy
  selfology.ops.backup_catalog:
    backup_dir: /var/lib/selfology-ops/backups
    retention: {last: 3, daily: 7, weekly: 4, monthly: 6}
'''

RETURN = r'''
verified:
  description: The verified sets, newest first (id, taken_at, path, age_seconds and the manifest's counts).
  returned: always
  type: list
  elements: dict
newest:
  description: The newest verified set, or null.
  returned: always
  type: dict
failed_sets:
  description: Sets failing verification (this run's and those kept apart earlier), each with its problems.
  returned: always
  type: list
  elements: dict
set_apart:
  description: Ids of the sets this run moved to failed/.
  returned: always
  type: list
  elements: str
kept:
  description: Each kept set's id and the policy's reasons for keeping it.
  returned: always
  type: dict
pruned:
  description: Ids of the sets deleted (or that would be, in check mode).
  returned: always
  type: list
  elements: str
partial_removed:
  description: Leftovers of interrupted backups removed (or that would be).
  returned: always
  type: list
  elements: str
metrics:
  description: The node exporter textfile (selfology_backup_*).
  returned: always
  type: str
'''

import datetime
import os
import shutil
import time

from ansible_collections.selfology.ops.plugins.module_utils import backups, retention
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    directory = params['backup_dir']
    policy = retention.validate_policy(params['retention'])
    verified, failing, partial = backups.scan(directory)
    set_apart = [failure['id'] for failure in failing]
    if not check_mode:
        for failure in failing:
            failure['path'] = backups.set_apart(directory, failure)
    failed = failing + [f for f in backups.set_aside_failed(directory) if f['id'] not in set_apart]
    stale = [p for p in partial if time.time() - os.path.getmtime(p) > params['partial_max_age']]
    kept, pruned = {}, []
    if params['prune']:
        kept, pruned = retention.plan([dict(id=m['id'], taken_at=backups.parse_taken_at(m['taken_at']), verified=True)
                                       for m in verified], policy)
    if not check_mode:
        for path in stale + [m['path'] for m in verified if m['id'] in pruned]:
            shutil.rmtree(path)
    remaining = [m for m in verified if m['id'] not in pruned]
    now = datetime.datetime.now(datetime.timezone.utc)
    for manifest in remaining:
        manifest['age_seconds'] = int((now - backups.parse_taken_at(manifest['taken_at'])).total_seconds())
    return dict(changed=bool(set_apart or pruned or stale), verified=remaining,
                newest=remaining[0] if remaining else None, failed_sets=failed, set_apart=set_apart, kept=kept,
                pruned=pruned, partial_removed=stale, metrics=backups.metrics(remaining, failed))


TASK = Task(dict(
    backup_dir=dict(type='path', required=True),
    retention=dict(type='dict', default=dict(last=3, daily=7, weekly=4, monthly=6)),
    prune=dict(type='bool', default=True),
    partial_max_age=dict(type='int', default=3600),
), run)


if __name__ == '__main__':
    main(TASK)
