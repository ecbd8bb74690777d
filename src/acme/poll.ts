/**
 * Polling an order or authorization until a condition holds. Bounded by the caller's `deadline`: an
 * in-flight request is aborted at the deadline and `AcmeTimeoutError` is thrown (with the last status
 * seen). Between polls it honours the CA's Retry-After (never faster than a fifth of the base
 * interval), else backs off from half the base interval, doubling up to the ceiling.
 */
import type { PollOptions } from "./client_options.ts";
import { AcmeTimeoutError } from "./errors.ts";
import { delayUntil } from "./retry_after.ts";
import type { AcmeSession } from "./session.ts";
import { backoffDelay, deadlineMs, sleep } from "./timing.ts";

/** Polling intervals in ms. */
export interface PollIntervals {
  /** Base interval when the CA sends no Retry-After. */
  pollInterval: number;
  /** Ceiling of the interval without Retry-After. */
  maxPollInterval: number;
}

/** Re-fetches `url` (POST-as-GET) until `done` holds, and returns that value. */
export async function pollUntil<T extends { url: string; status: string }>(
  s: AcmeSession,
  intervals: PollIntervals,
  url: string,
  kind: string,
  opts: PollOptions,
  done: (value: T) => boolean,
): Promise<T> {
  const end = deadlineMs(opts.deadline);
  let last = "not fetched yet";
  const timeout = () =>
    new AcmeTimeoutError(
      url,
      `Gave up polling ${kind} ${url} at its deadline ${new Date(end).toISOString()}: status still "${last}"`,
    );
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(timeout()), Math.max(0, end - Date.now()));
  const onAbort = () => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) controller.abort(opts.signal.reason);
  try {
    for (let attempt = 0;; attempt++) {
      const { value, retryAfter } = await s.getWithRetryAfter<T>(url, controller.signal);
      last = value.status;
      if (done(value)) return value;
      const remaining = end - Date.now();
      if (remaining <= 0) throw timeout();
      // First re-poll after 125–250 ms (a CA often finishes a validation or finalization within a second), then
      // doubling: 4 polls in the first ~2 s instead of 2, and no 0.5–1 s wait for a fast CA.
      const fallback = backoffDelay(attempt, intervals.pollInterval / 2, intervals.maxPollInterval);
      // Honour the CA's Retry-After, but never spin faster than a fifth of the base interval.
      const wanted = retryAfter ? Math.max(delayUntil(retryAfter), intervals.pollInterval / 5) : fallback;
      await sleep(Math.min(wanted, remaining), controller.signal);
      if (Date.now() >= end) throw timeout();
    }
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}
