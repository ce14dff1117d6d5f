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
    """What went wrong, one line per failed task: the module's own message."""
    lines = []
    for failed in run.failures():
        message = failed.res.get("msg") or failed.res.get("stderr") or "failed"
        lines.append(f"{FAIL} [{failed.host}] {failed.task}: {message}")
    return "\n".join(lines)
