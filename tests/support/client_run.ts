/**
 * Runs one command of a real ACME client (certbot, lego: tests/support/certbot.ts, lego.ts) to completion: a clean
 * environment (only what is given, plus PATH, HOME and LANG, so no proxy or CA variables of the test process leak
 * in), stdout and stderr captured, and a time limit after which the child is stopped by its PID (SIGTERM, then
 * SIGKILL after a grace period). The child is always awaited, so the resource sanitizer sees nothing left.
 */

/** What one client command did. */
export interface ClientRun {
  /** The command line, for error messages. */
  command: string;
  code: number;
  /** stdout followed by stderr. */
  output: string;
  /** True when the time limit stopped it (its `code` then comes from the signal). */
  timedOut: boolean;
}

/** Options for `runClient`. */
export interface ClientRunOptions {
  /** The environment besides PATH, HOME (= `home`) and LANG. */
  env: Record<string, string>;
  /** HOME and the working directory (a temp dir of the fixture: nothing is written elsewhere). */
  home: string;
  /** Stop it after this long (default 120 000 ms). */
  timeoutMs?: number;
}

/** Time between SIGTERM and SIGKILL on timeout. */
const KILL_GRACE_MS = 3_000;

/** Runs `command args` and returns its exit code and output; never throws for a non-zero exit. */
export async function runClient(command: string, args: string[], opts: ClientRunOptions): Promise<ClientRun> {
  const child = new Deno.Command(command, {
    args,
    cwd: opts.home,
    clearEnv: true,
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: opts.home, LANG: "C.UTF-8", ...opts.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    signal(child.pid, "SIGTERM");
    killTimer = setTimeout(() => signal(child.pid, "SIGKILL"), KILL_GRACE_MS);
  }, opts.timeoutMs ?? 120_000);
  try {
    const out = await child.output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return {
      command: [command, ...args].join(" "),
      code: out.code,
      output: decode(out.stdout) + decode(out.stderr),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
    clearTimeout(killTimer);
  }
}

/** Throws an Error with the command line and its output unless `r` exited 0. */
export function assertSucceeded(r: ClientRun, label: string): void {
  if (r.code === 0 && !r.timedOut) return;
  const why = r.timedOut ? "was stopped after its time limit" : `exited with ${r.code}`;
  throw new Error(`${label} ${why}: ${r.command}\n--- output ---\n${r.output}`);
}

function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // Already exited.
  }
}
