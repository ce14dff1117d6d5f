#!/usr/bin/env bash
# Builds the lab's base image from Debian packages (no registry: mmdebstrap | docker import).
# The tag is a hash of the package list, so the image is rebuilt only when the list changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
packages=$(grep -v '^#' "$here/base-packages.txt" | xargs | tr ' ' ',')
tag="selfology-lab/base:$(printf '%s' "$packages" | sha256sum | cut -c1-12)"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
tarball=$(mktemp --suffix=.tar)
trap 'rm -f "$tarball"' EXIT
echo "building $tag (mmdebstrap, about a minute)" >&2
mmdebstrap --quiet --variant=minbase --include="$packages" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook="chroot \"\$1\" apt-get clean" \
  bookworm "$tarball"
# Import from a finished tarball: a pipe would import a half-built tree if mmdebstrap failed.
docker import -c 'ENV LANG=C.UTF-8' "$tarball" "$tag" >/dev/null
echo "$tag"
