"""Daily checks and maintenance commands (selfops check ..., selfops maintenance ...).

selfops check daily                  the morning checks; exit 0 ok, 1 warning, 2 critical
selfops maintenance weekly           archive, VACUUM ANALYZE, Redis memory
selfops maintenance disk             table sizes, volume usage, 90-day archive, VACUUM FULL on request
selfops maintenance redis-flushdb    FLUSHDB of one database, confirmed and refused when unsafe
"""
import argparse
import json
import re
import sys

from . import collection, render
from .runner import run_playbook

ICONS = {"ok": render.OK, "warning": render.WARN, "critical": render.FAIL}
SKIPPED = "➖"
# How a status the play reported maps to this command's exit code (check daily: 0, 1, 2; the
# maintenance procedures: 0 when ok, else 1). The statuses themselves are the collection's.
# ok 0, warning 1, critical 2: the collection's mapping (module_utils/checks.py), which the play reports.
EXIT_CODES = collection.module_utils("checks").EXIT_CODES


def duration_value(value, what):
    """A duration in the collection's one grammar (30d, 12h, 90s), checked as the modules check it;
    `what` names it in the error."""
    collection.module_utils()
    from ansible_collections.selfology.ops.plugins.module_utils import durations
    try:
        durations.parse_duration(value, what, low=1)
    except Exception as exc:  # SelfologyError from the collection's own grammar
        raise argparse.ArgumentTypeError(str(exc))
    return value


def duration_arg(value):
    """An age such as 30d, 12h or 2w."""
    return duration_value(value, "age")


def days_arg(value):
    if not re.fullmatch(r"[1-9][0-9]{0,2}", value):
        raise argparse.ArgumentTypeError(f"expected a whole number of days from 1 to 999, not {value!r}")
    return int(value)


def db_arg(value):
    if not re.fullmatch(r"[0-9]{1,5}", value):
        raise argparse.ArgumentTypeError(f"expected a Redis database number, not {value!r}")
    return int(value)


def add_parsers(sub, common):
    """Adds this module's subcommands to the selfops parser."""
    check = sub.add_parser("check", help="the runbook's daily checks")
    check_sub = check.add_subparsers(dest="check_command", required=True, metavar="CHECK")
    check_sub.add_parser(
        "daily", parents=[common], help="morning checks: exit 0 ok, 1 warning, 2 critical",
        description="The runbook's Morning Checks: services of both slots, pending outbox events, the event "
                    "stream's lag and pending entries, dead consumers, error lines in the service logs, Redis "
                    "memory and alerts. Writes a Markdown report; exits 0 when every check is ok, 1 on a "
                    "warning, 2 on a critical finding (or when the checks could not run).")

    review = sub.add_parser("review", help="the runbook's reviews")
    review_sub = review.add_subparsers(dest="review_command", required=True, metavar="REVIEW")
    costs = review_sub.add_parser(
        "costs", parents=[common], help="AI costs by model: exit 0 ok, 1 on a finding",
        description="Weekly Review AI Costs, Issue 3 and the monthly Cost optimization review (--days 30): the cost "
                    "of the last --days days by model from Prometheus against the expected $10-20 a day, each "
                    "model's share of the calls against the 75/15/10 mix (Claude above 20 % flagged), the costliest "
                    "hour against the $10/hour alert, and the trend against the --days days before (growth above "
                    "20 % flagged; no trend when Prometheus holds no history for them). Exit 1 on a finding.")
    costs.add_argument("--days", type=days_arg, default=7,
                       help="the window in days, ending now (default 7; 30 for the monthly review)")
    costs.add_argument("--until", default="", metavar="TIME",
                       help="end the window here instead of now (a Unix time or RFC 3339)")

    maintenance = sub.add_parser("maintenance", help="the runbook's maintenance procedures")
    maint_sub = maintenance.add_subparsers(dest="maintenance_command", required=True, metavar="PROCEDURE")
    dry = argparse.ArgumentParser(add_help=False, parents=[common])
    dry.add_argument("--check", action="store_true", help="show what would be done, change nothing")

    weekly = maint_sub.add_parser(
        "weekly", parents=[dry], help="archive old events, VACUUM ANALYZE, Redis memory check",
        description="Weekly Maintenance: moves events published more than --older-than ago to "
                    "selfology.event_outbox_archive, runs VACUUM ANALYZE on the outbox, the profiles and the "
                    "trait history, and checks Redis memory. Exit 1 when a step failed or Redis memory is over "
                    "its threshold.")
    weekly.add_argument("--older-than", type=duration_arg, default="30d", metavar="AGE",
                        help="archive events published longer ago than this (default 30d)")

    disk = maint_sub.add_parser(
        "disk", parents=[dry], help="table sizes, volume usage, 90-day archive, VACUUM FULL on request",
        description="Database Disk Full: table sizes of schema selfology, the database volume's usage, the "
                    "archive of events published more than --older-than ago, and VACUUM FULL of the outbox only "
                    "with --vacuum-full. Exit 1 when a step failed or the volume is over its threshold.")
    disk.add_argument("--older-than", type=duration_arg, default="90d", metavar="AGE",
                      help="archive events published longer ago than this (default 90d)")
    disk.add_argument("--vacuum-full", action="store_true",
                      help="also VACUUM FULL selfology.event_outbox: it takes an ACCESS EXCLUSIVE lock, so the "
                           "relay and every service writing events wait until it ends")

    flush = maint_sub.add_parser(
        "redis-flushdb", parents=[dry], help="FLUSHDB of one Redis database, only when confirmed",
        description="Shows how many keys FLUSHDB would delete and whether the event stream lives in that "
                    "database, then refuses unless --confirm-flushdb names HOST:PORT/DB of it exactly, and "
                    "refuses while the stream holds entries not yet processed unless --allow-pending-events.")
    flush.add_argument("--db", type=db_arg, default=0, help="the database number (default 0)")
    flush.add_argument("--confirm-flushdb", default="", metavar="HOST:PORT/DB",
                       help="the Redis address and database to flush, exactly (shown when missing)")
    flush.add_argument("--allow-pending-events", action="store_true",
                       help="flush even though the event stream in that database holds unprocessed entries")


