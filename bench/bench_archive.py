#!/usr/bin/env python
"""Benchmark: outbox_archive's batched move against the runbook's single DELETE, with a concurrent writer.

In a scratch database on the lab's PostgreSQL (never the services' database n8n), loads N published
rows older than 30 days and M pending rows, then for each variant:
  - starts a writer process doing what the services and the relay do, one autocommit statement at a
    time, each one timed: insert a pending event, publish the oldest pending event, and update one
    random old event row (a service or an operator touching an old event, e.g. a manual re-publish);
  - runs the variant: outbox_archive's logic (module_utils, batches of 5000), the same with an export
    file, or the runbook's `DELETE FROM selfology.event_outbox WHERE status = 'published' AND
    published_at < now() - interval '30 days'` in one statement;
  - reports the variant's throughput (rows/s) and the writer's worst and p99 statement latency while
    it ran, per kind of statement and overall.
The data is reloaded identically before each variant. Not a test: nothing is asserted.
Prints a table and writes bench/reports/archive.json.

    python bench/bench_archive.py [--rows 1000000] [--pending 10000] [--batch-size 5000]
"""
import argparse
import datetime
import json
import math
import multiprocessing
import os
import platform
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / ".collections"))

from lab import PG, pg_dsn  # noqa: E402

from ansible_collections.selfology.ops.plugins.module_utils import outbox  # noqa: E402

SCHEMA_SQL = (ROOT / "lab" / "sql" / "schema.sql").read_text()
NAIVE_DELETE = ("DELETE FROM selfology.event_outbox WHERE status = 'published' "
                "AND published_at < now() - interval '30 days'")
KINDS = ("insert", "publish", "touch_old")


def load(conn, rows, pending):
    conn.execute("DROP TABLE IF EXISTS selfology.event_outbox_archive")
    conn.execute("TRUNCATE selfology.event_outbox RESTART IDENTITY")
    conn.execute("""INSERT INTO selfology.event_outbox (event_type, payload, status, created_at, published_at)
        SELECT (ARRAY['answer.submitted','profile.updated','session.closed'])[1 + g %% 3],
               jsonb_build_object('user_id', g %% 50000, 'question_id', g %% 700, 'answer', repeat('x', 60)),
               'published',
               now() - interval '60 days' + g * interval '2 ms',
               now() - interval '60 days' + g * interval '2 ms' + interval '1 s'
        FROM generate_series(1, %s) g""", [rows])
    conn.execute("""INSERT INTO selfology.event_outbox (event_type, payload, status, created_at)
        SELECT (ARRAY['answer.submitted','profile.updated'])[1 + g %% 2], jsonb_build_object('user_id', g),
               'pending', now() - interval '10 minutes' + g * interval '10 ms'
        FROM generate_series(1, %s) g""", [pending])
    conn.execute("VACUUM ANALYZE selfology.event_outbox")
    conn.execute("CHECKPOINT")


def writer(dsn, old_max_id, stop, ready, results):
    """Timed statements until stop is set; sends [(started, kind, seconds)] and the error count."""
    rng = random.Random(11)
    samples, errors = [], 0
    statements = (
        ("insert", "INSERT INTO selfology.event_outbox (event_type, payload) "
                   "VALUES ('answer.submitted', '{\"bench\": 1}')", None),
        ("publish", "UPDATE selfology.event_outbox SET status = 'published', published_at = now() "
                    "WHERE id = (SELECT id FROM selfology.event_outbox WHERE status = 'pending' "
                    "ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)", None),
        ("touch_old", "UPDATE selfology.event_outbox SET payload = payload WHERE id = %s", "old"),
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        ready.set()
        while not stop.is_set():
            for kind, query, args in statements:
                started = time.monotonic()
                try:
                    conn.execute(query, [rng.randint(1, old_max_id)] if args else None)
                except psycopg.Error:
                    errors += 1
                    continue
                samples.append((started, kind, time.monotonic() - started))
    results.send(dict(samples=samples, errors=errors))


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] if ordered else None


def latency_figures(samples):
    def figures(values):
        return dict(statements=len(values),
                    worst_ms=round(max(values) * 1000, 2) if values else None,
                    p99_ms=round(percentile(values, 0.99) * 1000, 2) if values else None,
                    p50_ms=round(percentile(values, 0.50) * 1000, 2) if values else None)
    out = dict(all=figures([s[2] for s in samples]))
    for kind in KINDS:
        out[kind] = figures([s[2] for s in samples if s[1] == kind])
    return out


def with_writer(dsn, old_max_id, action):
    """Runs action() while the writer runs; returns (action's result, seconds, writer figures for the
    statements that started while action ran, writer statements per second then)."""
    ctx = multiprocessing.get_context("fork")
    stop, ready = ctx.Event(), ctx.Event()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=writer, args=(dsn, old_max_id, stop, ready, send))
    proc.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the writer did not start")
        time.sleep(1.0)
        started = time.monotonic()
        result = action()
        ended = time.monotonic()
        time.sleep(0.5)
    finally:
        stop.set()
        got = receive.recv() if receive.poll(120) else dict(samples=[], errors=-1)
        proc.join(30)
    window = [s for s in got["samples"] if started <= s[0] <= ended]
    baseline = [s for s in got["samples"] if s[0] < started]
    seconds = ended - started
    return result, seconds, dict(during=latency_figures(window), before=latency_figures(baseline),
                                 statements_per_second=round(len(window) / seconds, 1) if seconds else None,
                                 errors=got["errors"])


