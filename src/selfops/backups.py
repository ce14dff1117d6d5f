"""selfops backup and selfops drill restore: backup sets with retention, and the disaster-recovery
drill (the collection's playbooks backup.yml, backup_schedule.yml and drill_restore.yml decide;
this renders what they report)."""
from . import render
from .checks import EXIT_CODES, _execute, _report, _results

BACKUP_PLAYBOOKS = {"take": "backup", "schedule": "backup_schedule"}


def add_parsers(sub, common):
    backup = sub.add_parser(
        "backup", parents=[common], help="take a backup set (schema selfology and Redis), verify and prune the catalog",
        description="take (default): a set of schema selfology (pg_dump) and Redis (BGSAVE), checksums and a manifest; "
                    "then every set verified (a failed one kept apart), the rest pruned by the retention policy, and "
                    "the backup-age metric published. schedule: install the inventory's schedule (systemd timer or "
                    "cron). Exit 1 when a set failed verification.")
    backup.add_argument("action", nargs="?", choices=sorted(BACKUP_PLAYBOOKS), default="take")
    backup.add_argument("--check", action="store_true", help="show what would change, change nothing")
    drill = sub.add_parser("drill", help="the disaster-recovery drill (runbook - Monthly Checklist)")
    drill_sub = drill.add_subparsers(dest="drill_kind", required=True, metavar="DRILL")
    restore = drill_sub.add_parser(
        "restore", parents=[common], help="restore the newest verified backup into scratch containers: RTO and RPO",
        description="Restores the newest verified backup set into scratch copies of n8n-postgres and n8n-redis (never "
                    "the live ones), checks every count against the manifest, measures the RTO and reports the RPO; "
                    "the scratch containers are removed whatever happens. Exit 2 when the restore does not match.")
    restore.add_argument("--destroy-live", action="store_true",
                         help="the lab only: remove n8n-postgres and its volume, restore it, bring the services back")


def render_backup(host, res, catalog):
    lines = [f"Backup - {host}"]
    if res.get("id"):
        tables = res["postgres"]["tables"]
        lines.append(f"  {render.OK} {res['id']} in {res['seconds']} s: {sum(tables.values())} rows in "
                     f"{len(tables)} tables, {res['postgres']['size_bytes']} bytes")
        if res.get("redis"):
            redis = res["redis"]
            streams = ", ".join(f"{name} {count}" for name, count in sorted(redis["streams"].items()))
            lines.append(f"     Redis: {redis['keys']} keys ({streams}), persistence {redis['persistence']}")
    if catalog:
        newest = catalog.get("newest") or {}
        lines.append(f"  Verified sets: {len(catalog.get('verified', []))}, newest {newest.get('id', 'none')}")
        if catalog.get("pruned"):
            lines.append(f"  Pruned: {', '.join(catalog['pruned'])}")
        lines += [f"  {render.WARN} {f['id']} failed verification ({'; '.join(f['problems'])}): kept apart"
                  for f in catalog.get("failed_sets", [])]
    return "\n".join(lines)


def render_drill(host, report):
    rpo = report.get("rpo") or {}
    backup = report.get("backup") or {}
    mode = "destroy-live" if report.get("mode") == "destroy-live" else "scratch containers"
    lines = [f"Disaster-recovery drill - {host} - {backup.get('id')} into {mode}"]
    for skipped in report.get("skipped", []):
        problems = "; ".join(report.get("skipped_problems", {}).get(skipped, []))
        lines.append(f"  {render.WARN} {skipped} failed verification ({problems}): kept apart, skipped")
    if report.get("leftovers_removed"):
        lines.append(f"  Removed what an interrupted drill left: {', '.join(report['leftovers_removed'])}")
    tables = report.get("tables") or {}
    lines.append(f"  Restored: {sum(tables.values())} rows in {len(tables)} tables"
                 + (f", Redis {report['redis_keys']} keys" if report.get("redis_keys") is not None else ""))
    lines += [f"  {render.FAIL} {mismatch}" for mismatch in report.get("mismatches", [])]
    lines.append(f"  RTO: {report.get('rto_seconds')} s")
    since = rpo.get("rows_since") or {}
    written = ", ".join(f"{table} {count}" for table, count in sorted(since.items()) if count)
    verb = "lost" if report.get("mode") == "destroy-live" else "written since"
    lines.append(f"  RPO: backup {rpo.get('backup_age_seconds')} s old; {rpo.get('rows_since_total')} rows {verb}"
                 + (f" ({written})" if written else ""))
    services = report.get("services")
    if services:
        lines.append(f"  {render.OK} services healthy, smoke tests passed" if services.get("back")
                     else f"  {render.FAIL} services not back: {services.get('error')}")
    lines.append(f"{render.OK} Drill passed" if report.get("passed") else f"{render.FAIL} Drill failed")
    lines.append(f"Report: {report.get('path')}")
    return "\n".join(lines)


def cmd_backup(args):
    run = _execute(args, BACKUP_PLAYBOOKS[args.action], check=args.check)
    if args.action == "schedule":
        _report(args, run, {"ok": run.ok, "run_status": run.status}, [])
        return 0 if run.ok else 1
    taken = _results(run, "selfology.ops.backup_create")
    catalogs = _results(run, "selfology.ops.backup_catalog")
    stated = (run.stats or {}).get("backup") or {}
    _report(args, run, {"hosts": {host: {**stated.get(host, {}), "manifest": taken.get(host), "catalog": catalog}
                                  for host, catalog in catalogs.items()}, "ok": run.ok, "run_status": run.status},
            [render_backup(host, taken.get(host) or {}, catalog) for host, catalog in sorted(catalogs.items())])
    if not run.ok:
        return 2
    return max([EXIT_CODES.get(entry.get("status"), 0) for entry in stated.values()] or [0])


def cmd_drill(args):
    run = _execute(args, "drill_restore", {"backup_drill_destroy_live": args.destroy_live})
    reports = (run.stats or {}).get("backup_drill") or {}
    _report(args, run, {"hosts": reports, "ok": run.ok, "run_status": run.status},
            [render_drill(host, report) for host, report in sorted(reports.items())])
    if run.ok:
        return 0
    return EXIT_CODES["critical"]


COMMANDS = {"backup": cmd_backup, "drill": cmd_drill}
