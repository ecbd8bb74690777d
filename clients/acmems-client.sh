#!/bin/sh
# acmems-client.sh: get a certificate from an acmems server and keep it renewed, with nothing but a POSIX shell,
# openssl and curl (or wget). Run it daily from cron; it only talks to the server when the certificate is due.
#
# See --help for the interface and the exit codes. Files it keeps, next to the key and the certificate:
#   <key>.csr            the CSR, reused as long as the key and the names stay the same (the server caches per CSR)
#   <cert>.renew-after   when the server said to come back (X-Acmems-Renew-After), as YYYY-MM-DDTHH:MM:SSZ
#   <cert>.reload-pending  present while a --reload command for a newly installed certificate has not succeeded
#
# SPDX-License-Identifier: GPL-3.0-or-later

set -u
set -f # no pathname expansion: names like *.example.org are split into words, never globbed
LC_ALL=C
export LC_ALL

PROG=acmems-client.sh

usage() {
  cat <<'EOF'
Usage: acmems-client.sh --server URL --key FILE --cert FILE [--ca FILE] [--hmac-key-file FILE] [--hmac-type sha256] [--reload CMD] [--force] NAME...
       acmems-client.sh --server URL --key FILE --cert FILE [--hmac-key-file FILE] --revoke [--reason R] NAME...

Gets a certificate for NAME... (all names as subjectAltNames, the first one also as CN) from the acmems server
at URL (POST URL/sign) and installs it, leaf first with its chain, in the --cert FILE.

  --server URL       acmems management listener, e.g. http://acmems.example.org:1313
  --key FILE         private key; created (EC P-256, mode 0600) when missing, otherwise used as it is
  --cert FILE        where the certificate chain is installed (replaced atomically, only when it changed)
  --ca FILE          PEM root(s) the answer must chain to (openssl verify); without it only the key is checked
  --hmac-key-file FILE  sign the CSR for an acmems auth block with its hmac_key, read from FILE (mode 0600;
                     surrounding white space and the final newline are ignored; /dev/stdin works); sends the
                     header "Authentication: hmac ...". Without it, a non-empty ACMEMS_HMAC_KEY in the
                     environment is the key. The key is never an argument of any program this script runs.
  --hmac-key KEY     deprecated: the key as an argument, which every local user can read in the process list
                     (ps, /proc/PID/cmdline) while this runs; warns. Use --hmac-key-file or ACMEMS_HMAC_KEY.
  --hmac-type TYPE   sha256 (default), sha384, sha512 or sha1: the block's hmac_type
  --reload CMD       shell command run after a new certificate was installed (e.g. "systemctl reload nginx"),
                     with the caller's umask
  --force            ask the server even if it said the certificate is not due yet
  --revoke           revoke the certificate installed in --cert instead (POST URL/revoke): sends it with a fresh
                     CSR signed by --key, which proves the key is ours; the certificate must be for NAME... and
                     --key. The next run without --revoke gets a new certificate.
  --reason R         with --revoke: unspecified (default), keyCompromise, superseded, cessationOfOperation or
                     affiliationChanged. After keyCompromise the server refuses this key for good: delete --key
                     (the next run creates a new one).
  -h, --help         show this help

The CSR is kept in <key>.csr and reused while the key and the names stay the same, so the server answers from its
cache. The time the server says the certificate is due (X-Acmems-Renew-After) is kept in <cert>.renew-after;
until then a run does not contact the server at all. Cron example (mail only on errors):

  17 4 * * * /usr/local/bin/acmems-client.sh --server http://acmems.example.org:1313 \
      --key /etc/ssl/private/host.key --cert /etc/ssl/host.pem --reload 'systemctl reload nginx' \
      host.example.org >/dev/null

Exit status:
  0  a certificate was installed, or the installed one is still current
  1  usage error or local error (files, openssl, the --reload command failed)
  2  the server refused the request (403, 411, 413, 415 and other 4xx): fix the request or the server config
  3  try again later (421, 429, 503, other 5xx, 408, network errors)
  4  the answer failed verification (wrong key, missing names, does not chain to --ca); nothing was installed
EOF
}

