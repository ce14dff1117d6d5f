"""Issue 8 against the lab: every outcome is decided by the collection, so a plain ansible-playbook run (an
AWX job template) gets the outcome selfops shows; FLUSHDB's check is atomic with the flush; --check of a
switch and a cleanup changes nothing.

Stopped containers are always started again in a finally. Another session may deploy or switch slots
meanwhile: nothing here assumes which slot is active. FLUSHDB tests use Redis db 9 only.
"""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker
import pytest
import redis

from conftest import selfops
from ansible_collections.selfology.ops.plugins.module_utils import loadbalancer
from lab import INVENTORY, REDIS, ROOT, STATE_FILE, _env, drain_backlog, relays_stopped_with_backlog, wait_for

pytestmark = pytest.mark.integration

STATE_DIR = STATE_FILE.parent
SCRATCH_DB = 9
TARGET = f"{REDIS['redis_host']}:{REDIS['redis_port']}/{SCRATCH_DB}"
BACKLOG_TYPE = "selfops.test.outcomes"


def ansible_playbook(name, *args):
    """ansible-playbook as an AWX job template runs it: the playbook alone, no selfops."""
    started = time.monotonic()
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(INVENTORY),
                           str(ROOT / "playbooks" / f"{name}.yml"), *args],
                          cwd=ROOT, env=dict(os.environ, **_env()), capture_output=True, text=True, timeout=600, check=False)
    print(f"ansible-playbook {name}.yml: rc {proc.returncode} in {time.monotonic() - started:.1f}s")
    return proc


def active_slot():
    return json.loads(STATE_FILE.read_text())["active"]


# status -------------------------------------------------------------------------------------------

def test_status_playbook_fails_naming_the_unhealthy_container_of_the_active_slot(lab):
    ok = ansible_playbook("status")
    assert ok.returncode == 0, ok.stdout[-3000:]
    worker = docker.from_env().containers.get(f"selfology-analysis-worker-{active_slot()}")
    try:
        worker.stop(timeout=5)
        failed = ansible_playbook("status")
        dashboard = ansible_playbook("status", "-e", "status_fail_on_problems=false")
        via_cli = selfops("status", "-q", check=False)
    finally:
        worker.start()
    assert failed.returncode != 0
    assert f"selfology-analysis-worker-{worker.name.rsplit('-', 1)[1]} is exited" in failed.stdout, failed.stdout[-3000:]
    assert dashboard.returncode == 0, "status_fail_on_problems=false only reports"
    assert via_cli.returncode == 1 and f"{worker.name}:" in via_cli.stdout
    wait_for(lambda: docker.from_env().containers.get(worker.name).health == "healthy", 60,
             message="the worker healthy again")


# check daily --------------------------------------------------------------------------------------

def test_check_daily_playbook_fails_naming_the_outbox_with_the_relays_stopped(pg):
    with relays_stopped_with_backlog(pg, 1500, BACKLOG_TYPE):
        proc = ansible_playbook("check_daily")
        cli = selfops("check", "daily", "--json", check=False)
    assert proc.returncode != 0
    assert "morning checks critical" in proc.stdout and "outbox - critical" in proc.stdout, proc.stdout[-3000:]
    assert cli.returncode == 2
    payload = json.loads(cli.stdout)
    assert payload["status"] == "critical" and "outbox" in payload["hosts"]["localhost"]["critical"]
    drain_backlog(pg, BACKLOG_TYPE)


# FLUSHDB ------------------------------------------------------------------------------------------

