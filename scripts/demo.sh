#!/usr/bin/env bash
# The main job an operator runs, against the lab: a new version built, deployed to the
# inactive slot (backup, health, smoke tests), traffic switched to it, then status and history.
set -euo pipefail
cd "$(dirname "$0")/.."
selfops=.venv/bin/selfops
step() { printf '\n\033[1m$ selfops %s\033[0m\n' "$*"; }

step lab up; $selfops lab up -q
step status; $selfops status -q
step smoke; $selfops smoke -q
# Alternate between two versions so that every run deploys something new.
active=$($selfops status --json | .venv/bin/python -c \
  'import json,sys; h=json.load(sys.stdin)["hosts"]["localhost"]; print(h["state"]["versions"][h["active_slot"]])')
version=$([ "$active" = "1.1.0" ] && echo 1.2.0 || echo 1.1.0)
step lab image "$version"; $selfops lab image "$version" -q
step deploy "$version"; $selfops deploy "$version" -q
step switch; $selfops switch -q
step status; $selfops status -q
step history; $selfops history -q -n 10
# Prometheus scrapes the new slot; the alerts say whether anything fires.
step monitoring status; $selfops monitoring status -q
