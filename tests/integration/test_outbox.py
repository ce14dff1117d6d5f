"""outbox_info and outbox_archive against the lab's PostgreSQL, each test in its own scratch database
(the lab's services use database n8n; nothing here touches it)."""
import json
import multiprocessing
import os
import secrets
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from psycopg import sql

from lab import PG, ROOT, pg_dsn, run_module, wait_for

from ansible_collections.selfology.ops.plugins.module_utils import outbox

pytestmark = pytest.mark.integration

SCHEMA_SQL = (ROOT / "lab" / "sql" / "schema.sql").read_text()
COLUMNS = "id, event_type, payload, status, created_at, published_at"


def admin_connect():
    """An autocommit connection to the maintenance database (retrying while the lab's PostgreSQL restarts)."""
    def attempt():
        try:
            return psycopg.connect(pg_dsn("postgres"), autocommit=True, connect_timeout=3)
        except psycopg.OperationalError:
            return None
    return wait_for(attempt, 60, interval=1, message="lab PostgreSQL accepting connections")


class Scratch:
    def __init__(self, name):
        self.name = name
        self.params = dict(PG, login_db=name)
        self.conn = psycopg.connect(pg_dsn(name), autocommit=True)

    def q(self, query, args=None):
        return self.conn.execute(query, args).fetchall()

    def one(self, query, args=None):
        return self.conn.execute(query, args).fetchone()[0]

    def rows(self, table="selfology.event_outbox"):
        return {r[0]: r for r in self.q(f"SELECT {COLUMNS} FROM {table} ORDER BY id")}

    def archive_exists(self):
        return self.one("SELECT to_regclass('selfology.event_outbox_archive') IS NOT NULL")

    def load(self, old_published=0, recent_published=0, pending=0, failed=0, edge=True):
        """Rows by kind; with edge, the ones a careless predicate would take: old pending and failed
        rows, a published row without published_at and published rows just inside the cutoff."""
        c = self.conn
        c.execute("""INSERT INTO selfology.event_outbox (event_type, payload, status, created_at, published_at)
            SELECT (ARRAY['answer.submitted','profile.updated','session.closed'])[1 + g %% 3],
                   jsonb_build_object('user_id', g, 'pad', repeat('x', 40)), 'published',
                   now() - interval '60 days' + g * interval '1 ms',
                   now() - interval '60 days' + g * interval '1 ms' + interval '2 s'
            FROM generate_series(1, %s) g""", [old_published])
        c.execute("""INSERT INTO selfology.event_outbox (event_type, status, created_at, published_at)
            SELECT 'answer.submitted', 'published', now() - interval '1 day', now() - interval '1 day' + interval '1 s'
            FROM generate_series(1, %s)""", [recent_published])
        c.execute("""INSERT INTO selfology.event_outbox (event_type, status, created_at)
            SELECT (ARRAY['answer.submitted','profile.updated'])[1 + g %% 2], 'pending',
                   now() - interval '2 hours' + g * interval '1 ms'
            FROM generate_series(1, %s) g""", [pending])
        c.execute("""INSERT INTO selfology.event_outbox (event_type, status, created_at)
            SELECT 'profile.updated', 'failed', now() - interval '3 hours' FROM generate_series(1, %s)""", [failed])
        if edge:
            c.execute("""INSERT INTO selfology.event_outbox (event_type, status, created_at, published_at) VALUES
                ('old.pending', 'pending', now() - interval '90 days', NULL),
                ('old.failed', 'failed', now() - interval '90 days', now() - interval '89 days'),
                ('published.no.time', 'published', now() - interval '90 days', NULL),
                ('just.inside', 'published', now() - interval '31 days', now() - interval '29 days 23 hours')""")
        c.execute("ANALYZE selfology.event_outbox")

    def eligible_ids(self, days=30):
        return {r[0] for r in self.q("SELECT id FROM selfology.event_outbox WHERE status = 'published' "
                                     "AND published_at < now() - make_interval(days => %s)", [days])}