say() { printf '%s: %s\n' "$PROG" "$*"; }
warn() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  warn "$1"
  exit "${2:-1}"
}
usage_error() {
  warn "$1"
  warn "usage: $PROG --server URL --key FILE --cert FILE [--ca FILE] [--hmac-key-file FILE] [--hmac-type sha256] [--reload CMD] [--force] [--revoke [--reason R]] NAME... (--help for more)"
  exit 1
}

# --- arguments --------------------------------------------------------------------------------------------------
server=""
key=""
cert=""
ca=""
hmac_key=""
hmac_key_set=no
hmac_key_file=""
hmac_type=sha256
reload=""
force=no
revoke=no
reason=""
names=""

need_value() {
  [ "$2" -ge 2 ] || usage_error "option $1 needs a value"
}

while [ "$#" -gt 0 ]; do
  opt=$1
  case $opt in
    --*=*)
      # --option=value: split and handle as "--option value".
      value=${opt#*=}
      opt=${opt%%=*}
      shift
      set -- "$opt" "$value" "$@"
      continue
      ;;
  esac
  case $opt in
    -h | --help)
      usage
      exit 0
      ;;
    --server)
      need_value "$opt" "$#"
      server=$2
      shift 2
      ;;
    --key)
      need_value "$opt" "$#"
      key=$2
      shift 2
      ;;
    --cert)
      need_value "$opt" "$#"
      cert=$2
      shift 2
      ;;
    --ca)
      need_value "$opt" "$#"
      ca=$2
      shift 2
      ;;
    --hmac-key)
      need_value "$opt" "$#"
      hmac_key=$2
      hmac_key_set=yes
      shift 2
      ;;
    --hmac-key-file)
      need_value "$opt" "$#"
      hmac_key_file=$2
      [ -n "$hmac_key_file" ] || usage_error "--hmac-key-file needs a file name"
      shift 2
      ;;
    --hmac-type)
      need_value "$opt" "$#"
      hmac_type=$2
      shift 2
      ;;
    --reload)
      need_value "$opt" "$#"
      reload=$2
      shift 2
      ;;
    --force)
      force=yes
      shift
      ;;
    --revoke)
      revoke=yes
      shift
      ;;
    --reason)
      need_value "$opt" "$#"
      reason=$2
      shift 2
      ;;
    --)
      shift
      break
      ;;
    -*)
      usage_error "unknown option $opt"
      ;;
    *)
      break
      ;;
  esac
done

[ -n "$server" ] || usage_error "--server URL is required"
[ -n "$key" ] || usage_error "--key FILE is required"
[ -n "$cert" ] || usage_error "--cert FILE is required"
[ "$#" -gt 0 ] || usage_error "at least one NAME is required"
if [ "$hmac_key_set" = yes ] && [ -z "$hmac_key" ]; then usage_error "--hmac-key is empty"; fi
if [ "$hmac_key_set" = yes ] && [ -n "$hmac_key_file" ]; then
  usage_error "give --hmac-key-file FILE or --hmac-key KEY, not both"
fi

case $hmac_type in
  sha1 | sha256 | sha384 | sha512) ;;
  *) usage_error "--hmac-type must be sha256, sha384, sha512 or sha1, not \"$hmac_type\"" ;;
esac

case $server in
  http://?* | https://?*) ;;
  *) usage_error "--server must be an http:// or https:// URL, not \"$server\"" ;;
esac
server=${server%/}
case $server in
  */sign) sign_url=$server ;;
  *) sign_url=$server/sign ;;
esac
if [ -n "$reason" ] && [ "$revoke" = no ]; then usage_error "--reason goes with --revoke"; fi
case ${reason:-unspecified} in
  unspecified | keyCompromise | superseded | cessationOfOperation | affiliationChanged) ;;
  *) usage_error "--reason must be unspecified, keyCompromise, superseded, cessationOfOperation or affiliationChanged, not \"$reason\"" ;;
