#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: incident_report
short_description: Write the runbook's incident report for an incident, in Markdown with the incident as JSON beside it
description:
  - Fills in the runbook's incident report template ("4. Document Incident" of the P0 procedure) from the incident
    an incident playbook gathered, and writes it to O(directory) as C(<timestamp>_<kind>.md), with the incident as
    JSON beside it in C(<timestamp>_<kind>.json).
  - The timestamp is the time of writing in UTC as C(YYYYmmdd_HHMMSS), the runbook's C($(date +%Y%m%d_%H%M%S));
    the kind's C(-) is written C(_), as in the runbook's C(20250101_093000_service_down.md).
  - "The report has the template's title, C(**Time:**), C(**Severity:**) and C(**Impact:**) lines, then the sections
    C(## Timeline) (every step with its start, duration, result and details), C(## Evidence) (log excerpts, query
    results, figures), C(## Root Cause) (left for a person), C(## Resolution) (the fix that resolved it, or that
    none did) and C(## Prevention) (left for a person)."
  - Each file is written to a temporary file in O(directory), synced and moved into place, so a reader never sees
    part of a report. A report is never overwritten; when the name is taken, C(-2), C(-3), ... is added to it.
    A missing directory is created with mode C(0750), the files with mode C(0640).
  - Credentials in URLs (C(scheme://user:password@host) becomes C(scheme://********@host)), values of secret-named
    keys (C(password=), C(token:), C(api_key=), ...) and bot tokens are masked in everything written or returned.
  - Always reports a change, in check mode too; in check mode nothing is written.
version_added: 0.3.0
author: Selfology DevOps Team (@selfology-devops)
options:
  directory:
    description: The directory of the incident reports, such as C(incidents) in the state directory.
    type: path
    required: true
  incident:
    description: The incident.
    type: dict
    required: true
    suboptions:
      kind:
        description:
          - What kind of incident, such as V(service-down), V(error-rate), V(backlog) or V(diagnose-redis).
          - Lower-case letters, digits, C(-) and C(_); it names the report's files.
        type: str
        required: true
      severity:
        description: The runbook's severity level.
        type: str
        required: true
        choices: [P0, P1, P2, P3]
      impact:
        description: What users saw, such as C(Users unable to get analysis).
        type: str
        required: true
      title:
        description: The report's title after C(Incident:); by default the kind, with O(incident.service) when given.
        type: str
      service:
        description: The service the incident is about, such as C(analysis-worker).
        type: str
      trigger:
        description: What started the response, such as the alert and its fingerprint, or the person who ran it.
        type: str
      started:
        description:
          - When the incident response started, as ISO 8601 (C(Z) or an offset; none means UTC) or epoch seconds.
          - By default the first step's start, or else the time of writing.
        type: raw
      summary:
        description: A paragraph for people, written under the title.
        type: str
      steps:
        description: Every step taken, in order, whatever its result.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: The step, such as C(Fix A - restart service).
            type: str
            required: true
          started:
            description: When the step started, as ISO 8601 or epoch seconds.
            type: raw
          duration_s:
            description: How long it took, in seconds.
            type: float
          result:
            description: How it ended.
            type: str
            required: true
            choices: [ok, failed, skipped]
          details:
            description: What it found or did, a text or a dict.
            type: raw
      resolved_by:
        description:
          - The name of the step (fix) that resolved the incident; its last run must have the result V(ok).
          - Left out when no step resolved it; the report then says a person must take over.
        type: str
      evidence:
        description:
          - "The evidence, a list of dicts with C(title) and C(content) (and optionally C(kind) and C(query)), or a
            dict of title to content."
          - "The kind is inferred from the content when not given: a list of lines is a log excerpt, a dict is a table
            of figures, a list of dicts is a table, what M(selfology.ops.log_classify_info) returned is a
            classification, anything else is text. With C(query) the content is that query's answer."
          - Log lines are cut to 300 characters; a log excerpt shows at most its last 200 lines.
        type: raw
attributes:
  check_mode:
    support: full
    description: Writes nothing and returns the paths it would write and the report.
  diff_mode:
    support: none
    description: A new report has no before; the report is returned instead.
seealso:
  - module: selfology.ops.log_classify_info
'''

EXAMPLES = r'''
- name: Write the incident report
  selfology.ops.incident_report:
    directory: "{{ selfops_state_dir }}/incidents"
    incident:
      kind: service-down
      severity: P0
      impact: Users unable to get analysis
      service: analysis-worker
      trigger: ServiceDown alert (fingerprint 3f2a9c1d)
      started: "2025-01-01T09:30:00Z"
      steps:
        - name: Acknowledge
          started: "2025-01-01T09:30:00Z"
          duration_s: 0.4
          result: ok
          details: silenced for 30m by selfops
        - name: Fix A - restart service
          started: "2025-01-01T09:30:02Z"
          duration_s: 12.5
          result: ok
          details:
            healthy_after_s: 11.8
      resolved_by: Fix A - restart service
      evidence:
        - title: Last 100 log lines, classified
          content: "{{ worker_logs_classified }}"
  register: incident_report

- name: Tell the team where the report is
  ansible.builtin.debug:
    msg: "Incident report: {{ incident_report.path }}"
'''

RETURN = r'''
path:
  description: The Markdown report (written, or that would be written in check mode).
  returned: always
  type: str
  sample: /var/lib/selfology-ops/incidents/20250101_093014_service_down.md
json_path:
  description: The incident as JSON, beside the report.
  returned: always
  type: str
  sample: /var/lib/selfology-ops/incidents/20250101_093014_service_down.json
written:
  description: Whether the files were written (false in check mode).
  returned: always
  type: bool
  sample: true
markdown:
  description: The report's text.
  returned: always
  type: str
incident:
  description:
    - The incident as written to the JSON file, checked and completed - times in UTC, secrets masked - with
      C(status) (V(resolved) or V(unresolved)), C(ended) (the last step's end) and C(time_to_resolve_s) (from the
      start to the end of the step that resolved it).
  returned: always
  type: dict
'''

from ansible_collections.selfology.ops.plugins.module_utils import incidents
from ansible_collections.selfology.ops.plugins.module_utils.task import Task, main


def run(params, check_mode):
    incident = incidents.normalize_incident(params['incident'])
    if check_mode:
        md_path, json_path = incidents.report_paths(params['directory'], incident)
    else:
        md_path, json_path = incidents.write_report(params['directory'], incident)
    return dict(changed=True, path=md_path, json_path=json_path, written=not check_mode,
                markdown=incidents.render_report(incident), incident=incident)


STEP_SPEC = dict(
    name=dict(type='str', required=True),
    started=dict(type='raw'),
    duration_s=dict(type='float'),
    result=dict(type='str', required=True, choices=list(incidents.RESULTS)),
    details=dict(type='raw'),
)

INCIDENT_SPEC = dict(
    kind=dict(type='str', required=True),
    severity=dict(type='str', required=True, choices=list(incidents.SEVERITIES)),
    impact=dict(type='str', required=True),
    title=dict(type='str'),
    service=dict(type='str'),
    trigger=dict(type='str'),
    started=dict(type='raw'),
    summary=dict(type='str'),
    steps=dict(type='list', elements='dict', default=[], options=STEP_SPEC),
    resolved_by=dict(type='str'),
    evidence=dict(type='raw'),
)

TASK = Task(dict(
    directory=dict(type='path', required=True),
    incident=dict(type='dict', required=True, options=INCIDENT_SPEC),
), run)


if __name__ == '__main__':
    main(TASK)
