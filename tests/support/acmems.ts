/**
 * The ONE way the tests and the bench run acmems as a real subprocess (`deno run --allow-all main.ts serve
 * CONFIG...`, the way an operator would; or a bundle, tests/support/ha_instance.ts, a bench server, optionally
 * behind a wrapper script).
 *
 * The child's stdout and stderr (so its log, with the default `[logging] destination = stderr`) go to a file; the
 * fixture reads the log to find the bound management listener (`listening role=mgmt …`) and the `ready` line, or
 * polls a readiness URL. `stop()` sends SIGTERM, then SIGKILL after a grace period, and always awaits the child;
 * `kill()` is SIGKILL at once. `runAcmems` runs a command to completion (a `serve` that must refuse to start).
 */
import { type ConfigSpec, writeConfig } from "./config.ts";
import { LOG_TAIL_LINES, type PeerProcess, readTextOrEmpty, removeWorkDir, spawnLogged, tailLines } from "./process.ts";

/** The repository root (where main.ts is). */
export const ACMEMS_ROOT = new URL("../../", import.meta.url).pathname;
/** The entry point the fixture runs. */
export const ACMEMS_MAIN = `${ACMEMS_ROOT}main.ts`;

/** How `startAcmems` knows the child is up. */
export type Readiness =
  /** The log has a `ready` line and the first `listening role=mgmt` listener accepts TCP (the default). */
  | "log"
  /** `url` answers 200 (e.g. `http://127.0.0.1:PORT/ready`; `client` for an https URL). */
  | { url: string; client?: Deno.HttpClient }
  /** `check()` returns true (e.g. a line in the log while the start is held up); no mgmt URL is known then. */
  | { check: () => Promise<boolean> };

/**
 * Options for `startAcmems`. Give exactly one of `config` (tests/support/config.ts), `configText` and `configFile`.
 */
export interface AcmemsOptions {
  /** A structured config, written to `<dir>/acmems.ini` (relative paths in it are relative to `dir`). */
  config?: ConfigSpec;
  /** Config text, written to `<dir>/acmems.ini`. */
  configText?: string;
  /** An existing config file (more files: `extraConfigFiles`). */
  configFile?: string;
  /** Further config files merged after the first one. */
  extraConfigFiles?: string[];
  /** Work dir for the config, the log and (with relative `dir = account`) the account. Default: a new temp dir. */
  dir?: string;
  /** Keep `dir` after `stop()` (default: removed only when the fixture created it). */
  keepDir?: boolean;
  /** Label in error messages and the default output file name (default "acmems"). */
  name?: string;
  /** Added to the child's environment. */
  env?: Record<string, string>;
  /** How long to wait until it is ready (default 30 000 ms). */
  readyTimeoutMs?: number;
  /** Default "log". */
  ready?: Readiness;
  /** The script deno runs (default main.ts; a bundle, tests/support/ha_instance.ts, a bench server). */
  entry?: string;
  /** The arguments after the script (default `serve CONFIG…`); gets the config files. */
  args?: (configFiles: string[]) => string[];
  /** More `deno run` flags (before the script). */
  denoFlags?: string[];
  /** The child's stdout and stderr (default `<dir>/<name>.log`). */
  outputFile?: string;
  /** Where the config's `[logging] destination` points, when not stderr: read for readiness and `log()`. */
  logFile?: string;
  /**
   * A shell script run instead of acmems directly (e.g. to enter a private mount namespace): it gets the acmems argv
   * as "$@" and must end with `exec "$@"`. `wrapperCommand` runs it (default `/bin/sh`; it gets `-c SCRIPT`).
   */
  wrapperScript?: string;
  wrapperCommand?: string[];
}

