#!/usr/bin/env python
"""Benchmark: selfops deploy, switch, rollback and status, beside the same work as plain commands.

Not a test: nothing is asserted. For each connection (local: the lab inventory, where the hot steps
run in-process; ssh: bench/ssh_inventory, the same machine reached through a private sshd on
127.0.0.1:2222, where every step is an ordinary module run by AnsiballZ on the host), each round:

  1. baseline deploy (into the inactive slot's ports, containers bench-*, removed afterwards):
     the same gates as the deploy, as plain commands: pg_dump -Fc of schema selfology in
     n8n-postgres and pg_restore --list of the dump, docker run of the 4 services in parallel,
     each polled (docker inspect) until Docker calls it healthy, one smoke event through the
     outbox, relay, stream and worker (psql), one curl through the load balancer;
     then `selfops deploy VERSION` to the inactive slot (which a cleanup left empty);
  2. baseline status (docker ps of the slot containers, one curl of each active service's /health,
     GET of selfology:active_slot), then `selfops status`;
  3. baseline switch and rollback: `set map /etc/selfology-lb/slot.map active SLOT` on the HAProxy
     admin socket (python's socket module), SET selfology:active_slot, one curl of /lb/health;
     there and back, so the lab's state is unchanged;
  4. `selfops switch`, then `selfops rollback` (the old slot still running);
  5. `selfops cleanup -e bluegreen_retention=0` (not timed) so the next round deploys again.
For switch and rollback (selfops and baseline) a probe thread polls http://127.0.0.1:8080/lb/health
on one keep-alive connection every ~5 ms and timestamps the first answer naming the new slot:
"moved" is that moment minus the command's start.

Prints one table per connection and writes bench/report-lifecycle.md and bench/reports/lifecycle.json.
Run with the lab up (`selfops lab up`); it builds the two versions it uses.

    .venv/bin/python bench/bench_lifecycle.py [--connections local,ssh] [--repeat 5] [--no-profile]
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from lab import INVENTORY, LB_URL, PORT_BASE, REDIS, SERVICES, STATE_FILE, _VARS  # noqa: E402

VERSIONS = ("1.0.0", "2.0.0")
SELFOPS = [sys.executable, "-m", "selfops.cli"]
SSH_INVENTORY = ROOT / "bench" / "ssh_inventory"
SSH_PORT = 2222
REPORT_MD = ROOT / "bench" / "report-lifecycle.md"
REPORT_JSON = ROOT / "bench" / "reports" / "lifecycle.json"
_TOPOLOGY = yaml.safe_load((INVENTORY / "group_vars" / "selfology" / "topology.yml").read_text())
ACTIVE_KEY = _TOPOLOGY["selfology_active_slot_key"]
LB_DIR = ROOT / ".lab" / "state" / "lb"
ADMIN_SOCKET = LB_DIR / "admin.sock"
LB_MAP = "/etc/selfology-lb/slot.map"  # the map's path inside selfology-lb
STEPS = ("deploy", "switch", "rollback", "status")
PROBE_INTERVAL = 0.005


def other(slot):
    return "green" if slot == "blue" else "blue"


def sh(*argv, check=True, env=None, **kwargs):
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env, check=False, **kwargs)
    if check and result.returncode:
        raise SystemExit(f"bench: {' '.join(map(str, argv))} exited {result.returncode}:\n"
                         f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result


def state():
    return json.loads(STATE_FILE.read_text())


def load():
    return "%.2f %.2f %.2f" % os.getloadavg()


# ---------------------------------------------------------------- traffic probe

class Probe(threading.Thread):
    """Polls /lb/health on one keep-alive connection; keeps (monotonic time, slot) at each change."""

    def __init__(self):
        super().__init__(daemon=True)
        self.changes, self.errors, self.answers = [], 0, 0
        self._halt = threading.Event()
        self._first = threading.Event()

    def run(self):
        conn, last = None, None
        while not self._halt.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=2)
                conn.request("GET", "/lb/health")
                response = conn.getresponse()
                body = response.read().decode().strip()
                seen = time.monotonic()
                self.answers += 1
                if response.status == 200 and body != last:
                    self.changes.append((seen, body))
                    last = body
                self._first.set()
            except (OSError, http.client.HTTPException):
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
            self._halt.wait(PROBE_INTERVAL)
        if conn is not None:
            conn.close()

    def __enter__(self):
        self.start()
        if not self._first.wait(5):
            raise SystemExit("bench: the load balancer's /lb/health does not answer")
        return self

    def __exit__(self, *exc):
        self._halt.set()
        self.join()

    def moved_at(self, slot, since, wait=1.0):
        """The first time at or after since the probe saw slot (waiting up to wait s for it), or None."""
        deadline = time.monotonic() + wait
        while True:
            for seen, body in list(self.changes):
                if body == slot and seen >= since:
                    return seen
            if time.monotonic() > deadline:
                return None
            time.sleep(PROBE_INTERVAL)


def with_probe(work, to_slot):
    """(seconds work took, seconds from its start until the load balancer answered to_slot)."""
    with Probe() as probe:
        started = time.monotonic()
        work()
        elapsed = time.monotonic() - started
        moved = probe.moved_at(to_slot, started)
    return elapsed, (moved - started if moved is not None else None)


# ---------------------------------------------------------------- the baselines: plain commands

def curl(url):
    sh("curl", "-fsS", "-o", "/dev/null", url)


def service_env(slot, service):
    v = _VARS
    env = {
        "DATABASE_URL": f"postgresql://{v['selfology_postgres_user']}:{v['selfology_postgres_password']}"
                        f"@{_TOPOLOGY['selfology_postgres_container']}:5432/{v['selfology_postgres_db']}",
        "REDIS_URL": f"redis://{_TOPOLOGY['selfology_redis_container']}:6379/0",
        "SELFOLOGY_STREAM": _TOPOLOGY["selfology_stream"],
        "SELFOLOGY_GROUP": _TOPOLOGY["selfology_consumer_group"],
        "SELFOLOGY_ACTIVE_SLOT_KEY": ACTIVE_KEY,
        "SELFOLOGY_SERVICE": service,
        "SELFOLOGY_SLOT": slot,
    }
    return env


def psql(sql):
    return subprocess.run(["docker", "exec", _TOPOLOGY["selfology_postgres_container"], "psql", "-qtAX", "-U",
                           _VARS["selfology_postgres_user"], "-d", _VARS["selfology_postgres_db"], "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def baseline_deploy(slot, version):
    """The deploy's gates as plain commands: pg_dump of schema selfology and pg_restore --list of it,
    docker run of every service in parallel, each polled until Docker calls it healthy, one smoke event
    through the event bus, one curl through the load balancer. The containers are removed afterwards."""
    names = [f"bench-{service['name']}-{slot}" for service in SERVICES]
    sh("docker", "rm", "-f", *names, check=False)

    def run(service):
        name = f"bench-{service['name']}-{slot}"
        port = PORT_BASE[slot] + service["port"]
        args = ["docker", "run", "-d", "--init", "--restart", "unless-stopped", "--name", name,
                "--network", _TOPOLOGY["selfology_network"], "-p", f"127.0.0.1:{port}:8000"]
        for key, value in service_env(slot, service["name"]).items():
            args += ["-e", f"{key}={value}"]
        sh(*args, f"{_TOPOLOGY['selfology_image_repository']}:{version}")
        deadline = time.monotonic() + 60
        while sh("docker", "inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip() != "healthy":
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: {name} never became healthy")
            time.sleep(0.05)

    with tempfile.TemporaryDirectory(prefix="selfology-bench-") as scratch:
        dump = Path(scratch) / "selfology.dump"
        started = time.monotonic()
        with dump.open("wb") as out:
            subprocess.run(["docker", "exec", _TOPOLOGY["selfology_postgres_container"], "pg_dump", "-Fc",
                            "-n", "selfology", "-U", _VARS["selfology_postgres_user"], _VARS["selfology_postgres_db"]],
                           stdout=out, check=True)
        if dump.stat().st_size == 0:
            raise SystemExit("bench: pg_dump wrote nothing")
        with dump.open("rb") as dump_in:
            subprocess.run(["docker", "exec", "-i", _TOPOLOGY["selfology_postgres_container"], "pg_restore", "--list"],
                           stdin=dump_in, stdout=subprocess.DEVNULL, check=True)
        with ThreadPoolExecutor(len(SERVICES)) as pool:
            list(pool.map(run, SERVICES))
        event = psql("INSERT INTO selfology.event_outbox (event_type, payload) "
                     f"VALUES ('smoke.ping', '{{\"slot\": \"{slot}\"}}') RETURNING id")
        deadline = time.monotonic() + 10
        while psql(f"SELECT count(*) FROM selfology.processed_events WHERE event_id = {int(event)}") != "1":
            if time.monotonic() > deadline:
                raise SystemExit("bench: the smoke event was not consumed")
            time.sleep(0.02)
        curl(f"{LB_URL}/api/questions/next/0")
        elapsed = time.monotonic() - started
    sh("docker", "rm", "-f", *names)
    return elapsed


def admin_command(line):
    """One command on HAProxy's runtime API (non-interactive: it answers and closes)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(ADMIN_SOCKET))
        sock.sendall(line.encode() + b"\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    answer = answer.decode().strip()
    if answer:
        raise SystemExit(f"bench: HAProxy answered {line!r} with {answer!r}")


def baseline_switch(slot):
    """set map on the admin socket, SET of the active-slot key, one curl of /lb/health."""
    admin_command(f"set map {LB_MAP} active {slot}")
    client = redis.Redis(host=REDIS["redis_host"], port=REDIS["redis_port"])
    client.set(ACTIVE_KEY, slot)
    client.close()
    curl(f"{LB_URL}/lb/health")


def baseline_status(active):
    """docker ps of the slot containers, one curl of each service's /health, GET of the key."""
    started = time.monotonic()
    sh("docker", "ps", "-a", "--filter", "name=^selfology-", "--format", "{{.Names}}\t{{.Image}}\t{{.Status}}")
    for service in SERVICES:
        curl(f"http://127.0.0.1:{PORT_BASE[active] + service['port']}/health")
    client = redis.Redis(host=REDIS["redis_host"], port=REDIS["redis_port"])
    client.get(ACTIVE_KEY)
    client.close()
    return time.monotonic() - started


# ---------------------------------------------------------------- the private sshd

class PrivateSshd:
    """An sshd on 127.0.0.1:2222 with its own host key, config, client key and known_hosts in a
    temporary directory; the system's sshd configuration is never read or changed."""

    def __init__(self, port=SSH_PORT):
        self.port, self.dir, self.process = port, None, None

    def __enter__(self):
        sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
        if sshd is None:
            print("bench: installing openssh-server (sshd is absent)", flush=True)
            sh("apt-get", "install", "-y", "openssh-server", env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
            sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise SystemExit(f"bench: 127.0.0.1:{self.port} is taken; is another benchmark's sshd running?")
        self.dir = Path(tempfile.mkdtemp(prefix="selfology-bench-ssh-"))
        d = self.dir
        (d / "cp").mkdir()
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "selfology-bench-host", "-f", str(d / "host_ed25519"))
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "selfology-bench-client", "-f", str(d / "id_ed25519"))
        shutil.copy(d / "id_ed25519.pub", d / "authorized_keys")
        host_key = (d / "host_ed25519.pub").read_text().split()
        (d / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_key[0]} {host_key[1]}\n")
        (d / "sshd_config").write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {d}/host_ed25519
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# The keys live in a temporary directory under /tmp (world-writable): skip the ownership walk.
StrictModes no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
# The controller's many ssh processes (one per module) must not be throttled.
MaxStartups 100
MaxSessions 100
Subsystem sftp internal-sftp
""")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        sh(sshd, "-t", "-f", str(d / "sshd_config"))
        self.log = (d / "sshd.log").open("w")
        self.process = subprocess.Popen([sshd, "-D", "-e", "-f", str(d / "sshd_config")],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while self.ssh("true", check=False).returncode:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise SystemExit(f"bench: the private sshd did not accept the key:\n{(d / 'sshd.log').read_text()}")
            time.sleep(0.1)
        return self

    def ssh(self, command, check=True):
        return sh("ssh", "-p", str(self.port), "-i", str(self.dir / "id_ed25519"),
                  "-o", f"UserKnownHostsFile={self.dir / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
                  "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "root@127.0.0.1", command, check=check)

    def env(self):
        """What bench/ssh_inventory reads."""
        return dict(os.environ, SELFOLOGY_BENCH_SSH_DIR=str(self.dir),
                    SELFOLOGY_BENCH_PYTHON=os.path.abspath(sys.executable))

    def __exit__(self, *exc):
        # Ansible's ControlPersist masters first (each holds a session of this sshd), then sshd and
        # whatever session processes it still has; then the directory.
        for control in (self.dir / "cp").iterdir() if self.dir and (self.dir / "cp").exists() else ():
            sh("ssh", "-o", f"ControlPath={control}", "-O", "exit", "root@127.0.0.1", check=False)
        if self.process is not None:
            sessions = list(_children(self.process.pid))
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            for pid in sessions:
                try:
                    os.kill(pid, 15)
                except ProcessLookupError:
                    pass
            self.log.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def _children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    text = handle.read()
            except OSError:
                continue
            if int(text[text.rfind(")") + 2:].split()[1]) == pid:
                found.append(int(entry))
    return found


# ---------------------------------------------------------------- one connection's rounds

class Connection:
    def __init__(self, name, inventory=None, env=None):
        self.name, self.env = name, env
        self.inventory = ["-i", str(inventory)] if inventory else []

    def selfops(self, *args, check=True):
        return sh(*SELFOPS, *args, *self.inventory, "-q", check=check, env=self.env)

    def timed(self, *args):
        started = time.monotonic()
        self.selfops(*args)
        return time.monotonic() - started

    def profile(self, action):
        """ansible-playbook with profile_tasks: where one run's time goes, task by task."""
        env = dict(self.env or os.environ, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
                   ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PROFILE_TASKS_TASK_OUTPUT_LIMIT="100",
                   PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
        inventory = self.inventory[1] if self.inventory else str(INVENTORY)
        started = time.monotonic()
        out = sh("ansible-playbook", "-i", inventory, str(ROOT / "playbooks" / f"{action}.yml"), env=env).stdout
        elapsed = time.monotonic() - started
        lines = out.splitlines()
        start = max((i for i, line in enumerate(lines) if line.startswith("PLAY RECAP")), default=0)
        return elapsed, "\n".join(line for line in lines[start:] if line.strip())


def prepare():
    for version in VERSIONS:
        sh(*SELFOPS, "lab", "image", version, "-q")
    # Start every section from an empty inactive slot (forced: it may be inside its retention window).
    sh(*SELFOPS, "cleanup", "-q", "--force", "--reason", "benchmark setup", "-e", "bluegreen_retention=0")
    s = state()
    if LB_DIR.joinpath("slot.map").read_text().split() != ["active", s["active"]]:
        raise SystemExit("bench: slot.map does not name the active slot; run selfops status")


def measure(conn, repeat, profile):
    prepare()
    runs = {step: [] for step in STEPS}
    base = {step: [] for step in STEPS}
    moved = {"switch": [], "rollback": []}
    base_moved = {"switch": [], "rollback": []}
    profiles = {}
    load_before = load()
    for round_ in range(repeat):
        s = state()
        active, inactive = s["active"], other(s["active"])
        current = s["versions"][active]
        target = VERSIONS[1 - VERSIONS.index(current)] if current in VERSIONS else VERSIONS[1]
        print(f"  [{conn.name}] round {round_ + 1}/{repeat}: {active} runs {current}, deploying {target} "
              f"to {inactive} (load {load()})", flush=True)

        base["deploy"].append(baseline_deploy(inactive, target))
        runs["deploy"].append(conn.timed("deploy", target))

        base["status"].append(baseline_status(active))
        runs["status"].append(conn.timed("status"))

        try:
            for step, to in (("switch", inactive), ("rollback", active)):
                elapsed, moved_after = with_probe(lambda: baseline_switch(to), to)
                base[step].append(elapsed)
                base_moved[step].append(moved_after)
        finally:
            if LB_DIR.joinpath("slot.map").exists():  # whatever happened, traffic back on the recorded slot
                baseline_switch(active)

        for step, to in (("switch", inactive), ("rollback", active)):
            elapsed, moved_after = with_probe(lambda: conn.selfops(step), to)
            runs[step].append(elapsed)
            moved[step].append(moved_after)

        if profile and round_ == repeat - 1:
            for action in ("switch", "rollback"):
                profiles[action] = conn.profile(action)
        conn.selfops("cleanup", "-e", "bluegreen_retention=0")
    return {"runs": runs, "baseline": base, "moved": moved, "baseline_moved": base_moved,
            "profiles": profiles, "load_before": load_before, "load_after": load()}


# ---------------------------------------------------------------- report

def summary(result):
    rows = []
    for step in STEPS:
        ours, base = result["runs"][step], result["baseline"][step]
        row = {"command": step, "median_s": statistics.median(ours), "min_s": min(ours), "max_s": max(ours),
               "baseline_median_s": statistics.median(base), "baseline_min_s": min(base),
               "baseline_max_s": max(base)}
        row["ratio"] = row["median_s"] / row["baseline_median_s"]
        if step in result["moved"]:
            for key, values in (("moved", result["moved"][step]), ("baseline_moved", result["baseline_moved"][step])):
                seen = [v for v in values if v is not None]
                row[f"{key}_median_s"] = statistics.median(seen) if seen else None
                row[f"{key}_missed"] = len(values) - len(seen)
        rows.append(row)
    return rows


def fmt(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def table(rows, repeat):
    head = ("| command | median s | min s | max s | baseline median s (min-max) | ratio "
            "| traffic moved after, s (median) | baseline moved after, s |")
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        moved = fmt(r.get("moved_median_s")) if "moved_median_s" in r else "n/a"
        base_moved = fmt(r.get("baseline_moved_median_s")) if "baseline_moved_median_s" in r else "n/a"
        if r.get("moved_missed"):
            moved += f" ({r['moved_missed']} not seen)"
        lines.append(f"| {r['command']} | {fmt(r['median_s'])} | {fmt(r['min_s'])} | {fmt(r['max_s'])} "
                     f"| {fmt(r['baseline_median_s'])} ({fmt(r['baseline_min_s'])}-{fmt(r['baseline_max_s'])}) "
                     f"| {r['ratio']:.1f} | {moved} | {base_moved} |")
    return "\n".join(lines)


def versions():
    core = sh(sys.executable, "-c", "import ansible; print(ansible.__version__)", check=False).stdout.strip()
    ssh = sh("ssh", "-V", check=False).stderr.strip()
    return f"ansible-core {core}, Python {platform.python_version()}, {ssh}"


def write_report(results, repeat):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# Lifecycle benchmark ({now})", "",
           f"`bench/bench_lifecycle.py --connections {','.join(results)} --repeat {repeat}`: medians, min and max "
           f"of {repeat} runs of each selfops command, beside the same work as plain commands measured in the "
           "same run (see the script's docstring for what each baseline does). ratio = selfops median / baseline "
           "median. \"Traffic moved after\": from the command's start to the first /lb/health answer naming the "
           "new slot (a probe on one keep-alive connection, every ~5 ms). Not a test: nothing is asserted.", "",
           f"Machine: {os.cpu_count()} cores; {versions()}.", ""]
    for name, result in results.items():
        title = {"local": "Local connection (lab inventory: hot steps in-process)",
                 "ssh": "SSH connection to 127.0.0.1:2222 (bench/ssh_inventory: every step an AnsiballZ module, "
                        "pipelining + ControlPersist)"}[name]
        out += [f"## {title}", "", f"Load average (1, 5, 15 min): {result['load_before']} before, "
                f"{result['load_after']} after.", "", table(summary(result), repeat), ""]
        for action, (elapsed, text) in result["profiles"].items():
            out += [f"Profile of one {action} (`ansible-playbook`, profile_tasks, {elapsed:.2f} s in all):", "",
                    "```", text, "```", ""]
    REPORT_MD.write_text("\n".join(out))
    REPORT_JSON.parent.mkdir(parents=True, exist_ok=True)
    REPORT_JSON.write_text(json.dumps({name: dict(result, summary=summary(result)) for name, result in results.items()},
                                      indent=2))
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--connections", default="local,ssh",
                        help="comma-separated: local, ssh (default: both)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command (default 5)")
    parser.add_argument("--no-profile", dest="profile", action="store_false",
                        help="skip the profile_tasks run of one switch and one rollback per connection")
    args = parser.parse_args()
    connections = [c.strip() for c in args.connections.split(",") if c.strip()]
    if not connections or set(connections) - {"local", "ssh"} or args.repeat < 1:
        parser.error("--connections takes local and/or ssh; --repeat at least 1")
    results = {}
    for name in connections:
        print(f"{name}: {args.repeat} rounds", flush=True)
        if name == "local":
            results[name] = measure(Connection("local"), args.repeat, args.profile)
        else:
            with PrivateSshd() as sshd:
                results[name] = measure(Connection("ssh", SSH_INVENTORY, sshd.env()), args.repeat, args.profile)
    print(write_report(results, args.repeat))
    print(f"\nreport: {REPORT_MD.relative_to(ROOT)} and {REPORT_JSON.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
