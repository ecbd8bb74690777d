/**
 * Cancellable sleeps and backoff arithmetic shared by the transport and the pollers.
 *
 * Contract: `sleep` always clears its timer, whether it resolves or is aborted (tests run with the op
 * sanitizer), and rejects with the signal's reason when aborted.
 */

/** Waits `ms` milliseconds, or rejects with `signal.reason` as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Exponential backoff with "equal jitter": attempt 0 → [base/2, base], doubling up to `max`. */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** A deadline given as a `Date` or epoch milliseconds, as epoch milliseconds. */
export function deadlineMs(deadline: Date | number): number {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(ms)) throw new RangeError(`Invalid deadline ${String(deadline)}`);
  return ms;
}

/** Settles like `promise`, or rejects with `signal.reason` first if `signal` aborts (the promise runs on). */
export function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