def run_variant(name, conn, dsn, params, args, export_dir):
    load(conn, args.rows, args.pending)
    old_max_id = args.rows
    if name == "naive":
        def action():
            with psycopg.connect(dsn, autocommit=True) as naive:
                return dict(moved=naive.execute(NAIVE_DELETE).rowcount, batches=1)
    else:
        export = os.path.join(export_dir, "outbox.jsonl.gz") if name == "batched_export" else None

        def action():
            return outbox.run_archive(dict(params, older_than="30d", batch_size=args.batch_size,
                                           export_path=export))
    result, seconds, writer_figures = with_writer(dsn, old_max_id, action)
    left = conn.execute("SELECT count(*) FROM selfology.event_outbox WHERE status = 'published' "
                        "AND published_at < now() - interval '30 days'").fetchone()[0]
    archived = 0
    if conn.execute("SELECT to_regclass('selfology.event_outbox_archive') IS NOT NULL").fetchone()[0]:
        archived = conn.execute("SELECT count(*) FROM selfology.event_outbox_archive").fetchone()[0]
    return dict(
        rows=result["moved"], batches=result["batches"], seconds=round(seconds, 3),
        rows_per_second=round(result["moved"] / seconds, 1), rows_left=left, rows_archived=archived,
        export_bytes=os.path.getsize(export) if name == "batched_export" else None,
        writer=writer_figures,
    )


def time_outbox_info(conn, params, args):
    load(conn, args.rows, args.pending)
    timings = []
    while len(timings) < 5:
        started = time.monotonic()
        outbox.outbox_info(dict(params, oldest_limit=10))
        timings.append(time.monotonic() - started)
    return dict(median_ms=round(sorted(timings)[2] * 1000, 1), runs_ms=[round(t * 1000, 1) for t in timings])


def ratio(a, b):
    return round(a / b, 1) if a and b else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="published rows older than 30 days")
    parser.add_argument("--pending", type=int, default=10_000, help="pending rows")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--report", type=Path, default=ROOT / "bench" / "reports" / "archive.json")
    args = parser.parse_args()

    name = "outbox_bench_" + secrets.token_hex(4)
    admin = psycopg.connect(pg_dsn("postgres"), autocommit=True)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = pg_dsn(name)
    params = dict(PG, login_db=name, connect_timeout=5)
    runs = {}
    try:
        with psycopg.connect(dsn, autocommit=True) as conn, tempfile.TemporaryDirectory() as export_dir:
            conn.execute(SCHEMA_SQL)
            server = conn.execute("SHOW server_version").fetchone()[0]
            print(f"scratch database {name}: {args.rows:,} published rows older than 30 days, "
                  f"{args.pending:,} pending; batch size {args.batch_size}", flush=True)
            info = time_outbox_info(conn, params, args)
            print(f"outbox_info on {args.rows + args.pending:,} rows: median {info['median_ms']} ms", flush=True)
            for variant in ("batched", "batched_export", "naive"):
                print(f"running {variant} ...", flush=True)
                runs[variant] = run_variant(variant, conn, dsn, params, args, export_dir)
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()

    b, n = runs["batched"], runs["naive"]
    ratios = dict(
        throughput_batched_over_naive=round(b["rows_per_second"] / n["rows_per_second"], 2),
        writer_worst_naive_over_batched=ratio(n["writer"]["during"]["all"]["worst_ms"],
                                              b["writer"]["during"]["all"]["worst_ms"]),
        writer_p99_naive_over_batched=ratio(n["writer"]["during"]["all"]["p99_ms"],
                                            b["writer"]["during"]["all"]["p99_ms"]),
        touch_old_worst_naive_over_batched=ratio(n["writer"]["during"]["touch_old"]["worst_ms"],
                                                 b["writer"]["during"]["touch_old"]["worst_ms"]),
    )
    report = dict(
        generated_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        host=dict(python=platform.python_version(), cpus=os.cpu_count(), postgres=server),
        dataset=dict(old_published=args.rows, pending=args.pending, batch_size=args.batch_size),
        outbox_info=info, runs=runs, ratios=ratios,
    )
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(f"{'variant':<16}{'rows':>10}{'batches':>9}{'seconds':>9}{'rows/s':>11}"
          f"{'writer stmts':>14}{'stmts/s':>9}{'worst ms':>10}{'p99 ms':>9}{'touch_old worst':>17}{'insert worst':>14}")
    for variant, run in runs.items():
        during = run["writer"]["during"]
        print(f"{variant:<16}{run['rows']:>10,}{run['batches']:>9}{run['seconds']:>9}{run['rows_per_second']:>11,.0f}"
              f"{during['all']['statements']:>14,}{run['writer']['statements_per_second']:>9}"
              f"{during['all']['worst_ms']:>10}{during['all']['p99_ms']:>9}"
              f"{during['touch_old']['worst_ms']:>17}{during['insert']['worst_ms']:>14}")
    before = b["writer"]["before"]["all"]
    print(f"\nwriter before the batched run (idle baseline): worst {before['worst_ms']} ms, p99 {before['p99_ms']} ms")
    print(f"outbox_info on {args.rows + args.pending:,} rows: median {info['median_ms']} ms")
    print("ratios: throughput batched/naive {throughput_batched_over_naive}x; writer worst naive/batched "
          "{writer_worst_naive_over_batched}x; writer p99 naive/batched {writer_p99_naive_over_batched}x; "
          "touch_old worst naive/batched {touch_old_worst_naive_over_batched}x".format(**ratios))
    print("(the naive DELETE discards the rows; the batched runs also insert them into the archive)")
    print(f"report: {args.report}")


if __name__ == "__main__":
    main()
