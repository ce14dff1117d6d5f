"""selfops check daily and selfops maintenance against the lab.

The backlog test stops every running outbox relay (both slots: a standby relay would drain the
outbox too) and always starts them again in a finally; the rows it adds are published by the
relays once they are back. The FLUSHDB tests use Redis db 9 only, never the lab's db 0.
Another session may deploy or switch slots meanwhile: nothing here assumes which slot is active.
"""
import json
import re
import time
import urllib.parse
import urllib.request

import pytest
import redis

from conftest import selfops
from lab import REDIS, ROOT, relays_stopped_with_backlog, running_relays, wait_for

pytestmark = pytest.mark.integration

BACKLOG_TYPE = "selfops.test.backlog"
ARCHIVE_TYPE = "selfops.test.archive"
SCRATCH_DB = 9
MAINTENANCE_LOG = ROOT / ".lab" / "state" / "maintenance.log"
TARGET = f"{REDIS['redis_host']}:{REDIS['redis_port']}/{SCRATCH_DB}"


def prometheus_pending():
    """The outbox backlog as Prometheus sees it (the dashboards check's figure)."""
    url = "http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": "max(selfology_outbox_pending)"})
    with urllib.request.urlopen(url, timeout=10) as response:
        result = json.loads(response.read())["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def critical_alerts():
    """The names of the critical alerts active in the lab's Alertmanager."""
    with urllib.request.urlopen("http://127.0.0.1:9093/api/v2/alerts?active=true&silenced=false&inhibited=false",
                                timeout=10) as response:
        return [a["labels"]["alertname"] for a in json.loads(response.read()) if a["labels"].get("severity") == "critical"]


def checks_by_name(payload):
    report = payload["hosts"]["localhost"]
    return report, {c["name"]: c for c in report["checks"]}


def pending_of(pg, event_type):
    return pg.execute("SELECT count(*) FROM selfology.event_outbox WHERE event_type = %s AND status = 'pending'",
                      [event_type]).fetchone()[0]


def maintenance_log():
    if not MAINTENANCE_LOG.exists():
        return []
    return [json.loads(line) for line in MAINTENANCE_LOG.read_text().splitlines() if line.startswith("{")]


# check daily ------------------------------------------------------------------------------------

def test_a_backlog_with_the_relay_stopped_is_critical_and_clears_once_it_runs_again(pg):
    with relays_stopped_with_backlog(pg, 1200, BACKLOG_TYPE):
        started = time.monotonic()
        proc = selfops("check", "daily", "-q", check=False)
        elapsed = time.monotonic() - started
        others = [r.name for r in running_relays()]
        assert not others, f"{', '.join(others)} started during the test: nothing else may run against the lab"
    out = proc.stdout
    assert proc.returncode == 2, out + proc.stderr
    pending = int(re.search(r"Check pending events:\s+(\d+) pending", out).group(1))
    assert pending >= 1200
    verdict = out.strip().splitlines()[-1]
    assert verdict.startswith("❌ CRITICAL:") and "outbox (critical)" in verdict
    # The stopped relay of the active slot is named by the services check.
    assert "services (critical)" in verdict and "outbox-relay" in out
    report = re.search(r"Report: (\S+)", out).group(1)
    assert "| outbox | critical |" in open(report, encoding="utf-8").read()
    print(f"check daily with the relay stopped: {elapsed:.1f}s, exit {proc.returncode}")

    # Once the relays run again they publish the backlog; the outbox check is ok again.
    wait_for(lambda: pending_of(pg, BACKLOG_TYPE) == 0, 60, message="the relay publishing the backlog")
    wait_for(lambda: all(r.health == "healthy" for r in running_relays()) and running_relays(), 60,
             message="the relays healthy again")
    # ... and once Prometheus has seen it, the alerts of the stop (EventProcessingBacklog, ServiceDown of
    # the relay) resolve.
    wait_for(lambda: prometheus_pending() < 100 and not critical_alerts(), 90,
             message="Prometheus seeing the backlog gone and the critical alerts resolved")
    after = selfops("check", "daily", "--json", check=False)
    payload = json.loads(after.stdout)
    report, by_name = checks_by_name(payload)
    assert by_name["outbox"]["status"] == "ok", by_name["outbox"]
    assert after.returncode in (0, 1), report["failing"]
    assert "outbox" not in report["failing"]
    if after.returncode == 1:  # only an unrelated warning (say, an error line a deploy left in a log)
        assert report["critical"] == [], report["failing"]
    pg.execute("DELETE FROM selfology.event_outbox WHERE event_type = %s AND status = 'published'", [BACKLOG_TYPE])


def test_check_daily_writes_a_markdown_report_with_every_check(lab):
    proc = selfops("check", "daily", "--json", check=False)
    report, by_name = checks_by_name(json.loads(proc.stdout))
    assert proc.returncode == report["exit_code"] == {"ok": 0, "warning": 1, "critical": 2}[report["status"]]
    assert list(by_name) == ["services", "dashboards", "outbox", "stream", "consumers", "logs", "redis_memory", "alerts"]
    # The lab's Prometheus and Alertmanager answer: both checks read them.
    assert by_name["alerts"]["figures"]["configured"] and by_name["dashboards"]["figures"]["configured"]
    assert "Event Bus pending" in by_name["dashboards"]["message"]
    assert re.fullmatch(r".*/reports/daily-\d{8}-\d{6}\.md", report["report_path"])
    text = open(report["report_path"], encoding="utf-8").read()
    assert text.startswith("# Daily check - localhost - ")
    assert "## Daily Checklist" in text and "- [x] Check pending events - **" in text
    assert by_name["redis_memory"]["figures"]["mem_fragmentation_ratio"] is not None
    assert by_name["logs"]["figures"]["containers"], "the log scan found the service containers"


# weekly maintenance ------------------------------------------------------------------------------

def test_weekly_maintenance_archives_old_published_rows_and_a_second_run_has_nothing_to_do(pg):
    rows = pg.execute("""
        INSERT INTO selfology.event_outbox (event_type, payload, status, created_at, published_at)
        VALUES (%(t)s, '{"case": "old"}', 'published', now() - interval '41 days', now() - interval '40 days'),
               (%(t)s, '{"case": "old"}', 'published', now() - interval '41 days', now() - interval '40 days'),
               (%(t)s, '{"case": "old"}', 'published', now() - interval '41 days', now() - interval '35 days'),
               (%(t)s, '{"case": "recent"}', 'published', now() - interval '11 days', now() - interval '10 days'),
               (%(t)s, '{"case": "failed"}', 'failed', now() - interval '41 days', NULL)
        RETURNING id, payload->>'case'""", {"t": ARCHIVE_TYPE}).fetchall()
    old = sorted(i for i, case in rows if case == "old")
    kept = sorted(i for i, case in rows if case != "old")
    try:
        dry = selfops("maintenance", "weekly", "-q", "--check")
        assert re.search(r"would archive [3-9]\d* events", dry.stdout), dry.stdout
        assert sorted(r[0] for r in pg.execute(
            "SELECT id FROM selfology.event_outbox WHERE id = ANY(%s)", [old]).fetchall()) == old

        first = selfops("maintenance", "weekly", "-q")
        moved = int(re.search(r"archived (\d+) events published more than 30d ago", first.stdout).group(1))
        assert moved >= 3
        assert "VACUUM ANALYZE: selfology.event_outbox, selfology.personality_profiles, selfology.trait_history" \
            in first.stdout
        assert "Redis memory check:" in first.stdout
        in_outbox = {r[0] for r in pg.execute("SELECT id FROM selfology.event_outbox WHERE id = ANY(%s)",
                                              [old + kept]).fetchall()}
        in_archive = {r[0] for r in pg.execute("SELECT id FROM selfology.event_outbox_archive WHERE id = ANY(%s)",
                                               [old + kept]).fetchall()}
        assert in_archive == set(old) and in_outbox == set(kept)
        assert any(e["action"] == "maintenance-weekly" and e["details"]["moved"] == moved
                   for e in maintenance_log()[-5:])

        second = selfops("maintenance", "weekly", "--json")
        payload = json.loads(second.stdout)["hosts"]["localhost"]
        assert payload["archive"]["moved"] == 0 and payload["archive"]["changed"] is False
        assert payload["vacuum"]["changed"] is False
        human = selfops("maintenance", "weekly", "-q")
        assert "nothing to archive (no event published more than 30d ago)" in human.stdout
    finally:
        pg.execute("DELETE FROM selfology.event_outbox WHERE event_type = %s", [ARCHIVE_TYPE])
        pg.execute("DELETE FROM selfology.event_outbox_archive WHERE event_type = %s", [ARCHIVE_TYPE])


# disk -------------------------------------------------------------------------------------------

def test_disk_reports_sizes_and_volume_and_runs_vacuum_full_only_when_asked(lab):
    proc = selfops("maintenance", "disk", "-q")
    out = proc.stdout
    assert re.search(r"✅ Volume /var/lib/postgresql/data: \S+ of \S+ used \([\d.]+%\)", out), out
    assert re.search(r"^    event_outbox\s+\d+ (bytes|kB|MB|GB)", out, re.M)
    assert "VACUUM FULL not run: pass --vacuum-full" in out

    full = selfops("maintenance", "disk", "-q", "--vacuum-full")
    assert "VACUUM FULL selfology.event_outbox done" in full.stdout
    assert re.search(r"event_outbox\s+\d+ \S+  -> \d+ \S+ after VACUUM FULL", full.stdout)
    assert maintenance_log()[-1]["action"] == "maintenance-vacuum-full"
    assert maintenance_log()[-1]["outcome"] == "success"


def test_vacuum_full_gives_up_on_a_held_lock_instead_of_queueing(pg):
    import psycopg
    from lab import pg_dsn
    with psycopg.connect(pg_dsn()) as holder:
        # An open transaction that has read the outbox holds ACCESS SHARE until it ends.
        holder.execute("SELECT count(*) FROM selfology.event_outbox")
        started = time.monotonic()
        proc = selfops("maintenance", "disk", "-q", "--vacuum-full", "-e", "maintenance_vacuum_full_lock_timeout=1s",
                       check=False)
        elapsed = time.monotonic() - started
        holder.rollback()
    assert proc.returncode == 1
    assert "lock timeout" in proc.stderr, proc.stderr
    assert maintenance_log()[-1]["action"] == "maintenance-vacuum-full"
    assert maintenance_log()[-1]["outcome"] == "failed"
    assert elapsed < 30


# FLUSHDB ----------------------------------------------------------------------------------------

@pytest.fixture
def scratch(lab):
    client = redis.Redis(host=REDIS["redis_host"], port=REDIS["redis_port"], db=SCRATCH_DB, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_flushdb_refuses_without_the_exact_confirmation_and_check_mode_flushes_nothing(scratch):
    scratch.mset({"selfops:test:a": "1", "selfops:test:b": "2", "selfops:test:c": "3"})

    bare = selfops("maintenance", "redis-flushdb", "--db", str(SCRATCH_DB), "-q", check=False)
    assert bare.returncode == 1
    assert f"Keys in db {SCRATCH_DB} (DBSIZE): 3" in bare.stdout
    assert f"The event stream selfology:events is not in db {SCRATCH_DB}" in bare.stdout
    assert f"pass --confirm-flushdb {TARGET}" in bare.stdout
    assert "no confirmation was given" in bare.stderr
    assert scratch.dbsize() == 3

    wrong = selfops("maintenance", "redis-flushdb", "--db", str(SCRATCH_DB), "-q",
                    "--confirm-flushdb", f"{REDIS['redis_host']}:{REDIS['redis_port']}/0", check=False)
    assert wrong.returncode == 1 and "does not name it" in wrong.stderr
    assert scratch.dbsize() == 3
    assert maintenance_log()[-1]["outcome"] == "refused"

    dry = selfops("maintenance", "redis-flushdb", "--db", str(SCRATCH_DB), "-q", "--check", "--confirm-flushdb", TARGET)
    assert f"Would flush db {SCRATCH_DB}: 3 keys" in dry.stdout
    assert scratch.dbsize() == 3

    done = selfops("maintenance", "redis-flushdb", "--db", str(SCRATCH_DB), "-q", "--confirm-flushdb", TARGET)
    assert f"Flushed db {SCRATCH_DB}: 3 keys" in done.stdout
    assert scratch.dbsize() == 0
    assert maintenance_log()[-1]["outcome"] == "success"


def test_flushdb_refuses_while_the_event_stream_holds_pending_entries(scratch):
    scratch.set("selfops:test:other", "x")
    for n in range(3):
        scratch.xadd("selfology:events", {"outbox_id": n, "event_type": BACKLOG_TYPE})
    scratch.xgroup_create("selfology:events", "analysis-workers", id="0")
    scratch.xreadgroup("analysis-workers", "selfops-test", {"selfology:events": ">"}, count=1)  # 1 pending, 2 undelivered

    refused = selfops("maintenance", "redis-flushdb", "--db", str(SCRATCH_DB), "-q", "--confirm-flushdb", TARGET,
                      check=False)
    assert refused.returncode == 1
    assert f"in db {SCRATCH_DB} with 3 entries, 1 pending and 2 undelivered" in refused.stdout
    assert "--allow-pending-events" in refused.stdout
    assert scratch.dbsize() == 2

    forced = selfops("maintenance", "redis-flushdb", "--db", str(SCRATCH_DB), "-q", "--confirm-flushdb", TARGET,
                     "--allow-pending-events")
    assert f"Flushed db {SCRATCH_DB}: 2 keys" in forced.stdout
    assert scratch.dbsize() == 0
    assert maintenance_log()[-1]["details"]["allow_pending"] is True
