"""The selfops command: each subcommand runs one playbook of the collection.

Exit codes: 0 success, 1 failure (a check failed, a task failed), 2 bad usage; stopped by a
signal: 130 (SIGINT, Ctrl-C), 143 (SIGTERM), 129 (SIGHUP), after the playbook was stopped, the
interrupted run's lock released through the collection (playbooks/lock_release.yml) and the state
it left printed.
"""
import argparse
import json
import sys
from pathlib import Path

import yaml

from . import audit, backups, checks, collection, docs, eda, incidents, monitoring, render, reports
from .runner import Interrupted, install_signal_handlers, run_playbook


def version_arg(value):
    try:
        return collection.module_utils().validate_version(value)
    except Exception as exc:  # SelfologyError from the collection's own validator
        raise argparse.ArgumentTypeError(str(exc))


def service_arg(value):
    try:
        return collection.module_utils().validate_service(value)
    except Exception as exc:
        raise argparse.ArgumentTypeError(str(exc))


def analysis_duration_arg(value):
    """How long a post-switch analysis measures, in the collection's one duration grammar (10m, 90s)."""
    return value if value == "" else checks.duration_value(value, "duration")


def replicas_arg(value):
    if not value.isdigit() or not 1 <= int(value) <= 1000:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1, not {value!r}")
    return int(value)


# The options every command takes, before or after the subcommand ("selfops -i INV status" and
# "selfops status -i INV"): (flags, keyword arguments). Given before the subcommand they are kept
# under GLOBAL_PREFIX + dest and merged after parsing (GlobalOptionsParser).
COMMON_OPTIONS = [
    (("-i", "--inventory"), dict(type=Path, metavar="INVENTORY", help="inventory (default: the lab)")),
    (("-e", "--extra-vars"), dict(action="append", default=[], metavar="VARS",
                                  help="extra variables, passed to ansible-playbook as -e")),
    (("-l", "--limit"), dict(metavar="PATTERN", help="only these hosts, passed to ansible-playbook as --limit")),
    (("-v", "--verbose"), dict(action="count", default=0,
                               help="ansible-playbook's -v (repeat for more); its output is shown on stderr")),
    (("--json",), dict(action="store_true", help="print results as JSON")),
    (("-q", "--quiet"), dict(action="store_true", help="do not print task progress")),
]
GLOBAL_PREFIX = "global_"


def collection_version():
    """The collection's version, from its galaxy.yml."""
    return str(yaml.safe_load((collection.root() / "galaxy.yml").read_text())["version"])


class GlobalOptionsParser(argparse.ArgumentParser):
    """The top-level parser: the common options given before the subcommand count as if given after it
    (a value after the subcommand wins; -e values add up, the ones before first)."""

    def parse_known_args(self, args=None, namespace=None):
        parsed, rest = super().parse_known_args(args, namespace)
        for flags, options in COMMON_OPTIONS:
            dest = flags[-1].lstrip("-").replace("-", "_")
            before = getattr(parsed, GLOBAL_PREFIX + dest, None)
            if hasattr(parsed, GLOBAL_PREFIX + dest):
                delattr(parsed, GLOBAL_PREFIX + dest)
            after = getattr(parsed, dest, None)
            if options.get("action") == "append":
                value = list(before or []) + list(after or [])
            elif options.get("action") == "count":
                value = (before or 0) + (after or 0)
            elif options.get("action") == "store_true":
                value = bool(before or after)
            else:
                value = after if after is not None else before
            setattr(parsed, dest, value)
        return parsed, rest


def add_common(parser, prefix=""):
    for flags, options in COMMON_OPTIONS:
        dest = prefix + flags[-1].lstrip("-").replace("-", "_")
        options = dict(options, dest=dest)
        if prefix:
            options["default"] = None if options.get("action") not in ("append", "count") else options["default"]
        parser.add_argument(*flags, **options)


