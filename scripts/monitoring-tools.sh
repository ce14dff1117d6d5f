#!/usr/bin/env bash
# Makes promtool and amtool (Debian's prometheus 2.42 / prometheus-alertmanager 0.25) available
# to the tests without installing or starting any service on this host: the two .deb files are
# downloaded with apt (this machine's sources), unpacked into .tools/monitoring and the tools
# linked into .tools/bin. Safe to run again: nothing is done when the unpacked versions are the
# candidates apt offers.
#
# Alertmanager 0.25 loads its packaged default.tmpl (/usr/share/prometheus/alertmanager/default.tmpl
# in Debian's build) when it parses a configuration; the unpacked copy lives under
# .tools/monitoring/usr/share/prometheus/alertmanager/, and this script prints that path so a test
# can hand it to the rendered configuration (monitoring_alertmanager_template_files).
set -euo pipefail
cd "$(dirname "$0")/.."

root=.tools/monitoring
cache=.tools/cache
bin=.tools/bin
stamp="$root/.versions"
packages=(prometheus prometheus-alertmanager)

candidate() {
  apt-cache policy "$1" | awk '/Candidate:/ {print $2}'
}

want=""  # one "package=version" line per package, no trailing newline (compared with $(cat))
for pkg in "${packages[@]}"; do
  version=$(candidate "$pkg")
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    echo "monitoring-tools: apt has no candidate for $pkg (run apt-get update?)" >&2
    exit 1
  fi
  want+="${want:+$'\n'}$pkg=$version"
done

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
   && [ -x "$bin/promtool" ] && [ -x "$bin/amtool" ]; then
  exit 0
fi

mkdir -p "$cache" "$bin"
rm -rf "$root"
mkdir -p "$root"
for pkg in "${packages[@]}"; do
  version=$(candidate "$pkg")
  # apt-get download names the file with the epoch's colon escaped as %3a.
  deb=$(find "$cache" -maxdepth 1 -name "${pkg}_${version//:/%3a}_*.deb" -print -quit)
  if [ -z "$deb" ]; then
    echo "monitoring-tools: downloading $pkg $version"
    (cd "$cache" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" "$pkg=$version")
    deb=$(find "$cache" -maxdepth 1 -name "${pkg}_${version//:/%3a}_*.deb" -print -quit)
  fi
  [ -n "$deb" ] || { echo "monitoring-tools: download of $pkg $version left no .deb in $cache" >&2; exit 1; }
  dpkg-deb -x "$deb" "$root"
done

ln -sfn ../monitoring/usr/bin/promtool "$bin/promtool"
ln -sfn ../monitoring/usr/bin/amtool "$bin/amtool"
"$bin/promtool" --version >/dev/null
"$bin/amtool" --version >/dev/null
printf '%s' "$want" > "$stamp"
echo "monitoring-tools: promtool and amtool in $bin; default.tmpl in $root/usr/share/prometheus/alertmanager/"
