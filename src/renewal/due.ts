/**
 * When a cached certificate is due for renewal: pure functions, no I/O.
 *
 * Without ARI: at `notAfter − renew-within`; when `renew-within` is at least the certificate's lifetime (6-day
 * certificates with the default 14 days), once two thirds of the lifetime have passed.
 * With ARI (RFC 9773): at the point chosen uniformly at random inside the CA's suggested window, or earlier if the
 * rule above says so; a window entirely in the past makes the certificate due now.
 * ARI itself is asked again once the CA's Retry-After has passed, and at least twice a day (`ariRefreshDue`).
 */

const DAY_MS = 86_400_000;

/** The parts of a cache entry the decision needs. */
export interface DueInput {
  /** The certificate's notBefore; when absent or invalid, `issuedAt` stands in for it. */
  notBefore?: string;
  issuedAt?: string;
  notAfter: string;
  ari?: { window?: { start: string; end: string }; chosen?: string; retryAfter?: string; fetchedAt?: string };
}

export interface Due {
  due: boolean;
  /** When it is (or was) due. */
  at: Date;
  /** Which rule decided: "renew-within", "two-thirds", "ari", "ari-window-past". */
  reason: "renew-within" | "two-thirds" | "ari" | "ari-window-past";
}

export function renewalDue(entry: DueInput, renewWithinDays: number, now: Date): Due {
  return dueAt(dueRule(entry, renewWithinDays), now);
}

/** The part of `renewalDue` that does not depend on the time: when the entry is due, why, and its ARI window's end. */
export interface DueRule {
  atMs: number;
  reason: "renew-within" | "two-thirds" | "ari";
  /** The ARI window's end (NaN without a window): once it has passed, the entry is due now. */
  windowEndMs: number;
}

export function dueRule(entry: DueInput, renewWithinDays: number): DueRule {
  const fromCert = Date.parse(entry.notBefore ?? "");
  const notBefore = Number.isNaN(fromCert) ? Date.parse(entry.issuedAt ?? "") : fromCert;
  const notAfter = Date.parse(entry.notAfter);
  const lifetime = notAfter - notBefore;
  const renewWithin = renewWithinDays * DAY_MS;
  let at: number;
  let reason: DueRule["reason"];
  if (!Number.isNaN(lifetime) && renewWithin >= lifetime) {
    at = notBefore + (lifetime * 2) / 3;
    reason = "two-thirds";
  } else {
    at = notAfter - renewWithin;
    reason = "renew-within";
  }
  const window = entry.ari?.window;
  if (!window) return { atMs: at, reason, windowEndMs: NaN };
  const chosen = entry.ari?.chosen ? Date.parse(entry.ari.chosen) : Date.parse(window.start);
  if (!Number.isNaN(chosen) && chosen < at) {
    at = chosen;
    reason = "ari";
  }
  return { atMs: at, reason, windowEndMs: Date.parse(window.end) };
}

/** `renewalDue` at `now` from the entry's rule. */
export function dueAt(rule: DueRule, now: Date): Due {
  if (rule.windowEndMs <= now.getTime()) return { due: true, at: now, reason: "ari-window-past" };
  return { due: now.getTime() >= rule.atMs, at: new Date(rule.atMs), reason: rule.reason };
}

/** A point chosen uniformly at random inside [start, end) (RFC 9773 §4.2). */
export function chooseRenewalPoint(window: { start: Date; end: Date }, random: () => number = Math.random): Date {
  const start = window.start.getTime();
  const span = Math.max(0, window.end.getTime() - start);
  return new Date(start + Math.floor(random() * span));
}

/** Backoff after failed background renewals: 1 min, 10 min, 100 min, then daily (Let's Encrypt's guidance). */
export function renewalBackoffMs(failures: number): number {
  if (failures <= 1) return 60_000;
  if (failures === 2) return 600_000;
  if (failures === 3) return 6_000_000;
  return DAY_MS;
}

/** True when the entry's ARI information should be asked for again. */
export function ariRefreshDue(entry: Pick<DueInput, "ari">, now: Date): boolean {
  return now.getTime() >= ariRefreshAt(entry);
}

/** From when `ariRefreshDue` is true (epoch ms; -Infinity without ARI information, Infinity if never). */
export function ariRefreshAt(entry: Pick<DueInput, "ari">): number {
  if (!entry.ari) return -Infinity;
  const retryAfter = entry.ari.retryAfter ? Date.parse(entry.ari.retryAfter) : 0;
  // At least twice a day, whatever the CA said (Let's Encrypt asks clients to check that often).
  const fetchedAt = entry.ari.fetchedAt ? Date.parse(entry.ari.fetchedAt) : 0;
  const twiceADay = fetchedAt + 12 * 3_600_000;
  // An unreadable time never makes it due (as a comparison with NaN is false).
  return Math.min(Number.isNaN(retryAfter) ? Infinity : retryAfter, Number.isNaN(twiceADay) ? Infinity : twiceADay);
}
