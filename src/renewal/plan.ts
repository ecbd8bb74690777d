/**
 * What the renewal sweep does with one cache entry at `now`: a pure decision, no I/O. The ONE decision: the sweep
 * (src/renewal/sweep.ts) carries out what it says for every entry, and the PostgreSQL storage's `claimDue`
 * (src/storage/postgres/claims.ts) claims only the entries it says `renew` for (its SQL merely pre-filters).
 *
 * - `remove`: nobody fetched it within `renewActiveDays` and it expired more than 7 days ago.
 * - `skip` (`inactive`): nobody fetched it within `renewActiveDays`, but it has not been expired for 7 days yet.
 * - `skip` (`other-ca`): issued by another CA (after an `acme-server` change): never renewed here, only removed
 *   once expired.
 * - `refresh-ari`: the entry's ARI answer is stale (`ariRefreshDue`, src/renewal/due.ts); ask again, then plan once
 *   more with `ariChecked` set.
 * - `renew`: due (src/renewal/due.ts) and past its backoff (`renewal.nextAttemptAt`).
 * - `skip` (`not-due` / `backing-off`): active, but not due yet, or a recent failure backs off.
 */
import type { Entry } from "../storage/mod.ts";
import { ariRefreshDue, type Due, renewalDue } from "./due.ts";

const DAY_MS = 86_400_000;
/** How long an unfetched, expired entry stays before the sweep removes it. */
export const REMOVE_AFTER_EXPIRY_MS = 7 * DAY_MS;

/** What the plan needs besides the entry. */
export interface PlanInput {
  /** The sweep's clock reading (the injected clock; `claimDue` is handed the same reading). */
  now: Date;
  /** The ACME directory URL this instance orders from; other CAs' entries are not renewed. */
  directoryUrl: string;
  /** The storage's `renew-within` (days before notAfter; see due.ts). */
  renewWithinDays: number;
  /** The storage's `renew-active-days`: only entries a client fetched within this many days are renewed. */
  renewActiveDays: number;
  /** True once the ARI answer was refreshed in this pass (or need not be): no `refresh-ari` again. */
  ariChecked?: boolean;
}

export type RenewalPlan =
  | { action: "remove" }
  | { action: "refresh-ari" }
  | { action: "renew"; due: Due }
  | { action: "skip"; reason: "inactive" | "other-ca" }
  | { action: "skip"; reason: "not-due" | "backing-off"; due: Due };

/** Decides what to do with `entry` at `input.now`. Pure. */
export function planRenewal(entry: Entry, input: PlanInput): RenewalPlan {
  const now = input.now.getTime();
  const active = Date.parse(entry.lastFetchedAt) >= now - input.renewActiveDays * DAY_MS;
  if (!active) {
    return Date.parse(entry.notAfter) + REMOVE_AFTER_EXPIRY_MS < now
      ? { action: "remove" }
      : { action: "skip", reason: "inactive" };
  }
  if (entry.directoryUrl !== input.directoryUrl) return { action: "skip", reason: "other-ca" };
  if (!input.ariChecked && ariRefreshDue(entry, input.now)) return { action: "refresh-ari" };
  const due = renewalDue(entry, input.renewWithinDays, input.now);
  if (!due.due) return { action: "skip", reason: "not-due", due };
  const next = entry.renewal?.nextAttemptAt ? Date.parse(entry.renewal.nextAttemptAt) : 0;
  if (next > now) return { action: "skip", reason: "backing-off", due };
  return { action: "renew", due };
}
