/**
 * `acmems serve` (from main.ts or a bundle) as a child process for the operate and bundle tests, plus small helpers
 * they share: polling a log file, and one HTTP request with its whole answer.
 */
import { type PeerProcess, readTextOrEmpty, spawnLogged, stopOnFailure, tailLines } from "./process.ts";

/** The repository's main.ts. */
export const MAIN_TS = new URL("../../main.ts", import.meta.url).pathname;

/** Options for `startServeProcess`. */
export interface ServeProcessOptions {
  /** The script deno runs: main.ts (default) or a bundle. */
  entry?: string;
  /** Config files given to `serve`. */
  configFiles: string[];
  /** Working directory; the child's stdout and stderr go to `<dir>/<name>.out`. */
  dir: string;
  /** Polled until it answers 200 (e.g. http://127.0.0.1:PORT/ready). */
  readyUrl: string;
  /** Label for errors and the output file name (default "acmems"). */
  name?: string;
  /** Default 30 000 ms. */
  timeoutMs?: number;
  /** For an https readyUrl. */
  client?: Deno.HttpClient;
  /** More `deno run` flags (before the script). */
  denoFlags?: string[];
}

/**
 * Spawns `deno run --allow-all --quiet ENTRY serve CONFIG…` and waits until `readyUrl` answers 200. Stopping it is
 * the caller's job (`proc.stop()`: SIGTERM, awaited). On a failed start the child is stopped and the error carries
 * its output.
 */
export async function startServeProcess(opts: ServeProcessOptions): Promise<PeerProcess> {
  const name = opts.name ?? "acmems";
  const proc = spawnLogged({
    name,
    command: Deno.execPath(),
    args: [
      "run",
      "--allow-all",
      "--quiet",
      ...(opts.denoFlags ?? []),
      opts.entry ?? MAIN_TS,
      "serve",
      ...opts.configFiles,
    ],
    logFile: `${opts.dir}/${name}.out`,
    cwd: opts.dir,
    env: { NO_COLOR: "1" },
  });
  await stopOnFailure(proc, () =>
    proc.waitFor(async (signal) => {
      const response = await fetch(opts.readyUrl, { signal, client: opts.client });
      await response.body?.cancel();
      return response.status === 200;
    }, { timeoutMs: opts.timeoutMs ?? 30_000, intervalMs: 100 }));
  return proc;
}

/**
 * Waits until at least `count` lines of `file` match `pattern`; returns those lines. Throws with the file's tail
 * after `timeoutMs` (default 15 000).
 */
export async function waitForLog(
  file: string,
  pattern: RegExp,
  opts: { count?: number; timeoutMs?: number } = {},
): Promise<string[]> {
  const count = opts.count ?? 1;
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  while (true) {
    const text = await readTextOrEmpty(file);
    const lines = text.split("\n").filter((l) => pattern.test(l));
    if (lines.length >= count) return lines;
    if (Date.now() > deadline) {
      throw new Error(
        `${file}: ${lines.length} of ${count} line(s) matching ${pattern} after ${opts.timeoutMs ?? 15_000} ms; ` +
          `last lines:\n${tailLines(text, 20)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls `check` every 50 ms until it returns true; throws `message` after `timeoutMs` (default 15 000). */
export async function waitUntil(check: () => boolean | Promise<boolean>, message: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An HTTP answer, read completely. */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: string;
  /** Milliseconds from sending to the end of the body. */
  ms: number;
}

/** One request (30 s limit), body read completely. */
export async function request(url: string, init: RequestInit & { client?: Deno.HttpClient } = {}): Promise<HttpAnswer> {
  const started = Date.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(30_000), ...init });
  const body = await response.text();
  return { status: response.status, headers: response.headers, body, ms: Date.now() - started };
}

/** POST /sign with a PEM CSR. */
export function postSign(
  baseUrl: string,
  csrPem: string,
  headers: Record<string, string> = {},
  client?: Deno.HttpClient,
): Promise<HttpAnswer> {
  return request(`${baseUrl}/sign`, { method: "POST", body: csrPem, headers, client });
}
