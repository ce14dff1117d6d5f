#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: outbox_archive
short_description: Move old published events to the outbox archive in short batches, or purge old archived ones
description:
  - The runbook's weekly "Archive old events" and "Database Disk Full" steps, without the single
    long C(DELETE) that locks every old row for the whole run and loses them.
  - With O(state=archived), moves the rows of C(selfology.event_outbox) whose status is C(published)
    and whose C(published_at) is older than O(older_than) into C(selfology.event_outbox_archive)
    (same columns and types plus C(archived_at); created when missing). A C(pending) or C(failed)
    row is never moved. The cutoff is computed once, from the database clock, when the run starts.
  - Each batch of at most O(batch_size) rows is one short transaction with O(lock_timeout), holding
    one statement that deletes the rows from the outbox and inserts them into the archive
    (C(DELETE ... RETURNING) feeding C(INSERT ... ON CONFLICT (id) DO NOTHING); rows locked by
    someone else are skipped, not waited for). A row is therefore in the outbox or in the archive
    at every instant; a run interrupted at any point loses nothing and a rerun completes it.
  - With O(export_path), each batch is also appended to a gzip-compressed JSON-lines file (one gzip
    member per batch) and fsynced B(before) the batch commits. A run killed between the two leaves
    that batch in the outbox and in the export; the rerun moves and exports it again, so the export
    holds every archived row at least once (a repeated row is identical, keep the last). A torn
    last member left by a run killed while writing is cut off by the next run.
    The module refuses to append to a file that is not such an export.
  - With O(state=purged), deletes archived rows whose C(archived_at) is older than O(retention), in
    the same kind of batches. This is the only step that removes event data for good.
  - Two runs of the same state do not run at once on one database (an advisory lock).
  - In check mode nothing is created, moved, written or deleted; the module counts the rows that
    would move or be purged with the same predicate.
  - C(VACUUM) is not run; the runbook's C(VACUUM ANALYZE) step follows as before.
version_added: 0.1.0
author: Selfology DevOps Team (@selfology-devops)
extends_documentation_fragment:
  - selfology.ops.postgres
