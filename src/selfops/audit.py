"""selfops audit security: the runbook's security audit (Monthly Checklist). The collection's playbook
audit_security.yml decides every finding, its severity and the status; this renders them by severity and
exits 0 ok, 1 warning, 2 critical."""
import sys

from . import render
from .checks import ICONS, _execute, _facts, _report, reported_status, worst_status

# The order findings are shown in, worst first; accepted ones after, with their reason.
SEVERITY_ORDER = ("critical", "warning", "info")
SEVERITY_ICONS = {"critical": ICONS["critical"], "warning": ICONS["warning"], "info": "ℹ️ "}


def add_parsers(sub, common):
    audit = sub.add_parser("audit", help="the runbook's audits")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="AUDIT")
    audit_sub.add_parser(
        "security", parents=[common], help="security audit: exit 0 ok, 1 warning, 2 critical",
        description="The runbook's Monthly Checklist security audit, read-only: ports published beyond 127.0.0.1, "
                    "privileged containers and the Docker socket mounted, secrets in containers' environment or "
                    "labels (named, never shown), Redis without a password, protected mode or persistence, "
                    "PostgreSQL trust rules and superuser services, file modes, old images and plain-HTTP URLs to "
                    "other hosts. Findings the inventory accepts (security_accepted_findings) are listed with their "
                    "reason and raise no status. Writes a JSON report; exits 0 when nothing is open, 1 on a warning, "
                    "2 on a critical finding (or when the audit could not run).")


def render_security(report, host=None):
    findings = report.get("findings") or []
    lines = [f"Security audit - {report.get('host', host) or '?'} - {report.get('started', '')}"]
    open_findings = [f for f in findings if not f.get("accepted")]
    for severity in SEVERITY_ORDER:
        group = [f for f in open_findings if f["severity"] == severity]
        if group:
            lines += ["", f"{severity.upper()} ({len(group)}):"]
            lines += [f"  {SEVERITY_ICONS[severity]} {f['check']}: {f['message']}" for f in group]
    accepted = [f for f in findings if f.get("accepted")]
    if accepted:
        lines += ["", f"ACCEPTED ({len(accepted)}, by the inventory's security_accepted_findings):"]
        lines += [f"  {render.OK} {f['check']} {f['subject']} ({f['severity']}): {f['reason']}" for f in accepted]
    lines.append("")
    if report.get("report_path"):
        lines.append(f"Report: {report['report_path']}")
    status = report.get("status")
    if status == "ok":
        lines.append(f"{render.OK} No open security finding")
    else:
        counts = report.get("counts") or {}
        named = ", ".join(f"{counts.get(s, 0)} {s}" for s in SEVERITY_ORDER if counts.get(s))
        lines.append(f"{ICONS.get(status, '?')} {str(status).upper()}: {named}")
    return "\n".join(lines)


def cmd_audit(args):
    run = _execute(args, "audit_security")
    reports = _facts(run, "security_audit_report")
    status, code = worst_status(reported_status(run, "security_audit", reports))
    _report(args, run, {"status": status, "exit_code": code, "hosts": reports, "ok": run.ok,
                        "run_status": run.status},
            [render_security(report, host) for host, report in sorted(reports.items())])
    if not reports and not args.json:
        print(f"{render.FAIL} CRITICAL: the security audit did not run", file=sys.stderr)
    return code


COMMANDS = {"audit": cmd_audit}