/** A running acmems. */
export interface Acmems extends AsyncDisposable {
  /** `http://HOST:PORT` of the first management listener (`ready: {url}`: its origin; `ready: {check}`: ""). */
  mgmtUrl: string;
  /** Port of the first management listener. */
  mgmtPort: number;
  /** Every `listening` line: role (`mgmt`, `http01 "http"`), address as displayed, port (empty with `ready: {url}`). */
  listeners: { role: string; address: string; port: number }[];
  pid: number;
  dir: string;
  configFile: string;
  /** The log: `logFile` if given, else the child's stdout + stderr. */
  logFile: string;
  /** The child's stdout + stderr. */
  outputFile: string;
  /** The child process. */
  proc: PeerProcess;
  /** Resolves with the exit status once the child has exited. */
  status: Promise<Deno.CommandStatus>;
  /** The exit status once the child has exited, else undefined. */
  readonly exitStatus: Deno.CommandStatus | undefined;
  /** The whole log so far (after `stop()`: the final log, even though the work dir is gone). */
  log(): Promise<string>;
  /** The log's events (text or JSON lines), parsed. */
  events(): Promise<LogEvent[]>;
  /** The last `lines` lines of the log. */
  logTail(lines?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `graceMs` (default 10 000); awaits the exit. Safe to call more than once. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
  /** SIGKILL (no shutdown at all); awaits the exit. */
  kill(): Promise<Deno.CommandStatus>;
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
export function acmemsArgs(args: string[], opts: { entry?: string; denoFlags?: string[] } = {}): string[] {
  return ["run", "--allow-all", "--quiet", ...(opts.denoFlags ?? []), opts.entry ?? ACMEMS_MAIN, ...args];
}

/**
 * Starts `acmems serve` (or `entry`) and waits until it is ready (see `Readiness`). Throws (with the log tail, after
 * stopping the child) if it exits first or is not ready in time. This is the one way the tests start a subprocess
 * acmems.
 */
export async function startAcmems(opts: AcmemsOptions): Promise<Acmems> {
  const given = [opts.config, opts.configText, opts.configFile].filter((c) => c !== undefined).length;
  if (given !== 1) throw new Error("startAcmems: give exactly one of config, configText and configFile");
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "acmems-e2e-" });
  const name = opts.name ?? "acmems";
  const cleanupDir = async () => {
    if (ownDir && !opts.keepDir) await removeWorkDir(dir);
  };
  let proc: PeerProcess | undefined;
  try {
    const configFile = opts.configFile ?? `${dir}/acmems.ini`;
    if (opts.config !== undefined) await writeConfig(configFile, opts.config);
    if (opts.configText !== undefined) await Deno.writeTextFile(configFile, opts.configText);
    const outputFile = opts.outputFile ?? `${dir}/${name.replace(/[^A-Za-z0-9_-]/g, "_")}.log`;
    const logFile = opts.logFile ?? outputFile;
    const configFiles = [configFile, ...(opts.extraConfigFiles ?? [])];
    const argv = [
      Deno.execPath(),
      ...acmemsArgs(opts.args?.(configFiles) ?? ["serve", ...configFiles], opts),
    ];
    const wrapper = opts.wrapperCommand ?? ["/bin/sh"];
    proc = spawnLogged({
      name,
      command: opts.wrapperScript ? wrapper[0] : argv[0],
      args: opts.wrapperScript
        ? [...wrapper.slice(1), "-c", opts.wrapperScript, "acmems-wrapper", ...argv]
        : argv.slice(1),
      logFile: outputFile,
      workDir: ownDir && !opts.keepDir ? dir : undefined,
      env: { NO_COLOR: "1", ...opts.env },
      cwd: dir,
    });
    const child = proc;

    const ready = opts.ready ?? "log";
    let listeners: Acmems["listeners"] = [];
    await child.waitFor(async (signal) => {
      if (ready !== "log" && "check" in ready) return await ready.check();
      if (ready !== "log") {
        const response = await fetch(ready.url, { signal, client: ready.client });
        await response.body?.cancel();
        return response.status === 200;
      }
      const events = parseLogEvents(await readTextOrEmpty(logFile));
      if (!events.some((e) => e.event === "ready")) return false;
      listeners = events
        .filter((e) => e.event === "listening")
        .map((e) => ({ role: String(e.role), address: String(e.address), port: Number(e.port) }));
      const mgmt = listeners.find((l) => l.role === "mgmt");
      if (!mgmt) throw new Error("the log has no 'listening role=mgmt' line");
      const conn = await connectWithSignal(dialHost(mgmt.address), mgmt.port, signal);
      conn.close();
      return true;
    }, { timeoutMs: opts.readyTimeoutMs ?? 30_000, intervalMs: ready === "log" ? 50 : 100 });

    let mgmtUrl: string;
    let mgmtPort: number;
    if (ready === "log") {
      const mgmt = listeners.find((l) => l.role === "mgmt")!;
      const host = dialHost(mgmt.address);
      mgmtUrl = `http://${host.includes(":") ? `[${host}]` : host}:${mgmt.port}`;
      mgmtPort = mgmt.port;
    } else if ("check" in ready) {
      mgmtUrl = "";
      mgmtPort = 0;
    } else {
      const url = new URL(ready.url);
      mgmtUrl = url.origin;
      mgmtPort = Number(url.port);
    }
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
      mgmtUrl,
      mgmtPort,
      listeners,
      pid: child.pid,
      dir,
      configFile,
      logFile,
      outputFile,
      proc: child,
      status: child.status,
      get exitStatus() {
        return child.exitStatus;
      },
      log: readLog,
      events: async () => parseLogEvents(await readLog()),
      logTail: async (lines = LOG_TAIL_LINES) => tailLines(await readLog(), lines),
      stop,
      kill: async () => {
        try {
          Deno.kill(child.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
        return await stop();
      },
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
