"""Backups and the disaster-recovery drill on the real lab (issue 11): a set's manifest counts what
its dump holds; the drill restores it into scratch containers that are gone afterwards (also after a
kill, by the next drill; also after Ctrl-C, by the drill itself), with the RPO counting the rows
written since; a corrupted newest set is kept apart and the previous one drilled; --destroy-live
removes n8n-postgres and its volume and the lab comes back with exactly the rows after the backup
lost; the backup age reaches Prometheus; the schedule installs and its command takes a backup."""
import calendar
import json
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest

from conftest import selfops
from lab import ROOT, run_playbook, wait_for
from test_interrupts import Command
from test_redis_loss import post_answer

pytestmark = pytest.mark.integration
STATE = ROOT / ".lab" / "state"
BACKUPS = STATE / "backups"
DRILL_LABEL = "org.selfology.drill"
USER_ID = 900_000_111


def json_of(*args, check=True):
    proc = selfops(*args, "--json", check=check)
    return proc, json.loads(proc.stdout)


def backup():
    """Takes a set (in a new second: set names are to the second); returns its manifest."""
    time.sleep(max(0.0, 1.05 - time.time() % 1))
    _proc, out = json_of("backup")
    return out["hosts"]["localhost"]["manifest"]


def drill(*args, check=True):
    proc, out = json_of("drill", "restore", *args, check=check)
    return proc, out["hosts"].get("localhost", {})


def scratch_containers():
    client = docker.from_env()
    try:
        # sparse: no inspect of each, which races with the drill removing them
        listed = client.containers.list(all=True, sparse=True, filters={"label": DRILL_LABEL})
        return sorted(c.attrs["Names"][0].lstrip("/") for c in listed)
    finally:
        client.close()


def answers(count):
    with ThreadPoolExecutor(8) as pool:
        ids = [i for i in pool.map(lambda n: post_answer(USER_ID, 0.1 + n % 9 / 10), range(count)) if i]
    assert len(ids) == count, f"{count - len(ids)} answers refused"
    return ids


def outbox_rows(pg):
    return pg.execute("SELECT count(*) FROM selfology.event_outbox").fetchone()[0]


def test_a_drill_after_1000_more_answers_restores_the_manifest_and_counts_them_in_its_rpo(lab, pg):
    taken = backup()
    assert taken["postgres"]["tables"]["event_outbox"] == outbox_rows(pg) and taken["redis"]["keys"] > 0
    manifest = json.loads((BACKUPS / taken["id"] / "manifest.json").read_text())
    assert manifest["postgres"]["tables"] == taken["postgres"]["tables"]
    answers(1000)

    started = time.monotonic()
    proc, report = drill()
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert report["passed"] and report["backup"]["id"] == taken["id"] and report["mismatches"] == []
    assert report["tables"] == manifest["postgres"]["tables"]
    assert report["redis_keys"] == manifest["redis"]["keys"] and report["streams"] == manifest["redis"]["streams"]
    assert report["rpo"]["rows_since"]["event_outbox"] == 1000
    assert report["rpo"]["rows_since_total"] >= 1000 and report["rpo"]["backup_age_seconds"] >= 0
    assert 0 < report["rto_seconds"] <= took
    assert scratch_containers() == []
    assert json.loads(open(report["path"]).read())["rto_seconds"] == report["rto_seconds"]
    print(f"\ndrill: RTO {report['rto_seconds']} s, whole drill {report['seconds']} s, command {took:.1f} s")


@pytest.mark.parametrize("how", ["SIGKILL of the whole tree", "Ctrl-C"])
def test_a_drill_interrupted_midway_leaves_no_scratch_container_behind(lab, how):
    command = Command("drill", "restore", "-q")
    assert command.watch(60, until=lambda _cmdlines: len(scratch_containers()) == 2), "the scratch containers"
    if how.startswith("SIGKILL"):
        command.kill_tree()
        left = scratch_containers()
        assert len(left) == 2, "a SIGKILL leaves the drill no chance to clean up"
        _proc, report = drill()
        assert report["passed"] and report["leftovers_removed"] == left
    else:
        rc = command.signal(signal.SIGINT)[0]
        assert rc == 130
    assert scratch_containers() == []


def test_a_corrupted_newest_set_is_kept_apart_and_the_drill_restores_the_previous_one(lab):
    good = backup()
    bad = backup()
    dump = BACKUPS / bad["id"] / "postgres.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    try:
        text = selfops("drill", "restore").stdout
        assert f"{bad['id']} failed verification (postgres.dump checksum mismatch): kept apart, skipped" in text
        assert f"- {good['id']} into scratch containers" in text and "Drill passed" in text, text
        report = json.loads(sorted((STATE / "reports").glob("drill_*.json"))[-1].read_text())
        assert report["backup"]["id"] == good["id"] and report["skipped"] == [bad["id"]]
        assert report["skipped_problems"][bad["id"]] == ["postgres.dump checksum mismatch"]
        assert not (BACKUPS / bad["id"]).exists() and (BACKUPS / "failed" / bad["id"] / "postgres.dump").exists()
        metrics = (STATE / "metrics" / "selfology_backup.prom").read_text()
        assert "selfology_backup_failed_sets 1" in metrics
        # A backup reports the set kept apart: a warning (exit 1), the new set still taken.
        later = selfops("backup", check=False)
        assert later.returncode == 1 and f"{bad['id']} failed verification" in later.stdout, later.stdout
    finally:
        shutil.rmtree(BACKUPS / "failed" / bad["id"], ignore_errors=True)


