/**
 * One order per cache key: the in-process single-flight map, and the storage claim (lease) loop around an order.
 *
 * Contract:
 * - Concurrent identical requests in this process share one order (`start` / `running`); processes sharing a
 *   storage never order twice: whoever wins the claim orders, the others wait for its release and read its result.
 * - Under the claim the entry is read again: someone else's fresh result is used, not a second order.
 * - An order recorded by a holder that died is resumed (src/issuance/order.ts).
 * - A lost claim (taken over, or its lease ran out) stops the order at the next CA call; the loop claims again,
 *   which normally means waiting for the instance that took over and reading its result.
 * - A storage that cannot be locked or written (disk full, read-only: `StorageError`) never stops issuance: the
 *   order runs under the in-process claim only and its result is kept in memory (src/issuance/results.ts).
 * - An order is bounded by `orderTimeoutMs` (default 10 min), whoever waits for it; nothing here is retried.
 */
import { type AcmeClient, AcmeTimeoutError } from "../acme/mod.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../ops/log.ts";
import type { AcmemsMetrics } from "../ops/metrics.ts";
import { renewalDue } from "../renewal/due.ts";
import { ClaimLostError, StorageError } from "../storage/errors.ts";
import { LeaseKeeper } from "../storage/lease.ts";
import { type CacheKey, type Claim, type Entry, type Held, isHeld, type Storage } from "../storage/mod.ts";
import type { AriTracker } from "./ari.ts";
import { countClaim } from "./claims.ts";
import type { OrderCa, OrderDriver } from "./order.ts";
import type { IssueRequest } from "./request.ts";
import type { KeptResults } from "./results.ts";

export interface Obtained {
  entry: Entry;
  /** False when another holder's fresh result was read instead of ordering. */
  ordered: boolean;
  /** The key it is stored under (with several CAs: the key at the CA that issued). */
  key?: CacheKey;
}

export interface CoordinatorOptions {
  /** Identifies this process in claims. */
  owner: string;
  log: Logger;
  metrics?: AcmemsMetrics;
  now: Clock;
  /** Upper bound of one order (default 10 min). */
  orderTimeoutMs?: number;
  orders: OrderDriver;
  ari: AriTracker;
  kept: KeptResults;
  /** The in-process claim store used when a storage cannot be locked (a `none` storage). */
  local: Storage;
}

export class Coordinator {
  readonly #opts: CoordinatorOptions;
  readonly #inflight = new Map<CacheKey, Promise<Obtained>>();

  constructor(opts: CoordinatorOptions) {
    this.#opts = opts;
  }

  /** Orders currently running. */
  get size(): number {
    return this.#inflight.size;
  }

