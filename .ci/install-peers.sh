#!/usr/bin/env bash
# Installs the real peers the integration tests start themselves (tests/support/): bind9, knot, nginx, postgresql,
# wrk, openssl, curl from Debian 12, and pebble 2.10 from Debian sid (12 ships 2.4, without ARI or profiles).
# Idempotent; runs as root on Debian 12 without a terminal (CI=true). Fails loudly on any surprise.
set -euo pipefail

PEBBLE_PIN="2.10.0+ds1-2"
PACKAGES=(bind9 bind9-dnsutils knot nginx-light postgresql wrk openssl curl wget systemd shellcheck)
SERVICES=(named knot nginx postgresql) # the system services these packages ship; tests never use them

export DEBIAN_FRONTEND=noninteractive
log() { printf 'install-peers: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || log "warning: written for Debian 12 (bookworm), this is ${PRETTY_NAME:-unknown}"

installed_version() { dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null | awk '$1 == "installed" { print $2 }'; }

# --- Debian 12 packages ----------------------------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do [ -n "$(installed_version "$p")" ] || missing+=("$p"); done
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
  apt-get install -y "${PACKAGES[@]}" </dev/null
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  trap - EXIT
else
  log "Debian packages already installed"
fi

# --- pebble 2.10 from sid, without adding sid to the system's sources ------------------------------------------
if [ "$(installed_version pebble)" = "$PEBBLE_PIN" ]; then
  log "pebble $PEBBLE_PIN already installed"
else
  # The machine's own Debian mirror: deb822 sources first, classic sources.list as a fallback.
  uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i ~ /:\/\//) { print $i; exit } }' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"

  d=$(mktemp -d)
  trap 'rm -rf "$d"' EXIT
  chmod 755 "$d"
  mkdir -p "$d/lists/partial" "$d/archives/partial" "$d/dl"
  chown _apt "$d/dl" 2>/dev/null || true # apt downloads as its sandbox user _apt
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri sid main" >"$d/sources.list"
  # Temp lists and archives; no package cache files, so the system's apt state is not touched.
  apt_sid=(-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$d/lists" -o "Dir::Cache::Archives=$d/archives"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")
  log "fetching the sid package index from $uri"
  apt-get "${apt_sid[@]}" update
  (cd "$d/dl" && apt-get "${apt_sid[@]}" download pebble)
  debs=("$d"/dl/pebble_*.deb)
  [ -f "${debs[0]}" ] || die "apt-get download pebble produced no .deb"
  got=$(dpkg-deb -f "${debs[0]}" Version)
  [ "$got" = "$PEBBLE_PIN" ] || die "sid now has pebble $got, the fixtures are pinned to $PEBBLE_PIN: check tests/support/pebble.ts against it, then update PEBBLE_PIN"
  dpkg -i "${debs[0]}"
  rm -rf "$d"
  trap - EXIT
  [ "$(installed_version pebble)" = "$PEBBLE_PIN" ] || die "pebble $PEBBLE_PIN did not install"
  log "pebble $PEBBLE_PIN installed"
fi

# --- ACME clients for the ACME front end tests (tests/support/certbot.ts, lego.ts): certbot 2.1 and lego 4.9 ------
# From Debian 12, like the other peers. The tests run them as plain commands with their dirs in a temp dir; the
# timer Debian's certbot ships (certbot.timer, renewing /etc/letsencrypt) is disabled right after installing.
ACME_CLIENTS=(certbot lego)
missing_clients=()
for p in "${ACME_CLIENTS[@]}"; do [ -n "$(installed_version "$p")" ] || missing_clients+=("$p"); done
if [ "${#missing_clients[@]}" -gt 0 ]; then
  log "installing the ACME clients: ${missing_clients[*]} (certbot pulls python3-certbot)"
  own_policy="" # as above: apt must not start anything; an existing policy is left alone
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  trap 'if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
  apt-get update
  apt-get install -y "${ACME_CLIENTS[@]}" </dev/null
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  trap - EXIT
fi
for p in "${ACME_CLIENTS[@]}"; do log "ACME client $p $(installed_version "$p")"; done
if [ -d /run/systemd/system ] && systemctl is-enabled --quiet certbot.timer 2>/dev/null; then
  systemctl disable --now certbot.timer >/dev/null 2>&1 || true
fi
for b in /usr/bin/certbot /usr/bin/lego; do [ -x "$b" ] || die "$b missing after installation"; done

# --- the system services must not hold the default ports --------------------------------------------------------
for s in "${SERVICES[@]}"; do
  if [ -d /run/systemd/system ] && systemctl list-unit-files "$s.service" >/dev/null 2>&1; then
    if systemctl is-active --quiet "$s.service" || systemctl is-enabled --quiet "$s.service" 2>/dev/null; then
      log "stopping and disabling $s.service"
      systemctl disable --now "$s.service" >/dev/null 2>&1 || systemctl stop "$s.service"
    fi
  elif [ -x "/etc/init.d/$s" ] && "/etc/init.d/$s" status >/dev/null 2>&1; then
    log "stopping $s"
    "/etc/init.d/$s" stop
  fi
done

# --- AppArmor: let named read the fixtures' configs in temp dirs ----------------------------------------------
# Debian's named profile only allows /etc/bind, /var/lib/bind, /var/cache/bind...; the fixture runs named from
# Deno.makeTempDir() (acmems-named-*). Only matters where AppArmor is enforcing (VMs, not containers).
local_rules=/etc/apparmor.d/local/usr.sbin.named
marker="# acmems test fixtures (tests/support/named.ts)"
if [ -f /etc/apparmor.d/usr.sbin.named ] && ! grep -qF "$marker" "$local_rules" 2>/dev/null; then
  mkdir -p "$(dirname "$local_rules")"
  {
    echo "$marker"
    echo "/tmp/acmems-named-*/ rw,"
    echo "/tmp/acmems-named-*/** rwkl,"
  } >>"$local_rules"
  log "added fixture paths to $local_rules"
fi
if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] && command -v apparmor_parser >/dev/null &&
  [ -f /etc/apparmor.d/usr.sbin.named ]; then
  apparmor_parser -r -T -W /etc/apparmor.d/usr.sbin.named
  log "reloaded the named AppArmor profile"
fi

# --- summary -------------------------------------------------------------------------------------------------
for p in "${PACKAGES[@]}" pebble; do printf '  %-16s %s\n' "$p" "$(installed_version "$p")"; done
for b in /usr/sbin/named /usr/sbin/knotd /usr/sbin/knotc /usr/sbin/nginx /usr/bin/pebble /usr/bin/dig /usr/bin/nsupdate /usr/bin/openssl; do
  [ -x "$b" ] || die "$b missing after installation"
done
log "done"
