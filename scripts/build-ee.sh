#!/usr/bin/env bash
# Builds the execution environment (execution-environment.yml) as selfology/ee:<version> and
# selfology/ee:latest, with no registry:
#   1. the collections into the build context: this collection built from the checkout
#      (ansible-galaxy collection build) and its dependencies copied from the installed `ansible`
#      package; the image installs them with ansible-galaxy --offline (ee/requirements.yml);
#   2. ansible-builder create writes the build context (Dockerfile, _build/);
#   3. a wheelhouse: the Python requirements ansible-builder's introspection computes (the
#      definition's own plus the collections'), downloaded with pip as wheels; every pip install
#      in the image uses it alone (PIP_NO_INDEX);
#   4. the base image from Debian packages (ee/base-packages.txt): mmdebstrap | docker import,
#      as lab/images/build-base.sh does for the lab;
#   5. Docker's legacy builder (DOCKER_BUILDKIT=0) builds the context, taking the local FROM
#      image without pulling.
# The image is labelled with a hash of everything it is made from; when selfology/ee:latest
# carries the current hash the script does nothing but print the tag (so tests can call it).
# ansible-builder runs from its own virtualenv (.lab/ee/venv), not the project's.
# --context-only: write the build context and the wheelhouse, build nothing (no Docker needed).
set -euo pipefail
cd "$(dirname "$0")/.."
# One build at a time: make test starts one beside the integration tests, whose EE test calls this too
# (and then finds the image built).
exec 9>/tmp/selfology-ee-build.lock
flock 9
root=$PWD
work=$root/.lab/ee
vendor=$work/vendor
context=$work/context
site=$root/.venv/lib/python3.11/site-packages/ansible_collections
collections=(community.docker community.library_inventory_filtering_v1 community.postgresql community.general ansible.posix)
version=$(sed -n 's/^version: *//p' galaxy.yml)
image=selfology/ee
started=$(date +%s)
log() { echo "build-ee: $*" >&2; }

mkdir -p "$vendor/collections" "$vendor/wheels"

# This collection, built from the checkout (the same build as scripts/build-collection.sh).
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
.venv/bin/ansible-galaxy collection build --force --output-path "$out" . >/dev/null
tarball=$(ls "$out"/selfology-ops-*.tar.gz)

# What the image is made from: the collection's files (MANIFEST.json holds the checksum of
# FILES.json, which holds every file's), the definition, ee/, this script, the vendored
# collections' versions and the base package list.
source_hash=$(
  {
    tar -xOzf "$tarball" MANIFEST.json
    cat execution-environment.yml "$0"
    find ee -type f | sort | xargs cat
    for c in "${collections[@]}"; do
      grep -m1 '"version"' "$site/${c/.//}/MANIFEST.json"
    done
  } | sha256sum | cut -c1-16)
current=$(docker image inspect -f '{{ index .Config.Labels "org.selfology.ee.source" }}' "$image:latest" 2>/dev/null || true)
if [ "${1:-}" != "--context-only" ] && [ "$current" = "$source_hash" ] && docker image inspect "$image:$version" >/dev/null 2>&1; then
  log "$image:$version is current (source $source_hash)"
  echo "$image:$version"
  exit 0
fi

# 1. The collections of the build context (ee/requirements.yml names them).
cp "$tarball" "$vendor/collections/selfology-ops.tar.gz"
tree=$work/tree/ansible_collections
rm -rf "$work/tree"
for c in "${collections[@]}"; do
  rm -rf "$vendor/collections/$c"
  cp -a "$site/${c/.//}" "$vendor/collections/$c"
  mkdir -p "$tree/${c%%.*}"
  ln -s "$vendor/collections/$c" "$tree/${c/.//}"
done
mkdir -p "$tree/selfology/ops"
tar -xzf "$tarball" -C "$tree/selfology/ops"