@pytest.fixture
def scratch(lab):
    name = "outbox_test_" + secrets.token_hex(4)
    with admin_connect() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db = Scratch(name)
    db.conn.execute(SCHEMA_SQL)
    try:
        yield db
    finally:
        db.conn.close()
        with admin_connect() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def archive_args(db, **kw):
    return dict(db.params, **kw)


# ---------------------------------------------------------------- outbox_info

def test_info_on_an_empty_outbox(scratch):
    res = run_module("selfology.ops.outbox_info", scratch.params)
    assert not res.get("failed"), res
    assert res["changed"] is False
    assert res["counts"] == {"pending": 0, "published": 0, "failed": 0}
    assert res["total"] == 0
    assert res["oldest_pending_age_seconds"] is None
    assert res["pending_by_type"] == {}
    assert res["oldest_pending"] == []


def test_info_figures_match_direct_sql(scratch):
    scratch.load(old_published=3000, recent_published=500, pending=250, failed=7)
    res = run_module("selfology.ops.outbox_info", dict(scratch.params, oldest_limit=5))
    assert not res.get("failed"), res
    assert res["changed"] is False
    expected = dict(scratch.q("SELECT status, count(*) FROM selfology.event_outbox GROUP BY status"))
    assert res["counts"] == {"pending": expected["pending"], "published": expected["published"],
                             "failed": expected["failed"]}
    assert res["total"] == scratch.one("SELECT count(*) FROM selfology.event_outbox")
    assert res["pending_by_type"] == dict(scratch.q(
        "SELECT event_type, count(*) FROM selfology.event_outbox WHERE status = 'pending' GROUP BY 1"))
    oldest = scratch.q("SELECT id, event_type FROM selfology.event_outbox WHERE status = 'pending' "
                       "ORDER BY created_at, id LIMIT 5")
    assert [(r["id"], r["event_type"]) for r in res["oldest_pending"]] == [tuple(r) for r in oldest]
    assert res["oldest_pending"][0]["event_type"] == "old.pending"
    age = float(scratch.one("SELECT extract(epoch FROM now() - min(created_at)) FROM selfology.event_outbox "
                            "WHERE status = 'pending'"))
    assert abs(res["oldest_pending_age_seconds"] - age) < 30

    checked = run_module("selfology.ops.outbox_info", dict(scratch.params, oldest_limit=0), check=True)
    assert checked["changed"] is False and checked["counts"] == res["counts"]
    assert checked["oldest_pending"] == []


def test_info_pending_figures_use_the_partial_index(scratch):
    scratch.load(old_published=20000, pending=50)
    plan = "\n".join(r[0] for r in scratch.q(
        "EXPLAIN SELECT id, event_type, created_at FROM selfology.event_outbox WHERE status = 'pending' "
        "ORDER BY created_at, id LIMIT 10"))
    assert "event_outbox_pending_idx" in plan, plan


def test_info_bad_limit_fails_clearly(scratch):
    res = run_module("selfology.ops.outbox_info", dict(scratch.params, oldest_limit=-1))
    assert res.get("failed") and "oldest_limit" in res["msg"], res


# ---------------------------------------------------------------- outbox_archive