@pytest.fixture
def scratch(lab):
    client = redis.Redis(host=REDIS["redis_host"], port=REDIS["redis_port"], db=SCRATCH_DB, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def flushdb(*args, check=False):
    return selfops("maintenance", "redis-flushdb", "--db", str(SCRATCH_DB), "-q", "--confirm-flushdb", TARGET,
                   *args, check=check)


def safe_stream(client, stream="selfology:events"):
    """A stream whose every entry was delivered and acknowledged: safe to flush."""
    for n in range(3):
        client.xadd(stream, {"n": n})
    client.xgroup_create(stream, "analysis-workers", id="0")
    for entry_id, _fields in client.xreadgroup("analysis-workers", "w", {stream: ">"})[0][1]:
        client.xack(stream, "analysis-workers", entry_id)


def test_an_entry_added_between_the_check_and_the_flush_is_refused_and_survives(scratch):
    safe_stream(scratch)
    dry = flushdb("--check")
    assert dry.returncode == 0 and f"Would flush db {SCRATCH_DB}: 1 keys" in dry.stdout, dry.stdout
    # Another process adds an entry and a worker takes it, not yet acknowledged.
    subprocess.run([sys.executable, "-c", (
        "import redis, sys; r = redis.Redis(host=sys.argv[2], port=int(sys.argv[1]), db=9, decode_responses=True); "
        "r.xadd('selfology:events', {'n': 'late'}); "
        "r.xreadgroup('analysis-workers', 'late-worker', {'selfology:events': '>'})"),
        str(REDIS["redis_port"]), REDIS["redis_host"]], check=True)
    refused = flushdb(check=False)
    assert refused.returncode == 1 and "1 pending" in refused.stdout, refused.stdout + refused.stderr
    assert [fields["n"] for _entry_id, fields in scratch.xrange("selfology:events")][-1] == "late"


def test_flushdb_is_atomic_with_its_check_under_a_concurrent_writer(scratch):
    """A writer waits (MONITOR) for the check's first read of the streams (XINFO, or the script's EVAL), then adds entries and takes them
    without acknowledging them, as fast as it can. A check read tasks before the flush (the old
    implementation: stream_info, then FLUSHDB a task later) flushes those entries: they are lost. Checked in
    one script with the flush, each entry is either there when the check runs (the flush is refused) or
    added after the flush: every entry the writer added survives."""
    safe_stream(scratch)
    scratch.xadd("other:stream", {"n": 0})  # a second stream, no group: safe
    added, stop, seen = [], threading.Event(), threading.Event()

    def writer():
        writer_client = redis.Redis(host=REDIS["redis_host"], port=REDIS["redis_port"], db=SCRATCH_DB,
                                    decode_responses=True)
        watcher = redis.Redis(host=REDIS["redis_host"], port=REDIS["redis_port"], db=SCRATCH_DB)
        with watcher.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                text = str(command.get("command", "")).upper()
                if str(command.get("db")) == str(SCRATCH_DB) and ("XINFO" in text or "EVAL" in text):
                    seen.set()
                    break
        while not stop.is_set() and len(added) < 5000:
            try:
                added.append(writer_client.xadd("selfology:events", {"n": "racing"}))
                writer_client.xreadgroup("analysis-workers", "racer", {"selfology:events": ">"}, count=1)
            except redis.ResponseError:  # NOGROUP: flushed, the group is gone; later entries stay anyway
                pass

    ready = threading.Event()
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    assert ready.wait(10)
    proc = flushdb(check=False)
    time.sleep(0.3)
    stop.set()
    thread.join(10)
    assert seen.is_set(), "the writer never saw the check read the streams"
    assert added, "the writer added nothing"
    left = {entry_id for entry_id, _fields in scratch.xrange("selfology:events")}
    lost = [entry_id for entry_id in added if entry_id not in left]
    print(f"flush {'refused' if proc.returncode else 'done'}; the writer added {len(added)} entries; lost {len(lost)}")
    assert not lost, f"{len(lost)} of {len(added)} entries added after the check were flushed: {proc.stdout}"


# --check changes nothing --------------------------------------------------------------------------

def lb_live():
    with loadbalancer.AdminSocket(str(STATE_DIR / "lb" / loadbalancer.SOCKET)) as admin:
        return {"slot": loadbalancer.live_slot(admin, "/etc/selfology-lb/" + loadbalancer.MAP),
                "servers": loadbalancer.server_states(admin)}


def snapshot(pg, rdb):
    def read(path):
        return path.read_bytes() if path.exists() else None
    containers = sorted((c.name, c.id, c.status, c.attrs["State"].get("StartedAt"))
                        for c in docker.from_env().containers.list(all=True, filters={"label": "org.selfology.slot"}))
    renewers = [pid for pid in os.listdir("/proc") if pid.isdigit() and b"renew_while" in _cmdline(pid)]
    return {
        "state_file": read(STATE_FILE), "lb_map": read(STATE_DIR / "lb" / "slot.map"),
        "lb_config": read(STATE_DIR / "lb" / "haproxy.cfg"), "lb_live": lb_live(),
        "audit_log": read(STATE_DIR / "audit.log"), "lock": read(STATE_DIR / "lock.json"),
        "redis_active_slot": rdb.get("selfology:active_slot"),
        "database_active_slot": pg.execute("SELECT slot FROM selfology.active_slot").fetchone(),
        "containers": containers, "renewers": renewers,
    }


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.fixture
def two_slots(lab, pg):
    """An active slot and a deployed, healthy inactive one, as after a deploy."""
    state = json.loads(STATE_FILE.read_text())
    running = (state.get("versions") or {}).get(state["active"])
    version = "2.0.0" if running == "1.0.0" else "1.0.0"
    selfops("lab", "image", version, "-q")
    selfops("deploy", version, "-q")
    return state["active"]


@pytest.mark.parametrize("command", [["switch"], ["cleanup", "--force", "--reason", "check mode test"]])
def test_check_mode_changes_nothing_and_prints_the_plan(two_slots, pg, rdb, command):
    before = snapshot(pg, rdb)
    proc = selfops(*command, "--check", "-q", check=False)
    time.sleep(1)  # a renewer started by mistake would have renewed (written) the lock by now
    after = snapshot(pg, rdb)
    # No lock renewer started (one left by the fixture's deploy may still be exiting).
    assert not set(after.pop("renewers")) - set(before.pop("renewers")), "--check started a lock renewer"
    for key in before:
        assert after[key] == before[key], f"{key} changed under selfops {command[0]} --check"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Plan for {command[0]} on localhost (check mode: nothing is changed)" in proc.stdout
    inactive = "green" if two_slots == "blue" else "blue"
    if command[0] == "switch":
        assert f"set map /etc/selfology-lb/slot.map active {inactive}" in proc.stdout
        assert f"  active: {two_slots} → {inactive}" in proc.stdout
    else:
        assert f"would remove selfology-analysis-worker-{inactive}" in proc.stdout
        assert "  versions: " in proc.stdout
