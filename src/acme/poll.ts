/**
 * Polling an order or authorization until a condition holds. Bounded by the caller's `deadline`: an
 * in-flight request is aborted at the deadline and `AcmeTimeoutError` is thrown (with the last status
 * seen). The pace is poll_schedule.ts: the first fetch after `firstPollAfter` (the CA's Retry-After of the answer
 * that started the wait, or a delay in ms; default the pace's first interval, 50 ms), then after the CA's
 * Retry-After or a gently growing interval (×1.5 up to 3 s), never sleeping past the deadline.
 */
import type { PollOptions } from "./client_options.ts";
import { AcmeTimeoutError } from "./errors.ts";
import { pollDelay, type PollPace } from "./poll_schedule.ts";
import { delayUntil } from "./retry_after.ts";
import { deadlineMs, sleep as realSleep } from "./timing.ts";

/** The pace and, for tests, the sleep and time the poller uses. */
export interface PollIntervals extends PollPace {
  /** Waits `ms` (default: a real, abortable timer). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Epoch ms now (default `Date.now`). */
  now?: () => number;
}

/** What polling needs of the session: one POST-as-GET with the answer's Retry-After. */
export interface PollSource {
  getWithRetryAfter<T extends { url: string }>(
    url: string,
    signal?: AbortSignal,
  ): Promise<{ value: T; retryAfter: Date | undefined }>;
}

/** Re-fetches `url` (POST-as-GET) until `done` holds, and returns that value. */
export async function pollUntil<T extends { url: string; status: string }>(
  s: PollSource,
  intervals: PollIntervals,
  url: string,
  kind: string,
  opts: PollOptions,
  done: (value: T) => boolean,
): Promise<T> {
  const now = intervals.now ?? Date.now;
  const sleep = intervals.sleep ?? realSleep;
  const end = deadlineMs(opts.deadline);
  let last = "not fetched yet";
  const timeout = () =>
    new AcmeTimeoutError(
      url,
      `Gave up polling ${kind} ${url} at its deadline ${new Date(end).toISOString()}: status still "${last}"`,
    );
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(timeout()), Math.max(0, end - now()));
  const onAbort = () => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) controller.abort(opts.signal.reason);
  try {
    let delay = firstDelay(opts.firstPollAfter, end - now(), intervals, now);
    for (let attempt = 1;; attempt++) {
      if (delay > 0) {
        await sleep(delay, controller.signal);
        if (now() >= end) throw timeout();
      }
      const { value, retryAfter } = await s.getWithRetryAfter<T>(url, controller.signal);
      last = value.status;
      if (done(value)) return value;
      const remaining = end - now();
      if (remaining <= 0) throw timeout();
      delay = pollDelay(
        attempt,
        retryAfter ? delayUntil(retryAfter, new Date(now())) : undefined,
        remaining,
        intervals,
      );
    }
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

/** The wait before the first fetch: the CA's Retry-After (a Date), an explicit delay (ms), else the pace's first. */
function firstDelay(after: Date | number | undefined, remaining: number, pace: PollPace, now: () => number): number {
  if (typeof after === "number") return Math.max(0, Math.min(after, remaining));
  return pollDelay(0, after ? delayUntil(after, new Date(now())) : undefined, remaining, pace);
}