def test_archive_moves_exactly_the_old_published_rows(scratch, tmp_path):
    scratch.load(old_published=4000, recent_published=300, pending=200, failed=20)
    before = scratch.rows()
    eligible = scratch.eligible_ids()
    assert len(eligible) == 4000
    export = str(tmp_path / "outbox.jsonl.gz")

    checked = run_module("selfology.ops.outbox_archive", archive_args(scratch, older_than="30d", export_path=export),
                         check=True)
    assert not checked.get("failed"), checked
    assert checked["would_move"] == 4000 and checked["moved"] == 0 and checked["changed"] is True
    assert checked["archive_created"] is True
    assert scratch.rows() == before and not scratch.archive_exists() and not os.path.exists(export)

    res = run_module("selfology.ops.outbox_archive",
                     archive_args(scratch, older_than="30d", batch_size=700, export_path=export))
    assert not res.get("failed"), res
    assert res["changed"] is True and res["moved"] == 4000 and res["complete"] is True
    assert res["batches"] == 6 and res["archive_created"] is True
    assert res["exported"] == 4000 and res["rows_per_second"] > 0 and "would_move" not in res

    after = scratch.rows()
    archived = scratch.rows("selfology.event_outbox_archive")
    assert set(archived) == eligible                       # exactly the old published rows moved
    assert not set(after) & set(archived)                  # none is in both tables
    assert {**after, **archived} == before                 # nothing lost, nothing altered
    assert all(r[3] == "published" for r in archived.values())
    assert scratch.one("SELECT count(*) FROM selfology.event_outbox_archive WHERE archived_at IS NULL") == 0
    assert {"old.pending", "old.failed", "published.no.time", "just.inside"} <= {r[1] for r in after.values()}
    exported = outbox.read_export(export)
    assert sorted(r["id"] for r in exported) == sorted(eligible)

    again = run_module("selfology.ops.outbox_archive", archive_args(scratch, older_than="30d", export_path=export))
    assert not again.get("failed"), again
    assert again["changed"] is False and again["moved"] == 0 and again["batches"] == 0
    checked = run_module("selfology.ops.outbox_archive", archive_args(scratch, older_than="30d"), check=True)
    assert checked["changed"] is False and checked["would_move"] == 0
    assert len(outbox.read_export(export)) == 4000


def test_archive_table_has_the_outbox_column_types(scratch):
    scratch.load(old_published=10)
    res = run_module("selfology.ops.outbox_archive", archive_args(scratch, older_than="30d"))
    assert res["moved"] == 10, res
    types = dict(scratch.q("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                           "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                           ["selfology.event_outbox_archive"]))
    outbox_types = dict(scratch.q("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                                  "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                                  ["selfology.event_outbox"]))
    assert types == dict(outbox_types, archived_at="timestamp with time zone")
    assert scratch.one("SELECT count(*) FROM pg_index WHERE indrelid = 'selfology.event_outbox_archive'::regclass "
                       "AND indisprimary") == 1


@pytest.mark.parametrize("args, message", [
    (dict(older_than="30 days; drop table selfology.event_outbox"), "is not a duration"),
    (dict(older_than="30d", batch_size=0), "batch_size: 0 is out of range"),
    (dict(older_than="-30d"), "is not a duration"),
    (dict(older_than="0d"), "is out of range"),
    (dict(older_than="30d", lock_timeout="2 seconds"), "lock_timeout"),
    (dict(state="purged"), "retention"),
    (dict(older_than="30d", retention="365d"), "mutually exclusive"),
])
def test_bad_input_fails_clearly_and_changes_nothing(scratch, args, message):
    scratch.load(old_published=100, pending=10)
    before = scratch.rows()
    for check in (False, True):
        res = run_module("selfology.ops.outbox_archive", archive_args(scratch, **args), check=check)
        assert res.get("failed"), res
        assert message in res["msg"], res["msg"]
    assert scratch.rows() == before
    assert not scratch.archive_exists()


def test_an_outbox_column_the_archive_would_drop_is_refused(scratch):
    scratch.load(old_published=100)
    scratch.conn.execute("ALTER TABLE selfology.event_outbox ADD COLUMN trace_id text DEFAULT 'abc'")
    before = scratch.rows()
    res = run_module("selfology.ops.outbox_archive", archive_args(scratch, older_than="30d"))
    assert res.get("failed") and "trace_id" in res["msg"], res
    assert scratch.rows() == before and not scratch.archive_exists()


