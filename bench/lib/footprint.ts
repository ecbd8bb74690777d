/**
 * Start-up times and memory of processes: time from spawn to exit (check-config), time from spawn to a TCP port
 * accepting (serve), VmRSS after a short idle period.
 */
import { memoryMb } from "./stack.ts";

export interface StartSample {
  ms: number;
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
 * Spawns a server, measures the time until 127.0.0.1:`port` accepts a TCP connection (polling every 2 ms), reads
 * its VmRSS after `idleMs`, then stops it (SIGTERM, awaited).
 */
export async function timeToListen(
  command: string,
  args: string[],
  port: number,
  opts: { cwd?: string; idleMs?: number; timeoutMs?: number } = {},
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
    await new Promise((r) => setTimeout(r, opts.idleMs ?? 1000));
    const rssMb = exited ? undefined : (await memoryMb(child.pid)).rss;
    return { ms, rssMb };
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
