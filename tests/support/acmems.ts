/**
 * Runs `acmems serve` as a real subprocess (`deno run --allow-all main.ts serve CONFIG...`), the way an operator
 * would, for end-to-end tests.
 *
 * The child's stdout and stderr (so its log, with the default `[logging] destination = stderr`) go to a file; the
 * fixture reads that file to find the bound management listener (`listening role=mgmt …`) and the `ready` line.
 * `stop()` sends SIGTERM, then SIGKILL after a grace period, and always awaits the child.
 */
import { LOG_TAIL_LINES, type PeerProcess, readTextOrEmpty, removeWorkDir, spawnLogged, tailLines } from "./process.ts";

/** The repository root (where main.ts is). */
export const ACMEMS_ROOT = new URL("../../", import.meta.url).pathname;
/** The entry point the fixture runs. */
export const ACMEMS_MAIN = `${ACMEMS_ROOT}main.ts`;

/** Options for `startAcmems`. Give exactly one of `configText` and `configFile`. */
export interface AcmemsOptions {
  /** Config text, written to `<dir>/acmems.ini` (relative paths in it are relative to `dir`). */
  configText?: string;
  /** An existing config file (more files: `extraConfigFiles`). */
  configFile?: string;
  /** Further config files merged after the first one. */
  extraConfigFiles?: string[];
  /** Work dir for the config, the log and (with relative `dir = account`) the account. Default: a new temp dir. */
  dir?: string;
  /** Keep `dir` after `stop()` (default: removed only when the fixture created it). */
  keepDir?: boolean;
  /** Label in error messages (default "acmems"). */
  name?: string;
  /** Added to the child's environment. */
  env?: Record<string, string>;
  /** How long to wait for `ready` and the management listener (default 30 000 ms). */
  readyTimeoutMs?: number;
}

/** A running acmems. */
export interface Acmems extends AsyncDisposable {
  /** `http://HOST:PORT` of the first management listener. */
  mgmtUrl: string;
  /** Port of the first management listener. */
  mgmtPort: number;
  /** Every `listening` line: role (`mgmt`, `http01 "http"`), address as displayed, port. */
  listeners: { role: string; address: string; port: number }[];
  pid: number;
  dir: string;
  configFile: string;
  /** stdout + stderr of the child. */
  logFile: string;
  /** Resolves with the exit status once the child has exited. */
  status: Promise<Deno.CommandStatus>;
  /** The whole log so far (after `stop()`: the final log, even though the work dir is gone). */
  log(): Promise<string>;
  /** The last `lines` lines of the log. */
  logTail(lines?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs` (default 10 000); awaits the exit. Safe to call more than once. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
}

/** Result of `runAcmems`. */
export interface AcmemsRun {
  code: number;
  signal: Deno.Signal | null;
  /** stdout and stderr of the child, in order of arrival. */
  output: string;
  /** True when the child did not exit within the time limit (it was then killed). */
  timedOut: boolean;
}

/** The argv the fixture runs (after `deno`). */
export function acmemsArgs(args: string[]): string[] {
  return ["run", "--allow-all", "--quiet", ACMEMS_MAIN, ...args];
}

/**
 * Starts `acmems serve` and waits until its log says `ready` and its first management listener accepts TCP
 * connections. Throws (with the log tail, after stopping the child) if it exits first or is not ready in time.
 */
export async function startAcmems(opts: AcmemsOptions): Promise<Acmems> {
  if ((opts.configText === undefined) === (opts.configFile === undefined)) {
    throw new Error("startAcmems: give exactly one of configText and configFile");
  }
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "acmems-e2e-" });
  const name = opts.name ?? "acmems";
  const cleanupDir = async () => {
    if (ownDir && !opts.keepDir) await removeWorkDir(dir);
  };
  let proc: PeerProcess | undefined;
  try {
    const configFile = opts.configFile ?? `${dir}/acmems.ini`;
    if (opts.configText !== undefined) await Deno.writeTextFile(configFile, opts.configText);
    const logFile = `${dir}/${name.replace(/[^A-Za-z0-9_-]/g, "_")}.log`;
    proc = spawnLogged({
      name,
      command: Deno.execPath(),
      args: acmemsArgs(["serve", configFile, ...(opts.extraConfigFiles ?? [])]),
      logFile,
      workDir: ownDir && !opts.keepDir ? dir : undefined,
      env: { NO_COLOR: "1", ...opts.env },
      cwd: dir,
    });
    const child = proc;

    let listeners: Acmems["listeners"] = [];
    await child.waitFor(async (signal) => {
      const text = await readTextOrEmpty(logFile);
      const events = parseLogEvents(text);
      if (!events.some((e) => e.event === "ready")) return false;
      listeners = events
        .filter((e) => e.event === "listening")
        .map((e) => ({ role: String(e.role), address: String(e.address), port: Number(e.port) }));
      const mgmt = listeners.find((l) => l.role === "mgmt");
      if (!mgmt) throw new Error("the log has no 'listening role=mgmt' line");
      const conn = await connectWithSignal(dialHost(mgmt.address), mgmt.port, signal);
      conn.close();
      return true;
    }, { timeoutMs: opts.readyTimeoutMs ?? 30_000, intervalMs: 50 });

    const mgmt = listeners.find((l) => l.role === "mgmt")!;
    const host = dialHost(mgmt.address);
    let stopped: Promise<Deno.CommandStatus> | undefined;
    // The log outlives the work dir: stop() keeps its final text for log() and logTail().
    let finalLog: string | undefined;
    const readLog = async () => finalLog ?? await readTextOrEmpty(logFile);
    const stop = (graceMs = 10_000) =>
      stopped ??= (async () => {
        const status = await child.stop(graceMs);
        finalLog = await readTextOrEmpty(logFile);
        await cleanupDir();
        return status;
      })();
    return {
      mgmtUrl: `http://${host.includes(":") ? `[${host}]` : host}:${mgmt.port}`,
      mgmtPort: mgmt.port,
      listeners,
      pid: child.pid,
      dir,
      configFile,
      logFile,
      status: child.status,
      log: readLog,
      logTail: async (lines = LOG_TAIL_LINES) => tailLines(await readLog(), lines),
      stop,
      [Symbol.asyncDispose]: async () => {
        await stop();
      },
    };
  } catch (e) {
    await proc?.stop(2_000);
    await cleanupDir();
    throw e;
  }
}