options:
  state:
    description:
      - C(archived) moves old published rows to the archive.
      - C(purged) deletes old rows from the archive.
    type: str
    choices: [archived, purged]
    default: archived
  older_than:
    description:
      - With O(state=archived), the age of C(published_at) from which a published row moves, such as
        C(30d) or C(90d).
      - A whole number and one unit of C(ms), C(s), C(m), C(h), C(d) or C(w); from 1s to 36500d.
      - Required with O(state=archived); not accepted with O(state=purged).
    type: str
  retention:
    description:
      - With O(state=purged), how long archived rows are kept, by C(archived_at), such as C(365d).
      - Same format as O(older_than); required with O(state=purged), not accepted with O(state=archived).
    type: str
  batch_size:
    description: Rows per batch (per transaction), from 1 to 100000.
    type: int
    default: 5000
  lock_timeout:
    description:
      - The longest a batch waits for a lock (C(SET LOCAL lock_timeout)), as a duration such as C(2s)
        or C(500ms), at most C(5m).
      - A batch that times out is retried 3 times, then the run stops (nothing lost) and fails.
      - Also bounds the wait for another run's advisory lock.
    type: str
    default: 2s
  max_batches:
    description: Stop after this many batches (time-boxing); a later run continues.
    type: int
  max_duration:
    description: Start no batch after this long (time-boxing), as a duration such as C(10m); a later run continues.
    type: str
  export_path:
    description:
      - With O(state=archived), a file on the managed host the moved rows are appended to, as
        gzip-compressed JSON lines (one object per row with the archive's columns). Created with
        mode 0600 when missing; its directory must exist.
    type: path
attributes:
  check_mode:
    support: full
    description: Counts the rows that would move (RV(would_move)) or be purged (RV(would_purge)); creates, moves, writes and deletes nothing.
  diff_mode:
    support: none
    description: No diff; the counts are returned instead.
notes:
  - C(changed) is true when rows were moved or purged, or the archive table was created.
  - Read the export with C(zcat) or Python's C(gzip) module; both read a file of several gzip members.
'''

EXAMPLES = r'''
- name: Weekly maintenance - archive events published more than 30 days ago
  selfology.ops.outbox_archive:
    older_than: 30d
    export_path: "/var/backups/selfology/outbox-{{ '%Y-%m-%d' | strftime }}.jsonl.gz"
    login_password: "{{ vault_postgres_password }}"
  register: archive

- name: Disk nearly full - archive after 90 days, at most ten minutes per run
  selfology.ops.outbox_archive:
    older_than: 90d
    batch_size: 10000
    max_duration: 10m
    login_password: "{{ vault_postgres_password }}"

- name: Keep a year of archived events
  selfology.ops.outbox_archive:
    state: purged
    retention: 365d
    login_password: "{{ vault_postgres_password }}"
'''

RETURN = r'''
state:
  description: The O(state) that ran.
  returned: always
  type: str
  sample: archived
cutoff:
  description: Rows published (O(state=archived)) or archived (O(state=purged)) before this database time were taken.
  returned: always
  type: str
  sample: "2025-12-02T10:00:00.120000+00:00"
moved:
  description: Rows moved from the outbox to the archive (0 in check mode).
  returned: when O(state=archived)
  type: int
  sample: 152340
would_move:
  description: Rows the run would move, counted with the same predicate (capped by O(max_batches)).
  returned: in check mode, when O(state=archived)
  type: int
  sample: 152340
purged:
  description: Archived rows deleted (0 in check mode).
  returned: when O(state=purged)
  type: int
  sample: 5000
would_purge:
  description: Archived rows the run would delete (capped by O(max_batches)).
  returned: in check mode, when O(state=purged)
  type: int
  sample: 5000
batches:
  description: Batches that moved or purged rows (each one committed transaction).
  returned: always
  type: int
  sample: 31
duration_seconds:
  description: Time spent in batches.
  returned: always
  type: float
  sample: 4.812
rows_per_second:
  description: Rows moved or purged per second of RV(duration_seconds).
  returned: always
  type: float
  sample: 31658.4
complete:
  description: False when O(max_batches) or O(max_duration) stopped the run before every eligible row was taken.
  returned: always
  type: bool
  sample: true
archive_table:
  description: The archive table.
  returned: always
  type: str
  sample: selfology.event_outbox_archive
archive_created:
  description: Whether the run created the archive table (would create it, in check mode).
  returned: when O(state=archived)
  type: bool
  sample: false
already_archived:
  description: Rows whose identical copy the archive already held; they were removed from the outbox only.
  returned: when not 0
  type: int
  sample: 0
export_path:
  description: The export file.
  returned: when O(export_path) is set
  type: str
  sample: /var/backups/selfology/outbox-2026-01-05.jsonl.gz
exported:
  description: Rows appended to the export by this run.
  returned: when O(export_path) is set
  type: int
  sample: 152340
export_torn_bytes:
  description: Bytes of a torn last batch, left by a killed run, cut off the export (that would be cut off, in check mode).
  returned: when O(export_path) is set
  type: int
  sample: 0
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.selfology.ops.plugins.module_utils import postgres
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils.outbox import OutboxInterrupted, run_archive


def main():
    argument_spec = dict(
        state=dict(type='str', default='archived', choices=['archived', 'purged']),
        older_than=dict(type='str'),
        retention=dict(type='str'),
        batch_size=dict(type='int', default=5000),
        lock_timeout=dict(type='str', default='2s'),
        max_batches=dict(type='int'),
        max_duration=dict(type='str'),
        export_path=dict(type='path'),
    )
    argument_spec.update(postgres.postgres_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec, supports_check_mode=True,
        required_if=[('state', 'archived', ['older_than']), ('state', 'purged', ['retention'])],
        mutually_exclusive=[('older_than', 'retention')],
    )
    postgres.require_psycopg(module)
    try:
        result = run_archive(module.params, check_mode=module.check_mode)
    except OutboxInterrupted as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except SelfologyError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
