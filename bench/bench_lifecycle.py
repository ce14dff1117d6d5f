"""Benchmark: deploy, switch and rollback through selfops, beside the same steps as plain docker CLI calls.

Not a test: it prints medians and ratios and writes bench/reports/lifecycle.json. Run with the
lab up (`selfops lab up`); it builds the two versions it alternates between.
    .venv/bin/python bench/bench_lifecycle.py [--rounds 3]
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from lab import PORT_BASE, SERVICES, STATE_FILE  # noqa: E402

VERSIONS = ("1.0.0", "2.0.0")
SELFOPS = [sys.executable, "-m", "selfops.cli"]


def sh(*argv, check=True):
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=check)


def timed(*argv):
    started = time.monotonic()
    sh(*argv)
    return time.monotonic() - started


def state():
    return json.loads(STATE_FILE.read_text())


def baseline_deploy(slot, version):
    """docker run every service in parallel, wait for docker's health, curl each /health, remove."""
    env = {"DATABASE_URL": "postgresql://n8n:selfology-lab@n8n-postgres:5432/n8n",
           "REDIS_URL": "redis://n8n-redis:6379/0"}
    names = []

    def run(service):
        name = f"bench-{service['name']}-{slot}"
        names.append(name)
        port = PORT_BASE[slot] + service["port"]
        args = ["docker", "run", "-d", "--init", "--name", name, "--network", "selfology-net",
                "-p", f"127.0.0.1:{port}:8000", "-e", f"SELFOLOGY_SERVICE={service['name']}",
                "-e", f"SELFOLOGY_SLOT={slot}"]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        sh(*args, f"selfology/services:{version}")

    started = time.monotonic()
    with ThreadPoolExecutor(len(SERVICES)) as pool:
        list(pool.map(run, SERVICES))
    pending = set(names)
    while pending:
        for name in list(pending):
            if sh("docker", "inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip() == "healthy":
                pending.discard(name)
        time.sleep(0.25)
    for service in SERVICES:
        sh("curl", "-fsS", f"http://127.0.0.1:{PORT_BASE[slot] + service['port']}/health")
    elapsed = time.monotonic() - started
    sh("docker", "rm", "-f", *names)
    return elapsed


def baseline_switch(slot):
    """nginx -t on the configuration, graceful reload, and the Redis key: what a switch must do."""
    started = time.monotonic()
    sh("docker", "exec", "selfology-lb", "nginx", "-t", "-q", "-c", "/etc/selfology-lb/nginx.conf")
    sh("docker", "exec", "selfology-lb", "nginx", "-s", "reload")
    sh("docker", "exec", "n8n-redis", "redis-cli", "SET", "selfology:active_slot", slot)
    sh("curl", "-fsS", "http://127.0.0.1:8080/lb/health")
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for version in VERSIONS:
        sh(*SELFOPS, "lab", "image", version, "-q")
    sh(*SELFOPS, "cleanup", "-q", "--force", "--reason", "benchmark setup", "-e", "bluegreen_retention=0")
    ours = {"deploy": [], "switch": [], "rollback": []}
    base = {"deploy": [], "switch": [], "rollback": []}
    for _round in range(args.rounds):
        s = state()
        inactive = "green" if s["active"] == "blue" else "blue"
        current = s["versions"][s["active"]]
        target = VERSIONS[1 - VERSIONS.index(current)] if current in VERSIONS else VERSIONS[1]
        base["deploy"].append(baseline_deploy(inactive, target))
        base["switch"].append(baseline_switch(s["active"]))
        base["rollback"].append(baseline_switch(s["active"]))
        ours["deploy"].append(timed(*SELFOPS, "deploy", target, "-q"))
        ours["switch"].append(timed(*SELFOPS, "switch", "-q"))
        ours["rollback"].append(timed(*SELFOPS, "rollback", "-q"))
        sh(*SELFOPS, "switch", "-q")
        sh(*SELFOPS, "cleanup", "-q", "-e", "bluegreen_retention=0")
    report = {}
    print(f"{'step':10} {'selfops s':>10} {'docker CLI s':>13} {'ratio':>6}   (medians of {args.rounds})")
    for step in ("deploy", "switch", "rollback"):
        a, b = statistics.median(ours[step]), statistics.median(base[step])
        report[step] = {"selfops_s": round(a, 2), "baseline_s": round(b, 2), "ratio": round(a / b, 2),
                        "selfops_runs": [round(x, 2) for x in ours[step]], "baseline_runs": [round(x, 2) for x in base[step]]}
        print(f"{step:10} {a:10.2f} {b:13.2f} {a / b:6.2f}")
    out = ROOT / "bench" / "reports" / "lifecycle.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"report: {out}")


if __name__ == "__main__":
    main()
