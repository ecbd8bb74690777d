/**
 * What a cache hit reads from an entry, parsed once per entry object: its due rule (src/renewal/due.ts), when its
 * ARI is to be asked again, the times the metrics show, and its ARI window as dates.
 *
 * Contract: keyed by the entry object (a WeakMap), so it is only for entries nobody changes: those `peek`/`peekNow`
 * hand out (shared, read-only by the storage contract) and results kept in memory. A different `renewWithinDays`
 * (a reloaded storage) computes the rule again.
 */
import { ariRefreshAt, type DueRule, dueRule } from "../renewal/due.ts";
import type { Entry } from "../storage/mod.ts";

export interface HitFacts {
  renewWithinDays: number;
  rule: DueRule;
  /** `ariRefreshDue` is true from this time (epoch ms). */
  ariRefreshAtMs: number;
  notAfterMs: number;
  lastFetchedMs: number;
  lastFailureMs: number | undefined;
  window: { start: Date; end: Date } | undefined;
}

const facts = new WeakMap<Entry, HitFacts>();

export function hitFacts(entry: Entry, renewWithinDays: number): HitFacts {
  let known = facts.get(entry);
  if (known?.renewWithinDays !== renewWithinDays) {
    const window = entry.ari?.window;
    known = {
      renewWithinDays,
      rule: dueRule(entry, renewWithinDays),
      ariRefreshAtMs: ariRefreshAt(entry),
      notAfterMs: Date.parse(entry.notAfter),
      lastFetchedMs: Date.parse(entry.lastFetchedAt),
      lastFailureMs: entry.renewal?.lastFailureAt ? Date.parse(entry.renewal.lastFailureAt) : undefined,
      window: window ? { start: new Date(window.start), end: new Date(window.end) } : undefined,
    };
    facts.set(entry, known);
  }
  return known;
}
