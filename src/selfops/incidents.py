"""selfops incident and selfops diagnose: the runbook's incident responses and common-issue
diagnoses. The collection's playbooks (incident_*.yml, diagnose_*.yml) do every step and decide
whether it was resolved; this renders the report they wrote."""
from . import render
from .checks import _execute, _report, _results

INCIDENTS = {
    "service-down": ("incident_service_down", "P0 Service Down: acknowledge, logs, restart, dependencies, rollback"),
    "error-rate": ("incident_error_rate", "P1 High Error Rate: failing endpoints, recent deploy, AI breaker, load"),
    "backlog": ("incident_backlog", "P1 Event Processing Backlog: relay logs, Redis, restart the relay, drain"),
}
DIAGNOSES = {
    "slow-analysis": ("diagnose_slow_analysis", "Issue 1: analysis p95, slow queries, load per service"),
    "redis": ("diagnose_redis", "Issue 2: Redis down or full - state, logs, memory, restart, reconnects"),
    "costs": ("diagnose_costs", "Issue 3: AI costs - 24 h by model, the mix, Claude above 20 %"),
}
RESULT_ICON = {"ok": render.OK, "failed": render.FAIL, "skipped": "⏭️ "}


def add_parsers(sub, common, service_arg):
    incident = sub.add_parser("incident", help="respond to an incident (runbook - Incident Response)")
    incident_sub = incident.add_subparsers(dest="incident_kind", required=True, metavar="KIND")
    for kind, (_playbook, text) in INCIDENTS.items():
        parser = incident_sub.add_parser(kind, parents=[common], help=text, description=text)
        if kind == "service-down":
            parser.add_argument("service", type=service_arg)
    diagnose = sub.add_parser("diagnose", help="diagnose a common issue (runbook - Common Issues)")
    diagnose_sub = diagnose.add_subparsers(dest="diagnosis", required=True, metavar="ISSUE")
    for kind, (_playbook, text) in DIAGNOSES.items():
        diagnose_sub.add_parser(kind, parents=[common], help=text, description=text)


def render_incident(host, res):
    incident = res.get("incident") or {}
    resolved = incident.get("resolved_by")
    lines = [f"{incident.get('severity', '')} {incident.get('title', incident.get('kind', ''))}"
             + (f" - {host}" if host else "")]
    for step in incident.get("steps", []):
        details = step.get("details")
        summary = details if isinstance(details, str) else ", ".join(
            f"{key}: {value}" for key, value in (details or {}).items() if key not in ("containers",)) \
            if isinstance(details, dict) else ""
        lines.append(f"  {RESULT_ICON.get(step.get('result'), '  ')} {step.get('name')} "
                     f"({step.get('duration_s', 0)} s){': ' + summary if summary else ''}")
    if resolved:
        lines.append(f"{render.OK} Resolved by {resolved} in {incident.get('time_to_resolve_s')} s")
    elif incident.get("kind", "").startswith("diagnose"):
        lines.append(f"{render.WARN} Not resolved: a person must take over")
    else:
        lines.append(f"{render.FAIL} Not resolved: a person must take over")
    lines.append(f"Report: {res.get('path')}")
    return "\n".join(lines)


def cmd_incident(args):
    if args.command == "incident":
        playbook = INCIDENTS[args.incident_kind][0]
        extravars = {"incident_service": args.service} if args.incident_kind == "service-down" else {}
    else:
        playbook, extravars = DIAGNOSES[args.diagnosis][0], {}
    run = _execute(args, playbook, extravars)
    reports = _results(run, "selfology.ops.incident_report")
    _report(args, run, {"hosts": {host: {"report": res.get("path"), "incident": res.get("incident")}
                                  for host, res in reports.items()}, "ok": run.ok, "run_status": run.status},
            [render_incident(host if len(reports) > 1 else None, res) for host, res in sorted(reports.items())])
    return 0 if run.ok else 1


COMMANDS = {"incident": cmd_incident, "diagnose": cmd_incident}