def _execute(args, playbook, extravars=None, check=False):
    inventory = args.inventory.resolve() if args.inventory else None
    return run_playbook(playbook, extravars=extravars, inventory=inventory, extra_vars_args=args.extra_vars,
                        progress=not (args.quiet or args.json), check=check,
                        limit=getattr(args, "limit", None), verbosity=getattr(args, "verbose", 0))


def _facts(run, name):
    """The value a set_fact task gave fact `name`, per host (the last one set)."""
    found = {}
    for result in run.of("ansible.builtin.set_fact"):
        facts = result.res.get("ansible_facts") or {}
        if name in facts:
            found[result.host] = facts[name]
    return found


def _results(run, action):
    """The last result of a module, per host."""
    return {result.host: result.res for result in run.of(action)}


def _print_failures(run):
    if not run.ok:
        print(render.failures(run), file=sys.stderr)


def _report(args, run, payload, texts):
    """--json prints payload; otherwise the rendered texts, then what failed."""
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
        return
    text = "\n\n".join(texts)
    if text:
        print(text)
    _print_failures(run)


def _plural(count, noun, plural=None):
    return f"{count} {noun if count == 1 else (plural or noun + 'es' if noun.endswith('ch') else noun + 's')}"


# check daily ------------------------------------------------------------------------------------

def render_daily(report, host=None):
    lines = [f"Daily Checklist - {report.get('host', host) or '?'} - {report.get('started', '')}"]
    width = max(len(c["title"]) for c in report["checks"]) + 1
    for check in report["checks"]:
        icon = SKIPPED if check.get("skipped") else ICONS.get(check["status"], "?")
        lines.append(f"  {icon} {(check['title'] + ':').ljust(width)} {check['message']}")
        if check.get("action"):
            lines.append(f"  {'':{width + 3}} Action: {check['action']}")
        if check["name"] == "logs":
            for name, entry in sorted((check.get("figures") or {}).get("containers", {}).items()):
                for sample in entry.get("samples", []):
                    lines.append(f"  {'':{width + 3}} {name}: {sample[:160]}")
    lines.append("")
    if report.get("report_path"):
        lines.append(f"Report: {report['report_path']}")
    status = report["status"]
    if status == "ok":
        lines.append(f"{render.OK} All morning checks passed")
    else:
        named = ", ".join(f"{c['name']} ({c['status']})" for c in report["checks"] if c["status"] != "ok")
        lines.append(f"{ICONS[status]} {status.upper()}: {named}")
    return "\n".join(lines)


