# syntax=docker/dockerfile:1
# acmems as a single binary (deno compile) in a slim image, running as an unprivileged user.
#
#   docker build -t acmems .
#   docker run -v /etc/acmems:/etc/acmems:ro -v acmems-state:/var/lib/acmems -p 1313:1313 -p 80:1380 acmems
#
# The config (/etc/acmems/acmems.ini) should keep its state under /var/lib/acmems (the volume):
#   [account] dir = /var/lib/acmems/account, [storage "cache"] directory = /var/lib/acmems/cache,
# and listen on all addresses inside the container ([mgmt] listener = 0.0.0.0:1313, http01 listener = 0.0.0.0:1380).

ARG DENO_VERSION=2.9.6

# --- build: compile main.ts and its dependencies (pinned by deno.lock) into one executable --------------------------
FROM denoland/deno:${DENO_VERSION} AS build
WORKDIR /src
COPY deno.json deno.lock ./
COPY main.ts ./
COPY cli/ cli/
COPY src/ src/
# deno.json's "lazy-dynamic-imports" (deno run loads a dynamic import() when it runs) would make deno compile embed
# only the static graph: the binary is compiled with the same config without it (as scripts/compile.sh does).
RUN deno eval 'const c = JSON.parse(Deno.readTextFileSync("deno.json")); c.unstable = (c.unstable ?? []).filter((f) => f !== "lazy-dynamic-imports"); Deno.writeTextFileSync("deno.compile.json", JSON.stringify(c));' \
  && deno compile --frozen --config deno.compile.json --v8-flags=--max-semi-space-size=8,--expose-gc --allow-net --allow-read --allow-write --allow-env --allow-run --allow-sys=hostname,networkInterfaces --allow-ffi=/lib/x86_64-linux-gnu/libc.so.6,/lib/aarch64-linux-gnu/libc.so.6,/lib64/libc.so.6 --output /out/acmems main.ts \
  && /out/acmems --version

# --- runtime: glibc and nothing else (Deno carries its own TLS roots) -------------------------------------------------
FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 acmems \
  && useradd --system --uid 10001 --gid acmems --home-dir /var/lib/acmems --no-create-home \
    --shell /usr/sbin/nologin acmems \
  && install -d -o acmems -g acmems -m 0700 /var/lib/acmems \
  && install -d -m 0755 /etc/acmems
COPY --from=build /out/acmems /usr/local/bin/acmems
USER 10001:10001
WORKDIR /var/lib/acmems
VOLUME ["/var/lib/acmems"]
EXPOSE 1313 1380
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/acmems"]
CMD ["serve", "/etc/acmems/acmems.ini"]
