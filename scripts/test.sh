#!/usr/bin/env bash
# make test after bootstrap. The static checks (lint, sanity, unit tests: CPU-bound, no lab) run at
# the lowest priority beside the integration tests, which mostly wait on containers and timers;
# then Molecule and the collection build. On this 2-core machine that takes the static checks'
# five minutes off the total. Their output is printed after the integration tests', not mixed in.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
static=""
stop_static() { [ -n "$static" ] && kill -- "-$static" 2>/dev/null || true; }
trap 'stop_static; rm -f "$log"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Its own process group (set -m), so that an interrupted run stops it whole.
set -m
nice -n 19 make --no-print-directory lint sanity unit >"$log" 2>&1 &
static=$!
set +m
integration=0
make --no-print-directory integration || integration=$?
static_rc=0
wait "$static" || static_rc=$?
static=""
echo "---- lint, sanity and unit tests (run beside the integration tests) ----"
cat "$log"
if [ "$static_rc" -ne 0 ]; then echo "make test: lint, sanity or the unit tests failed" >&2; exit "$static_rc"; fi
if [ "$integration" -ne 0 ]; then echo "make test: the integration tests failed" >&2; exit "$integration"; fi
make --no-print-directory molecule build
