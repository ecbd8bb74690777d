/**
 * Generic handling of peer processes for tests: spawn with output to a log file, wait for readiness, stop by PID.
 *
 * Tests run with `--sanitize-ops --sanitize-resources`, so every child must be awaited: `stop()` always awaits
 * `status`, and nothing here keeps a stream or file handle open between calls.
 */
import { isAddressInUse } from "./ports.ts";

/** How many log lines an error message about a peer carries. */
export const LOG_TAIL_LINES = 30;

/** Options for `spawnLogged`. */
export interface SpawnOptions {
  /** Short label used in error messages ("pebble", "named"). */
  name: string;
  /** Executable path. */
  command: string;
  args?: string[];
  /** stdout and stderr of the child are appended here. */
  logFile: string;
  /** The fixture's work dir: removed if the test process exits while the peer still runs. */
  workDir?: string;
  /** Added to (and overriding) the test process's environment. */
  env?: Record<string, string>;
  cwd?: string;
}

/** Options for `PeerProcess.waitFor`. */
export interface WaitOptions {
  /** Give up after this long (default 20 000 ms). */
  timeoutMs?: number;
  /** Pause between readiness probes (default 100 ms). */
  intervalMs?: number;
  /** Fail at once when the log matches (e.g. a bind error the peer survives). */
  failOn?: RegExp;
  /** Abort one probe after this long (default 1 000 ms); the next probe follows. */
  probeTimeoutMs?: number;
}

/**
 * Peers not yet exited. If the test process exits without stopping them (Deno.exit, a crash), the unload handler
 * sends SIGTERM and removes their work dirs, so no named/nginx/pebble outlives the run.
 */
const live = new Set<PeerProcess>();
globalThis.addEventListener("unload", () => {
  for (const p of live) {
    trySignal(() => Deno.kill(p.pid, "SIGTERM"));
    if (p.workDir && Deno.env.get("ACMEMS_KEEP_FIXTURES") !== "1") {
      try {
        Deno.removeSync(p.workDir, { recursive: true });
      } catch {
        // Best effort while exiting.
      }
    }
  }
});

/** A child process whose stdout and stderr go to a log file. Create it with `spawnLogged`. */
export class PeerProcess implements AsyncDisposable {
  /** Label used in error messages. */
  readonly name: string;
  /** PID of the peer itself (the shell wrapper `exec`s it, so this is not a shell). */
  readonly pid: number;
  /** File receiving the child's stdout and stderr. */
  readonly logFile: string;
  /** The fixture's work dir, removed by the exit safety net (see `live`). */
  readonly workDir: string | undefined;
  /** Resolves when the child has exited. */
  readonly status: Promise<Deno.CommandStatus>;
  #child: Deno.ChildProcess;
  #exit: Deno.CommandStatus | undefined;
  #stopping: Promise<Deno.CommandStatus> | undefined;
  /** Aborted when the child exits, to cut readiness probes short. */
  #exited = new AbortController();

  constructor(name: string, logFile: string, child: Deno.ChildProcess, workDir?: string) {
    this.name = name;
    this.logFile = logFile;
    this.workDir = workDir;
    this.#child = child;
    this.pid = child.pid;
    live.add(this);
    this.status = child.status.then((s) => {
      this.#exit = s;
      live.delete(this);
      this.#exited.abort(new Error(`${name} exited`));
      return s;
    });
  }

  /** The exit status once the child has exited, else undefined. */
  get exitStatus(): Deno.CommandStatus | undefined {
    return this.#exit;
  }

