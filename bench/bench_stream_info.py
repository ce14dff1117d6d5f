#!/usr/bin/env python
"""Benchmark: stream_info's logic against the raw calls an operator would type, on big streams.

On the lab's Redis, for streams of 10k, 100k and 1M entries (keys bench:streams:<uuid>, removed
afterwards; selfology:events is never touched), each with three consumer groups at different
positions (workers from the start, audit from the middle, replay from 90%) holding up to 10,000
pending entries each, times:
  - stream_info: module_utils.streams.stream_info on an open connection (two round trips: the
    group names, then one MULTI with TIME, XINFO STREAM, XINFO GROUPS and, per group, XINFO
    CONSUMERS and the XPENDING summary), and "cold", opening the connection (PING) first;
  - baseline: what redis-cli would run, one command at a time, no pipelining: XINFO STREAM,
    XINFO GROUPS, then XPENDING (summary) per group;
  - baseline + consumers: the same plus XINFO CONSUMERS per group, which stream_info also reads.
Each figure is the median of --runs runs. Not a test: nothing is asserted.
Prints a table and writes bench/reports/stream_info.json.

    python bench/bench_stream_info.py [--sizes 10000,100000,1000000] [--pending 10000] [--runs 15]
"""
import argparse
import json
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / ".collections"))

from lab import REDIS  # noqa: E402

from ansible_collections.selfology.ops.plugins.module_utils import redis_connection, streams  # noqa: E402

PARAMS = dict(REDIS, redis_password=None, redis_db=0, redis_tls=False, redis_timeout=30.0)
GROUPS = (("workers", 0.0, 3), ("audit", 0.5, 2), ("replay", 0.9, 1))  # name, start position, consumers
BUILD = """
local last
for i = 1, tonumber(ARGV[1]) do
  last = redis.call('XADD', KEYS[1], '*', 'outbox_id', ARGV[2] + i, 'event_type', 'answer.submitted',
                    'payload', '{"user_id": 42, "trait": "openness", "value": 0.7}')
end
return last
"""


def build(client, key, entries, pending, chunk):
    """Entries by Lua in chunks (Redis is never blocked for long); groups at their positions, each
    reading up to `pending` entries over its consumers and acknowledging none."""
    script = client.register_script(BUILD)
    boundaries = {}
    for start in range(0, entries, chunk):
        count = min(chunk, entries - start)
        boundaries[start + count] = script(keys=[key], args=[count, start])
    for name, position, consumers in GROUPS:
        at = int(entries * position) // chunk * chunk
        client.xgroup_create(key, name, id=boundaries[at] if at else "0")
        left = pending
        for n in range(consumers):
            count = left // (consumers - n)
            if count:
                client.xreadgroup(name, "%s-%d" % (name, n), {key: ">"}, count=count)
            left -= count


def baseline(client, key, with_consumers=False):
    client.xinfo_stream(key)
    for group in client.xinfo_groups(key):
        client.xpending(key, group["name"])
        if with_consumers:
            client.xinfo_consumers(key, group["name"])


def timed(func, runs):
    func()  # warm-up (script cache, connection)
    samples = []
    while len(samples) < runs:
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median": round(statistics.median(samples), 3), "min": round(min(samples), 3),
            "max": round(max(samples), 3)}


def bench_size(client, entries, pending, runs):
    key = "bench:streams:%s" % uuid.uuid4().hex
    try:
        started = time.perf_counter()
        build(client, key, entries, pending, chunk=min(50000, max(1000, entries // 20)))
        build_s = time.perf_counter() - started
        info = streams.stream_info(client, key, 300000)
        warm = timed(lambda: streams.stream_info(client, key, 300000), runs)

        def cold():
            fresh = redis_connection.connect(PARAMS)
            streams.stream_info(fresh, key, 300000)
            fresh.close()

        plain = redis.Redis(host=REDIS["redis_host"], port=REDIS["redis_port"], decode_responses=True)
        row = {
            "entries": info["length"],
            "groups": len(info["groups"]),
            "pending": dict((g["name"], g["pending"]) for g in info["groups"]),
            "consumers": sum(g["consumers"] for g in info["groups"]),
            "build_s": round(build_s, 2),
            "stream_info_ms": warm,
            "stream_info_cold_ms": timed(cold, runs),
            "baseline_ms": timed(lambda: baseline(plain, key), runs),
            "baseline_with_consumers_ms": timed(lambda: baseline(plain, key, True), runs),
        }
        plain.close()
        row["ratio_vs_baseline"] = round(warm["median"] / row["baseline_ms"]["median"], 2)
        row["ratio_vs_baseline_with_consumers"] = round(
            warm["median"] / row["baseline_with_consumers_ms"]["median"], 2)
        return row
    finally:
        client.delete(key)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--pending", type=int, default=10000, help="pending entries per group (at most)")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    client = redis_connection.connect(PARAMS)
    server = client.info("server")
    rows = []
    print("%10s %9s %14s %12s %12s %14s %8s %8s" % (
        "entries", "pending", "stream_info", "cold", "baseline", "base+consumers", "ratio", "build"))
    for size in [int(s) for s in args.sizes.split(",")]:
        row = bench_size(client, size, args.pending, args.runs)
        rows.append(row)
        print("%10d %9d %11.3f ms %9.3f ms %9.3f ms %11.3f ms %8.2f %7.1fs" % (
            row["entries"], sum(row["pending"].values()), row["stream_info_ms"]["median"],
            row["stream_info_cold_ms"]["median"], row["baseline_ms"]["median"],
            row["baseline_with_consumers_ms"]["median"], row["ratio_vs_baseline"], row["build_s"]))
    report = {
        "benchmark": "stream_info",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "redis_version": server.get("redis_version"),
        "redis_py": redis.__version__,
        "python": platform.python_version(),
        "runs_per_figure": args.runs,
        "figure": "median milliseconds (min and max alongside)",
        "ratio": "stream_info median / baseline median (below 1: stream_info is faster)",
        "results": rows,
    }
    out = ROOT / "bench" / "reports" / "stream_info.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print("report: %s" % out.relative_to(ROOT))


if __name__ == "__main__":
    main()
