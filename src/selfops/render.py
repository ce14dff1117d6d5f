"""Human output, shaped like the runbook's "Expected output" blocks."""
OK, FAIL, WARN = "✅", "❌", "⚠️ "


def status(host, info):
    lines = [f"[{host}]"] if host else []
    lines += [f"Active Slot:   {info.get('active_slot') or 'none recorded'}",
              f"Inactive Slot: {info.get('inactive_slot') or 'none'}"]
    for slot, detail in info.get("slots", {}).items():
        if not detail.get("present") and slot != info.get("active_slot"):
            lines += ["", f"{slot.upper()} SLOT SERVICES: not deployed"]
            continue
        version = detail.get("version") or "unknown version"
        lines += ["", f"{slot.upper()} SLOT SERVICES ({version}):"]
        width = max(len(s["container"]) for s in detail["services"]) + 1
        for service in detail["services"]:
            lines.append(f"  {(service['container'] + ':').ljust(width)} {service['health']}")
    if "drift" in info:
        lines.append("")
        lines += [f"{WARN} DRIFT: {d}" for d in info["drift"]] or [f"{OK} No drift: state, load balancer, Redis and containers agree"]
    return "\n".join(lines)


def smoke(host, res):
    slot = res.get("slot", "?")
    lines = [f"[{host}]"] if host else []
    lines.append(f"Running smoke tests on {slot} slot...")
    for check in res.get("checks", []):
        timing = f"({check.get('duration_ms', 0):.0f} ms)"
        if check.get("skipped"):
            lines.append(f"  {WARN} {check['title']} skipped: {check['message']}")
        elif check["passed"]:
            lines.append(f"  {OK} {check['title']} passed {timing}: {check['message']}")
        else:
            lines.append(f"  {FAIL} {check['title']} FAILED {timing}: {check['message']}")
    return "\n".join(lines)


def failures(run):
    """What went wrong: each failed task's own message, once (a rescue that re-raises a
    failure repeats its message), or the playbook's status when no task said anything."""
    seen, lines = set(), []
    for failed in run.failures():
        message = failed.res.get("msg") or failed.res.get("stderr") or "failed"
        if (failed.host, message) not in seen:
            seen.add((failed.host, message))
            lines.append(f"{FAIL} [{failed.host}] {failed.task}: {message}")
    return "\n".join(lines) or f"{FAIL} playbook {run.status} (rc {run.rc})"


def _one(run, action, host):
    # A failed task's result does not always say so itself (ansible-core 2.19): its event does.
    found = [dict(r.res, failed=True) if r.status == "failed" else r.res for r in run.of(action) if r.host == host]
    return found[0] if found else None


def _deploy_lines(res, verb):
    lines = []
    for action in res.get("actions", []):
        if action["action"] != "keep":
            lines.append(f"  {verb.get(action['action'], action['action'].capitalize())} {action['name']}...")
    return lines


def _health_lines(res):
    if res.get("failed"):
        lines = [] if res.get("failures") else [f"  {FAIL} {res.get('msg')}"]
        for failure in res.get("failures", []):
            lines.append(f"  {FAIL} {failure['container']} is {failure.get('health')} ({failure.get('status')})")
            lines += [f"      health check: {probe}" for probe in failure.get("health_log", []) if probe]
            lines += [f"      log: {line}" for line in failure.get("logs", [])[-10:]]
        if res.get("removed"):
            lines.append(f"  Removed {', '.join(res['removed'])}")
        return lines
    return [f"  {OK} {name} is healthy" for name in res.get("containers", [])]


def deploy(run, host, before, args):
    active, target = before.get("active_slot"), before.get("inactive_slot")
    lines = ["🚀 Starting Blue-Green deployment...", f"Version: {args.version}",
             f"Active slot: {active}", f"Target slot: {target}", ""]
    backup = _one(run, "selfology.ops.backup_create", host)
    if backup and backup.get("path"):
        dump = backup["postgres"]
        lines += [f"Backup: {backup['path']} ({dump['size_bytes']} bytes, {sum(dump['tables'].values())} rows in "
                  f"{len(dump['tables'])} tables, verified with pg_restore --list)", ""]
    started = _one(run, "selfology.ops.slot_deploy", host)
    if started and started.get("actions") is not None and not started.get("skipped"):
        lines.append(f"Starting services in {target} slot...")
        lines += _deploy_lines(started, {"create": "Starting", "recreate": "Replacing", "start": "Starting"})
        lines += ["", "Waiting for all services to become healthy..."] + _health_lines(started) + [""]
    checks = _one(run, "selfology.ops.smoke_test", host)
    if checks and checks.get("checks"):
        lines += smoke(None, checks).splitlines() + [""]
    if run.ok:
        if started is None or started.get("skipped"):
            lines.append(f"{OK} {active} already runs {args.version}: nothing to do")
        else:
            lines += [f"{OK} Deployment to {target} slot completed successfully",
                      "Run 'selfops switch' to switch traffic"]
    return "\n".join(lines)


