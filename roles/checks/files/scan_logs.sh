#!/usr/bin/env bash
# Counts the log lines of every Selfology service container (both slots, replicas included,
# found by the label CHECKS_LABEL) that match the extended regular expression CHECKS_PATTERN
# over the last CHECKS_SINCE, keeping the first CHECKS_SAMPLES of them. The logs stay on the
# host: only counts and samples are printed, one tab-separated record a line -
#   R <container> <state>     a service container and its state
#   S <container> <line>      a sample line (at most 300 characters)
#   C <container> <count>     matching lines
#   E <container> <message>   its logs could not be read
# Every input comes from the environment; none is interpreted by the shell.
set -o pipefail
: "${CHECKS_LABEL:?}" "${CHECKS_SINCE:?}" "${CHECKS_PATTERN:?}" "${CHECKS_SAMPLES:?}"

if ! containers=$(docker ps --all --filter "label=$CHECKS_LABEL" --format '{{.Names}}\t{{.State}}' | sort); then
  echo "cannot list the service containers" >&2
  exit 1
fi
while IFS=$'\t' read -r name state; do
  [ -n "$name" ] || continue
  printf 'R\t%s\t%s\n' "$name" "$state"
  # Both of the container's streams are its log: 2>&1.
  if ! docker logs --since "$CHECKS_SINCE" "$name" 2>&1 | awk -v c="$name" -v max="$CHECKS_SAMPLES" '
      $0 ~ ENVIRON["CHECKS_PATTERN"] { n++; if (n <= max) printf "S\t%s\t%s\n", c, substr($0, 1, 300) }
      END { printf "C\t%s\t%d\n", c, n }'; then
    printf 'E\t%s\t%s\n' "$name" "docker logs failed"
  fi
done <<< "$containers"