esac
# What is posted where: the CSR to /sign, or (--revoke) the certificate and a fresh CSR to /revoke.
post_url=$sign_url
if [ "$revoke" = yes ]; then post_url="${sign_url%/sign}/revoke?reason=${reason:-unspecified}"; fi

# Names: lower case (DNS is case-insensitive, and the CSR must not change with the spelling), no duplicates.
for name in "$@"; do
  name=$(printf '%s' "$name" | tr '[:upper:]' '[:lower:]')
  # Labels of letters, digits and '-' (not at either end), separated by dots; '*.' only as the first label.
  label_check=${name#\*.}
  case $label_check in
    '' | *[!a-z0-9.-]* | .* | *. | *..* | -* | *- | *.-* | *-.*)
      usage_error "\"$name\" is not a DNS name (letters, digits, '-', '.', and '*.' for a wildcard)"
      ;;
  esac
  case " $names " in
    *" $name "*) ;;
    *) names="${names:+$names }$name" ;;
  esac
done
first_name=${names%% *}

# Every file we write goes next to its final path, so the last step is an atomic rename.
for f in "$key" "$cert"; do
  case $f in
    */) usage_error "\"$f\" is a directory, not a file" ;;
  esac
  d=$(dirname -- "$f")
  [ -d "$d" ] || die "directory $d (for $f) does not exist"
  [ -w "$d" ] || die "directory $d (for $f) is not writable"
done
if [ -n "$ca" ] && [ ! -r "$ca" ]; then die "--ca $ca is not a readable file"; fi

# --- tools --------------------------------------------------------------------------------------------------------
command -v openssl >/dev/null 2>&1 || die "openssl is not installed"
if command -v curl >/dev/null 2>&1; then
  http_tool=curl
elif command -v wget >/dev/null 2>&1; then
  http_tool=wget
else
  die "neither curl nor wget is installed"
fi

# --- the HMAC key -------------------------------------------------------------------------------------------------
# The key is kept as hex digits in a shell variable (key_hex) and never becomes an argument of a program: see hmac_hex.
# Bytes on stdin as lower-case hex digits, no spaces.
hex_of() { od -An -v -tx1 | tr -d ' \n'; }

env_key=${ACMEMS_HMAC_KEY:-}
# Not passed on to openssl, curl or the --reload command.
unset ACMEMS_HMAC_KEY
key_hex=""
if [ -n "$hmac_key_file" ] || [ "$hmac_key_set" = yes ] || [ -n "$env_key" ]; then
  case $(command -V printf 2>/dev/null) in
    *builtin*) ;;
    *) die "printf is not a builtin of this shell: the HMAC key would be on its command line; run this script with dash or bash" ;;
  esac
fi
if [ -n "$hmac_key_file" ]; then
  if [ -d "$hmac_key_file" ] || [ ! -r "$hmac_key_file" ]; then
    die "cannot read the --hmac-key-file $hmac_key_file (it must be a file readable by this user, mode 0600)"
  fi
  case $(ls -lLd -- "$hmac_key_file" 2>/dev/null) in
    ???????r*) warn "warning: --hmac-key-file $hmac_key_file is readable by every local user: chmod 600 $hmac_key_file" ;;
    ????r*) warn "warning: --hmac-key-file $hmac_key_file is readable by its group: chmod 600 $hmac_key_file" ;;
  esac
  key_hex=$(hex_of <"$hmac_key_file") || die "cannot read the --hmac-key-file $hmac_key_file"
  # White space around the key (a final newline, CR LF) is not part of it.
  while :; do
    case $key_hex in
      09* | 0a* | 0b* | 0c* | 0d* | 20*) key_hex=${key_hex#??} ;;
      *09 | *0a | *0b | *0c | *0d | *20) key_hex=${key_hex%??} ;;
      *) break ;;
    esac
  done
  [ -n "$key_hex" ] || die "the --hmac-key-file $hmac_key_file is empty"
elif [ "$hmac_key_set" = yes ]; then
  warn "warning: --hmac-key puts the key where every local user can read it (ps, /proc/PID/cmdline): use --hmac-key-file FILE or ACMEMS_HMAC_KEY instead"
  key_hex=$(printf '%s' "$hmac_key" | hex_of)