def build_parser():
    parser = GlobalOptionsParser(prog="selfops", description="The Selfology runbook as code.")
    parser.add_argument("--version", action="version", version=f"selfops {collection_version()} (selfology.ops)")
    add_common(parser, GLOBAL_PREFIX)
    common = argparse.ArgumentParser(add_help=False)
    add_common(common)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=argparse.ArgumentParser)

    lifecycle = argparse.ArgumentParser(add_help=False, parents=[common])
    lifecycle.add_argument("--force", action="store_true",
                           help="break a stale lock (and, for cleanup, ignore the retention window)")
    lifecycle.add_argument("--reason", default="", help="why --force is used; required with it, kept in the audit log")
    lifecycle.add_argument("--check", action="store_true",
                           help="run the playbook in Ansible's check mode: print what would be done, change nothing")

    sub.add_parser("status", parents=[common], help="slots, versions, each service's health, and drift")
    deploy = sub.add_parser("deploy", parents=[lifecycle], help="deploy VERSION to the inactive slot")
    deploy.add_argument("version", type=version_arg)
    switch = sub.add_parser("switch", parents=[lifecycle], help="move traffic to the inactive slot")
    switch.add_argument("--analyze", nargs="?", const="", default=None, type=analysis_duration_arg, metavar="DURATION",
                        help="then measure the new slot (default duration: the inventory's), rolling back when it fails")
    sub.add_parser("rollback", parents=[lifecycle], help="move traffic back to the previous slot")
    sub.add_parser("cleanup", parents=[lifecycle], help="remove the inactive slot")
    scale = sub.add_parser("scale", parents=[lifecycle], help="run N containers of SERVICE in the active slot")
    scale.add_argument("service", type=service_arg)
    scale.add_argument("replicas", type=replicas_arg)
    analyze = sub.add_parser("analyze", parents=[common],
                             help="measure the current switch's slot; roll back when it fails the analysis")
    analyze.add_argument("duration", nargs="?", default="", type=analysis_duration_arg,
                         help="how long to measure, such as 10m (default: the inventory's)")
    history = sub.add_parser("history", parents=[common], help="the audit log of lifecycle actions")
    history.add_argument("-n", "--lines", type=replicas_arg, default=20, help="how many entries (default 20)")
    checks.add_parsers(sub, common)
    monitoring.add_parsers(sub, common)
    incidents.add_parsers(sub, common, service_arg)
    eda.add_parsers(sub, common)
    backups.add_parsers(sub, common)
    audit.add_parsers(sub, common)
    reports.add_parsers(sub, common)
    docs.add_parsers(sub, common)
    smoke = sub.add_parser("smoke", parents=[common], help="the four smoke checks against a slot")
    smoke.add_argument("--slot", choices=["blue", "green"], help="slot to test (default: the active slot)")
    smoke.add_argument("--version", type=version_arg, help="fail unless every service reports this version")

    lab = sub.add_parser("lab", help="the local replica of production")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, metavar="ACTION")
    lab_sub.add_parser("up", parents=[common], help="build images and start the lab (idempotent)")
    lab_sub.add_parser("down", parents=[common], help="remove every part of the lab")
    lab_sub.add_parser("status", parents=[common], help="the lab's containers and slots")
    image = lab_sub.add_parser("image", parents=[common], help="build a version of the services image")
    image.add_argument("version", type=version_arg)
    image.add_argument("--fault", choices=collection.lab_faults(), default="none", help="make this version misbehave")
    return parser


def execute(args, playbook, extravars=None, check=False):
    inventory = args.inventory.resolve() if args.inventory else None
    return run_playbook(playbook, extravars=extravars, inventory=inventory, extra_vars_args=args.extra_vars,
                        progress=not (args.quiet or args.json), check=check,
                        limit=getattr(args, "limit", None), verbosity=getattr(args, "verbose", 0))


def by_host(run, action):
    return {r.host: r.res for r in run.of(action)}


