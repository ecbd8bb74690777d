/**
 * The processes the benchmark and the load test run against: acmems (as a subprocess, with a known http-01 token),
 * the ceilings (a bare Deno.serve, nginx serving a static file), and small helpers (config text, HMAC header,
 * /proc memory, Prometheus counters).
 */
import { acmemsArgs, startAcmems } from "../../tests/support/acmems.ts";
import { caAccount, type ConfigSpec, fileStorage, http01, type Options } from "../../tests/support/config.ts";
import {
  type PeerProcess,
  removeWorkDir,
  runChecked,
  spawnLogged,
  stopOnFailure,
} from "../../tests/support/process.ts";

export const REPO_ROOT = new URL("../../", import.meta.url).pathname;
export const BARE_SERVER = `${REPO_ROOT}bench/servers/bare.ts`;
export const BARE_POST_SERVER = `${REPO_ROOT}bench/servers/bare_post.ts`;
export const BARE_POST_HIT_SERVER = `${REPO_ROOT}bench/servers/bare_post_hit.ts`;
export const ACMEMS_WITH_TOKEN = `${REPO_ROOT}bench/servers/acmems_with_token.ts`;
export const MAIN_TS = `${REPO_ROOT}main.ts`;

/**
 * The V8 flags the shipped acmems runs with (deno.json's `compile` task builds them into the binary): the bench runs
 * `serve` with the same ones, so it measures what is deployed.
 */
export const SERVE_V8_FLAGS: string[] = (() => {
  const tasks = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}deno.json`)).tasks as Record<string, string>;
  return (tasks.compile ?? "").split(/\s+/).filter((arg) => arg.startsWith("--v8-flags="));
})();
export const NGINX_BIN = "/usr/sbin/nginx";

/** A server process started by the bench. */
export interface Server extends AsyncDisposable {
  name: string;
  pid: number;
  /** The exact command line. */
  command: string;
  logFile: string;
  proc: PeerProcess;
  stop(): Promise<void>;
}

/** `http://127.0.0.1:PORT/…` answers (any status) within the wait. */
async function httpAnswers(url: string, signal: AbortSignal, headers?: Record<string, string>): Promise<boolean> {
  const response = await fetch(url, { signal, headers });
  await response.body?.cancel();
  return response.status > 0;
}

function server(name: string, command: string, proc: PeerProcess, onStop?: () => Promise<void>): Server {
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      await proc.stop();
      await onStop?.();
    })();
  return { name, pid: proc.pid, command, logFile: proc.logFile, proc, stop, [Symbol.asyncDispose]: stop };
}

/** The Deno.serve ceiling: `deno run --allow-net bench/servers/bare.ts PORT TEXT`, a separate process. */
export async function startBare(
  opts: { dir: string; port: number; text: string; readUrlHost?: boolean; takeRequest?: boolean },
): Promise<Server> {
  const args = ["run", "--allow-net", BARE_SERVER, String(opts.port), opts.text];
  if (opts.readUrlHost) args.push("--read-url-host");
  else if (opts.takeRequest) args.push("--take-request");
  const name = opts.readUrlHost ? "bare-deno-url-host" : opts.takeRequest ? "bare-deno-request" : "bare-deno";
  const proc = spawnLogged({ name, command: Deno.execPath(), args, logFile: `${opts.dir}/${name}.log` });
  await stopOnFailure(proc, () => proc.waitFor((s) => httpAnswers(`http://127.0.0.1:${opts.port}/`, s)));
  return server(name, `deno ${args.join(" ")}`, proc);
}

/** The /sign ceiling: bench/servers/bare_post.ts (read the body, check its HMAC, answer `chainFile`'s text). */
export function startBarePost(
  opts: { dir: string; port: number; hmacKey: string; chainFile: string },
): Promise<Server> {
  return startPostServer("bare-post", BARE_POST_SERVER, opts, []);
}

/**
 * The documented-hit ceiling: bench/servers/bare_post_hit.ts (bare_post.ts plus what the README promises for every
 * /sign hit: a bounded body read under a timeout, a stat of the cache file, the X-Acmems-* headers, one log line).
 */
export function startBarePostHit(
  opts: { dir: string; port: number; hmacKey: string; chainFile: string },
): Promise<Server> {
  return startPostServer("bare-post-hit", BARE_POST_HIT_SERVER, opts, [`${opts.dir}/bare_post_hit.audit.log`]);
}