elif [ -n "$env_key" ]; then
  key_hex=$(printf '%s' "$env_key" | hex_of)
fi
hmac_key=""
env_key=""

# --- temporary files ----------------------------------------------------------------------------------------------
work=""
pending_tmp=""
# shellcheck disable=SC2317 # called by the EXIT trap, which shellcheck 0.9 does not see
cleanup() {
  if [ -n "$pending_tmp" ]; then rm -f -- "$pending_tmp"; fi
  if [ -n "$work" ]; then rm -rf -- "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# The caller's umask, for the --reload command (the files written here get the strict one below).
caller_umask=$(umask)
umask 077
work=$(mktemp -d "${TMPDIR:-/tmp}/acmems-client.XXXXXX") || die "cannot create a temporary directory"

# Creates an empty file (mode 0600) next to $1 and stores its name in $pending_tmp (removed on exit unless renamed).
temp_beside() {
  pending_tmp=$(mktemp "$1.tmp.XXXXXX" 2>/dev/null) && return 0
  # No mktemp(1) that takes a template: fall back to a name with our PID, created exclusively.
  pending_tmp="$1.tmp.$$"
  (set -C && : >"$pending_tmp") 2>/dev/null && return 0
  pending_tmp=""
  die "cannot create a temporary file next to $1"
}

# Moves the pending temp file to $1 (an atomic rename within one directory).
commit_temp() {
  mv -f -- "$pending_tmp" "$1" || die "cannot rename $pending_tmp to $1"
  pending_tmp=""
}

# Writes $2 (text) to $1 atomically.
write_file() {
  temp_beside "$1"
  printf '%s\n' "$2" >"$pending_tmp" || die "cannot write $pending_tmp"
  chmod 644 "$pending_tmp" || die "cannot chmod $pending_tmp"
  commit_temp "$1"
}

# --- time -------------------------------------------------------------------------------------------------------
# Prints an RFC 3339 time as UTC YYYY-MM-DDTHH:MM:SSZ (which sorts correctly as text), or nothing if it cannot.
normalize_time() {
  nt=$(printf '%s' "$1" | tr -d ' \r\n\t')
  case $nt in
    *[+-]00:00) nt=${nt%??????}Z ;;
  esac
  # UTC, possibly with fractional seconds: pure text processing (POSIX sed, basic regular expressions).
  nt_utc=$(printf '%s\n' "$nt" | sed -n \
    's/^\([0-9]\{4\}-[0-9][0-9]-[0-9][0-9]\)[Tt]\([0-9][0-9]:[0-9][0-9]:[0-9][0-9]\)\(\.[0-9]*\)\{0,1\}[Zz]$/\1T\2Z/p')
  if [ -n "$nt_utc" ]; then
    printf '%s\n' "$nt_utc"
    return 0
  fi
  # Another offset: GNU (and BusyBox) date can convert it; elsewhere give up (the caller then asks the server).
  case $nt in
    [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][Tt][0-9][0-9]:[0-9][0-9]:[0-9][0-9]*[+-][0-9][0-9]:[0-9][0-9])
      date -u -d "$nt" '+%Y-%m-%dT%H:%M:%SZ' 2>/dev/null || true
      ;;
  esac
}

# True when UTC time $1 (normalised) is later than now.
in_future() {
  now_digits=$(date -u '+%Y%m%d%H%M%S')
  then_digits=$(printf '%s' "$1" | tr -cd '0-9')
  [ "${#then_digits}" -eq 14 ] || return 1
  [ "$then_digits" -gt "$now_digits" ]
}

# --- key and CSR --------------------------------------------------------------------------------------------------
if [ "$revoke" = yes ]; then
  [ -r "$key" ] || die "--revoke needs the certificate's key, and $key cannot be read"
  [ -r "$cert" ] || die "--revoke needs the installed certificate, and $cert cannot be read"
