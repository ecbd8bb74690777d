/**
 * `Retry-After` (RFC 9110 §10.2.3): either delay-seconds or an HTTP-date.
 *
 * Contract: pure; returns the absolute time to retry at, or `undefined` for a missing, negative,
 * unparseable or absurd value (the caller then picks its own default). Never throws.
 */

/** Parses a `Retry-After` value relative to `now`. */
export function parseRetryAfter(value: string | null | undefined, now: Date = new Date()): Date | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    const at = new Date(now.getTime() + seconds * 1000);
    return Number.isFinite(at.getTime()) ? at : undefined;
  }
  // An HTTP-date always names a weekday and GMT (IMF-fixdate, or the obsolete RFC 850 / asctime forms);
  // requiring a letter first keeps Date.parse from accepting things like "-1" or "2026".
  if (!/^[A-Za-z]{3}/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

/** Milliseconds from `now` until `at` (0 if in the past). */
export function delayUntil(at: Date, now: Date = new Date()): number {
  return Math.max(0, at.getTime() - now.getTime());
}

/** Retry-After times of CA answers, keyed by the object built from the answer (never serialised with it). */
const remembered = new WeakMap<object, Date>();

/** Remembers the `Retry-After` of the answer `value` was built from (nothing when the CA sent none). */
export function rememberRetryAfter<T extends object>(value: T, retryAfter: Date | undefined): T {
  if (retryAfter) remembered.set(value, retryAfter);
  return value;
}

/**
 * The CA's `Retry-After` on the answer an order, authorization or challenge object came from (`respondToChallenge`,
 * `finalize`, `getOrder`, `getAuthorization`), or `undefined`: pass it as `firstPollAfter` to the poll that follows.
 */
export function retryAfterOf(value: object | undefined): Date | undefined {
  return value ? remembered.get(value) : undefined;
}