/** `deno run SCRIPT PORT HMAC_KEY CHAIN_FILE EXTRA…`, waited for until it answers; the HMAC key is not shown. */
async function startPostServer(
  name: string,
  script: string,
  opts: { dir: string; port: number; hmacKey: string; chainFile: string },
  extra: string[],
): Promise<Server> {
  const flags = ["run", "--allow-net", "--allow-read", ...(extra.length > 0 ? ["--allow-write"] : []), script];
  const args = [...flags, String(opts.port), opts.hmacKey, opts.chainFile, ...extra];
  const proc = spawnLogged({ name, command: Deno.execPath(), args, logFile: `${opts.dir}/${name}.log` });
  await stopOnFailure(proc, () => proc.waitFor((s) => httpAnswers(`http://127.0.0.1:${opts.port}/`, s)));
  return server(name, `deno ${[...flags, String(opts.port), "<hmac-key>", opts.chainFile, ...extra].join(" ")}`, proc);
}

/**
 * The nginx ceiling: one worker serving `/.well-known/acme-challenge/<token>` from a static file (the same bytes
 * acmems answers), no access log, keep-alive without a request limit.
 */
export async function startStaticNginx(
  opts: { dir: string; port: number; token: string; text: string },
): Promise<Server> {
  const dir = `${opts.dir}/nginx`;
  await Deno.mkdir(`${dir}/root/.well-known/acme-challenge`, { recursive: true });
  await Deno.mkdir(`${dir}/tmp`, { recursive: true });
  // As root the worker runs as "nobody": it must be able to read the file and reach the temp paths.
  for (const d of [opts.dir, dir, `${dir}/root`, `${dir}/root/.well-known`, `${dir}/root/.well-known/acme-challenge`]) {
    await Deno.chmod(d, 0o755);
  }
  await Deno.writeTextFile(`${dir}/root/.well-known/acme-challenge/${opts.token}`, opts.text, { mode: 0o644 });
  const logFile = `${dir}/nginx.log`;
  const conf = `${dir}/nginx.conf`;
  await Deno.writeTextFile(
    conf,
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${logFile} warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type text/plain;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen 127.0.0.1:${opts.port};
    root ${dir}/root;
    location /.well-known/acme-challenge/ { }
  }
}
`,
  );
  const base = ["-p", `${dir}/`, "-c", conf, "-e", logFile];
  await runChecked(NGINX_BIN, [...base, "-t", "-q"]);
  const args = [...base, "-g", "daemon off;"];
  const proc = spawnLogged({ name: "nginx", command: NGINX_BIN, args, logFile });
  await stopOnFailure(proc, () => proc.waitFor((s) => httpAnswers(`http://127.0.0.1:${opts.port}/`, s)));
  return server("nginx", `${NGINX_BIN} ${args.map((a) => (a.includes(" ") ? `'${a}'` : a)).join(" ")}`, proc);
}

/** Settings of the acmems config the bench and the load test use. */
export interface AcmemsSetup {
  directoryUrl: string;
  caFile: string;
  mgmtPort: number;
  challengePort: number;
  hmacKey: string;
  /** [mgmt] extras, e.g. `{ "max-inflight": 4 }`. */
  mgmt?: Options;
  logLevel?: string;
}

/** A realistic config: file cache, HMAC auth block for *.example.test, a named profile. */
export function benchConfig(s: AcmemsSetup): ConfigSpec {
  return {
    comment: "Written by the acmems benchmark / load test.",
    account: caAccount(s, "account", { profile: "default" }),
    mgmt: { listener: `127.0.0.1:${s.mgmtPort}`, "sign-timeout": "60s", ...s.mgmt },
    logging: { level: s.logLevel ?? "info" },
    verifications: { http: http01(s.challengePort) },
    storages: { cache: fileStorage("cache") },
    auth: { hosts: { ip: "127.0.0.0/8", hmac_type: "sha256", hmac_key: s.hmacKey, domain: "*.example.test" } },
  };
}

export interface BenchAcmems extends Server {
  mgmtUrl: string;
  challengeUrl: string;
  configFile: string;
}

/**
 * Starts acmems as a subprocess (bench/servers/acmems_with_token.ts: `runServe` plus one planted http-01 answer)
 * in `dir`, and waits until /ready answers 200 (listeners up, the CA's directory answered, the cache writable).
 */