def reported_status(run, key, reports):
    """The status the play reported for each host: with set_stats under key (AWX shows the same), else the
    report a module returned. None when the play reported none (it did not get that far)."""
    stated = (run.stats or {}).get(key) or {}
    found = {host: (stated.get(host) or {}).get("status") or (report or {}).get("status")
             for host, report in reports.items()}
    found.update((host, entry.get("status")) for host, entry in stated.items() if host not in found)
    return {host: status for host, status in found.items() if status in EXIT_CODES}


def worst_status(statuses):
    """The hosts' highest status and its exit code. No status means the play did not get as far as its
    verdict: nothing is known, which is not better than critical."""
    code = max((EXIT_CODES[s] for s in statuses.values()), default=EXIT_CODES["critical"])
    return {v: k for k, v in EXIT_CODES.items()}[code], code


def cmd_check(args):
    run = _execute(args, "check_daily")
    reports = _facts(run, "checks_daily_report")
    # Each host's verdict is the play's (roles/checks): the exit code is the highest of theirs.
    status, code = worst_status(reported_status(run, "checks_daily", reports))
    _report(args, run, {"status": status, "exit_code": code, "hosts": reports, "ok": run.ok,
                        "run_status": run.status},
            [render_daily(report, host) for host, report in sorted(reports.items())])
    if not reports and not args.json:
        print(f"{render.FAIL} CRITICAL: the morning checks did not run", file=sys.stderr)
    return code


# maintenance ------------------------------------------------------------------------------------

def render_weekly(host, res, args):
    archive, memory = res.get("archive") or {}, res.get("memory") or {}
    lines = [f"Weekly maintenance on {host}" + (" (check mode: nothing changes)" if args.check else "")]
    if archive:
        if archive.get("moved"):
            lines.append(f"  {render.OK} Database cleanup: archived {archive['moved']} events published more than "
                         f"{args.older_than} ago to {archive.get('archive_table')} "
                         f"({_plural(archive.get('batches', 0), 'batch')}, {archive.get('duration_seconds', 0):.2f} s)")
        elif archive.get("would_move"):
            lines.append(f"  {render.OK} Database cleanup: would archive {archive['would_move']} events published "
                         f"more than {args.older_than} ago")
        else:
            lines.append(f"  {render.OK} Database cleanup: nothing to archive (no event published more than "
                         f"{args.older_than} ago)")
    vacuum = res.get("vacuum")
    if vacuum and not vacuum.get("skipped"):
        timings = vacuum.get("execution_time_ms") or []
        tables = [q.split()[-1] for q in vacuum.get("query_list", [])]
        lines.append(f"  {render.OK} VACUUM ANALYZE: {', '.join(tables)} ({sum(timings) / 1000:.2f} s)")
    elif args.check:
        lines.append(f"  {SKIPPED} VACUUM ANALYZE: not run in check mode")
    if memory:
        lines.append(f"  {ICONS.get(memory['status'], '?')} Redis memory check: {memory['message']}")
        if memory["status"] != "ok":
            lines.append("      Action (runbook): flush old keys if safe "
                         "(selfops maintenance redis-flushdb), or raise Redis maxmemory")
    return "\n".join(lines)


def _finding_ok(run, key, findings):
    """Whether the play succeeded and every host's finding (the status its module decided, as the play
    reported it) is ok."""
    statuses = reported_status(run, key, findings)
    return run.ok and all(statuses.get(host) == "ok" for host in findings)


def cmd_weekly(args):
    run = _execute(args, "maintenance_weekly", {"maintenance_archive_older_than": args.older_than}, check=args.check)
    archives = _results(run, "selfology.ops.outbox_archive")
    vacuums = _results(run, "community.postgresql.postgresql_query")
    memories = {**_facts(run, "maintenance_redis_memory"), **_results(run, "selfology.ops.redis_memory_info")}
    hosts = {h: {"archive": archives.get(h), "vacuum": vacuums.get(h), "memory": memories.get(h)}
             for h in sorted(set(archives) | set(memories))}
    ok = _finding_ok(run, "maintenance_weekly", {h: r["memory"] for h, r in hosts.items()})
    _report(args, run, {"hosts": hosts, "ok": ok, "status": run.status},
            [render_weekly(h, r, args) for h, r in hosts.items()])
    return 0 if ok else 1


