"""selfops report sla: the monthly SLA review (runbook - Monthly Checklist: "Review SLA compliance (99.9%
uptime)"). The collection's playbook report_sla.yml measures the month and decides every status; this
renders what it returned and exits 0 ok, 1 warning, 2 critical (a missed SLA), as check daily does."""
import argparse
import calendar
import sys
import time

from . import collection, render
from .checks import ICONS, _execute, _report, _results, reported_status, worst_status


def month_arg(value):
    """YYYY-MM of the current or an earlier month (UTC), checked by the collection's own rule; empty: the
    current month, as the playbook takes it."""
    if value == "":
        return value
    try:
        return collection.module_utils("sla").month_window(value, time.time())["month"]
    except Exception as exc:  # SelfologyError from the collection's own validator
        raise argparse.ArgumentTypeError(str(exc))


def add_parsers(sub, common):
    report = sub.add_parser("report", help="the runbook's monthly reports")
    report_sub = report.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    sla = report_sub.add_parser(
        "sla", parents=[common], help="each service's availability over a month against the SLA: exit 0, 1, 2",
        description="Monthly Checklist - Review SLA compliance (99.9% uptime): each service's minutes down over the "
                    "calendar month (UTC) from Prometheus, its availability and the month's error budget used and "
                    "left, the worst incidents and the deployments. Writes reports/sla_<YYYY-MM>.json in the state "
                    "directory; exits 0 when every service is ok, 1 on a warning (over 75 % of the budget used), 2 "
                    "when a service missed the SLA (or when the review could not run).")
    sla.add_argument("--month", type=month_arg, default="", metavar="YYYY-MM",
                     help="a past month, such as 2026-10, or previous (default: the current month, up to now)")


def _minutes(value):
    return f"{value:g} min"


def render_sla(host, report, path=None):
    year, number = (int(part) for part in report["month"].split("-"))
    span = "complete" if report["complete"] else f"up to {report['end']}"
    lines = [f"SLA - {host} - {calendar.month_name[number]} {year} ({report['days']} days, {span})",
             f"  Target {report['target_pct']:g} %: error budget {_minutes(report['budget_minutes'])} for the month",
             ""]
    width = max(len(s["service"]) for s in report["services"]) + 1
    for service in report["services"]:
        availability = "-" if service["availability_pct"] is None else f"{service['availability_pct']:.4f} %"
        left = service["budget_left_minutes"]
        left = f"{_minutes(left)} left" if left >= 0 else f"{_minutes(-left)} over"
        lines.append(f"  {ICONS[service['status']]} {(service['service'] + ':').ljust(width)} {availability:>10}  "
                     f"{service['down_minutes']:>4} min down  budget {service['budget_used_pct']:g} % used, {left}")
        if service["unobserved_minutes"]:
            lines.append(f"  {'':{width + 3}} {service['unobserved_minutes']} min without data in Prometheus")
    incidents = report["incidents"]
    lines += ["", f"Incidents: {incidents['count']}" + (" (worst first)" if incidents["worst"] else "")]
    for incident in incidents["worst"]:
        lasted = "-" if incident["duration_s"] is None else f"{incident['duration_s'] / 60:.1f} min"
        ended = f"resolved by {incident['resolved_by']}" if incident.get("resolved_by") else "not resolved"
        lines.append(f"  {incident['severity']} {incident['title']} - {incident['started']} - {lasted} - {ended}")
    deployments = report["deployments"]
    counted = ", ".join(f"{count} {action}" for action, count in deployments["by_action"].items())
    lines += ["", f"Deployments: {deployments['count']}" + (f" ({counted})" if deployments["count"] else "")]
    for entry in deployments["entries"]:
        version = f" ({entry['version']})" if entry.get("version") else ""
        moved = f"{entry.get('from_slot') or '?'} → {entry.get('to_slot') or '?'}{version}"
        lines.append(f"  {entry['at']} {entry['action']} {moved}: {entry.get('outcome')}"
                     + (f" by {entry['who']}" if entry.get("who") else ""))
    lines.append("")
    if path:
        lines.append(f"Report: {path}")
    if report["status"] == "ok":
        lines.append(f"{render.OK} Every service met the {report['target_pct']:g} % SLA")
    else:
        lines += [f"{ICONS[s['status']]} {finding}" for s in report["services"] for finding in s["findings"]]
    return "\n".join(lines)


def cmd_report(args):
    run = _execute(args, "report_sla", {"sla_month": args.month})
    results = _results(run, "selfology.ops.sla_report_info")
    reports = {host: res["report"] for host, res in results.items() if res.get("report")}
    stated = (run.stats or {}).get("sla_report") or {}
    # The verdict is the play's (roles/sla).
    status, code = worst_status(reported_status(run, "sla_report", reports))
    _report(args, run, {"status": status, "exit_code": code, "hosts": reports, "ok": run.ok, "run_status": run.status},
            [render_sla(host, report, (stated.get(host) or {}).get("report_path"))
             for host, report in sorted(reports.items())])
    if not reports and not args.json:
        print(f"{render.FAIL} CRITICAL: the SLA review did not run", file=sys.stderr)
    return code


COMMANDS = {"report": cmd_report}
