"""A killed command never blocks a rollback; stopping selfops stops the work. Against the lab.

Only selfops commands, the lock file and the audit log are used, so that these tests hold whatever
moves the traffic.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import psycopg
import pytest

from conftest import selfops
from lab import LB_URL, ROOT, STATE_FILE, pg_dsn
from traffic import Traffic

from ansible_collections.selfology.ops.plugins.module_utils import audit, lock

pytestmark = pytest.mark.integration
RETENTION = ("-e", "bluegreen_retention=0")
VERSIONS = ("1.0.0", "2.0.0")
LOCK = STATE_FILE.parent / "lock.json"
AUDIT = STATE_FILE.parent / "audit.log"
HERE = socket.gethostname()


# Processes ------------------------------------------------------------------------------------

def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])  # state, ppid, pgrp


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid):
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def descendants(root):
    """Every living process under root (the /proc tree, no psutil)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(entry)
            if stat and stat[0] not in ("Z", "X"):
                children.setdefault(stat[1], []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Command:
    """selfops started as an operator's terminal would, watched: every process it started is noted."""

    def __init__(self, *args):
        self.args = args
        self.proc = subprocess.Popen([sys.executable, "-m", "selfops.cli", *args], cwd=ROOT, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.started = time.monotonic()
        self.seen = {}

    def watch(self, seconds, until=None):
        """Notes the process tree for seconds (or until until(cmdlines) is true); returns whether until was met."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.proc.poll() is None:
            for pid in descendants(self.proc.pid):
                self.seen.setdefault(pid, _cmdline(pid))
            if until and until(self.seen.values()):
                return True
            time.sleep(0.02)
        return False

    def playbooks(self):
        return [pid for pid, cmd in self.seen.items() if "ansible-playbook" in cmd]

    def kill_tree(self):
        """SIGKILL to selfops and everything under it at once (each process and its process group: the
        task workers lead groups of their own), as a kill -9 of the whole tree would do."""
        pids = [self.proc.pid] + descendants(self.proc.pid)
        for pid in pids:
            self.seen.setdefault(pid, _cmdline(pid))
        groups = set()
        for pid in list(self.seen):
            stat = _stat(pid)
            if stat:
                groups.add(stat[2])
        groups.discard(os.getpgrp())
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.finish()

    def kill_alone(self):
        """SIGKILL to selfops only, as when its own process is killed: what it started must not go on."""
        for pid in descendants(self.proc.pid):
            self.seen.setdefault(pid, _cmdline(pid))
        self.proc.kill()
        return self.finish()

    def signal(self, signum):
        self.sent = time.monotonic()
        self.proc.send_signal(signum)
        return self.finish()

    def finish(self):
        out, err = self.proc.communicate(timeout=120)
        self.exited = time.monotonic()
        return self.proc.returncode, out, err


def _leftovers(command):
    groups = set(command.playbooks())
    members = [int(e) for e in os.listdir("/proc") if e.isdigit() and alive(e) and (_stat(e) or ("", 0, 0))[2] in groups]
    return sorted(set(pid for pid in command.seen if alive(pid)) | set(members))


def leftovers(command, wait=2.0):
    """Processes the command started that still live (the group of each ansible-playbook process and
    task worker included), after wait seconds at most: killed processes are reaped, and the lock
    renewer ends itself within a second of its ansible-playbook."""
    deadline = time.monotonic() + wait
    while _leftovers(command) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [(pid, _cmdline(pid)) for pid in _leftovers(command)]


# The lab --------------------------------------------------------------------------------------

def status():
    proc = selfops("status", "--json", check=False)
    report = json.loads(proc.stdout)  # never a crash: always JSON
    return proc.returncode, report["hosts"]["localhost"]


def audit_entries():
    return [json.loads(line) for line in AUDIT.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def images(lab):
    for version in VERSIONS:
        selfops("lab", "image", version, "-q")


@pytest.fixture
def two_slots(images):
    """An active slot and a healthy inactive one to switch to (deployed when missing); no live lock."""
    left = lock.read_lock(str(LOCK))
    assert not left or lock.liveness(left)[0] == lock.GONE, f"a live lock is held: {left}"
    info = status()[1]
    inactive = info.get("inactive_slot")
    if info.get("drift"):  # what an earlier interrupted run left: repaired as an operator would
        settle()
        info = status()[1]
        inactive = info.get("inactive_slot")
    if info.get("drift") or not inactive or not info["slots"][inactive]["healthy"]:
        selfops("cleanup", "-q", "--force", "--reason", "test setup", *RETENTION)
        info = status()[1]
        current = info["slots"][info["active_slot"]]["version"]
        selfops("deploy", VERSIONS[1 - VERSIONS.index(current)] if current in VERSIONS else VERSIONS[0], "-q")
        info = status()[1]
    return info


def settle():
    """Whatever an interrupted switch left: a plain switch, else a rollback, succeeds at once."""
    switch = selfops("switch", "-q", check=False)
    assert "deploy lock held" not in switch.stdout + switch.stderr, switch.stderr
    if switch.returncode == 0:
        return "switch", switch
    rollback = selfops("rollback", "-q", check=False)
    assert rollback.returncode == 0, f"neither switch nor rollback succeeded:\n{switch.stderr}\n{rollback.stderr}"
    return "rollback", rollback


# (a) selfops switch killed (with everything it started, or alone) at several moments -------------

# Four moments across a switch's ~3 s, each killed both ways, with SELFOPS_TEST_CYCLES > 1; in make test
# (inside its 30 minutes) the whole tree at three of them and selfops alone at one.
KILLS = [(d, t) for d in (0.5, 1.0, 1.5, 2.5) for t in (True, False)] if int(os.environ.get(
    "SELFOPS_TEST_CYCLES", "1")) > 1 else [(0.5, True), (1.0, False), (1.5, True), (2.5, True)]


@pytest.mark.parametrize("delay, tree", KILLS, ids=[f"{d}-{'whole-tree' if t else 'selfops-alone'}" for d, t in KILLS])
def test_a_switch_killed_at_any_moment_leaves_a_truthful_status_and_a_free_lock(two_slots, delay, tree):
    with Traffic(LB_URL, rps=100, user_id=3, keepalive=True) as load:
        killed_and_repaired(delay, tree)
    assert load.result["failed"] == 0, load.result
    assert load.result["connections"] == 16


def killed_and_repaired(delay, tree):
    command = Command("switch", "-q", *RETENTION)
    command.watch(delay)
    rc = (command.kill_tree() if tree else command.kill_alone())[0]
    assert rc in (-signal.SIGKILL, 0), "killed, or the switch was over already"
    # Killed alone, selfops takes its playbook with it (PR_SET_PDEATHSIG): nothing goes on.
    assert not leftovers(command), "a SIGKILL leaves nothing running"
    left = lock.read_lock(str(LOCK))

    code, info = status()
    assert info["active_slot"] in ("blue", "green")
    # The status play fails on an unhealthy active slot or on drift (what a kill may leave), and says which.
    assert code == (0 if info["slots"][info["active_slot"]]["healthy"] and not info["drift"] else 1)
    assert isinstance(info["drift"], list)

    started = time.monotonic()
    how, proc = settle()
    elapsed = time.monotonic() - started
    if left:  # the killed run's lock is taken over, and the audit line says whose it was
        entry = [e for e in audit_entries() if e["action"] == how][-1]
        broken = entry["details"]["lock_broken"]
        assert broken["how"] == "taken_over" and broken["previous"]["pid"] == left["pid"]
        assert "is not running" in broken["reason"]
    assert not LOCK.exists()
    after = status()[1]
    assert after["drift"] == [], after["drift"]
    print(f"killed ({'tree' if tree else 'alone'}) at {delay}s: lock left={bool(left)}; {how} afterwards took {elapsed:.1f}s")


# (b) SIGINT, SIGTERM and SIGHUP stop the playbook ---------------------------------------------

@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_on_switch_stops_the_playbook_releases_the_lock_and_shows_the_state(two_slots, signum, code):
    before = len(audit_entries()) if AUDIT.exists() else 0
    command = Command("switch", *RETENTION)
    assert command.watch(30, until=lambda _cmds: LOCK.exists()), "the switch took the lock"
    rc, out, err = command.signal(signum)
    took = command.exited - command.sent
    assert rc == code, f"{out}\n{err}"
    assert not leftovers(command), "no ansible-playbook (or anything it started) is left"
    assert not LOCK.exists(), "the interrupted run's lock was released"
    assert f"{signal.Signals(signum).name} received" in err
    assert "Active Slot:" in out and "State left:" in out
    new = audit_entries()[before:]
    if "Released the interrupted run's deploy lock" in out:
        assert not [e for e in new if e["action"] == "switch" and e["outcome"] == "success"], new
        if "interrupted" in audit.OUTCOMES:
            entry = [e for e in new if e["outcome"] == "interrupted"][-1]
            assert entry["action"] == "switch" and entry["details"]["lock_broken"]["how"] == "interrupted"
    else:  # the switch finished before the signal reached it
        assert [e["outcome"] for e in new if e["action"] == "switch"] == ["success"], new
    stopped = [line for line in err.splitlines() if "received" in line]
    print(f"{signal.Signals(signum).name}: exit {rc} {took:.1f}s after the signal: {stopped}")
    settle()


@pytest.fixture
def old_events(lab):
    """Events published long ago, enough for a weekly archive in small batches to take a while."""
    with psycopg.connect(pg_dsn(), autocommit=True) as conn:
        conn.execute("""INSERT INTO selfology.event_outbox (event_type, payload, status, created_at, published_at)
                        SELECT 'test.interrupt', '{}'::jsonb, 'published', now() - interval '60 days',
                               now() - interval '60 days' FROM generate_series(1, 40000)""")
        yield conn
        conn.execute("DELETE FROM selfology.event_outbox WHERE event_type = 'test.interrupt'")
        conn.execute("DELETE FROM selfology.event_outbox_archive WHERE event_type = 'test.interrupt'")


def _left_to_archive(conn):
    return conn.execute("SELECT count(*) FROM selfology.event_outbox WHERE event_type = 'test.interrupt'").fetchone()[0]


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_on_weekly_maintenance_stops_the_archive(old_events, signum, code):
    command = Command("maintenance", "weekly", "-e", "maintenance_archive_batch_size=20")
    archiving = command.watch(60, until=lambda cmds: any("outbox_archive" in c for c in cmds))
    assert archiving, "the archive module ran"
    time.sleep(0.5)
    rc, out, err = command.signal(signum)
    took = command.exited - command.sent
    assert rc == code, f"{out}\n{err}"
    assert not leftovers(command), "neither ansible-playbook nor the archive module is left"
    assert "Active Slot:" in out
    left = _left_to_archive(old_events)
    time.sleep(1.5)
    assert _left_to_archive(old_events) == left > 0, "nothing goes on archiving in the background"
    advisory = old_events.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()[0]
    assert advisory == 0, "the archive's advisory lock went with its connection"
    stopped = [line for line in err.splitlines() if "received" in line]
    print(f"{signal.Signals(signum).name}: exit {rc} {took:.1f}s after the signal; {left} rows not archived; {stopped}")


# (c) a live holder blocks a switch, even forced; a forced rollback breaks its lock -----------------

@pytest.fixture
def live_holder(two_slots):
    sleeper = subprocess.Popen(["sleep", "300"])
    holder = lock.acquire(str(LOCK), "test-holder@" + HERE, "deploy", version="9.9.9",
                          process=lock.controller_facts(sleeper.pid))["lock"]
    yield holder
    sleeper.kill()
    sleeper.wait()
    current = lock.read_lock(str(LOCK))
    if current and current.get("token") == holder["token"]:
        lock.release(str(LOCK), token=holder["token"])


def test_a_live_lock_blocks_a_forced_switch_but_a_forced_rollback_breaks_it(live_holder):
    for argv in (("switch",), ("switch", "--force", "--reason", "x")):
        proc = selfops(*argv, check=False)
        assert proc.returncode == 1
        assert "held by test-holder@" in proc.stderr and f"pid {live_holder['pid']}" in proc.stderr, proc.stderr
    assert lock.read_lock(str(LOCK))["token"] == live_holder["token"]
    if not json.loads(STATE_FILE.read_text()).get("previous"):
        pytest.skip("nothing to roll back to")  # two_slots gives a previous slot after any switch
    proc = selfops("rollback", "--force", "--reason", "x", check=False)
    if proc.returncode != 0 and "nothing to roll back" in proc.stderr:
        pytest.skip(proc.stderr)
    assert proc.returncode == 0, proc.stderr
    entry = [e for e in audit_entries() if e["action"] == "rollback"][-1]
    broken = entry["details"]["lock_broken"]
    assert broken["how"] == "forced" and broken["reason"] == "x"
    assert broken["previous"]["owner"] == live_holder["owner"] and broken["previous"]["pid"] == live_holder["pid"]
    assert "is running" in broken["holder_was"]
    assert not LOCK.exists()
