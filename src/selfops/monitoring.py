"""selfops monitoring: install the monitoring configuration, show the targets and alerts (the
collection's playbooks monitoring.yml and monitoring_status.yml decide; this renders)."""
from . import render
from .checks import _execute, _facts, _report

ICON = {True: render.OK, False: render.FAIL}


def add_parsers(sub, common):
    monitoring = sub.add_parser("monitoring", help="Prometheus, Alertmanager and their configuration")
    monitoring_sub = monitoring.add_subparsers(dest="monitoring_command", required=True, metavar="ACTION")
    monitoring_sub.add_parser(
        "status", parents=[common], help="every Prometheus target's health and the active alerts",
        description="Where Prometheus and Alertmanager answer, each target's health by job and the active "
                    "alerts by severity. Exit 1 when Prometheus cannot scrape a target.")
    install = monitoring_sub.add_parser(
        "install", parents=[common], help="install the rules, Alertmanager's routes, targets and dashboards",
        description="Installs the rule files, Prometheus's and Alertmanager's configuration, the scrape targets "
                    "and the dashboards, each checked by promtool or amtool first; a refused file changes nothing.")
    install.add_argument("--check", action="store_true", help="show what would change, change nothing")


def render_status(host, status):
    lines = [f"Monitoring - {host}", f"  Prometheus:   {status['prometheus_url']}",
             f"  Alertmanager: {status['alertmanager_url']}", "", "Targets:"]
    for target in status["targets"]:
        lines.append(f"  {ICON[bool(target['up'])]} {target['job']:20} {target['instance']}")
    lines += ["", "Alerts:"]
    if not status["alerts"]:
        lines.append(f"  {render.OK} no active alerts")
    for alert in sorted(status["alerts"], key=lambda a: (a.get("severity") != "critical", a.get("alertname", ""))):
        where = f" ({alert['service']})" if alert.get("service") else ""
        lines.append(f"  {render.FAIL if alert.get('severity') == 'critical' else '⚠️ '} "
                     f"{alert.get('alertname')}{where} - {alert.get('severity')} {alert.get('priority', '')}".rstrip())
    return "\n".join(lines)


def cmd_monitoring(args):
    if args.monitoring_command == "install":
        run = _execute(args, "monitoring", check=args.check)
        _report(args, run, {"ok": run.ok, "run_status": run.status}, [])
        return 0 if run.ok else 1
    run = _execute(args, "monitoring_status")
    statuses = _facts(run, "monitoring_status")
    _report(args, run, {"hosts": statuses, "ok": run.ok, "run_status": run.status},
            [render_status(host, status) for host, status in sorted(statuses.items())])
    return 0 if run.ok else 1


COMMANDS = {"monitoring": cmd_monitoring}