/**
 * Runs `acmems ARGS...` to completion (e.g. a `serve` that must refuse to start). Kills it after `timeoutMs`
 * (default 30 000) and reports that in `timedOut`.
 */
export async function runAcmems(
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<AcmemsRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: acmemsArgs(args),
    cwd: opts.cwd,
    env: { NO_COLOR: "1", ...opts.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }, opts.timeoutMs ?? 30_000);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      signal: out.signal,
      output: decoder.decode(out.stdout) + decoder.decode(out.stderr),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** One log line as an event and its fields (text or json format); lines that are neither are skipped. */
export interface LogEvent {
  level: string;
  event: string;
  [field: string]: unknown;
}

/** Parses acmems' log lines (`TIME LEVEL event k=v …` or one JSON object per line). */
export function parseLogEvents(text: string): LogEvent[] {
  const events: LogEvent[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("{")) {
      try {
        const obj = JSON.parse(line);
        if (typeof obj.event === "string") events.push(obj);
      } catch {
        // Not a log line.
      }
      continue;
    }
    const m = line.match(/^\d{4}-\d\d-\d\dT\S+ (ERROR|WARNING|INFO|DEBUG) +(\S+)(.*)$/);
    if (!m) continue;
    const event: LogEvent = { level: m[1].toLowerCase(), event: m[2] };
    // k=v pairs; a value is bare (no space, quote or '=') or a JSON string.
    for (const f of m[3].matchAll(/ ([A-Za-z0-9_]+)=("(?:[^"\\]|\\.)*"|[^\s"=]+)/g)) {
      event[f[1]] = f[2].startsWith('"') ? JSON.parse(f[2]) : f[2];
    }
    events.push(event);
  }
  return events;
}

/** The address to dial for a listener shown as `127.0.0.1:P`, `[::1]:P`, `[::]:P` or `0.0.0.0:P`. */
function dialHost(display: string): string {
  const host = display.startsWith("[") ? display.slice(1, display.indexOf("]")) : display.replace(/:\d+$/, "");
  if (host === "::") return "::1";
  if (host === "0.0.0.0") return "127.0.0.1";
  return host.replace(/%.*$/, "");
}

/** Deno.connect that gives up when `signal` aborts (the connection is closed if it arrives late). */
async function connectWithSignal(hostname: string, port: number, signal: AbortSignal): Promise<Deno.TcpConn> {
  if (signal.aborted) throw signal.reason;
  const pending = Deno.connect({ hostname, port });
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([pending, aborted]);
  } catch (e) {
    pending.then((c) => c.close(), () => {});
    throw e;
  } finally {
    signal.removeEventListener("abort", onAbort!);
  }
}