  /** Every running order (shutdown waits for them). */
  get orders(): Promise<Obtained>[] {
    return [...this.#inflight.values()];
  }

  /** The order running for `key` in this process, if any. */
  running(key: CacheKey): Promise<Obtained> | undefined {
    return this.#inflight.get(key);
  }

  /**
   * Starts a flight (an order that may go to several CAs: src/ca/failover.ts) shared under every key in `keys`
   * until it ends: one order at a time for one CSR and block, whichever CA's key a caller looks at.
   */
  startFlight(keys: readonly CacheKey[], run: () => Promise<Obtained>): Promise<Obtained> {
    const order = run();
    for (const key of keys) this.#inflight.set(key, order);
    order.catch(() => {}).finally(() => {
      for (const key of keys) if (this.#inflight.get(key) === order) this.#inflight.delete(key);
    });
    return order;
  }

  /** Claim, re-read, order, store, release for one CA's key (what `start` runs; flights run it per CA). */
  async obtain(
    client: AcmeClient,
    request: IssueRequest,
    storage: Storage,
    key: CacheKey,
    previous: Entry | null,
    preclaimed?: Claim,
    ca?: OrderCa,
  ): Promise<Obtained> {
    const obtained = await this.#obtain(client, request, storage, key, previous, preclaimed, ca);
    return { ...obtained, key };
  }

  /**
   * Starts the order for `key` (the caller checked that none is running) and shares it until it ends.
   * `previous`: the entry it renews; `preclaimed`: a claim the caller already holds (the sweep's `claimDue`).
   */
  start(
    client: AcmeClient,
    request: IssueRequest,
    storage: Storage,
    key: CacheKey,
    previous: Entry | null,
    preclaimed?: Claim,
  ): Promise<Obtained> {
    // Observe the background promise so a client that gave up does not leave an unhandled rejection (startFlight).
    return this.startFlight([key], () => this.obtain(client, request, storage, key, previous, preclaimed));
  }

  /** Claim, re-read, order (or resume the order a dead holder recorded), store, release. */
  async #obtain(
    client: AcmeClient,
    request: IssueRequest,
    storage: Storage,
    key: CacheKey,
    previous: Entry | null,
    preclaimed?: Claim,
    ca?: OrderCa,
  ): Promise<Obtained> {
    const { log, metrics } = this.#opts;
    const started = performance.now();
    // An epoch deadline: the ACME client's pollers compare it with the real clock.
    const deadline = Date.now() + (this.#opts.orderTimeoutMs ?? 600_000);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), Math.max(0, deadline - Date.now()));
    const leaseMs = storage.leaseMs ?? 60_000;
    let next = preclaimed;
    let waited = false;
    try {
      while (true) {
        if (abort.signal.aborted) throw new AcmeTimeoutError("", "Gave up on this order at its deadline");
        let claim: Claim | Held;
        try {
          claim = next ?? countClaim(metrics, storage, await storage.claim(key, this.#opts.owner, leaseMs));
        } catch (error) {
          // A local cache that cannot be locked (disk full, read-only) must not stop issuance: order under the
          // in-process single flight only, and keep the result in memory.
          if (!(error instanceof StorageError)) throw error;
          log.error("cache cannot be locked, ordering without it", {
            names: request.names,
            storage: storage.name,
            reason: error.message,
          });
          return await this.#obtainUncached(client, request, key, previous, deadline, started, ca);
        }
        next = undefined;
        if (isHeld(claim)) {
          log.debug("waiting for another order of the same CSR", { names: request.names, heldBy: claim.heldBy });
          waited = true;
          await storage.waitForRelease(key, abort.signal);
          if (abort.signal.aborted) throw new AcmeTimeoutError("", "Gave up waiting for another order of this CSR");
          const current = await storage.get(key);
          if (current && !renewalDue(current, storage.renewWithinDays, this.#opts.now()).due) {
            return { entry: current, ordered: false };
          }
          continue;
        }
        const keeper = new LeaseKeeper(storage, claim, leaseMs);
        try {
          return await this.#orderUnder(client, request, storage, key, previous, deadline, started, {
            claim,
            keeper,
            waited,
            ca,
          });
        } catch (error) {
          const lost = error instanceof ClaimLostError
            ? error
            : keeper.signal.aborted && keeper.signal.reason instanceof ClaimLostError
            ? keeper.signal.reason
            : undefined;
          if (!lost) throw error;
          // Stop here (no further CA call under this claim); claim again, which normally means waiting for the
          // instance that took over and reading its result.
          metrics?.storageClaims.inc({ storage: storage.name, result: "expired" });
          log.warn("storage claim lost during the order", {
            names: request.names,
            storage: storage.name,
            reason: lost.message,
          });
          if (abort.signal.aborted) throw lost;
        } finally {
          await keeper.stop();
          await storage.release(claim);
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Under a won claim: a fresh entry someone stored meanwhile, or a new order stored under the claim. */
  async #orderUnder(
    client: AcmeClient,
    request: IssueRequest,
    storage: Storage,
    key: CacheKey,
    previous: Entry | null,
    deadline: number,
    started: number,
    { claim, keeper, waited, ca }: { claim: Claim; keeper: LeaseKeeper; waited: boolean; ca?: OrderCa },
  ): Promise<Obtained> {
    const { log, metrics } = this.#opts;
    const current = await storage.get(key);
    if (current && !renewalDue(current, storage.renewWithinDays, this.#opts.now()).due) {
      return { entry: current, ordered: false };
    }
    const old = current ?? previous;
    const entry = await this.#opts.orders.order(client, request, key, deadline, old?.ari?.certId, {
      storage,
      claim,
      keeper,
      waited,
      ca,
    });
    keeper.check();
    // A renewal is not a client fetch: keep the old activity time (the service records real fetches).
    if (old) entry.lastFetchedAt = old.lastFetchedAt;
    // The ARI lookup is a CA call too: only while the lease holds (a fenced-out holder stops here).
    await this.#opts.ari.lookup(client, entry, keeper);
    keeper.check();
    let stored: boolean;
    try {
      stored = await storage.put(claim, entry);
    } catch (error) {
      // The CA issued it: never throw it away because the cache is full or read-only.
      if (!(error instanceof StorageError)) throw error;
      log.error("certificate issued but not cached", {
        names: request.names,
        storage: storage.name,
        reason: error.message,
      });
      this.#opts.kept.keep(key, entry);
      return { entry, ordered: true };
    }
    if (!stored) {
      throw new ClaimLostError(
        "Another instance took over this order's storage claim; the certificate was not cached",
        "taken-over",
      );
    }
    const durationMs = performance.now() - started;
    metrics?.issuanceSeconds.observe(durationMs / 1000);
    log.info("certificate issued", {
      names: request.names,
      durationMs: Math.round(durationMs),
      notAfter: entry.notAfter,
      renewal: old !== null,
      ...(ca ? { ca: ca.name } : {}),
    });
    return { entry, ordered: true };
  }

  /** An order under an in-process claim only, its result kept in memory (the storage cannot be used). */
  async #obtainUncached(
    client: AcmeClient,
    request: IssueRequest,
    key: CacheKey,
    previous: Entry | null,
    deadline: number,
    started: number,
    ca?: OrderCa,
  ): Promise<Obtained> {
    const local = this.#opts.local;
    const claim = await local.claim(key, this.#opts.owner, 60_000);
    if (isHeld(claim)) throw new Error("The in-process claim is held although no order is running");
    const keeper = new LeaseKeeper(local, claim, 60_000);
    try {
      const entry = await this.#opts.orders.order(client, request, key, deadline, previous?.ari?.certId, {
        storage: local,
        claim,
        keeper,
        ca,
      });
      if (previous) entry.lastFetchedAt = previous.lastFetchedAt;
      this.#opts.kept.keep(key, entry);
      this.#opts.metrics?.issuanceSeconds.observe((performance.now() - started) / 1000);
      this.#opts.log.warn("certificate issued but not cached", { names: request.names });
      return { entry, ordered: true };
    } finally {
      await keeper.stop();
      await local.release(claim);
    }
  }
}