@pytest.mark.parametrize("export", [False, True])
def test_an_id_already_archived_with_other_contents_stops_the_batch(scratch, tmp_path, export):
    scratch.load(old_published=50, edge=False)
    args = archive_args(scratch, older_than="30d", **({"export_path": str(tmp_path / "x.jsonl.gz")} if export else {}))
    run_module("selfology.ops.outbox_archive", dict(args, max_batches=1, batch_size=10))
    # Put a different row with an archived id back into the outbox (a bad manual restore).
    scratch.conn.execute(f"INSERT INTO selfology.event_outbox ({COLUMNS}) SELECT id, 'changed', payload, status, "
                         "created_at, published_at FROM selfology.event_outbox_archive WHERE id = 3")
    before, archived_before = scratch.rows(), scratch.rows("selfology.event_outbox_archive")
    res = run_module("selfology.ops.outbox_archive", args)
    assert res["failed"], res
    assert "1 outbox rows have ids already in selfology.event_outbox_archive with different contents (first: 3)" \
        in res["msg"]
    assert scratch.rows() == before and scratch.rows("selfology.event_outbox_archive") == archived_before

    # An identical copy (the same event restored twice) is only removed from the outbox.
    scratch.conn.execute("DELETE FROM selfology.event_outbox WHERE id = 3")
    scratch.conn.execute(f"INSERT INTO selfology.event_outbox ({COLUMNS}) SELECT {COLUMNS} "
                         "FROM selfology.event_outbox_archive WHERE id = 3")
    res = run_module("selfology.ops.outbox_archive", args)
    assert not res["failed"], res
    assert res["moved"] == 41 and res["already_archived"] == 1
    assert scratch.rows("selfology.event_outbox_archive")[3] == archived_before[3]
    assert not scratch.eligible_ids()


def test_time_boxed_runs_add_up(scratch):
    scratch.load(old_published=1000, pending=10)
    eligible = scratch.eligible_ids()
    first = run_module("selfology.ops.outbox_archive",
                       archive_args(scratch, older_than="30d", batch_size=100, max_batches=3))
    assert first["moved"] == 300 and first["batches"] == 3 and first["complete"] is False, first
    checked = run_module("selfology.ops.outbox_archive",
                         archive_args(scratch, older_than="30d", batch_size=100, max_batches=2), check=True)
    assert checked["would_move"] == 200
    rest = run_module("selfology.ops.outbox_archive", archive_args(scratch, older_than="30d", batch_size=100))
    assert rest["moved"] == 700 and rest["complete"] is True, rest
    assert set(scratch.rows("selfology.event_outbox_archive")) == eligible


def test_purge_deletes_only_archived_rows_past_retention(scratch):
    scratch.load(old_published=1000, pending=10)
    run_module("selfology.ops.outbox_archive", archive_args(scratch, older_than="30d"))
    scratch.conn.execute("UPDATE selfology.event_outbox_archive SET archived_at = now() - interval '400 days' "
                         "WHERE id <= 300")
    outbox_before = scratch.rows()
    checked = run_module("selfology.ops.outbox_archive",
                         archive_args(scratch, state="purged", retention="365d"), check=True)
    assert checked["would_purge"] == 300 and checked["changed"] is True and checked["purged"] == 0, checked
    assert scratch.one("SELECT count(*) FROM selfology.event_outbox_archive") == 1000
    res = run_module("selfology.ops.outbox_archive",
                     archive_args(scratch, state="purged", retention="365d", batch_size=128))
    assert not res.get("failed"), res
    assert res["purged"] == 300 and res["batches"] == 3 and res["changed"] is True
    assert scratch.one("SELECT min(id) FROM selfology.event_outbox_archive") == 301
    assert scratch.one("SELECT count(*) FROM selfology.event_outbox_archive") == 700
    assert scratch.rows() == outbox_before
    again = run_module("selfology.ops.outbox_archive", archive_args(scratch, state="purged", retention="365d"))
    assert again["changed"] is False and again["purged"] == 0