def prometheus(query):
    url = "http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())["data"]["result"]


def test_the_newest_verified_sets_time_reaches_prometheus(lab):
    taken = backup()
    stamp = calendar.timegm(time.strptime(taken["taken_at"], "%Y-%m-%dT%H:%M:%SZ"))
    found = wait_for(lambda: [r for r in prometheus("selfology_backup_newest_verified_timestamp_seconds")
                              if int(float(r["value"][1])) == stamp], 30, interval=1,
                     message="the new set's time in Prometheus")
    assert found[0]["metric"]["job"] == "node"
    assert prometheus('ALERTS{alertname="BackupTooOld"}') == []


def test_destroy_live_loses_exactly_the_rows_written_after_the_backup_and_the_lab_comes_back(lab):
    import psycopg
    from lab import pg_dsn
    before = docker.from_env().containers.get("n8n-postgres").id
    taken = backup()
    answers(40)
    with psycopg.connect(pg_dsn(), autocommit=True) as conn:
        def written():
            return {t: conn.execute(f"SELECT count(*) FROM selfology.{t}").fetchone()[0] - n
                    for t, n in taken["postgres"]["tables"].items()}
        wait_for(lambda: written()["processed_events"] == 40, 30, message="the 40 answers applied")
        lost = written()
    assert lost["event_outbox"] == 40

    proc, report = drill("--destroy-live", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["mode"] == "destroy-live" and report["passed"] and report["backup"]["id"] == taken["id"]
    assert report["rpo"]["rows_since"] == lost and report["rpo"]["rows_since_total"] == sum(lost.values())
    assert report["services"]["back"] and report["services"]["smoke"] == "passed"
    assert docker.from_env().containers.get("n8n-postgres").id != before
    with psycopg.connect(pg_dsn(), autocommit=True) as conn:
        # The smoke test wrote one answer since the restore.
        restored = conn.execute("SELECT count(*) FROM selfology.event_outbox").fetchone()[0]
    assert restored - taken["postgres"]["tables"]["event_outbox"] in (0, 1)
    print(f"\ndestroy-live: RTO {report['rto_seconds']} s, lost {report['rpo']['rows_since_total']} rows")


def test_destroy_live_is_refused_where_the_inventory_does_not_allow_it(lab):
    proc = selfops("drill", "restore", "--destroy-live", "-e", "backup_drill_destroy_live_allowed=false", check=False)
    assert proc.returncode != 0 and "does not allow it" in proc.stdout + proc.stderr
    assert docker.from_env().containers.get("n8n-postgres").status == "running"


def test_the_schedule_installs_idempotently_and_its_command_takes_a_backup(lab, tmp_path):
    cron_file, units = tmp_path / "selfology-backup", tmp_path / "units"
    units.mkdir()
    cron = {"backup_schedule": "cron", "backup_cron_file": str(cron_file), "backup_systemd_dir": str(units)}
    rc, stats = run_playbook(ROOT / "playbooks" / "backup_schedule.yml", cron, check=True)
    assert rc == 0 and stats["changed"].get("localhost", 0) >= 1 and not cron_file.exists()
    rc, stats = run_playbook(ROOT / "playbooks" / "backup_schedule.yml", cron)
    assert rc == 0 and stats["changed"].get("localhost", 0) == 1
    rc, stats = run_playbook(ROOT / "playbooks" / "backup_schedule.yml", cron)
    assert rc == 0 and stats["changed"].get("localhost", 0) == 0
    entry = [line for line in cron_file.read_text().splitlines() if line and not line.startswith("#")]
    assert len(entry) == 1 and entry[0].startswith("15 3 * * * root ")
    command = entry[0].split(" root ", 1)[1]
    sets = {p.name for p in BACKUPS.iterdir()}
    time.sleep(1.05)
    assert subprocess.run(command, shell=True, cwd="/", timeout=120, check=False).returncode == 0
    assert {p.name for p in BACKUPS.iterdir() if p.name.startswith("selfology_")} - sets, "no new set"

    systemd = dict(cron, backup_schedule="systemd")
    rc, stats = run_playbook(ROOT / "playbooks" / "backup_schedule.yml", systemd)
    assert rc == 0 and not cron_file.exists()
    assert sorted(p.name for p in units.iterdir()) == ["selfology-backup.service", "selfology-backup.timer"]
    verify = subprocess.run(["systemd-analyze", "verify", *(str(p) for p in units.iterdir())],
                            capture_output=True, text=True, timeout=60, check=False)
    assert verify.returncode == 0, verify.stderr
    rc, _stats = run_playbook(ROOT / "playbooks" / "backup_schedule.yml", dict(cron, backup_schedule="none"))
    assert rc == 0 and list(units.iterdir()) == []
