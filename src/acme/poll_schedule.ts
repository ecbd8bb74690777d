/**
 * The pace of order and authorization polls (pure).
 *
 * Contract: the first fetch comes after the CA's Retry-After of the answer that started the wait, else after
 * `firstMs` (50 ms: a CA often decides within a few ms of a challenge answer); each later one after the CA's
 * Retry-After, else after the previous fallback × `factor` (1.5), at most `maxMs` (3 s). A CA's Retry-After is
 * honoured but never read as "spin": below `firstMs` it counts as `firstMs`. No delay reaches beyond the deadline
 * (`remainingMs`). A CA's Retry-After never changes the fallback progression.
 */

/** How polls are paced when the CA sends no Retry-After. */
export interface PollPace {
  /** The first interval in ms (default 50). */
  firstMs: number;
  /** Growth of the interval per poll (default 1.5). */
  factor: number;
  /** Ceiling of the interval in ms (default 3000). */
  maxMs: number;
}

/** 50 ms, then ×1.5 up to 3 s: 50, 75, 113, 169, 253, 380, 570, 854, 1281, 1922, 2883, 3000, … */
export const DEFAULT_POLL_PACE: Readonly<PollPace> = { firstMs: 50, factor: 1.5, maxMs: 3000 };

/** The fallback interval before fetch number `attempt` (0 = the first fetch) when the CA sent no Retry-After. */
export function fallbackDelay(attempt: number, pace: PollPace = DEFAULT_POLL_PACE): number {
  return Math.round(Math.min(pace.maxMs, pace.firstMs * pace.factor ** attempt));
}

/**
 * Milliseconds to wait before fetch number `attempt` (0 = the first fetch): the CA's `retryAfterMs` when it sent
 * one (at least `pace.firstMs`), else `fallbackDelay(attempt)`; never more than `remainingMs`, never negative.
 */
export function pollDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  remainingMs: number,
  pace: PollPace = DEFAULT_POLL_PACE,
): number {
  const wanted = retryAfterMs === undefined ? fallbackDelay(attempt, pace) : Math.max(retryAfterMs, pace.firstMs);
  return Math.max(0, Math.min(wanted, remainingMs));
}
