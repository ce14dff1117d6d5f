#!/usr/bin/env bash
# make test after bootstrap. The static checks (lint, sanity, unit tests: CPU-bound, no lab), then
# the execution environment's build, run at the lowest priority beside Molecule and the integration
# tests, which mostly wait on containers and timers; then the collection build. On this 2-core
# machine that takes about six minutes off the total. Their output is printed after the others',
# not mixed in; the EE test waits for the build (build-ee.sh takes a lock).
# Molecule runs first, on a new lab, and leaves it up for the integration tests: one lab is built,
# not two (the integration tests' own lab up then only checks it, and repairs what Molecule left).
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
static=""
stop_static() {
  if [ -n "$static" ]; then kill -- "-$static" 2>/dev/null || true; fi
}
trap 'stop_static; rm -f "$log"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Its own process group (set -m), so that an interrupted run stops it whole.
set -m
nice -n 19 sh -c 'make --no-print-directory lint sanity unit && scripts/build-ee.sh' >"$log" 2>&1 &
static=$!
set +m
integration=0
make --no-print-directory molecule MOLECULE_DESTROY=never || integration=$?
if [ "$integration" -eq 0 ]; then make --no-print-directory integration || integration=$?; fi
static_rc=0
wait "$static" || static_rc=$?
static=""
echo "---- lint, sanity, unit tests and the EE build (run beside Molecule and the integration tests) ----"
cat "$log"
if [ "$static_rc" -ne 0 ]; then echo "make test: lint, sanity, the unit tests or the EE build failed" >&2; exit "$static_rc"; fi
if [ "$integration" -ne 0 ]; then echo "make test: Molecule or the integration tests failed" >&2; exit "$integration"; fi
make --no-print-directory build
