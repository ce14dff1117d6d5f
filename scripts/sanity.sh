#!/usr/bin/env bash
# ansible-test sanity on the collection, with no skip or ignore lists.
# ansible-test wants the collection at .../ansible_collections/selfology/ops: the tracked
# files are copied to such a tree. Its pip bootstrap script comes from a host this machine
# cannot reach, so a stand-in (scripts/get_pip_offline.py) is put in its cache first.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',$/\1/p" .venv/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py)
cache=~/.ansible/test/cache/get_pip_${pip_version//./_}.py
mkdir -p "$(dirname "$cache")"
cp scripts/get_pip_offline.py "$cache"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/selfology/ops"
mkdir -p "$dest"
git ls-files -co --exclude-standard | grep -v '^\.collections/' | while read -r f; do
  [ -e "$f" ] && mkdir -p "$dest/$(dirname "$f")" && cp -P "$f" "$dest/$f"
done
cd "$dest"
"$top/.venv/bin/ansible-test" sanity --python 3.11 "$@"