fi
if [ ! -e "$key" ]; then
  temp_beside "$key"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve \
    -out "$pending_tmp" 2>"$work/err" || die "cannot create the key: $(cat "$work/err")"
  chmod 600 "$pending_tmp" || die "cannot chmod $pending_tmp"
  commit_temp "$key"
  say "created a new EC P-256 key in $key"
fi
[ -r "$key" ] || die "cannot read the key $key"
key_pub=$(openssl pkey -in "$key" -pubout 2>"$work/err") || die "$key is not a usable private key: $(cat "$work/err")"

# The subjectAltName text `openssl -text` shows for our names ("DNS:a, DNS:b"), and the CN (empty when the first
# name does not fit the 64 characters of a CN; the SANs are what counts).
san_ext=""
san_text=""
for name in $names; do
  san_ext="${san_ext:+$san_ext,}DNS:$name"
  san_text="${san_text:+$san_text, }DNS:$name"
done
cn=$first_name
[ "${#cn}" -le 64 ] || cn=""

# Prints the subjectAltName line of an `openssl req|x509 -noout -text` dump on stdin.
san_line() {
  awk '/X509v3 Subject Alternative Name:/ { getline; sub(/^[ \t]+/, ""); sub(/[ \t]+$/, ""); print; exit }'
}

csr=$key.csr
csr_is_current() {
  [ -f "$csr" ] || return 1
  openssl req -in "$csr" -noout -verify >/dev/null 2>&1 || return 1
  [ "$(openssl req -in "$csr" -noout -pubkey 2>/dev/null)" = "$key_pub" ] || return 1
  [ "$(openssl req -in "$csr" -noout -text 2>/dev/null | san_line)" = "$san_text" ] || return 1
  [ "$(openssl req -in "$csr" -noout -subject -nameopt RFC2253 2>/dev/null)" = "subject=${cn:+CN=$cn}" ] || return 1
}

csr_new=no
if [ "$revoke" = no ] && ! csr_is_current; then
  if [ -n "$cn" ]; then subj="/CN=$cn"; else subj="/"; fi
  temp_beside "$csr"
  openssl req -new -batch -key "$key" -subj "$subj" -addext "subjectAltName=$san_ext" -out "$pending_tmp" \
    2>"$work/err" || die "cannot create the CSR: $(cat "$work/err")"
  chmod 644 "$pending_tmp" || die "cannot chmod $pending_tmp"
  commit_temp "$csr"
  csr_new=yes
fi

# --- checks on certificates -----------------------------------------------------------------------------------------
# True when certificate file $1 covers every requested name.
covers_names() {
  cn_sans=$(openssl x509 -in "$1" -noout -text 2>/dev/null | san_line | tr '[:upper:]' '[:lower:]')
  for name in $names; do
    case ", $cn_sans," in
      *", dns:$name,"*) ;;
      *) return 1 ;;
    esac
  done
}

# True when certificate file $1 carries our key.
has_our_key() {
  [ "$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null)" = "$key_pub" ]
}

# The --reload command; a failure is remembered in <cert>.reload-pending and retried on the next run.
pending_marker=$cert.reload-pending
run_reload() {
  [ -n "$reload" ] || return 0
  : >"$pending_marker" 2>/dev/null || true
  # With the caller's umask, not this script's 077: files the command creates (a PID file, a combined PEM for a
  # service running as another user) get the modes the caller expects.
  if (umask "$caller_umask" && exec sh -c "$reload"); then
    rm -f -- "$pending_marker"
  else
    die "the certificate is installed, but the --reload command failed (exit $?): $reload; it runs again next time"
  fi
}
retry_pending_reload() {
  if [ -n "$reload" ] && [ -e "$pending_marker" ]; then
    say "running the --reload command that failed last time"
    run_reload
  fi
}