def render_disk(host, res, args):
    disk, archive = res.get("disk") or {}, res.get("archive") or {}
    lines = [f"Database disk on {host}" + (" (check mode: nothing changes)" if args.check else "")]
    if disk:
        lines.append(f"  {ICONS.get(disk.get('status'), '?')} Volume {disk['mounted_on']}: {disk['used']} of "
                     f"{disk['size']} used ({disk['used_pct']}%), {disk['available']} free")
    tables = res.get("tables") or []
    if tables:
        lines.append("  Table sizes (schema selfology):")
        width = max(len(t["table"]) for t in tables) + 1
        after = {t["table"]: t["size"] for t in res.get("tables_after") or [] if t["table"] == "event_outbox"}
        for table in tables:
            extra = f"  -> {after[table['table']]} after VACUUM FULL" if table["table"] in after else ""
            lines.append(f"    {table['table'].ljust(width)} {table['size']:>10}{extra}")
    if archive:
        moved = archive.get("moved") or archive.get("would_move") or 0
        verb = "would archive" if args.check else "archived"
        lines.append(f"  {render.OK} Archive: {verb} {moved} events published more than {args.older_than} ago"
                     if moved else f"  {render.OK} Archive: nothing published more than {args.older_than} ago")
        lines.append("      (archived rows stay in the database, in selfology.event_outbox_archive, until they are "
                     "purged; VACUUM FULL returns the outbox's space to the system)")
    if args.vacuum_full:
        full = res.get("vacuum_full") or {}
        if args.check or full.get("skipped"):
            lines.append(f"  {SKIPPED} VACUUM FULL selfology.event_outbox: would run (takes an ACCESS EXCLUSIVE "
                         "lock: the relay and new events wait until it ends)")
        elif full and not full.get("failed"):
            lines.append(f"  {render.OK} VACUUM FULL selfology.event_outbox done "
                         f"({sum(full.get('execution_time_ms') or [0]) / 1000:.2f} s under an exclusive lock)")
    else:
        lines.append(f"  {SKIPPED} VACUUM FULL not run: pass --vacuum-full (it takes an ACCESS EXCLUSIVE lock on "
                     "selfology.event_outbox: the relay and new events wait until it ends)")
    return "\n".join(lines)


def cmd_disk(args):
    extravars = {"maintenance_disk_older_than": args.older_than, "maintenance_vacuum_full": args.vacuum_full}
    run = _execute(args, "maintenance_disk", extravars, check=args.check)
    queries = run.of("community.postgresql.postgresql_query")
    disks = {**_facts(run, "maintenance_disk"), **_results(run, "selfology.ops.disk_usage_info")}
    archives = _results(run, "selfology.ops.outbox_archive")
    hosts = {}
    for host in sorted(set(disks) | set(archives)):
        mine = [r for r in queries if r.host == host]
        sizes = [r.res["query_result"] for r in mine
                 if "pg_total_relation_size" in (r.res.get("query") or "") and r.res.get("query_result")]
        full = [r.res for r in mine if (r.res.get("query") or "").startswith("VACUUM FULL")]
        hosts[host] = {"disk": disks.get(host), "tables": sizes[0] if sizes else [],
                       "tables_after": sizes[1] if len(sizes) > 1 else [],
                       "archive": archives.get(host), "vacuum_full": full[0] if full else None}
    ok = _finding_ok(run, "maintenance_disk", {h: r["disk"] for h, r in hosts.items()})
    _report(args, run, {"hosts": hosts, "ok": ok, "status": run.status},
            [render_disk(h, r, args) for h, r in hosts.items()])
    return 0 if ok else 1


def render_flush(host, res, args):
    """The flush as selfology.ops.redis_flushdb decided it: flushed, would flush, nothing to flush, or why it
    refused (its `refused`)."""
    plan = res.get("plan") or {}
    lines = [f"FLUSHDB of Redis {plan.get('target', '?')} on {host}"
             + (" (check mode: nothing is flushed)" if args.check else "")]
    lines.append(f"  Keys in db {plan['db']} (DBSIZE): {plan['dbsize']}")
    lines.append(f"  {plan['stream_message'][0].upper()}{plan['stream_message'][1:]}")
    refused = res.get("refused")
    if refused == "confirmation":
        lines.append(f"{render.FAIL} Refused: to flush these {plan['dbsize']} keys, pass --confirm-flushdb "
                     f"{plan.get('target')}")
    elif refused == "unsafe":
        lines.append(f"{render.FAIL} Refused: the events would be lost; let the workers finish, or pass "
                     "--allow-pending-events as well")
    elif refused == "changed":
        lines.append(f"{render.FAIL} Refused: the streams changed between the check and the flush; nothing was "
                     "flushed (run it again)")
    elif res.get("failed"):
        pass  # the failure is printed below
    elif not plan["dbsize"]:
        lines.append(f"{render.OK} Nothing to flush: db {plan['db']} is empty")
    else:
        verb = "Would flush" if args.check else "Flushed"
        lines.append(f"{render.OK} {verb} db {plan['db']}: {res.get('deleted', plan['dbsize'])} keys")
    return "\n".join(lines)