def switch(run, host, before, args):
    active, target = before.get("active_slot"), before.get("inactive_slot")
    lines = [f"Switching traffic from {active} to {target}...", "Final health check before switching..."]
    if run.ok:
        lines += [f"  {OK} All services in {target} slot are healthy", "",
                  f"{OK} Traffic switched to {target} slot",
                  f"Old slot ({active}) will remain running for rollback capability"]
    measured = analysis(run, host)
    if measured:
        if not run.ok:  # the switch itself went through when the analysis ran
            lines += [f"  {OK} All services in {target} slot are healthy", "", f"{OK} Traffic switched to {target} slot"]
        lines += ["", measured]
    return "\n".join(lines)


def _figure(value, kind):
    if value is None:
        return "-"
    if kind == "ratio":
        return f"{value * 100:.1f} %"
    if kind == "seconds":
        return f"{value * 1000:.0f} ms"
    return f"{value:+.0f}"


_PHASE = {"passed": OK, "failed": FAIL, "inconclusive": WARN}


def analysis(run, host):
    """The post-switch analysis's measurements and outcome, then what followed (rollback or record)."""
    res = _one(run, "selfology.ops.rollout_analysis", host)
    if not res or res.get("skipped") or "outcome" not in res:
        return ""
    counts = res.get("counts") or {}
    lines = [f"Post-switch analysis of {res.get('slot')} (switched at {res.get('switched_at')}, "
             f"{counts.get('planned', '?')} measurements planned, failure limit "
             f"{(res.get('thresholds') or {}).get('failure_limit', '?')}):"]
    for m in res.get("measurements", []):
        v = m.get("values") or {}
        figures = (f"errors {_figure(v.get('error_ratio'), 'ratio')}, p95 {_figure(v.get('p95'), 'seconds')} "
                   f"(before: {_figure(v.get('baseline_p95'), 'seconds')}), backlog "
                   f"{_figure(v.get('backlog_growth'), 'count')}, alerts "
                   f"{'-' if v.get('alerts') is None else (', '.join(v['alerts']) or 'none')}")
        lines.append(f"  {_PHASE.get(m.get('phase'), '?')} +{m.get('since_switch_s', 0):g}s {figures}")
        lines += [f"      {f['message']}" for f in m.get("failed", []) + m.get("no_data", [])]
    lines += ["", f"{_PHASE.get(res['outcome'], '?')} {res.get('message')}"]
    audited = [r.res.get("entry") or {} for r in run.of("selfology.ops.audit_log") if r.host == host]
    rolled = [e for e in audited if e.get("action") == "rollback"]
    if rolled and rolled[-1].get("outcome") == "success":
        lines.append(f"{OK} Rolled back automatically - traffic switched back to "
                     f"{(rolled[-1].get('slots_after') or {}).get('active')}")
    elif rolled:
        lines.append(f"{FAIL} The automatic rollback did not happen: {(rolled[-1].get('details') or {}).get('message')}")
    elif res["outcome"] == "inconclusive":
        lines.append(f"{WARN} Nothing decided: traffic stays on {res.get('slot')}; decide by hand "
                     "(selfops rollback, or selfops analyze again)")
    elif res["outcome"] == "passed":
        lines.append(f"{OK} Recorded: cleanup may remove {res.get('previous_slot') or 'the old slot'} now")
    return "\n".join(lines)


def analyze(run, host, before, args):
    return analysis(run, host) or (f"{FAIL} No analysis ran" if not run.ok else "")


def rollback(run, host, before, args):
    active, previous = before.get("active_slot"), (before.get("state") or {}).get("previous")
    lines = [f"{WARN} Rolling back from {active} to {previous}...",
             f"Checking if {previous} slot services are still running..."]
    started = _one(run, "selfology.ops.slot_deploy", host)
    if started and started.get("actions") is not None:
        lines += _deploy_lines(started, {"start": "Starting", "create": "Starting", "recreate": "Replacing"})
        lines.append(f"  {OK} All services in {previous} slot are available" if not started.get("failed")
                     else f"  {FAIL} {previous} slot did not come back")
    if run.ok:
        lines += ["", f"Switching traffic back to {previous}...",
                  f"{OK} Rollback completed - traffic switched back to {previous}"]
    return "\n".join(lines)