# --- skip while not due ---------------------------------------------------------------------------------------------
renew_file=$cert.renew-after
if [ "$revoke" = no ] && [ "$force" = no ] && [ "$csr_new" = no ] && [ -f "$cert" ] && [ -f "$renew_file" ]; then
  renew_after=$(normalize_time "$(sed -n 1p "$renew_file")")
  # The time alone is not enough: the installed file must still be our certificate, for these names, and valid
  # for at least another day (in case the clock or the file lies).
  if [ -n "$renew_after" ] && in_future "$renew_after" && has_our_key "$cert" && covers_names "$cert" &&
    openssl x509 -in "$cert" -noout -checkend 86400 >/dev/null 2>&1; then
    retry_pending_reload
    say "$cert is current; not asking the server before $renew_after (--force to ask now)"
    exit 0
  fi
fi

# --- HMAC (RFC 2104) --------------------------------------------------------------------------------------------------
# HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)), computed around `openssl dgst -binary`, because every way to give
# OpenSSL 3.0 a MAC key (dgst -hmac KEY, -macopt key:/hexkey:, openssl mac -macopt) is a command-line argument, which
# every local user can read in /proc/PID/cmdline. Here the padded key blocks are written into a pipe by printf, a
# builtin of the shell (dash, bash): no process is started with the key, or anything made from it, as an
# argument, and no file holds it (a shell whose printf is a program is refused above).

# Sets xor_fmt to a printf format (octal escapes only) for the bytes of hex string $1 XOR $2, padded with bytes
# 0 XOR $2 to $3 bytes. Pure shell arithmetic: no program is run.
xor_format() {
  xf_hex=$1
  xf_n=0
  xor_fmt=""
  while [ -n "$xf_hex" ] || [ "$xf_n" -lt "$3" ]; do
    if [ -n "$xf_hex" ]; then
      xf_rest=${xf_hex#??}
      xf_byte=$((0x${xf_hex%"$xf_rest"} ^ $2))
      xf_hex=$xf_rest
    else
      xf_byte=$2
    fi
    xor_fmt="$xor_fmt\\$((xf_byte / 64))$((xf_byte / 8 % 8))$((xf_byte % 8))"
    xf_n=$((xf_n + 1))
  done
}

# Byte count of file $1.
size_of() { wc -c <"$1" | tr -d ' '; }

# Sets mac to the hex HMAC of file $1 with the key in key_hex and the digest hmac_type.
hmac_hex() {
  case $hmac_type in
    sha1) hh_block=64 hh_len=20 ;;
    sha256) hh_block=64 hh_len=32 ;;
    sha384) hh_block=128 hh_len=48 ;;
    *) hh_block=128 hh_len=64 ;;
  esac
  hh_key=$key_hex
  if [ "${#hh_key}" -gt $((hh_block * 2)) ]; then
    # A key longer than the block is replaced by its digest.
    xor_format "$hh_key" 0 0
    # shellcheck disable=SC2059 # the format is octal escapes made by xor_format
    hh_key=$(printf "$xor_fmt" | openssl dgst "-$hmac_type" -binary 2>"$work/err" | hex_of)
    [ "${#hh_key}" -eq $((hh_len * 2)) ] || die "openssl dgst -$hmac_type failed: $(cat "$work/err")"
  fi
  xor_format "$hh_key" 54 "$hh_block" # 0x36, ipad
  # shellcheck disable=SC2059
  { printf "$xor_fmt" && cat "$1"; } | openssl dgst "-$hmac_type" -binary >"$work/inner" 2>"$work/err"
  [ "$(size_of "$work/inner")" -eq "$hh_len" ] || die "openssl dgst -$hmac_type failed: $(cat "$work/err")"
  xor_format "$hh_key" 92 "$hh_block" # 0x5c, opad
  # shellcheck disable=SC2059
  { printf "$xor_fmt" && cat "$work/inner"; } | openssl dgst "-$hmac_type" -binary >"$work/mac" 2>"$work/err"
  [ "$(size_of "$work/mac")" -eq "$hh_len" ] || die "openssl dgst -$hmac_type failed: $(cat "$work/err")"
  xor_fmt=""
  hh_key=""
  mac=$(hex_of <"$work/mac")
}

