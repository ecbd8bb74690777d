/**
 * ARI (RFC 9773): asks the CA when it wants a cached certificate renewed, and keeps that answer fresh.
 *
 * Contract: best effort. A CA without ARI, a failing or malformed answer only means the rule without ARI applies
 * (src/renewal/due.ts); a failed lookup is asked again after 6 hours. A window that did not change keeps its chosen
 * point (the random point inside the window is chosen once). A lookup under a lease stops when the lease is lost
 * (it is a CA call too). Background refreshes are read-modify-writes under a claim, one per key at a time, skipped
 * when another holder has the key.
 */
import { type AcmeClient, ariCertId } from "../acme/mod.ts";
import type { CallGuard } from "../challenges/resolver.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../ops/log.ts";
import type { AcmemsMetrics } from "../ops/metrics.ts";
import { ariRefreshDue, chooseRenewalPoint } from "../renewal/due.ts";

import type { CacheKey, Entry, Storage } from "../storage/mod.ts";
import { updateEntry } from "./claims.ts";

export interface AriOptions {
  /** The connected client of the CA whose directory is `directoryUrl` (the entry's issuer), or throws. */
  client(directoryUrl: string): AcmeClient;
  log: Logger;
  metrics?: AcmemsMetrics;
  now: Clock;
  /** Identifies this process in claims. */
  owner: string;
  /** Runs fire-and-forget work that shutdown waits for. */
  track(promise: Promise<unknown>): void;
}

export class AriTracker {
  readonly #opts: AriOptions;
  readonly #refreshing = new Set<CacheKey>();

  constructor(opts: AriOptions) {
    this.#opts = opts;
  }

  /** Asks the CA for the renewal window (best effort); updates `entry.ari` in place; stops when `guard` loses. */
  async lookup(client: AcmeClient, entry: Entry, guard?: CallGuard): Promise<void> {
    const { log } = this.#opts;
    const now = this.#opts.now();
    const signal = guard?.signal;
    let certId: string;
    try {
      guard?.check();
      if (!await client.supportsAri({ signal })) return;
      certId = entry.ari?.certId ?? ariCertId(entry.chain.split("\n\n")[0]);
    } catch (error) {
      log.debug("ari: no certificate id", { names: entry.names, error: String(error) });
      return;
    }
    const previous = entry.ari;
    try {
      guard?.check();
      const info = await client.renewalInfo({ certId }, { signal });
      const window = { start: info.suggestedWindow.start.toISOString(), end: info.suggestedWindow.end.toISOString() };
      const sameWindow = previous?.window?.start === window.start && previous?.window?.end === window.end;
      entry.ari = {
        certId,
        window,
        chosen: sameWindow && previous?.chosen
          ? previous.chosen
          : chooseRenewalPoint(info.suggestedWindow).toISOString(),
        retryAfter: info.retryAfter.toISOString(),
        fetchedAt: now.toISOString(),
      };
      if (info.explanationURL) entry.ari.explanationURL = info.explanationURL;
      log.debug("ari window", { names: entry.names, ...entry.ari });
    } catch (error) {
      if (guard?.signal.aborted) throw guard.signal.reason;
      // A missing, failing or malformed answer: fall back to the rule without ARI, ask again later.
      entry.ari = {
        certId,
        retryAfter: new Date(now.getTime() + 6 * 3_600_000).toISOString(),
        fetchedAt: now.toISOString(),
        lastError: error instanceof Error ? error.message : String(error),
      };
      log.warn("ari lookup failed", { names: entry.names, error: entry.ari.lastError });
    }
  }

  /** Refreshes ARI in the background when the stored Retry-After has passed (one refresh per key at a time). */
  maybeRefresh(storage: Storage, key: CacheKey, entry: Entry, now: Date): void {
    if (this.#refreshing.has(key) || !ariRefreshDue(entry, now)) return;
    this.#refreshing.add(key);
    this.#opts.track(this.refresh(storage, key).finally(() => this.#refreshing.delete(key)));
  }

  /** Looks the entry's ARI up again and stores it (skipped when the CA is unavailable or the key is held). */
  async refresh(storage: Storage, key: CacheKey): Promise<void> {
    let client: AcmeClient;
    try {
      // ARI is asked of the CA that issued the certificate.
      const entry = await storage.get(key);
      if (!entry) return;
      client = this.#opts.client(entry.directoryUrl);
      if (!await client.supportsAri()) return;
    } catch {
      return;
    }
    await updateEntry(this.#opts, storage, key, async (entry) => {
      if (this.#opts.client(entry.directoryUrl) !== client) return false;
      await this.lookup(client, entry);
      return true;
    });
  }
}
