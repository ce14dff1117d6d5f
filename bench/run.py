#!/usr/bin/env python
"""`make bench`: every benchmark in turn, each with its defaults (the lab must be up).

    .venv/bin/python bench/run.py [--only lifecycle,stream_info,archive]

Each writes its own report (bench/report-lifecycle.md, bench/reports/*.json). Not tests: nothing
is asserted; the exit status is non-zero only when a benchmark could not run.
"""
import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("lifecycle", "stream_info", "archive")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated, default: all")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    failed = []
    for name in chosen:
        print(f"== bench_{name}.py", flush=True)
        if subprocess.run([sys.executable, str(HERE / f"bench_{name}.py")], cwd=HERE.parent, check=False).returncode:
            failed.append(name)
    if failed:
        sys.exit(f"bench: failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