def finish(args, run, human_lines, payload, ok=None):
    ok = run.ok if ok is None else ok
    if args.json:
        print(json.dumps(dict(payload, ok=ok, status=run.status), indent=2, default=str))
    else:
        text = "\n\n".join(line for line in human_lines if line)
        if text:
            print(text)
        if not run.ok:
            print(render.failures(run), file=sys.stderr)
    return 0 if ok else 1


def cmd_status(args):
    # The play fails when the active slot is not wholly healthy or drift exists (roles/status).
    run = execute(args, "status")
    hosts = by_host(run, "selfology.ops.slot_info")
    lines = [render.status(host if len(hosts) > 1 else None, info) for host, info in hosts.items()]
    return finish(args, run, lines, {"hosts": hosts})


def cmd_smoke(args):
    extravars = {"smoke_slot": args.slot or "", "smoke_expected_version": args.version or ""}
    run = execute(args, "smoke", extravars)
    hosts = by_host(run, "selfology.ops.smoke_test")
    lines = [render.smoke(host if len(hosts) > 1 else None, res) for host, res in hosts.items()]
    if hosts and all(res.get("passed") for res in hosts.values()):
        lines.append(f"{render.OK} All smoke tests passed")
    return finish(args, run, lines, {"hosts": hosts})


def cmd_lab(args):
    if args.lab_command == "image":
        run = execute(args, "lab_image", {"lab_version": args.version, "lab_fault": args.fault})
        lines = [f"{render.OK} Built selfology/services:{args.version} (fault: {args.fault})" if run.ok else ""]
        return finish(args, run, lines, {"version": args.version, "fault": args.fault})
    run = execute(args, f"lab_{args.lab_command}")
    hosts = by_host(run, "selfology.ops.slot_info")
    lines = [render.status(None, info) for info in hosts.values()]
    if args.lab_command == "status":
        containers = [c for r in run.of("community.docker.docker_host_info") for c in r.res.get("containers", [])]
        lines.insert(0, "LAB CONTAINERS:\n" + "\n".join(
            f"  {c['Names'][0].lstrip('/')}: {c['Status']}" for c in containers) if containers else "LAB: not running")
    elif run.ok:
        lines.append(f"{render.OK} Lab {args.lab_command} completed")
    return finish(args, run, lines, {"hosts": hosts})


def cmd_lifecycle(args):
    if args.force and not args.reason.strip():
        print("selfops: --force needs --reason", file=sys.stderr)
        return 2
    extravars = {"bluegreen_force": args.force, "bluegreen_reason": args.reason}
    if args.command == "deploy":
        extravars["bluegreen_version"] = args.version
    if args.command == "scale":
        extravars.update(bluegreen_service=args.service, bluegreen_replicas=args.replicas)
    if args.command == "switch" and args.analyze is not None:
        extravars.update(bluegreen_analyze=True, bluegreen_analyze_duration=args.analyze)
    run = execute(args, args.command, extravars, check=args.check)
    before = {r.host: r.res for r in reversed(run.of("selfology.ops.slot_info"))}  # the first read, per host
    if args.check:
        lines = [render.plan(args.command, run, host, before.get(host, {}), args) for host in sorted(before)]
        return finish(args, run, lines, {"check_mode": True, "hosts": {
            host: render.plan_data(run, host) for host in sorted(before)}})
    lines = [render.lifecycle(args.command, run, host, before.get(host, {}), args) for host in sorted(before)]
    # For machines: each host's audit log entry (action, outcome, gates, slots before and after).
    return finish(args, run, lines, {"hosts": {r.host: r.res.get("entry", {}) for r in run.of("selfology.ops.audit_log")}})


def cmd_analyze(args):
    # The play decides (roles/bluegreen/tasks/analyze.yml): failed -> rolled back, inconclusive -> nothing
    # decided; both fail the play.
    run = execute(args, "analyze", {"bluegreen_analyze_duration": args.duration})
    hosts = {r.host for r in run.of("selfology.ops.slot_info")}
    lines = [render.analyze(run, host, {}, args) for host in sorted(hosts)]
    return finish(args, run, lines, {"hosts": {r.host: r.res for r in run.of("selfology.ops.rollout_analysis")},
                                     "audit": {r.host: r.res.get("entry", {}) for r in run.of("selfology.ops.audit_log")}})