def test_purge_without_an_archive_changes_nothing(scratch):
    res = run_module("selfology.ops.outbox_archive", archive_args(scratch, state="purged", retention="365d"))
    assert not res.get("failed") and res["changed"] is False and res["purged"] == 0, res
    assert not scratch.archive_exists()


# ---------------------------------------------------------------- interruption

RUNNER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.selfology.ops.plugins.module_utils import outbox
params, pause_at = json.loads(sys.argv[2]), json.loads(sys.argv[3])
params.setdefault("connect_timeout", 5)
def progress(event, info):
    print(event, info["batch"], flush=True)
    if [event, info["batch"]] == pause_at:
        time.sleep(600)
outbox.run_archive(params, progress=progress)
print("done", flush=True)
"""


def run_and_kill(db, params, kill_after, pause_at=None):
    """Runs the archive logic in a subprocess; SIGKILLs it once it has printed kill_after; returns
    the events it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(ROOT / ".collections"), json.dumps(params), json.dumps(pause_at)],
        stdout=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line.split())
            if seen[-1] == kill_after:
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait()
    assert kill_after in seen, seen
    # The server notices the dead client and rolls its open transaction back.
    wait_for(lambda: db.one("SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = current_database() "
                            "AND application_name = 'selfology.ops outbox_archive'"), 30,
             message="killed run's session gone")
    return seen


def assert_nothing_lost(db, before):
    after, archived = db.rows(), db.rows("selfology.event_outbox_archive")
    assert not set(after) & set(archived)
    assert {**after, **archived} == before
    return after, archived


def test_killing_the_archive_mid_run_loses_nothing_and_a_rerun_completes(scratch, tmp_path):
    scratch.load(old_published=60000, pending=100)
    before, eligible = scratch.rows(), scratch.eligible_ids()
    export = str(tmp_path / "outbox.jsonl.gz")
    params = archive_args(scratch, older_than="30d", batch_size=1000, export_path=export)
    run_and_kill(scratch, params, ["committed", "3"])
    archived = assert_nothing_lost(scratch, before)[1]
    assert 3000 <= len(archived) < 60000 and set(archived) <= eligible
    assert set(archived) <= {r["id"] for r in outbox.read_export(export)}

    res = run_module("selfology.ops.outbox_archive", dict(params, batch_size=5000))
    assert not res.get("failed"), res
    assert res["complete"] is True and res["moved"] == 60000 - len(archived)
    archived = assert_nothing_lost(scratch, before)[1]
    assert set(archived) == eligible
    exported = [r["id"] for r in outbox.read_export(export)]
    assert set(exported) == eligible


def test_killed_between_export_and_commit_the_batch_is_exported_again(scratch, tmp_path):
    scratch.load(old_published=5000, pending=10, edge=False)
    before, eligible = scratch.rows(), scratch.eligible_ids()
    export = str(tmp_path / "outbox.jsonl.gz")
    params = archive_args(scratch, older_than="30d", batch_size=1000, export_path=export)
    run_and_kill(scratch, params, ["exported", "3"], pause_at=["exported", 3])
    archived = assert_nothing_lost(scratch, before)[1]
    assert len(archived) == 2000                          # batch 3 was exported, never committed
    assert len(outbox.read_export(export)) == 3000

    res = run_module("selfology.ops.outbox_archive", dict(params))
    assert not res.get("failed"), res
    assert res["moved"] == 3000 and res["exported"] == 3000 and res["export_torn_bytes"] == 0
    archived = assert_nothing_lost(scratch, before)[1]
    ids = [r["id"] for r in outbox.read_export(export)]
    assert set(ids) == eligible == set(archived)
    assert len(ids) == 6000 and len(set(ids)) == 5000      # batch 3 twice, identical copies


