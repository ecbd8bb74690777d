/** The per-certificate gauges (not after, due at, last fetch, last renewal failure), from a cache entry. */
import type { Due } from "../renewal/due.ts";
import type { AcmemsMetrics } from "../ops/metrics.ts";
import type { CacheKey, Entry } from "../storage/mod.ts";

/** Records the entry's times; `fetchedNow` when a client just fetched it; `parsed`: its times parsed already. */
export function noteCertificate(
  metrics: AcmemsMetrics | undefined,
  key: CacheKey,
  entry: Entry,
  due: Due,
  fetchedNow?: Date,
  parsed?: { notAfterMs: number; lastFetchedMs: number; lastFailureMs: number | undefined },
): void {
  if (!metrics) return;
  const times = parsed ?? {
    notAfterMs: Date.parse(entry.notAfter),
    lastFetchedMs: Date.parse(entry.lastFetchedAt),
    lastFailureMs: entry.renewal?.lastFailureAt ? Date.parse(entry.renewal.lastFailureAt) : undefined,
  };
  const lastFetch = Math.max(times.lastFetchedMs, fetchedNow?.getTime() ?? 0);
  metrics.noteCertificate(key, {
    name: entry.names[0],
    notAfter: times.notAfterMs / 1000,
    dueAt: due.at.getTime() / 1000,
    lastFetch: lastFetch / 1000,
    lastRenewalFailure: times.lastFailureMs === undefined ? undefined : times.lastFailureMs / 1000,
  });
}