def cleanup(run, host, before, args):
    inactive = before.get("inactive_slot")
    lines = [f"Cleaning up inactive slot ({inactive})..."]
    removed = _one(run, "selfology.ops.slot_deploy", host)
    if removed:
        names = [a["name"] for a in removed.get("actions", [])]
        lines += [f"  Stopping {name}..." for name in names] + [f"  Removing {name}..." for name in names]
    if run.ok:
        lines.append(f"{OK} Cleanup completed" if removed and removed.get("changed") else
                     f"{OK} Nothing to clean up: {inactive} has no containers")
    return "\n".join(lines)


def scale(run, host, before, args):
    lines = [f"Scaling {args.service} to {args.replicas} in {before.get('active_slot')} slot..."]
    started = _one(run, "selfology.ops.slot_deploy", host)
    if started and started.get("actions") is not None:
        lines += _deploy_lines(started, {"create": "Starting", "remove": "Removing", "recreate": "Replacing"})
        lines += _health_lines(started) if started.get("failures") else []
    if run.ok:
        lines.append(f"{OK} {args.service} runs {args.replicas} container(s)")
    return "\n".join(lines)


LIFECYCLE = {"deploy": deploy, "switch": switch, "rollback": rollback, "cleanup": cleanup, "scale": scale,
             "analyze": analyze}


def lifecycle(command, run, host, before, args):
    return LIFECYCLE[command](run, host, before, args)


def history(host, entries):
    lines = [f"[{host}]"] if host else []
    if not entries:
        return "\n".join(lines + ["No lifecycle actions recorded yet."])
    lines.append(f"{'WHEN':20} {'ACTION':9} {'VERSION':12} {'OUTCOME':8} {'SLOTS':13} {'SECONDS':>7}  WHO")
    for entry in entries:
        before = (entry.get("slots_before") or {}).get("active") or "-"
        after = (entry.get("slots_after") or {}).get("active") or "-"
        lines.append(f"{entry.get('at', '?')[:19]:20} {entry.get('action', '?'):9} {entry.get('version') or '-':12} "
                     f"{entry.get('outcome', '?'):8} {before + '→' + after:13} {entry.get('duration_s', 0):>7}  "
                     f"{entry.get('who', '?')}")
        message = (entry.get("details") or {}).get("message")
        if message and entry.get("outcome") not in ("success",):
            lines.append(f"{'':20} {message}")
    return "\n".join(lines)


# --check: the plan, from what the modules returned in Ansible's check mode ------------------------

_WOULD = {"create": "start", "recreate": "replace", "start": "start", "remove": "remove", "stop": "stop"}


def plan_data(run, host):
    """What the modules said they would do on host: containers (slot_deploy's actions), the load
    balancer's runtime commands (lb_route) and the state change (slot_state's diff)."""
    containers = [dict(action)
                  for r in run.of("selfology.ops.slot_deploy") if r.host == host and not r.res.get("skipped")
                  for action in r.res.get("actions", []) if action.get("action") != "keep"]
    routes = [r.res for r in run.of("selfology.ops.lb_route") if r.host == host and not r.res.get("skipped")]
    states = [r.res for r in run.of("selfology.ops.slot_state") if r.host == host and not r.res.get("skipped")]
    changes = []
    for res in states:
        before, after = (res.get("diff") or {}).get("before") or {}, (res.get("diff") or {}).get("after") or {}
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                changes.append({"key": key, "before": before.get(key), "after": after.get(key)})
    return {"containers": containers,
            "load_balancer": [c for res in routes for c in res.get("commands", [])],
            "lb_slot": [(res.get("slot_before"), res.get("slot")) for res in routes],
            "state": changes, "would_succeed": run.ok}


def _value(value):
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "{}"
    return "none" if value is None else str(value)


def plan(command, run, host, before, args):
    data = plan_data(run, host)
    lines = [f"Plan for {command} on {host} (check mode: nothing is changed)",
             f"Active slot: {before.get('active_slot') or 'none recorded'}, "
             f"inactive slot: {before.get('inactive_slot') or 'none'}"]
    if data["containers"]:
        lines.append("Containers:")
        lines += [f"  would {_WOULD.get(a['action'], a['action'])} {a['name']}" for a in data["containers"]]
    else:
        lines.append("Containers: none would start or go")
    if data["load_balancer"]:
        lines.append("Load balancer (runtime API):")
        lines += [f"  would send: {command_}" for command_ in data["load_balancer"]]
    else:
        lines.append("Load balancer: no change")
    if data["state"]:
        lines.append("State:")
        lines += [f"  {c['key']}: {_value(c['before'])} → {_value(c['after'])}" for c in data["state"]]
    else:
        lines.append("State: no change")
    lines.append(f"{OK} {command} would go ahead" if run.ok else f"{FAIL} {command} would not go ahead (see below)")
    return "\n".join(lines)
