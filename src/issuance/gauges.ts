/** The per-certificate gauges (not after, due at, last fetch, last renewal failure), from a cache entry. */
import type { Due } from "../renewal/due.ts";
import type { AcmemsMetrics } from "../ops/metrics.ts";
import type { CacheKey, Entry } from "../storage/mod.ts";

/** Records the entry's times; `fetchedNow` when a client just fetched it. */
export function noteCertificate(
  metrics: AcmemsMetrics | undefined,
  key: CacheKey,
  entry: Entry,
  due: Due,
  fetchedNow?: Date,
): void {
  if (!metrics) return;
  const lastFetch = Math.max(Date.parse(entry.lastFetchedAt), fetchedNow?.getTime() ?? 0);
  metrics.noteCertificate(key, {
    name: entry.names[0],
    notAfter: Date.parse(entry.notAfter) / 1000,
    dueAt: due.at.getTime() / 1000,
    lastFetch: lastFetch / 1000,
    lastRenewalFailure: entry.renewal?.lastFailureAt ? Date.parse(entry.renewal.lastFailureAt) / 1000 : undefined,
  });
}