# --- the /revoke body --------------------------------------------------------------------------------------------
post_file=$csr
if [ "$revoke" = yes ]; then
  # The installed leaf (first certificate of --cert), which must be ours and for these names, then a fresh CSR
  # signed by the key: the CSR's signature proves to the server that we hold the certificate's key.
  awk '/^-----BEGIN CERTIFICATE-----/ { n++ } n == 1 { print } /^-----END CERTIFICATE-----/ && n == 1 { exit }' \
    "$cert" >"$work/revoke-leaf.pem"
  openssl x509 -in "$work/revoke-leaf.pem" -noout 2>/dev/null || die "$cert holds no certificate to revoke"
  has_our_key "$work/revoke-leaf.pem" || die "the certificate in $cert is not for the key $key: nothing revoked"
  covers_names "$work/revoke-leaf.pem" || die "the certificate in $cert is not for all of: $names; nothing revoked"
  if [ -n "$cn" ]; then subj="/CN=$cn"; else subj="/"; fi
  openssl req -new -batch -key "$key" -subj "$subj" -addext "subjectAltName=$san_ext" -out "$work/revoke.csr" \
    2>"$work/err" || die "cannot create the CSR for the revocation: $(cat "$work/err")"
  cat "$work/revoke-leaf.pem" "$work/revoke.csr" >"$work/revoke.pem" || die "cannot write $work/revoke.pem"
  post_file=$work/revoke.pem
fi

# --- POST /sign (or /revoke) ------------------------------------------------------------------------------------------
auth_header=""
if [ -n "$key_hex" ]; then
  hmac_hex "$post_file"
  case $mac in
    '' | *[!0-9a-f]*) die "the HMAC of $post_file could not be computed" ;;
  esac
  auth_header="Authentication: hmac name=$hmac_type, hash=$mac"
fi

body=$work/body
headers=$work/headers
: >"$body"
: >"$headers"
status=""
if [ "$http_tool" = curl ]; then
  # -q first: ignore ~/.curlrc, whose options (--fail, -L, ...) would change what we see.
  set -- -q -sS -o "$body" -D "$headers" -w '%{http_code}' --connect-timeout 30 --max-time 300 \
    -H 'Expect:' -H 'Content-Type: application/x-pem-file' --data-binary "@$post_file"
  if [ -n "$auth_header" ]; then set -- "$@" -H "$auth_header"; fi
  status=$(curl "$@" "$post_url" 2>"$work/err")
  tool_rc=$?
  [ "$tool_rc" -eq 0 ] || status=""
else
  set -- -S -O "$body" -T 300 --header='Content-Type: application/x-pem-file' "--post-file=$post_file"
  # GNU wget: one try, keep the body of an error answer, no redirects. BusyBox wget knows none of these.
  if ! wget --help 2>&1 | grep -q BusyBox; then set -- "$@" --tries=1 --content-on-error --max-redirect=0; fi
  if [ -n "$auth_header" ]; then set -- "$@" "--header=$auth_header"; fi
  wget "$@" "$post_url" 2>"$headers"
  tool_rc=$?
  status=$(awk '/^ *HTTP\/[0-9.]+ [0-9][0-9][0-9]/ { s = $2 } END { print s }' "$headers")
  cp "$headers" "$work/err"
fi

# The value of response header $1 (lower case) in the last response of the headers file.
header_value() {
  sed 's/^ *//; s/\r$//' "$headers" | awk -v h="$1" '
    /^HTTP\// { v = "" }
    { i = index($0, ":"); if (i == 0) next
      n = tolower(substr($0, 1, i - 1)); x = substr($0, i + 1)
      sub(/^[ \t]+/, "", x); sub(/[ \t]+$/, "", x)
      if (n == h) v = x }
    END { print v }'
}

case $status in
  [0-9][0-9][0-9]) ;;
  *)
    detail=$(tail -n 3 "$work/err" 2>/dev/null | tr '\n' ' ')
    die "no answer from $post_url ($http_tool exit $tool_rc${detail:+: $detail}); try again later" 3
    ;;