export async function startAcmemsWithToken(opts: {
  dir: string;
  name?: string;
  setup: AcmemsSetup;
  host: string;
  token: string;
  keyAuthorization: string;
  /** Extra deno flags before the script (e.g. `--cpu-prof`). */
  denoFlags?: string[];
}): Promise<BenchAcmems> {
  const name = opts.name ?? "acmems";
  await Deno.mkdir(opts.dir, { recursive: true });
  const tokenArgs = ["http", opts.host, opts.token];
  const mgmtUrl = `http://127.0.0.1:${opts.setup.mgmtPort}`;
  const acmems = await startAcmems({
    name,
    dir: opts.dir,
    config: benchConfig(opts.setup),
    entry: ACMEMS_WITH_TOKEN,
    args: (files) => [...files, ...tokenArgs, opts.keyAuthorization],
    denoFlags: [...SERVE_V8_FLAGS, ...(opts.denoFlags ?? [])],
    ready: { url: `${mgmtUrl}/ready` }, // listeners up and the CA answered
  });
  const command = `deno ${
    acmemsArgs([acmems.configFile, ...tokenArgs], {
      entry: ACMEMS_WITH_TOKEN,
      denoFlags: [...SERVE_V8_FLAGS, ...(opts.denoFlags ?? [])],
    }).join(" ")
  } <keyauth>`;
  return {
    ...server(name, command, acmems.proc),
    mgmtUrl,
    challengeUrl: `http://127.0.0.1:${opts.setup.challengePort}`,
    configFile: acmems.configFile,
  };
}

/** `Authentication: hmac name=sha256, hash=<hex>` for a body. */
export async function hmacHeader(key: string, body: string): Promise<string> {
  const k = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    [
      "sign",
    ],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", k, new TextEncoder().encode(body)));
  return `hmac name=sha256, hash=${Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** VmRSS and VmHWM (peak) of a process in MiB, from /proc/PID/status. */
/** CPU ticks (user + system, 10 ms each) per thread name of a process, from /proc. */
export async function threadTicks(pid: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
    const stat = await Deno.readTextFile(`/proc/${pid}/task/${task.name}/stat`).catch(() => "");
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/[0-9]+$/, "#");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.set(name, (out.get(name) ?? 0) + Number(f[11] ?? 0) + Number(f[12] ?? 0));
  }
  return out;
}

export async function memoryMb(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const field = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN) / 1024;
  return { rss: Math.round(field("VmRSS") * 10) / 10, hwm: Math.round(field("VmHWM") * 10) / 10 };
}

/** The V8 heap of a bench acmems (bench/servers/acmems_with_token.ts writes it on SIGUSR2), in MiB; NaN if it does not answer. */
export async function heapMb(
  acmems: { pid: number; configFile: string },
): Promise<{ heap_total: number; heap_used: number; external: number }> {
  const file = `${acmems.configFile.slice(0, acmems.configFile.lastIndexOf("/"))}/memory.json`;
  const asked = Date.now();
  Deno.kill(acmems.pid, "SIGUSR2");
  const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 20));
    try {
      const m = JSON.parse(await Deno.readTextFile(file));
      if (m.at >= asked) return { heap_total: mb(m.heapTotal), heap_used: mb(m.heapUsed), external: mb(m.external) };
    } catch {
      // Not written yet.
    }
  }
  return { heap_total: NaN, heap_used: NaN, external: NaN };
}

/** The sum of every sample of `metric` whose labels include `labels`, from a Prometheus text page. */
export function metricSum(text: string, metric: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/);
    if (!m || m[1] !== metric) continue;
    const wanted = Object.entries(labels).every(([k, v]) => (m[2] ?? "").includes(`${k}="${v}"`));
    if (wanted) sum += Number(m[3]);
  }
  return sum;
}

/** GET /metrics of an acmems (from 127.0.0.1, a default metrics-ip). */
export async function fetchMetrics(mgmtUrl: string): Promise<string> {
  const response = await fetch(`${mgmtUrl}/metrics`);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${mgmtUrl}/metrics: ${response.status} ${text}`);
  return text;
}

/** A random base64url string of `bytes` bytes (tokens). */
export function randomToken(bytes = 32): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...raw)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export { removeWorkDir };
