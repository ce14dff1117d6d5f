#!/usr/bin/env bash
# Installs what the lab and the tests need on a fresh Debian machine, and starts the Docker
# engine when none answers. Safe to run again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
# ansible-test sanity runs shellcheck on the scripts.
command -v shellcheck >/dev/null || need+=(shellcheck)
# ansible-rulebook (alert-driven runs, the eda extra) runs its rules in a Java 17 JVM.
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
if [ ${#need[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "bootstrap: starting dockerd"
  $sudo bash -c 'nohup dockerd >/var/log/selfology-dockerd.log 2>&1 &'
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "bootstrap: dockerd did not start, see /var/log/selfology-dockerd.log" >&2; exit 1; }
fi

# promtool and amtool for the rule tests, unpacked from Debian's packages into .tools/.
scripts/monitoring-tools.sh

# The venv is rebuilt only when pyproject.toml changes.
stamp=.venv/.pyproject.sha256
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing the Python environment in .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test,eda]'
  echo "$want" > "$stamp"
fi