  /**
   * Polls `ready` until it returns true. Throws (with the log tail) when the child exits first, when the log
   * matches `failOn`, or on timeout. An exception from `ready` counts as "not ready yet"; the last one is reported.
   * Each probe gets a signal that aborts when the child exits or after `probeTimeoutMs`: pass it to fetch/run so a
   * probe stuck on someone else's socket does not hold things up. Does not stop the child (see `stopOnFailure`).
   */
  async waitFor(ready: (signal: AbortSignal) => Promise<boolean>, opts: WaitOptions = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const intervalMs = opts.intervalMs ?? 100;
    const probeTimeoutMs = opts.probeTimeoutMs ?? 1_000;
    const deadline = Date.now() + timeoutMs;
    let lastProblem = "";
    while (true) {
      if (this.#exit) throw await this.startupError(`exited with ${describeStatus(this.#exit)} before it was ready`);
      if (opts.failOn) {
        const log = await readTextOrEmpty(this.logFile);
        const line = log.split("\n").find((l) => opts.failOn!.test(l));
        if (line !== undefined) throw await this.startupError(`reported a fatal problem: ${line.trim()}`);
      }
      const probe = new AbortController();
      const timer = setTimeout(
        () => probe.abort(new Error(`probe timed out after ${probeTimeoutMs} ms`)),
        probeTimeoutMs,
      );
      try {
        if (await ready(AbortSignal.any([probe.signal, this.#exited.signal]))) return;
        lastProblem = "";
      } catch (e) {
        lastProblem = e instanceof Error ? e.message : String(e);
      } finally {
        clearTimeout(timer);
      }
      if (this.#exit) continue; // report the exit rather than the failed probe
      if (Date.now() >= deadline) {
        const why = lastProblem ? ` (last probe: ${lastProblem})` : "";
        throw await this.startupError(`was not ready within ${timeoutMs} ms${why}`);
      }
      await sleepUnlessExited(intervalMs, this.status);
    }
  }

  /** An Error saying `<name> (pid N) <what>`, followed by the last lines of the log. */
  async startupError(what: string): Promise<Error> {
    const tail = await this.logTail(LOG_TAIL_LINES);
    return new Error(
      `${this.name} (pid ${this.pid}) ${what}\n--- last ${LOG_TAIL_LINES} lines of ${this.logFile} ---\n${tail}`,
    );
  }

  /**
   * SIGTERM, then SIGKILL (to the child and its direct children, e.g. nginx workers) if it has not exited after
   * `graceMs`. Always awaits the exit status. Safe to call more than once.
   */
  stop(graceMs = 5_000): Promise<Deno.CommandStatus> {
    this.#stopping ??= this.#stop(graceMs);
    return this.#stopping;
  }

  async #stop(graceMs: number): Promise<Deno.CommandStatus> {
    if (this.#exit) return this.#exit;
    trySignal(() => this.#child.kill("SIGTERM"));
    if (!(await exitsWithin(this.status, graceMs))) {
      for (const pid of await childPids(this.pid)) trySignal(() => Deno.kill(pid, "SIGKILL"));
      trySignal(() => this.#child.kill("SIGKILL"));
    }
    return await this.status;
  }

  /** The last `lines` lines of the log (the whole log if shorter). */
  async logTail(lines = LOG_TAIL_LINES): Promise<string> {
    return tailLines(await readTextOrEmpty(this.logFile), lines);
  }

  /** Lets tests write `await using p = spawnLogged(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Starts `command` with stdout and stderr appended to `logFile`. A tiny `sh` wrapper does the redirection and then
 * `exec`s the command, so the child writes the file itself (no pipes to drain) and `pid` is the peer's own PID.
 */
export function spawnLogged(opts: SpawnOptions): PeerProcess {
  const script = 'log=$1; shift; exec "$@" >>"$log" 2>&1';
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", opts.logFile, opts.command, ...(opts.args ?? [])],
    env: opts.env,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return new PeerProcess(opts.name, opts.logFile, child, opts.workDir);
}

/** Throws a clear Error unless `path` is an executable file (peers are installed by .ci/install-peers.sh). */
export async function requireExecutable(path: string): Promise<void> {
  try {
    const info = await Deno.stat(path);
    if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  throw new Error(`${path} is missing or not executable: run .ci/install-peers.sh`);
}

/** Result of `run`. */
export interface RunResult {
  code: number;
  /** stdout followed by stderr, decoded. */
  output: string;
  stdout: string;
  stderr: string;
}

/** Options for `run` and `runChecked`. */
export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Written to the child's stdin, which is then closed. */
  stdin?: string;
  /** Kills the child (SIGTERM) when aborted. */
  signal?: AbortSignal;
}

/** Runs a short-lived command to completion (optionally feeding `stdin`) and returns its exit code and output. */
export async function run(
  command: string,
  args: string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const child = new Deno.Command(command, {
    args,
    cwd: opts.cwd,
    env: opts.env,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: opts.signal,
  }).spawn();
  if (opts.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    try {
      await writer.write(new TextEncoder().encode(opts.stdin));
      await writer.close();
    } catch {
      // The child exited without reading everything; its exit code and output say why.
      await writer.abort().catch(() => {});
    }
  }
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  return { code: out.code, stdout, stderr, output: stdout + stderr };
}

/** Like `run`, but throws an Error with the command line and its output when the exit code is not 0. */
export async function runChecked(
  command: string,
  args: string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  let r: RunResult;
  try {
    r = await run(command, args, opts);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${command} not found: run .ci/install-peers.sh`);
    throw e;
  }
  if (r.code !== 0) {
    throw new Error(`${[command, ...args].join(" ")} exited with ${r.code}\n${tailLines(r.output, LOG_TAIL_LINES)}`);
  }
  return r;
}

/**
 * Runs `start(attempt)`; when it throws an "address in use" error (or one `retryable` accepts) and `retry` is true
 * (the fixture picked the ports itself, and someone took one in between), tries again, up to `attempts` (3) times.
 * Other errors propagate at once.
 */
export async function retryOnAddressInUse<T>(
  retry: boolean,
  start: (attempt: number) => Promise<T>,
  opts: { attempts?: number; retryable?: (message: string) => boolean } = {},
): Promise<T> {
  const attempts = opts.attempts ?? 3;
  const retryable = opts.retryable ?? isAddressInUse;
  for (let attempt = 1;; attempt++) {
    try {
      return await start(attempt);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      if (!retry || attempt >= attempts || !retryable(msg)) throw e;
    }
  }
}

/**
 * Runs `ready()` (normally `proc.waitFor(...)`); if it throws, stops `proc` before rethrowing, so a failed start
 * leaves no process behind. The caller removes its work dir.
 */
export async function stopOnFailure(proc: PeerProcess, ready: () => Promise<void>): Promise<void> {
  try {
    await ready();
  } catch (e) {
    await proc.stop(1_000);
    throw e;
  }
}

/** Removes a fixture work dir unless ACMEMS_KEEP_FIXTURES=1 (then it says where the dir is). */
export async function removeWorkDir(dir: string): Promise<void> {
  if (Deno.env.get("ACMEMS_KEEP_FIXTURES") === "1") {
    console.error(`ACMEMS_KEEP_FIXTURES=1: keeping ${dir}`);
    return;
  }
  await Deno.remove(dir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

/** The last `lines` lines of `text`, without a trailing empty line. */
export function tailLines(text: string, lines: number): string {
  const all = text.replace(/\n$/, "").split("\n");
  return all.slice(Math.max(0, all.length - lines)).join("\n");
}

/** Reads a text file; a missing file reads as "". */
export async function readTextOrEmpty(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
}

function describeStatus(s: Deno.CommandStatus): string {
  return s.signal ? `signal ${s.signal}` : `code ${s.code}`;
}

function trySignal(send: () => void): void {
  try {
    send();
  } catch {
    // Already exited (ESRCH) or already reaped: nothing to stop.
  }
}

/** Waits up to `ms` for `status`; the timer is always cleared so the op sanitizer sees nothing pending. */
async function exitsWithin(status: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([status.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function sleepUnlessExited(ms: number, status: Promise<unknown>): Promise<void> {
  await exitsWithin(status, ms);
}

/** Direct children of `pid`, read from /proc (nginx's workers when the master needs SIGKILL). */
async function childPids(pid: number): Promise<number[]> {
  const found: number[] = [];
  try {
    for await (const entry of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      const stat = await readTextOrEmpty(`/proc/${entry.name}/stat`).catch(() => "");
      // Field 4 (after the parenthesised command name, which may contain spaces) is the parent PID.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === pid) found.push(Number(entry.name));
    }
  } catch {
    // No /proc: fall back to killing only the main process.
  }
  return found;
}