esac
if [ "$status" != 200 ]; then
  answer=$(sed -n '1,5p' "$body" | tr '\n' ' ')
  retry_after=$(header_value retry-after)
  msg="$post_url answered $status: ${answer:-no reason given}${retry_after:+ (Retry-After: $retry_after)}"
  case $status in
    408 | 421 | 429 | 5??) die "$msg; try again later" 3 ;;
    000) die "no answer from $post_url; try again later" 3 ;;
    *) die "$msg" 2 ;;
  esac
fi
if [ "$revoke" = yes ]; then
  # The next run asks the server again (and gets a new certificate) instead of waiting for the old renewal time.
  rm -f -- "$renew_file"
  say "$(sed -n 1p "$body")"
  if [ "${reason:-unspecified}" = keyCompromise ]; then
    say "the server refuses $key from now on: delete it, and the next run creates a new key and certificate"
  fi
  exit 0
fi

# --- verify the answer ----------------------------------------------------------------------------------------------
leaf=$work/leaf.pem
chain=$work/chain.pem
: >"$leaf"
: >"$chain"
# The answer is installed as it is, so it must be PEM certificates and nothing else: leaf first, then the chain.
awk -v leaf="$leaf" -v chain="$chain" '
  /^-----BEGIN / { if ($0 != "-----BEGIN CERTIFICATE-----" || inside) bad = 1; n++; inside = 1 }
  inside { if (n == 1) print > leaf; else print > chain }
  !inside && NF > 0 { bad = 1 }
  /^-----END / { if ($0 != "-----END CERTIFICATE-----" || !inside) bad = 1; inside = 0 }
  END { exit bad || inside }' "$body" || die "the answer from $sign_url is not just PEM certificates" 4
[ -s "$leaf" ] || die "the answer from $sign_url contains no certificate" 4
openssl x509 -in "$leaf" -noout 2>/dev/null || die "the answer's first certificate cannot be parsed" 4
if [ -s "$chain" ]; then
  openssl crl2pkcs7 -nocrl -certfile "$chain" >/dev/null 2>&1 || die "the answer's chain cannot be parsed" 4
fi
has_our_key "$leaf" || die "the certificate in the answer is not for our key $key: not installed" 4
covers_names "$leaf" || die "the certificate in the answer does not cover all of: $names; not installed" 4
openssl x509 -in "$leaf" -noout -checkend 0 >/dev/null 2>&1 || die "the certificate in the answer has expired" 4
if [ -n "$ca" ]; then
  if [ -s "$chain" ]; then
    openssl verify -CAfile "$ca" -untrusted "$chain" "$leaf" >"$work/verify" 2>&1 ||
      die "the answer does not chain to $ca: $(tr '\n' ' ' <"$work/verify")" 4
  else
    openssl verify -CAfile "$ca" "$leaf" >"$work/verify" 2>&1 ||
      die "the answer does not chain to $ca: $(tr '\n' ' ' <"$work/verify")" 4
  fi
fi

# --- install ----------------------------------------------------------------------------------------------------------
cache=$(header_value x-acmems-cache)
renew_after=$(normalize_time "$(header_value x-acmems-renew-after)")
changed=no
if [ ! -f "$cert" ] || ! cmp -s "$body" "$cert"; then
  temp_beside "$cert"
  cat "$body" >"$pending_tmp" || die "cannot write $pending_tmp"
  chmod 644 "$pending_tmp" || die "cannot chmod $pending_tmp"
  commit_temp "$cert"
  changed=yes
fi
if [ -n "$renew_after" ]; then
  write_file "$renew_file" "$renew_after"
else
  # No (readable) renewal time: ask again on the next run.
  rm -f -- "$renew_file"
fi

not_after=$(openssl x509 -in "$cert" -noout -enddate 2>/dev/null | sed 's/^notAfter=//')
if [ "$changed" = yes ]; then
  say "installed a new certificate for $names in $cert (valid until $not_after${renew_after:+, renew after $renew_after}${cache:+, server cache: $cache})"
  run_reload
else
  retry_pending_reload
  say "$cert is unchanged (valid until $not_after${renew_after:+, renew after $renew_after}${cache:+, server cache: $cache})"
fi
exit 0