def test_a_second_run_waits_for_the_first(scratch):
    scratch.load(old_published=3000, edge=False)
    params = archive_args(scratch, older_than="30d", batch_size=1000, lock_timeout="500ms")
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(ROOT / ".collections"), json.dumps(params), json.dumps(["committed", 1])],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().split() == ["exported", "1"]
        assert proc.stdout.readline().split() == ["committed", "1"]
        res = run_module("selfology.ops.outbox_archive", params)
        assert res.get("failed") and "another outbox_archive run" in res["msg"], res
    finally:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------- a concurrent writer

def writer(dsn, old_max_id, stop, ready, results):
    """The relay's and the services' traffic: insert a pending event, publish the oldest pending one,
    touch an old published row; every statement timed (autocommit, one statement each)."""
    import random
    rng = random.Random(7)
    latencies, inserted, errors = [], [], []
    with psycopg.connect(dsn, autocommit=True) as conn:
        ready.set()
        while not stop.is_set():
            for kind, query, args in (
                    ("insert", "INSERT INTO selfology.event_outbox (event_type, payload) VALUES "
                               "('answer.submitted', '{\"w\": 1}') RETURNING id", None),
                    ("publish", "UPDATE selfology.event_outbox SET status = 'published', published_at = now() "
                                "WHERE id = (SELECT id FROM selfology.event_outbox WHERE status = 'pending' "
                                "ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id", None),
                    ("touch_old", "UPDATE selfology.event_outbox SET payload = payload WHERE id = %s RETURNING id",
                     [rng.randint(1, old_max_id)])):
                started = time.perf_counter()
                try:
                    row = conn.execute(query, args).fetchone()
                except psycopg.Error as exc:
                    errors.append(str(exc))
                    continue
                latencies.append((kind, time.perf_counter() - started))
                if kind == "insert":
                    inserted.append(row[0])
    results.send(dict(latencies=latencies, inserted=inserted, errors=errors))


def test_a_concurrent_writer_keeps_working_while_the_archive_runs(scratch):
    scratch.load(old_published=200000, pending=10000, edge=False)
    before = scratch.rows()
    old_max = max(scratch.eligible_ids())
    ctx = multiprocessing.get_context("fork")
    stop, ready = ctx.Event(), ctx.Event()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=writer, args=(pg_dsn(scratch.name), old_max, stop, ready, send))
    proc.start()
    try:
        assert ready.wait(30)
        time.sleep(0.5)
        res = run_module("selfology.ops.outbox_archive", archive_args(scratch, older_than="30d"))
        time.sleep(0.5)
    finally:
        stop.set()
        got = receive.recv() if receive.poll(60) else None
        proc.join(30)
    assert got is not None, "the writer did not report"
    assert not res.get("failed"), res
    assert not got["errors"], got["errors"][:3]
    latencies = sorted(entry[1] for entry in got["latencies"])
    worst = latencies[-1]
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"\narchive: {res['moved']} rows in {res['duration_seconds']} s ({res['rows_per_second']} rows/s); "
          f"writer: {len(latencies)} statements, worst {worst * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    assert len(latencies) > 100, "the writer hardly ran"
    assert worst <= 0.200, f"worst writer statement took {worst * 1000:.0f} ms"

    # Nothing lost: every row that ever existed is in exactly one of the two tables.
    after, archived = scratch.rows(), scratch.rows("selfology.event_outbox_archive")
    assert not set(after) & set(archived)
    assert set(after) | set(archived) == set(before) | set(got["inserted"])
    assert all(r[3] == "published" for r in archived.values())
    # A row the writer had locked at that instant was skipped, not waited for; the next run takes it.
    left = scratch.eligible_ids()
    assert len(left) <= 5 and res["moved"] == 200000 - len(left)
    rest = run_module("selfology.ops.outbox_archive", archive_args(scratch, older_than="30d"))
    assert rest["moved"] == len(left) and not scratch.eligible_ids()
