/**
 * Start-up times and memory of processes: time from spawn to exit (check-config), time from spawn to a TCP port
 * accepting (serve), VmRSS after a short idle period.
 */
import { memoryMb } from "./stack.ts";

export interface StartSample {
  ms: number;
  /** Milliseconds from spawn until `answerUrl` answered 200 (when asked for). */
  answerMs?: number;
  /** VmRSS (MiB) `idleMs` after the port accepted (listening processes only). */
  rssMb?: number;
}

/** Milliseconds from spawn to exit; throws unless the exit code is 0. */
export async function timeToExit(command: string, args: string[], cwd?: string): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(command, { args, cwd, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const ms = performance.now() - started;
  if (out.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited with ${out.code}:\n${new TextDecoder().decode(out.stderr)}`);
  }
  return ms;
}

/**
 * Spawns a server, measures the time until 127.0.0.1:`port` accepts a TCP connection (polling every 2 ms) and, with
 * `answerUrl`, until that URL answers 200 (its listeners may accept before the server behind them is ready), reads
 * its VmRSS after `idleMs`, then stops it (SIGTERM, awaited).
 */
export async function timeToListen(
  command: string,
  args: string[],
  port: number,
  opts: { cwd?: string; idleMs?: number; timeoutMs?: number; answerUrl?: string } = {},
): Promise<StartSample> {
  const started = performance.now();
  const child = new Deno.Command(command, { args, cwd: opts.cwd, stdin: "null", stdout: "null", stderr: "piped" })
    .spawn();
  const stderr = new Response(child.stderr).text();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  try {
    const deadline = started + (opts.timeoutMs ?? 30_000);
    let ms: number | undefined;
    while (ms === undefined) {
      if (exited) throw new Error(`${command} ${args.join(" ")} exited before listening:\n${await stderr}`);
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        ms = performance.now() - started;
        conn.close();
      } catch {
        if (performance.now() > deadline) throw new Error(`${command} ${args.join(" ")}: port ${port} not open`);
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    let answerMs: number | undefined;
    while (opts.answerUrl && answerMs === undefined) {
      if (exited) throw new Error(`${command} ${args.join(" ")} exited before answering:\n${await stderr}`);
      const ok = await fetch(opts.answerUrl).then(async (r) => (await r.body?.cancel(), r.status === 200), () => false);
      if (ok) answerMs = performance.now() - started;
      else if (performance.now() > deadline) throw new Error(`${opts.answerUrl} did not answer 200`);
      else await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, opts.idleMs ?? 1000));
    const rssMb = exited ? undefined : (await memoryMb(child.pid)).rss;
    return { ms, rssMb, ...(answerMs === undefined ? {} : { answerMs }) };
  } finally {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await status;
    await stderr;
  }
}
