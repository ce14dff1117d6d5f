#!/usr/bin/env bash
# Builds the collection tarball and checks that it holds the playbooks, roles and modules.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
.venv/bin/ansible-galaxy collection build --force --output-path "$out" . >/dev/null
tarball=$(ls "$out"/selfology-ops-*.tar.gz)
listing=$(tar -tzf "$tarball")
for f in plugins/modules/smoke_test.py roles/lab/tasks/main.yml playbooks/status.yml meta/runtime.yml; do
  grep -qx "$f" <<<"$listing" || { echo "build: $f missing from $tarball" >&2; exit 1; }
done
echo "build: $(basename "$tarball") $(du -h "$tarball" | cut -f1)"