def cmd_history(args):
    run = execute(args, "history", {"history_lines": args.lines})
    read = by_host(run, "selfology.ops.audit_info")
    hosts = {host: res.get("entries", []) for host, res in read.items()}
    lines = [render.history(host if len(hosts) > 1 else None, entries) for host, entries in hosts.items()]
    return finish(args, run, lines, {"hosts": hosts, "torn": {host: res.get("torn", 0) for host, res in read.items()}})


COMMANDS = {"status": cmd_status, "smoke": cmd_smoke, "lab": cmd_lab, "history": cmd_history, "analyze": cmd_analyze,
            **{name: cmd_lifecycle for name in ("deploy", "switch", "rollback", "cleanup", "scale")},
            **checks.COMMANDS, **monitoring.COMMANDS, **incidents.COMMANDS, **eda.COMMANDS, **backups.COMMANDS,
            **audit.COMMANDS, **reports.COMMANDS, **docs.COMMANDS}


# An incident response may roll back, and the drill's --destroy-live restores, under the deploy lock.
LOCKING = {"deploy", "switch", "rollback", "cleanup", "scale", "incident", "analyze", "drill"}


def after_interrupt(args, stop):
    """What a signal left: the interrupted run's lock released (when its holder is gone, decided by
    the collection), then the state, as selfops status shows it. Returns the exit status."""
    said = f"selfops: {stop.name} received"
    if stop.pid:
        said += (f"; the playbook (pid {stop.pid}) was {'killed' if stop.killed else 'stopped'}"
                 f" after {stop.seconds:.1f}s")
    print(said, file=sys.stderr, flush=True)
    payload = {"interrupted": stop.name, "exit_code": stop.exit_code, "playbook_pid": stop.pid}
    lines = []
    try:
        if stop.pid and getattr(args, "command", None) in LOCKING:
            released = execute(args, "lock_release", {"lock_release_pid": stop.pid})
            hosts = by_host(released, "selfology.ops.deploy_lock")
            audited = by_host(released, "selfology.ops.audit_log")
            payload["lock"] = hosts
            for host, res in sorted(hosts.items()):
                where = f" on {host}" if len(hosts) > 1 else ""
                if res.get("changed"):
                    entry = audited.get(host) or {}
                    noted = ("the audit log records it as interrupted" if entry and not entry.get("failed")
                             else f"not recorded in the audit log: {entry.get('msg', 'no entry written')}")
                    lines.append(f"{render.WARN} Released the interrupted run's deploy lock{where} "
                                 f"({res.get('why')}); {noted}")
                elif res.get("failed"):
                    lines.append(f"{render.FAIL} The deploy lock{where} was not released: {res.get('msg')}")
                elif res.get("lock") is None and "no lock" in (res.get("why") or ""):
                    lines.append(f"{render.OK} No deploy lock left{where}")
                else:
                    lines.append(f"{render.WARN} Deploy lock{where} left as it is: {res.get('why')}")
        if getattr(args, "command", None) not in ("status", "history", "lab", "watch"):
            status = execute(args, "status")
            hosts = by_host(status, "selfology.ops.slot_info")
            payload["hosts"] = hosts
            lines.append("State left:")
            lines += [render.status(host if len(hosts) > 1 else None, info) for host, info in hosts.items()]
    except Interrupted:
        print("selfops: interrupted again; the state was not shown", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, default=str))
    else:
        print("\n".join(lines))
    return stop.exit_code


def main(argv=None):
    install_signal_handlers()
    args = None
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except Interrupted as stop:
        if args is None:
            return stop.exit_code
        args.quiet = True  # the recovery's own task progress is noise
        return after_interrupt(args, stop)


if __name__ == "__main__":
    sys.exit(main())