def cmd_flushdb(args):
    extravars = {"maintenance_flushdb_db": args.db, "maintenance_flushdb_confirm": args.confirm_flushdb,
                 "maintenance_flushdb_allow_pending": args.allow_pending_events}
    run = _execute(args, "redis_flushdb", extravars, check=args.check)
    flushed = {h: r for h, r in _results(run, "selfology.ops.redis_flushdb").items() if r.get("plan")}
    _report(args, run, {"hosts": {h: {"plan": r["plan"], "flush": r} for h, r in flushed.items()},
                        "ok": run.ok, "status": run.status},
            [render_flush(h, r, args) for h, r in sorted(flushed.items())])
    return 0 if run.ok else 1


# review costs -----------------------------------------------------------------------------------

def _change(change, ratio):
    """+$12.09 (+12.5 %), or (new) when there was nothing before."""
    percent = "new" if ratio is None else f"{ratio * 100:+.1f} %"
    return f"{'+' if change >= 0 else '-'}${abs(change):.2f} ({percent})"


def render_costs(host, review):
    trend, period = review.get("trend"), _plural(review["days"], "day")
    lines = [f"AI costs - {host} - last {period}",
             f"  Total: ${review['total']:.2f} (expected ${review['expected']['low']:.2f}-"
             f"{review['expected']['high']:.2f})"]
    if trend:
        lines.append(f"  Previous {period}: ${trend['previous_total']:.2f}, change "
                     f"{_change(trend['change'], trend['change_ratio'])} (growth over {review['max_growth'] * 100:g} % "
                     "is flagged)")
    else:
        lines.append(f"  Previous {period}: no trend ({review.get('no_trend_reason') or 'not read'})")
    changes = {m["model"]: _change(m["change"], m["change_ratio"]) for m in (trend or {}).get("models", [])}
    lines.append("  By model:".ljust(71) + "change on the previous period" if trend else "  By model:")
    for model in review["models"]:
        share = "-" if model["share"] is None else f"{model['share'] * 100:.1f} %"
        expected = "" if model["expected_share"] is None else f" (expected {model['expected_share'] * 100:.0f} %)"
        row = f"    {model['model']:12} ${model['cost']:>9.2f}  {model['calls']:>8} calls  {share + expected:24}"
        lines.append(f"{row}  {changes.pop(model['model'], '')}".rstrip())
    for model, change in changes.items():  # models with a cost only in the previous period
        lines.append(f"    {model:12} {'(none now)':>10}  {'':>14}  {'':24}  {change}")
    peak = "-" if review["peak_per_hour"] is None else f"${review['peak_per_hour']:.2f}"
    lines.append(f"  Costliest hour: {peak} (HighAICost above ${review['hourly_alert']:g}/hour)")
    lines.append("")
    if review["findings"]:
        lines += [f"{ICONS['warning']} {finding}" for finding in review["findings"]]
    else:
        lines.append(f"{render.OK} AI costs as expected")
    return "\n".join(lines)


def cmd_review(args):
    extravars = {"checks_costs_days": args.days, "checks_costs_until": args.until}
    run = _execute(args, "review_costs", extravars)
    reviews = _results(run, "selfology.ops.cost_review_info")
    statuses = reported_status(run, "checks_costs", reviews)
    code = max((EXIT_CODES[s] for s in statuses.values()), default=None)
    _report(args, run, {"hosts": reviews, "ok": run.ok, "run_status": run.status},
            [render_costs(host, review) for host, review in sorted(reviews.items()) if review.get("models")])
    return 1 if code is None or not run.ok else min(code, 1)


def cmd_maintenance(args):
    return {"weekly": cmd_weekly, "disk": cmd_disk, "redis-flushdb": cmd_flushdb}[args.maintenance_command](args)


COMMANDS = {"check": cmd_check, "maintenance": cmd_maintenance, "review": cmd_review}
