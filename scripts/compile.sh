#!/usr/bin/env bash
# deno task compile: builds the single binary dist/acmems with `deno compile`.
# deno compile needs denort, Deno's runtime without the tooling, which it downloads from dl.deno.land unless
# DENORT_BIN names a local copy. Where that download fails (no internet access) this says what to do instead of
# printing Deno's backtrace. Extra arguments go to deno compile: `deno task compile` passes the V8 flags of what is
# shipped (deno.json's compile task, where the bench reads them too; the same flags as Dockerfile and
# contrib/acmems-bundle.service). The FFI permission is for glibc's malloc_trim only (src/ops/malloc_trim.ts).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
DENO=${DENO:-deno}

version=$("$DENO" --version 2>/dev/null | awk 'NR == 1 { print $2 }')
err=$(mktemp)
# deno.json's "lazy-dynamic-imports" (deno run loads a dynamic import() when it runs, not before the first line:
# start-up time) would make deno compile embed only the static graph: the binary is compiled with the same config
# without it (deno.compile.json, next to deno.json so that deno.lock and the paths resolve the same; the Dockerfile
# does the same).
trap 'rm -f "$err" deno.compile.json' EXIT
"$DENO" eval 'const c = JSON.parse(Deno.readTextFileSync("deno.json"));
c.unstable = (c.unstable ?? []).filter((f) => f !== "lazy-dynamic-imports");
Deno.writeTextFileSync("deno.compile.json", JSON.stringify(c, null, 2));' || exit 1
"$DENO" compile --frozen --config deno.compile.json --allow-net --allow-read --allow-write --allow-env --allow-run \
  --allow-sys=hostname,networkInterfaces \
  --allow-ffi=/lib/x86_64-linux-gnu/libc.so.6,/lib/aarch64-linux-gnu/libc.so.6,/lib64/libc.so.6 \
  --output dist/acmems "$@" main.ts 2>"$err"
rc=$?
if [ "$rc" = 0 ]; then
  cat "$err" >&2
  exit 0
fi
if [ -z "${DENORT_BIN:-}" ] && grep -q 'denort' "$err" && grep -qiE 'error sending request|dns error|connect|timed out|certificate' "$err"; then
  url=$(grep -oE 'https://[^ )]*denort[^ )]*\.zip' "$err" | head -1)
  cat >&2 <<EOF
deno task compile: deno compile could not download denort${url:+ from $url}.

denort is Deno's runtime without the tooling; deno compile copies it into dist/acmems together with acmems'
code. It comes from Deno's download server, and this machine cannot reach it. Two ways out:

1. Give deno compile a local denort: fetch the file above on a machine with internet access (the release zip
   for Deno ${version:-<this version>}, same platform, on https://github.com/denoland/deno/releases too), unpack
   it here and run
     DENORT_BIN=/path/to/denort deno task compile
   (DENORT_BIN must be denort of the same Deno version; the full deno binary does not work in its place.)

2. No binary at all: build one JavaScript file and run it with this Deno (no download needed):
     deno task bundle
     deno run -A dist/acmems.js serve /etc/acmems/acmems.ini
   (contrib/acmems-bundle.service runs it under systemd.)
EOF
  exit 1
fi
# Any other failure: Deno's own message, without the backtrace noise RUST_BACKTRACE adds.
sed '/^Stack backtrace:/,$d' "$err" >&2
exit "$rc"
