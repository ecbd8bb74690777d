#!/usr/bin/env bash
# Installs the real peers the tests start themselves (tests/support/): the Debian 12 packages in PACKAGES below, and
# pebble 2.10 from Debian sid (12 ships 2.4, without ARI or profiles), system-wide as /usr/bin/pebble.
# It says what it will change before changing it (and asks, on a terminal, unless --yes or CI=true). It never
# stops, disables or reconfigures a service: the tests start their own named, knotd, nginx and postgres on free
# loopback ports and temp dirs, beside whatever the machine runs. apt does not start the newly installed services
# (a temporary policy-rc.d). The AppArmor profile of named is extended only where AppArmor enforces it (see below).
# Idempotent; runs as root on Debian 12. Fails loudly on any surprise. The quick start needs none of this
# (scripts/install-quickstart-peers.sh).
# Usage: .ci/install-peers.sh [--yes] [--dry-run]
set -euo pipefail

PEBBLE_PIN="2.10.0+ds1-2"
PACKAGES=(bind9 bind9-dnsutils knot nginx-light postgresql wrk openssl curl wget systemd shellcheck chromium certbot lego)
SERVICES=(named knot nginx postgresql) # the system services these packages ship; tests never use them

export DEBIAN_FRONTEND=noninteractive
log() { printf 'install-peers: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

yes="" dry=""
[ "${CI:-}" = true ] && yes=1
for arg in "$@"; do
  case $arg in
    --yes) yes=1 ;;
    --dry-run) dry=1 ;;
    *) die "unknown argument \"$arg\" (--yes, --dry-run)" ;;
  esac
done

# shellcheck source=/dev/null
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || log "warning: written for Debian 12 (bookworm), this is ${PRETTY_NAME:-unknown}"

installed_version() { { dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null || true; } | awk '$1 == "installed" { print $2 }'; }

# AppArmor is needed only where it enforces named's profile (VMs; not containers): Debian's profile lets named read
# only /etc/bind, /var/lib/bind, /var/cache/bind..., and the fixture runs named from a temp dir (acmems-named-*).
local_rules=/etc/apparmor.d/local/usr.sbin.named
marker="# acmems test fixtures (tests/support/named.ts)"
apparmor_needed() {
  [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] && [ -f /etc/apparmor.d/usr.sbin.named ] &&
    command -v apparmor_parser >/dev/null && ! grep -qF "$marker" "$local_rules" 2>/dev/null
}

# --- the plan ------------------------------------------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do [ -n "$(installed_version "$p")" ] || missing+=("$p"); done
pebble_now=$(installed_version pebble)
plan=()
[ "${#missing[@]}" -eq 0 ] || plan+=("apt-get install from the system's apt sources: ${missing[*]}")
[ "$pebble_now" = "$PEBBLE_PIN" ] ||
  plan+=("dpkg -i pebble $PEBBLE_PIN from Debian sid (this machine's mirror; sid is not added to the apt sources)${pebble_now:+, replacing pebble $pebble_now}")
apparmor_needed && plan+=("append 2 rules for /tmp/acmems-named-* to $local_rules and reload named's AppArmor profile")
if [ "${#plan[@]}" -eq 0 ]; then
  log "all test peers already installed; nothing to change"
else
  log "this will change the system:"
  for line in "${plan[@]}"; do log "  - $line"; done
  log "  (no service is stopped, disabled or reconfigured; newly installed ones are not started)"
fi
for s in "${SERVICES[@]}"; do
  if [ -d /run/systemd/system ] && systemctl is-active --quiet "$s.service" 2>/dev/null; then
    log "note: $s.service is running; left alone (the tests start their own $s on other ports)"
  fi
done
if [ -n "$dry" ]; then
  log "dry run: nothing changed"
  exit 0
fi
[ "${#plan[@]}" -gt 0 ] || { log "done"; exit 0; }
[ "$(id -u)" -eq 0 ] || die "must run as root to do the above (or install those packages yourself)"
if [ -z "$yes" ] && [ -t 0 ]; then
  printf 'Go ahead? [y/N] ' >&2
  read -r answer || answer=""
  case $answer in
    y | Y | yes | YES) ;;
    *) die "nothing installed (answer y, or run with --yes)" ;;
  esac
fi

# --- Debian 12 packages ----------------------------------------------------------------------------------------
if [ "${#missing[@]}" -gt 0 ]; then
  # Keep apt from starting the services during installation; an existing policy (e.g. Docker's) is left alone.
  own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  trap 'if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
  log "installing: ${missing[*]}"
  apt-get update
  apt-get install -y "${missing[@]}" </dev/null
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  trap - EXIT
fi

# --- pebble 2.10 from sid (the quick start's download, installed system-wide for the fixtures) --------------------
if [ "$pebble_now" != "$PEBBLE_PIN" ]; then
  d=$(mktemp -d)
  trap 'rm -rf "$d"' EXIT
  bash "$(dirname "$0")/../scripts/install-quickstart-peers.sh" --yes --download "$d"
  debs=("$d"/pebble_*.deb)
  [ -f "${debs[0]}" ] || die "no pebble .deb was downloaded"
  got=$(dpkg-deb -f "${debs[0]}" Version)
  [ "$got" = "$PEBBLE_PIN" ] || die "sid now has pebble $got, the fixtures are pinned to $PEBBLE_PIN: check tests/support/pebble.ts against it, then update PEBBLE_PIN"
  dpkg -i "${debs[0]}"
  rm -rf "$d"
  trap - EXIT
  [ "$(installed_version pebble)" = "$PEBBLE_PIN" ] || die "pebble $PEBBLE_PIN did not install"
  log "pebble $PEBBLE_PIN installed"
fi

# --- AppArmor (only where it enforces named's profile) ----------------------------------------------------------
if apparmor_needed; then
  mkdir -p "$(dirname "$local_rules")"
  {
    echo "$marker"
    echo "/tmp/acmems-named-*/ rw,"
    echo "/tmp/acmems-named-*/** rwkl,"
  } >>"$local_rules"
  apparmor_parser -r -T -W /etc/apparmor.d/usr.sbin.named
  log "added the fixture paths to $local_rules and reloaded named's AppArmor profile"
fi

# --- summary -------------------------------------------------------------------------------------------------
for p in "${PACKAGES[@]}" pebble; do printf '  %-16s %s\n' "$p" "$(installed_version "$p")"; done
for b in /usr/sbin/named /usr/sbin/knotd /usr/sbin/knotc /usr/sbin/nginx /usr/bin/pebble /usr/bin/dig /usr/bin/nsupdate /usr/bin/openssl /usr/bin/certbot /usr/bin/lego /usr/bin/chromium; do
  [ -x "$b" ] || die "$b missing after installation"
done
log "done"