# ansible-builder, in a virtualenv of its own.
if [ ! -x "$work/venv/bin/ansible-builder" ]; then
  log "installing ansible-builder into $work/venv"
  .venv/bin/python -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet --disable-pip-version-check ansible-builder==3.2.0
fi
builder=$work/venv/bin/ansible-builder

# 2. The build context: Containerfile, _build/ with the requirements and the
# additional build files.
rm -rf "$context"
"$builder" create --file execution-environment.yml --context "$context" --output-filename Dockerfile >/dev/null

# 3. The wheelhouse: what the builder stage's introspection will ask for (the same command, run
# here over the same collections), ansible-core and ansible-runner, the builder's own tools
# (bindep, pyyaml, packaging) and dumb-init (the image's init). One resolution, wheels only;
# wheels already downloaded are kept between builds. The resolution runs on this machine's Python;
# what the image's (Debian's 3.11.2) needs beyond it by environment marker is named here too:
# async-timeout, which redis requires below Python 3.11.3.
introspected=$work/requirements.txt
"$builder" introspect --sanitize --user-pip="$context/_build/requirements.txt" \
  --exclude-pip-reqs="$context/_build/exclude-requirements.txt" \
  --write-pip="$introspected" "$work/tree" >/dev/null
pins=$(.venv/bin/python - <<'EOF'
import yaml
deps = yaml.safe_load(open('execution-environment.yml'))['dependencies']
print(deps['ansible_core']['package_pip'], deps['ansible_runner']['package_pip'])
EOF
)
log "downloading wheels into $vendor/wheels"
# shellcheck disable=SC2086 # the pins are separate words
.venv/bin/pip download --quiet --disable-pip-version-check --only-binary=:all: --dest "$vendor/wheels" \
  -r "$introspected" $pins bindep pyyaml packaging dumb-init==1.2.5 async-timeout 2> >(grep -v '^WARNING: Location' >&2)
cp -a "$vendor/wheels/." "$context/_build/wheels/"
if [ "${1:-}" = "--context-only" ]; then
  log "build context written to $context"
  exit 0
fi

# 4. The base image, tagged by the hash of its package list, and as selfology/ee-base:latest
#    (the definition's base_image).
packages=$(grep -v '^#' ee/base-packages.txt | xargs | tr ' ' ',')
base="selfology/ee-base:$(printf '%s' "$packages" | sha256sum | cut -c1-12)"
if ! docker image inspect "$base" >/dev/null 2>&1; then
  log "building $base (mmdebstrap)"
  rootfs=$out/rootfs.tar
  # docker.io is there for its CLI only: the daemon, containerd and runc binaries are left out.
  mmdebstrap --quiet --variant=minbase --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/sbin/dockerd' --dpkgopt='path-exclude=/usr/sbin/docker-proxy' \
    --dpkgopt='path-exclude=/usr/bin/dnet' --dpkgopt='path-exclude=/usr/sbin/ovrouter' \
    --dpkgopt='path-exclude=/usr/bin/containerd*' --dpkgopt='path-exclude=/usr/bin/ctr' \
    --dpkgopt='path-exclude=/usr/sbin/runc' \
    --customize-hook="chroot \"\$1\" apt-get clean" \
    bookworm "$rootfs"
  # Import from a finished tarball: a pipe would import a half-built tree if mmdebstrap failed.
  docker import -c 'ENV LANG=C.UTF-8' "$rootfs" "$base" >/dev/null
fi
docker tag "$base" selfology/ee-base:latest

# 5. The image. The legacy builder uses selfology/ee-base:latest from the local engine.
log "building $image:$version from $base"
DOCKER_BUILDKIT=0 docker build --quiet --label "org.selfology.ee.source=$source_hash" \
  --label "org.selfology.ee.version=$version" -t "$image:$version" -t "$image:latest" \
  -f "$context/Dockerfile" "$context" >/dev/null
log "built $image:$version ($(docker image inspect -f '{{ .Size }}' "$image:$version" | numfmt --to=si)B) in $(($(date +%s) - started)) s"
echo "$image:$version"
