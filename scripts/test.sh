#!/usr/bin/env bash
# The test command: makes sure the real peers (pebble 2.10, bind9, knot, nginx, ...) are installed (as root, with
# .ci/install-peers.sh, which says what it installs and never stops a service), runs the whole
# deno test suite with the op and resource sanitizers, and ends with the plain line "N passed, N failed".
# Usage: scripts/test.sh [deno test paths or flags...]   (default: tests/)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
DENO=${DENO:-deno}

need_peers() {
  for bin in pebble named knotd nginx dig nsupdate openssl curl wget shellcheck systemd-analyze wrk certbot lego chromium; do
    command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || return 0
  done
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || return 0
  [ "$(dpkg-query -W -f='${Version}' pebble 2>/dev/null)" = "2.10.0+ds1-2" ] || return 0
  return 1
}
if need_peers; then
  if [ "$(id -u)" = 0 ]; then
    bash .ci/install-peers.sh || { echo "scripts/test.sh: installing the test peers failed" >&2; exit 1; }
  else
    echo "scripts/test.sh: test peers missing (pebble 2.10, bind9, knot, nginx, postgresql): run 'sudo bash .ci/install-peers.sh' (it says what it installs first; --dry-run shows only that)" >&2
    exit 1
  fi
fi

args=("$@")
[ ${#args[@]} -eq 0 ] && args=(tests/)
out=$(mktemp)
NO_COLOR=1 "$DENO" test --allow-all --sanitize-ops --sanitize-resources "${args[@]}" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
line=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$out" | tail -1)
rm -f "$out"
if [ -n "$line" ]; then
  passed=$(sed -E 's/^[A-Za-z]+ \| ([0-9]+) passed.*/\1/' <<<"$line")
  failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$line")
  # deno's summary: "ok | 2 passed (3 steps) | 0 failed | 1 ignored (2 steps) (24ms)"; the "ignored" part is absent
  # when nothing was ignored, and "(N step[s])" after it is absent when no step was.
  ignored=$(grep -oE '\| [0-9]+ ignored' <<<"$line" | grep -oE '[0-9]+' || true)
  ignored_steps=$(grep -oE '\| [0-9]+ ignored \([0-9]+ steps?\)' <<<"$line" | sed -E 's/.*\(([0-9]+) steps?\)/\1/' || true)
  # A test or step ignored in CI would hide a skipped integration test (HA_ONLY skips the PostgreSQL suite's steps):
  # count each as a failure.
  skipped=$((${ignored:-0} + ${ignored_steps:-0}))
  if [ "$skipped" != 0 ]; then failed=$((failed + skipped)); rc=1; fi
  echo "$passed passed, $failed failed"
else
  echo "0 passed, 1 failed"
  [ "$rc" = 0 ] && rc=1
fi
exit "$rc"
