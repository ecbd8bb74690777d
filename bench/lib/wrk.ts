/**
 * Runs wrk (Debian's 4.1) and reads its result from the `done()` hook in bench/lua/report.lua, which prints one
 * JSON line (`WRK_JSON {...}`), so nothing depends on wrk's human-readable output.
 */

/** Where the Lua scripts are. */
export const LUA_DIR = new URL("../lua/", import.meta.url).pathname;

export interface WrkOptions {
  url: string;
  /** -t (default 2). */
  threads?: number;
  /** -c (default 64). */
  connections?: number;
  /** -d in seconds (default 10). */
  seconds?: number;
  /** -H values, e.g. `Host: www.example.test`. */
  headers?: string[];
  /** A script in bench/lua/ (default report.lua: the URL's GET, plus the report hook). */
  script?: string;
  /** Environment for the script (sign.lua reads WRK_BODY_FILE and WRK_AUTH). */
  env?: Record<string, string>;
  /** -T in seconds (default 5; a request slower than this counts as a timeout error). */
  timeoutSeconds?: number;
}

export interface WrkResult {
  /** The exact command (shell syntax, with the environment it needs). */
  command: string;
  requests: number;
  seconds: number;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  mean_ms: number;
  /** Answers with status ≥ 400 (wrk's "Non-2xx or 3xx responses"). */
  non2xx: number;
  /** connect + read + write + timeout. */
  socketErrors: number;
  errors: { connect: number; read: number; write: number; timeout: number; status: number };
  /** wrk's own text output. */
  text: string;
}

/** The wrk argv for `opts`. */
export function wrkArgs(opts: WrkOptions): string[] {
  const args = [
    `-t${opts.threads ?? 2}`,
    `-c${opts.connections ?? 64}`,
    `-d${opts.seconds ?? 10}s`,
    `-T${opts.timeoutSeconds ?? 5}s`,
    "--latency",
  ];
  for (const h of opts.headers ?? []) args.push("-H", h);
  args.push("-s", `${LUA_DIR}${opts.script ?? "report.lua"}`, opts.url);
  return args;
}

/** The command line a person would type (env assignments, then wrk and its arguments, quoted for sh). */
export function wrkCommand(opts: WrkOptions): string {
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${shellQuote(v)}`);
  return [...env, "wrk", ...wrkArgs(opts).map(shellQuote)].join(" ");
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'"'"'`)}'`;
}

/** Runs wrk to completion and parses its report line; throws if wrk fails or prints no report. */
export async function runWrk(opts: WrkOptions): Promise<WrkResult> {
  const out = await new Deno.Command("wrk", {
    args: wrkArgs(opts),
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const line = text.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (out.code !== 0 || !line) throw new Error(`${wrkCommand(opts)} failed (exit ${out.code}):\n${text}`);
  const r = JSON.parse(line.slice("WRK_JSON ".length));
  const seconds = r.duration_us / 1e6;
  const ms = (us: number) => round(us / 1000, 3);
  return {
    command: wrkCommand(opts),
    requests: r.requests,
    seconds: round(seconds, 3),
    rps: round(r.requests / seconds, 0),
    p50_ms: ms(r.p50_us),
    p90_ms: ms(r.p90_us),
    p99_ms: ms(r.p99_us),
    p999_ms: ms(r.p999_us),
    max_ms: ms(r.max_us),
    mean_ms: ms(r.mean_us),
    non2xx: r.status,
    socketErrors: r.connect + r.read + r.write + r.timeout,
    errors: { connect: r.connect, read: r.read, write: r.write, timeout: r.timeout, status: r.status },
    text: text.split("\n").filter((l) => !l.startsWith("WRK_JSON ")).join("\n"),
  };
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** The median (mean of the middle two for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
