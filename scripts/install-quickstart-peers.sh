#!/usr/bin/env bash
# The quick start's peers: pebble 2.10 (Let's Encrypt's test CA) and pebble-challtestsrv (its DNS), both in Debian
# sid's `pebble` package (Debian 12 ships 2.4, without profiles or ARI). This script downloads that package from the
# machine's own Debian mirror with `apt-get download` (apt checks it against sid's signed index, read into a
# temp dir: sid is never added to the system's apt sources) and unpacks it with `dpkg-deb -x` into .work/peers/ of
# this checkout. It installs nothing system-wide, starts, stops or reconfigures no service, and needs no root.
#
# Usage: scripts/install-quickstart-peers.sh [--yes] [--dry-run] [--download DIR]
#   --yes           do not ask (it asks only when stdin is a terminal; otherwise it says what it does and does it)
#   --dry-run       say what it would do, change nothing
#   --download DIR  only download the .deb into DIR (.ci/install-peers.sh installs it system-wide for the tests)
set -euo pipefail

PEBBLE_PIN="2.10.0+ds1-2"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/.work/peers"

log() { printf 'install-quickstart-peers: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

yes="" dry="" download=""
while [ $# -gt 0 ]; do
  case $1 in
    --yes) yes=1 ;;
    --dry-run) dry=1 ;;
    --download) [ $# -ge 2 ] || die "--download needs a directory"; download=$2; shift ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument \"$1\" (--yes, --dry-run, --download DIR)" ;;
  esac
  shift
done

# The machine's own Debian mirror: deb822 sources first, classic sources.list as a fallback.
mirror() {
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i ~ /:\/\//) { print $i; exit } }' /etc/apt/sources.list)
  fi
  printf '%s' "$uri"
}
uri=$(mirror)
[ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || die "needs $tool (Debian or a derivative)"
done

where=${download:-$DEST}
cat >&2 <<EOF
install-quickstart-peers: the quick start needs pebble $PEBBLE_PIN (pebble and pebble-challtestsrv).
  what:   Debian sid's package pebble $PEBBLE_PIN (about 4 MB; sid's package index is about 11 MB)
  from:   $uri (this machine's Debian mirror), suite sid, checked against Debian's archive key
  to:     $where$([ -n "$download" ] || printf '\n          (unpacked; nothing is installed system-wide)')
  not:    no apt source added, no system package installed or removed, no service started or stopped
EOF
if [ -n "$dry" ]; then
  log "dry run: nothing changed"
  exit 0
fi
if [ -z "$yes" ] && [ -t 0 ]; then
  printf 'Go ahead? [y/N] ' >&2
  read -r answer || answer=""
  case $answer in
    y | Y | yes | YES) ;;
    *) die "not installed (answer y, or run with --yes)" ;;
  esac
fi

d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/lists/partial" "$d/archives/partial" "$d/dl"
if [ "$(id -u)" -eq 0 ]; then
  # As root, apt downloads as its sandbox user _apt, which must be able to write there.
  chmod 755 "$d"
  chown _apt "$d/dl" "$d/lists/partial" "$d/archives/partial" 2>/dev/null || true
fi
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri sid main" >"$d/sources.list"
# Temp lists and archives, no package cache files: the system's apt state is not touched (and root is not needed).
apt_sid=(-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$d/lists" -o "Dir::Cache::Archives=$d/archives"
  -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=")
log "fetching sid's package index from $uri"
apt-get -q "${apt_sid[@]}" update >&2
(cd "$d/dl" && apt-get -q "${apt_sid[@]}" download "pebble=$PEBBLE_PIN" >&2) ||
  die "sid has no pebble $PEBBLE_PIN any more (apt-get download failed): check tests/support/pebble.ts against the new version, then update PEBBLE_PIN here and in .ci/install-peers.sh"
debs=("$d"/dl/pebble_*.deb)
[ -f "${debs[0]}" ] || die "apt-get download pebble produced no .deb"

if [ -n "$download" ]; then
  mkdir -p "$download"
  cp "${debs[0]}" "$download/"
  log "downloaded $download/$(basename "${debs[0]}")"
  exit 0
fi

# Unpack beside the destination, then swap it in: a failure leaves the previous copy (or none), never half of one.
mkdir -p "$ROOT/.work"
tmp="$DEST.new.$$"
rm -rf "$tmp"
dpkg-deb -x "${debs[0]}" "$tmp"
printf '%s\n' "$PEBBLE_PIN" >"$tmp/VERSION"
for b in pebble pebble-challtestsrv; do [ -x "$tmp/usr/bin/$b" ] || die "the package has no usr/bin/$b"; done
rm -rf "$DEST"
mv "$tmp" "$DEST"
log "pebble $PEBBLE_PIN unpacked into $DEST (remove that directory to undo)"
