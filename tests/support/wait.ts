/**
 * Polling helpers of the integration tests: wait for log lines, or for any condition, with a time limit whose
 * error says what was awaited (and for a log, its last lines).
 */
import { readTextOrEmpty, tailLines } from "./process.ts";

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
