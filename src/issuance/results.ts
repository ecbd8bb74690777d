/**
 * Results kept in memory, and how often a client fetch is written back (touch).
 *
 * Kept results: for a storage that could not be written (disk full, read-only), an issued certificate is kept and
 * served as a hit until it expires (`resultTtlMs`); and the result of an order that outlived its requester
 * (sign-timeout) is kept `once`, handed to the retry so the order is not wasted. With `none` (a null cache) that
 * is the only way the retry gets it; with a persisting storage the retry finds the stored entry first.
 * Expired results go on lookup or in `prune` (the sweep); nothing scans the map on a request.
 *
 * Touch: a client fetch is recorded in the storage at most once an hour per key (it decides what the sweep renews;
 * losing one is harmless).
 */
import type { Clock } from "../lib/clock.ts";
import type { CacheKey, Entry } from "../storage/mod.ts";

export interface Kept {
  entry: Entry;
  /** Handed out once (to the retry of a request that timed out), then forgotten. */
  once: boolean;
}

export class KeptResults {
  readonly #results = new Map<CacheKey, Kept & { expires: number }>();

  constructor(readonly now: Clock, readonly ttlMs = 600_000) {}

  /** Keeps `entry` for `ttlMs`, served as a hit (its storage could not take it). */
  keep(key: CacheKey, entry: Entry): void {
    this.#results.set(key, { entry, once: false, expires: this.now().getTime() + this.ttlMs });
  }

  /** Keeps `entry` for the retry of the request that gave up on it, unless a result is kept already. */
  keepOnce(key: CacheKey, entry: Entry): void {
    if (this.get(key)) return;
    this.#results.set(key, { entry, once: true, expires: this.now().getTime() + this.ttlMs });
  }

  /** The result kept for `key`, unless it expired; a `once` result is forgotten as it is handed out. */
  take(key: CacheKey): Kept | undefined {
    const kept = this.get(key);
    if (kept?.once) this.#results.delete(key);
    return kept;
  }

  /** Forgets a `once` result for `key` (the request it was kept for got its answer after all). */
  dropOnce(key: CacheKey): void {
    if (this.#results.get(key)?.once) this.#results.delete(key);
  }

  /** Removes every expired result. */
  prune(): void {
    const now = this.now().getTime();
    for (const [key, kept] of this.#results) if (kept.expires <= now) this.#results.delete(key);
  }

  get(key: CacheKey): Kept | undefined {
    const kept = this.#results.get(key);
    if (kept && kept.expires <= this.now().getTime()) {
      this.#results.delete(key);
      return undefined;
    }
    return kept;
  }
}

const TOUCH_INTERVAL_MS = 3_600_000;

/** Says when a client fetch of a key should be written to the storage: at most once per `intervalMs`. */
export class TouchThrottle {
  readonly #touched = new Map<CacheKey, number>();

  constructor(readonly intervalMs = TOUCH_INTERVAL_MS) {}

  /** True (and remembered) when the key was not touched within the interval before `now`. */
  due(key: CacheKey, now: Date): boolean {
    const last = this.#touched.get(key) ?? 0;
    if (now.getTime() - last < this.intervalMs) return false;
    this.#touched.set(key, now.getTime());
    if (this.#touched.size > 100_000) this.#touched.clear();
    return true;
  }
}
