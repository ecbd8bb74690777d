/**
 * Issuance: cache lookup → single flight per CSR → claim in storage → ACME order → cache entry.
 *
 * Contract:
 * - The cache key is SHA-256 over (CA directory URL, profile, CSR DER). Until an entry is due
 *   (src/renewal/due.ts), /sign gets its chain byte for byte and the CA is not asked.
 * - One order per key: concurrent identical requests in this process share one order (single-flight map), and
 *   processes sharing a storage never order twice (the storage claim; the second waits and reads the first's
 *   result).
 * - A caller waits at most until its own deadline (`sign-timeout`); the order goes on in the background up to
 *   `orderTimeoutMs` and its result is stored, so the client's retry gets it instead of a new order.
 * - A due certificate that is still valid is served (`stale`) when its renewal fails or takes too long, so a CA
 *   outage or rate limit never breaks a host that already has a working certificate.
 * - A vanished client never cancels an order; independent orders never wait on each other.
 * - Errors come out as `IssueError` with the HTTP status the /sign handler answers: 429 (the CA's rate limit, with
 *   its Retry-After), 421 (a name failed validation, with the CA's detail), 503 (CA unreachable, 5xx after retries,
 *   DNS server down, or the caller's deadline; with Retry-After), 500 (anything else, with an error id also logged).
 * - Every challenge presented is cleaned up, whatever happens.
 */
import {
  AcmeNetworkError,
  type AcmeProblem,
  AcmeTimeoutError,
  AcmeUnsupportedError,
  ariCertId,
  decodePem,
  encodePem,
  isProblem,
  splitPemChain,
} from "./acme/mod.ts";
import type { AcmeAuthorization, AcmeClient, AcmeOrder } from "./acme/mod.ts";
import { CaUnavailableError } from "./account/session.ts";
import { ChallengeError, type ChallengeSolver, type ChallengeTask } from "./challenges/solver.ts";
import { checkChainMatchesCsr } from "./issuance/chain.ts";
import type { Logger } from "./ops/log.ts";
import type { AcmemsMetrics } from "./ops/metrics.ts";
import type { NotificationPayload } from "./ops/notify.ts";
import type { NotifyEvent } from "./config/types.ts";
import { chooseRenewalPoint, type Due, renewalBackoffMs, renewalDue } from "./renewal/due.ts";
import { ClaimLostError, LeaseKeeper } from "./storage/lease.ts";
import { NoneStorage } from "./storage/none.ts";
import { StorageError } from "./storage/file.ts";
import {
  type CacheKey,
  cacheKey,
  type Claim,
  type Entry,
  type Held,
  isHeld,
  type Storage,
  StorageUnavailableError,
} from "./storage/mod.ts";

export class IssueError extends Error {
  constructor(
    readonly status: 403 | 421 | 429 | 500 | 503,
    message: string,
    readonly retryAfterSeconds?: number,
    readonly errorId?: string,
  ) {
    super(message);
    this.name = "IssueError";
  }
}

export interface IssueRequest {
  /** Exact CSR DER. */
  csrDer: Uint8Array;
  /** Hex SHA-256 of the DER. */
  csrSha256: string;
  /** Normalized DNS names (the order's identifiers). */
  names: string[];
  profile?: string;
  /** Name of the [verification] block. */
  verification: string;
  /** Name of the [storage] block, or null for no caching. */
  storage: string | null;
  /** Client address, for logs. */
  client?: string;
}

export type CacheState = "hit" | "miss" | "stale";

export interface IssueResult {
  /** Leaf first, PEM blocks separated by one empty line, ending with a newline. */
  chain: string;
  cache: CacheState;
  /** When the client should come back for the renewed certificate. */
  renewAfter?: Date;
  /** The CA's ARI window, when known. */
  window?: { start: Date; end: Date };
}

export interface IssuerOptions {
  /** The connected ACME client, or throws CaUnavailableError. */
  client(): AcmeClient;
  directoryUrl: string;
  solvers: Map<string, ChallengeSolver>;
  /** Configured storages by name. */
  storages?: Map<string, Storage>;
  log: Logger;
  /** Identifies this process in claims. */
  owner?: string;
  /** Upper bound of one order in the background (default 10 min). */
  orderTimeoutMs?: number;
  /** How long a finished result is kept for the client's retry when nothing is cached (default 10 min). */
  resultTtlMs?: number;
  /** Retry-After suggested after a timeout or CA outage (default 10 s). */
  retryAfterSeconds?: number;
  /** Replaces the clock (tests). */
  now?: () => Date;
  /** Called for each ACME order placed (metrics, tests). */
  onOrder?: (names: string[], replaces: string | undefined) => void;
  metrics?: AcmemsMetrics;
  /** Called when the CA says the account does not exist (the session reconnects). */
  onAccountLost?: (reason: string) => Promise<void> | void;
  /** Operator notifications (issue-failed, renewal-failed, expiring). */
  onEvent?: (event: NotifyEvent, details: Omit<NotificationPayload, "event" | "time" | "host">) => void;
  /** Days before notAfter when `expiring` fires for a certificate without a successful renewal; unset: never. */
  expiringDays?: number;
  /** Fault injection points (tests kill an instance there). */
  faults?: IssuerFaults;
}

/** Where an order stands when a fault hook runs. */
export interface FaultPoint {
  storage: string;
  key: CacheKey;
  claim: Claim;
  orderUrl: string;
}

/** Hooks the HA tests use to crash or stall an instance at the interesting moments of an order. */
export interface IssuerFaults {
  /** The CA created the order; its URL is not recorded in the storage yet. */
  beforeNoteOrder?(point: FaultPoint): void | Promise<void>;
  /** The order URL is recorded: a successor would resume this order. */
  afterNoteOrder?(point: FaultPoint): void | Promise<void>;
}

/** The claim an order runs under, and the keeper that extends it and says when to stop. */
interface OrderContext {
  storage: Storage;
  claim: Claim;
  keeper: LeaseKeeper;
  /** This request waited for another holder's order of the same CSR (it must not order a second time). */
  waited?: boolean;
}

interface Obtained {
  entry: Entry;
  /** False when another holder's fresh result was read instead of ordering. */
  ordered: boolean;
}

const TOUCH_INTERVAL_MS = 3_600_000;
const STALE_MARGIN_MS = 3_600_000;

export class Issuer {
  readonly #opts: IssuerOptions;
  readonly #none = new NoneStorage("none");
  readonly #inflight = new Map<CacheKey, Promise<Obtained>>();
  /** #classify's results, by error object. */
  readonly #classified = new WeakMap<object, IssueError>();
  /** When `issue-failed` was last sent, by status and names. */
  readonly #failureSent = new Map<string, number>();
  /** Orders whose requester timed out (followed once each). */
  readonly #abandoned = new WeakSet<Promise<Obtained>>();
  /**
   * Results kept in memory: for a storage that could not be written (disk full, read-only), served as hits until
   * they expire; and, for `none`, the result of an order that outlived its requester (sign-timeout), handed out once
   * to the retry (`once`) so the order is not wasted while caching stays off.
   */
  readonly #finished = new Map<CacheKey, { entry: Entry; expires: number; once: boolean }>();
  readonly #touched = new Map<CacheKey, number>();
  readonly #ariRefreshing = new Set<CacheKey>();
  /** Fire-and-forget work (touches, ARI refreshes) that shutdown waits for. */
  readonly #background = new Set<Promise<unknown>>();
  readonly #owner: string;
  readonly #expiringSent = new Map<CacheKey, number>();
  readonly #keys = new Map<string, CacheKey>();

  constructor(opts: IssuerOptions) {
    this.#opts = opts;
    this.#owner = opts.owner ?? `${Deno.hostname()}:${Deno.pid}`;
  }

  #now(): Date {
    return this.#opts.now?.() ?? new Date();
  }

  /** Orders currently running (for metrics and shutdown). */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** Waits for every running order and background write to end (shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#inflight.values(), ...this.#background]);
  }

  #track(promise: Promise<unknown>): void {
    const tracked = promise.catch(() => {}).finally(() => this.#background.delete(tracked));
    this.#background.add(tracked);
  }

  #storage(name: string | null): Storage {
    if (name === null) return this.#none;
    const storage = this.#opts.storages?.get(name);
    if (!storage) throw new Error(`Storage "${name}" is not configured`);
    return storage;
  }

  /** The cache key of a request (remembered by CSR hash and profile when the hash is known). */
  async keyFor(request: Pick<IssueRequest, "profile" | "csrDer"> & { csrSha256?: string }): Promise<CacheKey> {
    if (!request.csrSha256) return await cacheKey(this.#opts.directoryUrl, request.profile, request.csrDer);
    const memo = `${request.profile ?? ""}\u0000${request.csrSha256}`;
    let key = this.#keys.get(memo);
    if (key === undefined) {
      key = await cacheKey(this.#opts.directoryUrl, request.profile, request.csrDer);
      if (this.#keys.size >= 10_000) this.#keys.clear();
      this.#keys.set(memo, key);
    }
    return key;
  }

  /** Serves from the cache, or issues (joining a running order); waits at most until `deadline` (epoch ms). */
  async issue(request: IssueRequest, deadline: number, retried = false): Promise<IssueResult> {
    const storage = this.#storage(request.storage);
    const key = await this.keyFor(request);
    const now = this.#now();

    let cached: Entry | null = null;
    // A read-only look where the storage offers one (file: no read or parse while the file is unchanged).
    if (!storage.ephemeral) cached = storage.peek ? await storage.peek(key) : await storage.get(key);
    const kept = cached ? undefined : this.#kept(key);
    if (kept?.once) {
      // `none`: the retry of a request that timed out gets the order's result, once; caching stays off.
      this.#finished.delete(key);
      const due = renewalDue(kept.entry, storage.renewWithinDays, now);
      this.#note(key, kept.entry, due, now);
      return this.#result(kept.entry, "miss", due);
    }
    cached ??= kept?.entry ?? null;
    if (cached) {
      const due = renewalDue(cached, storage.renewWithinDays, now);
      if (!due.due || storage.ephemeral) {
        this.#touch(storage, key, now);
        this.#maybeRefreshAri(storage, key, cached, now);
        this.#note(key, cached, due, now);
        return this.#result(cached, "hit", due);
      }
      // A renewal that failed recently backs off for /sign too, while the certificate is still good.
      const backoffUntil = cached.renewal?.nextAttemptAt ? Date.parse(cached.renewal.nextAttemptAt) : 0;
      if (backoffUntil > now.getTime() && !this.#inflight.has(key)) {
        const stale = this.#stale(cached, storage, new Error(cached.renewal?.lastError ?? "renewal backing off"));
        if (stale) {
          this.#touch(storage, key, now);
          return stale;
        }
      }
    }

    let order = this.#inflight.get(key);
    if (!order) {
      // Fail fast (and start nothing) while the CA is unavailable, unless a still-valid certificate can be served.
      let client: AcmeClient;
      try {
        client = this.#opts.client();
      } catch (error) {
        const stale = this.#stale(cached, storage, error);
        if (stale) return stale;
        throw this.#failed(error, request);
      }
      order = this.#obtain(client, request, storage, key, cached);
      // A failed renewal of a cached certificate backs off for /sign as it does for the sweep.
      if (cached && !storage.ephemeral) {
        const renewing = cached;
        order.catch((error) => this.#track(this.#renewalFailed(storage, key, renewing, request, error)));
      }
      this.#inflight.set(key, order);
      // Observe the background promise so a client that gave up does not leave an unhandled rejection.
      order.catch(() => {}).finally(() => this.#inflight.delete(key));
    }

    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SignTimeout()), Math.max(0, deadline - Date.now()));
    });
    try {
      const obtained = await Promise.race([order, timeout]);
      if (storage.ephemeral) this.#finished.delete(key); // this request got the result: nothing to hand out later
      this.#touch(storage, key, this.#now());
      const due = renewalDue(obtained.entry, storage.renewWithinDays, this.#now());
      this.#note(key, obtained.entry, due, this.#now());
      return this.#result(obtained.entry, obtained.ordered ? "miss" : "hit", due);
    } catch (error) {
      const stale = this.#stale(cached, storage, error);
      if (stale) return stale;
      if (error instanceof SignTimeout) {
        this.#opts.log.warn("sign timeout reached, order continues in the background", {
          names: request.names,
          client: request.client,
        });
        this.#followAbandoned(order, request, storage, key);
        throw new IssueError(
          503,
          "The CA has not finished this order yet; it goes on in the background: retry this request later",
          this.#opts.retryAfterSeconds ?? 10,
        );
      }
      // The CA forgot our account (a test CA restarted): reconnect, then try once more within the deadline.
      if (!retried && this.#opts.onAccountLost && isProblem(error, "accountDoesNotExist")) {
        let wait: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.resolve(this.#opts.onAccountLost((error as AcmeProblem).detail)).catch(() => {}),
          new Promise((resolve) => (wait = setTimeout(resolve, Math.max(0, deadline - Date.now())))),
        ]);
        clearTimeout(wait);
        if (Date.now() < deadline) return await this.issue(request, deadline, true);
      }
      throw this.#failed(error, request);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Classifies a failed /sign issuance and tells the notifiers (`issue-failed`), at most once per names and status
   * every 10 minutes: while the CA is down every host's cron call fails the same way.
   */
  #failed(error: unknown, request: IssueRequest): IssueError {
    const failure = this.#classify(error, request);
    const now = Date.now();
    const topic = `${failure.status} ${request.names.join(",")}`;
    if (now - (this.#failureSent.get(topic) ?? -Infinity) < 600_000) return failure;
    if (this.#failureSent.size >= 10_000) this.#failureSent.clear();
    this.#failureSent.set(topic, now);
    this.#opts.onEvent?.("issue-failed", {
      names: request.names,
      message: failure.message,
      status: failure.status,
      client: request.client,
      errorId: failure.errorId,
    });
    return failure;
  }

  /** Keeps a result in memory for `resultTtlMs` (see `#finished`). */
  #keep(key: CacheKey, entry: Entry, once = false): void {
    this.#finished.set(key, { entry, expires: Date.now() + (this.#opts.resultTtlMs ?? 600_000), once });
  }

  /** The result kept for `key`, unless it expired (expired ones go here, or in the sweep). */
  #kept(key: CacheKey): { entry: Entry; once: boolean } | undefined {
    const kept = this.#finished.get(key);
    if (kept && kept.expires <= Date.now()) {
      this.#finished.delete(key);
      return undefined;
    }
    return kept;
  }

  /**
   * An order whose requester gave up (sign-timeout) goes on: its failure is still reported (once per order), and for
   * `none` its result is kept for the client's retry.
   */
  #followAbandoned(order: Promise<Obtained>, request: IssueRequest, storage: Storage, key: CacheKey): void {
    if (this.#abandoned.has(order)) return;
    this.#abandoned.add(order);
    order.then(
      (obtained) => {
        if (storage.ephemeral) this.#keep(key, obtained.entry, true);
      },
      (error) => {
        const failure = this.#failed(error, request);
        this.#opts.log.warn("background order failed after its client's sign-timeout", {
          names: request.names,
          status: failure.status,
          errorId: failure.errorId,
          error: failure.message,
        });
      },
    );
  }

  /** Records the entry's times for the per-certificate gauges; `fetchedNow` when a client just fetched it. */
  #note(key: CacheKey, entry: Entry, due: Due, fetchedNow?: Date): void {
    const metrics = this.#opts.metrics;
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

  /** A due but still valid certificate, served when its renewal cannot be had right now. */
  #stale(cached: Entry | null, storage: Storage, error: unknown): IssueResult | null {
    if (!cached || storage.ephemeral) return null;
    const now = this.#now();
    if (Date.parse(cached.notAfter) - now.getTime() < STALE_MARGIN_MS) return null;
    this.#opts.log.warn("renewal not possible now, serving the cached certificate", {
      names: cached.names,
      notAfter: cached.notAfter,
      reason: error instanceof Error ? error.message : String(error),
    });
    return this.#result(cached, "stale", renewalDue(cached, storage.renewWithinDays, now));
  }

  #result(entry: Entry, cache: CacheState, due: Due): IssueResult {
    this.#opts.metrics?.cacheRequests.inc({ result: cache });
    const result: IssueResult = { chain: entry.chain, cache, renewAfter: due.at };
    const window = entry.ari?.window;
    if (window) result.window = { start: new Date(window.start), end: new Date(window.end) };
    return result;
  }

  #touch(storage: Storage, key: CacheKey, now: Date): void {
    if (storage.ephemeral) return;
    const last = this.#touched.get(key) ?? 0;
    if (now.getTime() - last < TOUCH_INTERVAL_MS) return;
    this.#touched.set(key, now.getTime());
    if (this.#touched.size > 100_000) this.#touched.clear();
    this.#track(storage.touch(key, now));
  }

  /**
   * Gets a fresh entry for `key`: claim, re-read, order (or resume the order a dead holder recorded), store,
   * release. `preclaimed`: a claim the caller already holds (the renewal sweep's `claimDue`).
   */
  async #obtain(
    client: AcmeClient,
    request: IssueRequest,
    storage: Storage,
    key: CacheKey,
    previous: Entry | null,
    preclaimed?: Claim,
  ): Promise<Obtained> {
    const started = Date.now();
    const deadline = started + (this.#opts.orderTimeoutMs ?? 600_000);
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
          claim = next ?? this.#counted(storage, await storage.claim(key, this.#owner, leaseMs));
        } catch (error) {
          // A local cache that cannot be locked (disk full, read-only) must not stop issuance: order under the
          // in-process single flight only, and keep the result in memory.
          if (!(error instanceof StorageError)) throw error;
          this.#opts.log.error("cache cannot be locked, ordering without it", {
            names: request.names,
            storage: storage.name,
            reason: error.message,
          });
          return await this.#obtainUncached(client, request, key, previous, deadline, started);
        }
        next = undefined;
        if (isHeld(claim)) {
          this.#opts.log.debug("waiting for another order of the same CSR", {
            names: request.names,
            heldBy: claim.heldBy,
          });
          waited = true;
          await storage.waitForRelease(key, abort.signal);
          if (abort.signal.aborted) throw new AcmeTimeoutError("", "Gave up waiting for another order of this CSR");
          const current = await storage.get(key);
          if (current && !renewalDue(current, storage.renewWithinDays, this.#now()).due) {
            return { entry: current, ordered: false };
          }
          continue;
        }
        const keeper = new LeaseKeeper(storage, claim, leaseMs);
        try {
          const current = storage.ephemeral ? null : await storage.get(key);
          if (current && !renewalDue(current, storage.renewWithinDays, this.#now()).due) {
            return { entry: current, ordered: false };
          }
          const old = current ?? previous;
          const entry = await this.#order(client, request, key, deadline, old?.ari?.certId, {
            storage,
            claim,
            keeper,
            waited,
          });
          keeper.check();
          // A renewal is not a client fetch: keep the old activity time (issue() records real fetches).
          if (old) entry.lastFetchedAt = old.lastFetchedAt;
          // The ARI lookup is a CA call too: only while the lease holds (a fenced-out holder stops here).
          await this.#lookupAri(client, entry, keeper);
          keeper.check();
          let stored: boolean;
          try {
            stored = await storage.put(claim, entry);
          } catch (error) {
            // The CA issued it: never throw it away because the cache is full or read-only.
            if (!(error instanceof StorageError)) throw error;
            this.#opts.log.error("certificate issued but not cached", {
              names: request.names,
              storage: storage.name,
              reason: error.message,
            });
            this.#keep(key, entry);
            return { entry, ordered: true };
          }
          if (!stored) {
            throw new ClaimLostError(
              "Another instance took over this order's storage claim; the certificate was not cached",
              "taken-over",
            );
          }
          this.#opts.metrics?.issuanceSeconds.observe((Date.now() - started) / 1000);
          this.#opts.log.info("certificate issued", {
            names: request.names,
            durationMs: Date.now() - started,
            notAfter: entry.notAfter,
            renewal: old !== null,
          });
          return { entry, ordered: true };
        } catch (error) {
          const lost = error instanceof ClaimLostError
            ? error
            : keeper.signal.aborted && keeper.signal.reason instanceof ClaimLostError
            ? keeper.signal.reason
            : undefined;
          if (!lost) throw error;
          // Stop here (no further CA call under this claim); claim again, which normally means waiting for the
          // instance that took over and reading its result.
          this.#opts.metrics?.storageClaims.inc({ storage: storage.name, result: "expired" });
          this.#opts.log.warn("storage claim lost during the order", {
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

  /** An order under an in-process claim only, its result kept in memory (the storage cannot be used). */
  async #obtainUncached(
    client: AcmeClient,
    request: IssueRequest,
    key: CacheKey,
    previous: Entry | null,
    deadline: number,
    started: number,
  ): Promise<Obtained> {
    const claim = await this.#none.claim(key, this.#owner);
    if (isHeld(claim)) throw new Error("The in-process claim is held although no order is running");
    const keeper = new LeaseKeeper(this.#none, claim, 60_000);
    try {
      const entry = await this.#order(client, request, key, deadline, previous?.ari?.certId, {
        storage: this.#none,
        claim,
        keeper,
      });
      if (previous) entry.lastFetchedAt = previous.lastFetchedAt;
      this.#keep(key, entry);
      this.#opts.metrics?.issuanceSeconds.observe((Date.now() - started) / 1000);
      this.#opts.log.warn("certificate issued but not cached", { names: request.names });
      return { entry, ordered: true };
    } finally {
      await keeper.stop();
      await this.#none.release(claim);
    }
  }

  async #order(
    client: AcmeClient,
    request: IssueRequest,
    key: CacheKey,
    deadline: number,
    replaces: string | undefined,
    ctx: OrderContext,
  ): Promise<Entry> {
    const { log } = this.#opts;
    const { keeper, claim, storage } = ctx;
    const signal = keeper.signal;
    const solver = this.#opts.solvers.get(request.verification);
    if (!solver) throw new Error(`Verification "${request.verification}" has no challenge solver`);
    let order = claim.orderUrl ? await this.#resume(client, claim.orderUrl, request, keeper, ctx.waited) : undefined;
    if (!order) {
      log.debug("acme new order", { names: request.names, profile: request.profile, replaces });
      try {
        keeper.check();
        this.#opts.onOrder?.(request.names, replaces);
        order = await client.newOrder({ identifiers: request.names, profile: request.profile, replaces }, { signal });
      } catch (error) {
        // The CA knows better which certificate was replaced: order again without the hint (RFC 9773 §5). The same
        // when the CA fails on the hint itself (pebble 2.10 now and then answers 500 "could not find an order for the
        // given certificate"): `replaces` only spares the rate limit, the renewal matters more.
        const failedOnHint = isProblem(error) &&
          ((error as AcmeProblem).status >= 500 || isProblem(error, "malformed"));
        if (!replaces || !(isProblem(error, "alreadyReplaced") || failedOnHint)) throw error;
        log.info("ari: the CA refused replaces, ordering without it", {
          names: request.names,
          problem: (error as AcmeProblem).type,
          detail: (error as AcmeProblem).detail,
        });
        keeper.check();
        this.#opts.onOrder?.(request.names, undefined);
        order = await client.newOrder({ identifiers: request.names, profile: request.profile }, { signal });
      }
      // Recorded before anything else, so that a successor resumes this order instead of placing another.
      const point = { storage: storage.name, key, claim, orderUrl: order.url };
      await this.#opts.faults?.beforeNoteOrder?.(point);
      if (!await storage.noteOrder(claim, order.url)) {
        throw new ClaimLostError("Another instance took over this order's storage claim", "taken-over");
      }
      await this.#opts.faults?.afterNoteOrder?.(point);
      log.debug("acme order placed", { names: request.names, order: order.url, status: order.status });
    }
    try {
      order = await this.#complete(client, order, request, solver, deadline, keeper);
    } catch (error) {
      // An order that failed for good is forgotten, so that nobody later takes it for one still running (a waiter
      // would answer its failure instead of ordering).
      if (error instanceof ValidationFailed || error instanceof OrderInvalid) {
        await storage.noteOrder(claim, null).catch(() => false);
      }
      throw error;
    }
    keeper.check();
    const downloaded = await client.downloadCertificate(order.certificate!, { signal });
    log.debug("acme certificate downloaded", { order: order.url, certificate: order.certificate });
    const chain = formatChain(downloaded.pem);
    const leaf = await checkChainMatchesCsr(chain, request.csrDer, request.names);
    const now = this.#now().toISOString();
    const entry: Entry = {
      version: 1,
      key,
      directoryUrl: this.#opts.directoryUrl,
      csr: encodePem("CERTIFICATE REQUEST", request.csrDer),
      names: request.names,
      verification: request.verification,
      chain,
      issuedAt: now,
      notBefore: leaf.notBefore.toISOString(),
      notAfter: leaf.notAfter.toISOString(),
      orderUrl: order.url,
      lastFetchedAt: now,
    };
    if (request.profile) entry.profile = request.profile;
    return entry;
  }

  /** Drives a placed (or resumed) order to `valid` with a certificate URL: challenges, polls, finalize. */
  async #complete(
    client: AcmeClient,
    placed: AcmeOrder,
    request: IssueRequest,
    solver: ChallengeSolver,
    deadline: number,
    keeper: LeaseKeeper,
  ): Promise<AcmeOrder> {
    const { log } = this.#opts;
    const signal = keeper.signal;
    let order = placed;
    if (order.status === "pending") {
      await this.#authorize(client, order, solver, deadline, keeper);
      keeper.check();
      order = await client.pollOrder(order.url, { deadline, signal });
      log.debug("acme order polled", { order: order.url, status: order.status });
    }
    if (order.status === "ready") {
      log.debug("acme finalize", { order: order.url });
      keeper.check();
      order = await client.finalize(order, request.csrDer, { signal });
      if (order.status !== "valid") {
        keeper.check();
        order = await client.pollOrder(order.url, { deadline, signal });
      }
    } else if (order.status === "processing") {
      keeper.check();
      order = await client.pollOrder(order.url, { deadline, signal });
    }
    if (order.status !== "valid" || !order.certificate) {
      const detail = order.error?.detail ?? `the order ended as "${order.status}"`;
      throw new OrderInvalid(`The CA did not issue the certificate: ${detail}`);
    }
    return order;
  }

  /**
   * The order an earlier holder of the claim placed and recorded (it died or stalled): `valid` → download,
   * `pending`/`ready`/`processing` → continue; `invalid`, unknown (404) or for other names → undefined (order anew).
   */
  async #resume(
    client: AcmeClient,
    url: string,
    request: IssueRequest,
    keeper: LeaseKeeper,
    waited = false,
  ): Promise<AcmeOrder | undefined> {
    const { log } = this.#opts;
    let order: AcmeOrder;
    try {
      keeper.check();
      order = await client.getOrder(url, { signal: keeper.signal });
    } catch (error) {
      if (isProblem(error) && ((error as AcmeProblem).status === 404 || (error as AcmeProblem).is("malformed"))) {
        log.info("the order of an earlier holder is unknown to the CA; placing a new one", {
          names: request.names,
          order: url,
        });
        return undefined;
      }
      throw error;
    }
    const names = (order.identifiers ?? []).map((i) => i.value.toLowerCase()).sort().join(",");
    if (names !== [...request.names].map((n) => n.toLowerCase()).sort().join(",")) {
      log.warn("the order of an earlier holder is for other names; placing a new one", {
        names: request.names,
        order: url,
      });
      return undefined;
    }
    if (order.status === "invalid" && waited) {
      // The holder this request waited for failed: its answer is ours too, not a second order.
      const reason = order.error?.detail ?? "the order became invalid";
      log.info("the order this request waited for failed", { names: request.names, order: url, reason });
      throw new IssueError(
        503,
        `Another instance's order for this CSR failed (${reason}); retry this request later`,
        this.#opts.retryAfterSeconds ?? 10,
      );
    }
    if (order.status === "invalid") {
      log.info("the order of an earlier holder failed; placing a new one", { names: request.names, order: url });
      return undefined;
    }
    log.info("resuming the order of an earlier holder", { names: request.names, order: url, status: order.status });
    return order;
  }

  /** Counts a claim attempt (won, or held by someone else) and passes it on. */
  #counted(storage: Storage, result: Claim | Held): Claim | Held {
    this.#opts.metrics?.storageClaims.inc({ storage: storage.name, result: isHeld(result) ? "lost" : "won" });
    return result;
  }

  /** Asks the CA for the renewal window (best effort); updates `entry.ari` in place; stops when `keeper` loses. */
  async #lookupAri(client: AcmeClient, entry: Entry, keeper?: LeaseKeeper): Promise<void> {
    const now = this.#now();
    const signal = keeper?.signal;
    let certId: string;
    try {
      keeper?.check();
      if (!await client.supportsAri({ signal })) return;
      certId = entry.ari?.certId ?? ariCertId(entry.chain.split("\n\n")[0]);
    } catch (error) {
      this.#opts.log.debug("ari: no certificate id", { names: entry.names, error: String(error) });
      return;
    }
    const previous = entry.ari;
    try {
      keeper?.check();
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
      this.#opts.log.debug("ari window", { names: entry.names, ...entry.ari });
    } catch (error) {
      if (keeper?.signal.aborted) throw keeper.signal.reason;
      // A missing, failing or malformed answer: fall back to the rule without ARI, ask again later.
      entry.ari = {
        certId,
        retryAfter: new Date(now.getTime() + 6 * 3_600_000).toISOString(),
        fetchedAt: now.toISOString(),
        lastError: error instanceof Error ? error.message : String(error),
      };
      this.#opts.log.warn("ari lookup failed", { names: entry.names, error: entry.ari.lastError });
    }
  }

  /** Refreshes ARI in the background when the stored Retry-After has passed. */
  #maybeRefreshAri(storage: Storage, key: CacheKey, entry: Entry, now: Date): void {
    if (storage.ephemeral || this.#ariRefreshing.has(key)) return;
    if (!ariRefreshDue(entry, now)) return;
    this.#ariRefreshing.add(key);
    this.#track(this.#refreshAri(storage, key).finally(() => this.#ariRefreshing.delete(key)));
  }

  async #refreshAri(storage: Storage, key: CacheKey): Promise<void> {
    let client: AcmeClient;
    try {
      client = this.#opts.client();
      if (!await client.supportsAri()) return;
    } catch {
      return;
    }
    await this.#update(storage, key, async (entry) => {
      await this.#lookupAri(client, entry);
      return true;
    });
  }

  /** Read-modify-write of an entry under a claim; skipped when someone else holds it. True when it was written. */
  async #update(storage: Storage, key: CacheKey, mutate: (entry: Entry) => Promise<boolean>): Promise<boolean> {
    let claim: Claim | undefined;
    try {
      const result = this.#counted(storage, await storage.claim(key, this.#owner, storage.leaseMs ?? 60_000));
      if (isHeld(result)) return false;
      claim = result;
      const entry = await storage.get(key);
      return entry !== null && await mutate(entry) && await storage.put(claim, entry);
    } catch (error) {
      this.#opts.log.warn("cache entry update failed", {
        key,
        error: error instanceof Error ? error.message : String(error),
      });
      return false;
    } finally {
      if (claim) await storage.release(claim);
    }
  }

  /**
   * One pass of background renewal over every non-ephemeral storage: refresh ARI where its Retry-After passed,
   * renew due entries a client fetched within `renew-active-days`, remove entries nobody fetched that expired more
   * than 7 days ago. A storage shared by several instances hands each due entry to one of them (`claimDue`), so
   * instances sweeping at the same time split the work instead of queueing behind each other. Never throws.
   */
  async sweep(): Promise<{ renewed: number; failed: number; removed: number }> {
    const stats = { renewed: 0, failed: 0, removed: 0 };
    for (const [key, kept] of this.#finished) if (kept.expires <= Date.now()) this.#finished.delete(key);
    const storages = [...(this.#opts.storages?.values() ?? [])].filter((s) => !s.ephemeral);
    for (const storage of storages) {
      let keys: CacheKey[];
      try {
        keys = await storage.keys();
      } catch (error) {
        this.#opts.log.warn("renewal sweep cannot list the cache", { storage: storage.name, error: String(error) });
        continue;
      }
      for (const key of keys) {
        try {
          await this.#sweepOne(storage, key, stats, !storage.claimDue);
        } catch (error) {
          this.#opts.log.warn("renewal sweep error", {
            key,
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }
      if (storage.claimDue) await this.#sweepDue(storage, stats);
      try {
        const pruned = await storage.prune?.();
        if (pruned) this.#opts.log.debug("old claims without a certificate pruned", { storage: storage.name, pruned });
      } catch (error) {
        this.#opts.log.warn("renewal sweep cannot prune old claims", { storage: storage.name, error: String(error) });
      }
    }
    if (stats.renewed + stats.failed + stats.removed > 0) this.#opts.log.info("renewal sweep", { ...stats });
    return stats;
  }

  /** Renews what `claimDue` hands this instance, one entry at a time, until nothing due is left unclaimed. */
  async #sweepDue(storage: Storage, stats: { renewed: number; failed: number; removed: number }): Promise<void> {
    const leaseMs = storage.leaseMs ?? 60_000;
    const seen = new Set<CacheKey>();
    // Claims of entries this instance does not renew (another CA, not due by the full rule): held until the end of
    // the pass so that claimDue does not hand them out again at once.
    const skipped: Claim[] = [];
    try {
      for (let round = 0; round < 10_000; round++) {
        let client: AcmeClient;
        try {
          client = this.#opts.client();
        } catch {
          return; // CA unavailable: the next sweep tries again.
        }
        let batch;
        try {
          batch = await storage.claimDue!(this.#owner, leaseMs, this.#now(), 1);
        } catch (error) {
          this.#opts.log.warn("renewal sweep cannot claim due entries", {
            storage: storage.name,
            error: error instanceof Error ? error.message : String(error),
          });
          return;
        }
        if (batch.length === 0) return;
        for (const { claim, entry } of batch) {
          this.#opts.metrics?.storageClaims.inc({ storage: storage.name, result: "won" });
          const now = this.#now();
          const renewable = !seen.has(claim.key) && !this.#inflight.has(claim.key) &&
            entry.directoryUrl === this.#opts.directoryUrl && renewalDue(entry, storage.renewWithinDays, now).due;
          seen.add(claim.key);
          if (!renewable) {
            skipped.push(claim);
            continue;
          }
          this.#note(claim.key, entry, renewalDue(entry, storage.renewWithinDays, now));
          await this.#renew(storage, claim.key, entry, stats, client, claim);
        }
      }
    } finally {
      for (const claim of skipped) await storage.release(claim);
    }
  }

  async #sweepOne(
    storage: Storage,
    key: CacheKey,
    stats: { renewed: number; failed: number; removed: number },
    renew: boolean,
  ): Promise<void> {
    const now = this.#now();
    const entry = await storage.get(key);
    if (!entry) return;
    const activeSince = now.getTime() - storage.renewActiveDays * 86_400_000;
    const active = Date.parse(entry.lastFetchedAt) >= activeSince;
    if (!active) {
      if (Date.parse(entry.notAfter) + 7 * 86_400_000 < now.getTime()) {
        const claim = this.#counted(storage, await storage.claim(key, this.#owner, storage.leaseMs ?? 60_000));
        if (!isHeld(claim)) {
          try {
            await storage.remove(claim);
            stats.removed++;
            this.#opts.log.info("expired cache entry removed", { names: entry.names, notAfter: entry.notAfter });
          } finally {
            await storage.release(claim);
          }
        }
      }
      return;
    }
    // Another CA's entries (after an acme-server change) are only removed once expired, never renewed here.
    if (entry.directoryUrl !== this.#opts.directoryUrl) return;
    if (ariRefreshDue(entry, now)) await this.#refreshAri(storage, key);
    const current = (await storage.get(key)) ?? entry;
    const due = renewalDue(current, storage.renewWithinDays, now);
    this.#note(key, current, due);
    await this.#checkExpiring(storage, key, current, now);
    if (!due.due || !renew) return;
    const next = current.renewal?.nextAttemptAt ? Date.parse(current.renewal.nextAttemptAt) : 0;
    if (next > now.getTime()) return;

    let client: AcmeClient;
    try {
      client = this.#opts.client();
    } catch {
      return; // CA unavailable: the next sweep tries again.
    }
    await this.#renew(storage, key, current, stats, client);
  }

  /** Renews one due entry (under `claim` when the sweep already holds it); failures back off. */
  async #renew(
    storage: Storage,
    key: CacheKey,
    current: Entry,
    stats: { renewed: number; failed: number; removed: number },
    client: AcmeClient,
    claim?: Claim,
  ): Promise<void> {
    const request: IssueRequest = {
      csrDer: decodePem(current.csr, ["CERTIFICATE REQUEST"]).der,
      csrSha256: "",
      names: current.names,
      profile: current.profile,
      verification: current.verification,
      storage: storage.name,
    };
    let running = this.#inflight.get(key);
    // Whoever starts the order records its failure (a /sign that started it already does).
    const created = !running;
    if (running && claim) {
      await storage.release(claim);
      claim = undefined;
    }
    if (!running) {
      running = this.#obtain(client, request, storage, key, current, claim);
      this.#inflight.set(key, running);
      running.catch(() => {}).finally(() => this.#inflight.delete(key));
    }
    try {
      await running;
      stats.renewed++;
      this.#opts.metrics?.renewals.inc({ result: "ok" });
    } catch (error) {
      stats.failed++;
      if (created) await this.#renewalFailed(storage, key, current, request, error);
    }
  }

  /** A renewal failed: count it, tell the notifiers, and record the backoff (1 min, 10 min, 100 min, then daily). */
  async #renewalFailed(
    storage: Storage,
    key: CacheKey,
    current: Entry,
    request: IssueRequest,
    error: unknown,
  ): Promise<void> {
    this.#opts.metrics?.renewals.inc({ result: "failed" });
    const reason = this.#classify(error, request).message;
    this.#opts.onEvent?.("renewal-failed", {
      names: current.names,
      message: `Renewal failed; retrying with backoff: ${reason}`,
      notAfter: current.notAfter,
    });
    await this.#update(storage, key, (e) => {
      // Another instance stored a fresh certificate meanwhile: this failure is not that certificate's.
      if (e.chain !== current.chain) return Promise.resolve(false);
      const failures = (e.renewal?.failures ?? 0) + 1;
      e.renewal = {
        ...e.renewal,
        failures,
        lastError: reason,
        lastFailureAt: this.#now().toISOString(),
        nextAttemptAt: new Date(this.#now().getTime() + renewalBackoffMs(failures)).toISOString(),
      };
      this.#note(key, e, renewalDue(e, storage.renewWithinDays, this.#now()));
      return Promise.resolve(true);
    });
    this.#opts.log.warn("background renewal failed", { names: current.names, reason });
  }

  /**
   * `expiring`: within expiring-days of notAfter and not renewed; at most once a day per certificate. The time sent
   * is recorded in the entry under its claim, so instances sharing a storage (and a restarted instance) send it once.
   */
  async #checkExpiring(storage: Storage, key: CacheKey, entry: Entry, now: Date): Promise<void> {
    const onEvent = this.#opts.onEvent;
    const days = this.#opts.expiringDays;
    if (!onEvent || days === undefined) return;
    const left = Date.parse(entry.notAfter) - now.getTime();
    if (left > days * 86_400_000) return;
    const last = this.#expiringSent.get(key) ?? 0;
    if (now.getTime() - last < 86_400_000) return;
    const recently = (e: Entry) => now.getTime() - Date.parse(e.renewal?.expiringSentAt ?? "") < 86_400_000;
    const won = await this.#update(storage, key, (e) => {
      if (recently(e)) return Promise.resolve(false);
      e.renewal = { ...e.renewal, failures: e.renewal?.failures ?? 0, expiringSentAt: now.toISOString() };
      return Promise.resolve(true);
    });
    // Not won: another instance sent it, or the entry is busy (renewing): the next sweep looks again.
    if (!won) {
      if (recently((await storage.get(key).catch(() => null)) ?? entry)) this.#expiringSent.set(key, now.getTime());
      return;
    }
    this.#expiringSent.set(key, now.getTime());
    onEvent("expiring", {
      names: entry.names,
      notAfter: entry.notAfter,
      message: `The cached certificate for ${entry.names.join(", ")} expires at ${entry.notAfter} and has not been ` +
        `renewed${entry.renewal?.lastError ? `: ${entry.renewal.lastError}` : ""}`,
    });
  }

  async #authorize(
    client: AcmeClient,
    order: AcmeOrder,
    solver: ChallengeSolver,
    deadline: number,
    keeper: LeaseKeeper,
  ): Promise<void> {
    const signal = keeper.signal;
    keeper.check();
    const authorizations = await Promise.all(
      order.authorizations.map((url) => client.getAuthorization(url, { signal })),
    );
    const presented: ChallengeTask[] = [];
    const toAnswer: { authorization: AcmeAuthorization; challengeUrl: string }[] = [];
    /** Challenges an earlier holder already answered (a resumed order): present and wait, do not answer again. */
    const answered: { authorization: AcmeAuthorization; challengeUrl: string }[] = [];
    try {
      for (const authorization of authorizations) {
        const name = displayName(authorization);
        this.#opts.log.debug("acme authorization", { name, status: authorization.status, url: authorization.url });
        if (authorization.status === "valid") continue; // reused from an earlier order
        if (authorization.status !== "pending") {
          throw new ValidationFailed(name, `its authorization is ${authorization.status}`);
        }
        const challenge = authorization.challenges.find((c) => c.type === solver.challengeType);
        if (!challenge) {
          throw new Error(
            `The CA offers no ${solver.challengeType} challenge for ${name} ` +
              `(offered: ${authorization.challenges.map((c) => c.type).join(", ")})`,
          );
        }
        if (challenge.status === "valid") continue;
        if (typeof challenge.token !== "string") {
          throw new Error(`The CA sent a ${challenge.type} challenge without a token`);
        }
        const task: ChallengeTask = {
          identifier: authorization.identifier.value,
          wildcard: authorization.wildcard === true,
          token: challenge.token,
          keyAuthorization: await client.keyAuthorization(challenge.token),
        };
        await solver.present(task);
        presented.push(task);
        (challenge.status === "processing" ? answered : toAnswer).push({ authorization, challengeUrl: challenge.url });
      }
      // Everything is in place before the CA is told to look (a name and its wildcard share one TXT owner).
      keeper.check();
      await Promise.all(toAnswer.map((a) => client.respondToChallenge(a.challengeUrl, { signal })));
      if (toAnswer.length > 0) {
        this.#opts.log.debug("acme challenges answered", { type: solver.challengeType, count: toAnswer.length });
      }
      keeper.check();
      const results = await Promise.all(
        [...toAnswer, ...answered].map((a) => client.pollAuthorization(a.authorization.url, { deadline, signal })),
      );
      for (const result of results) {
        this.#opts.log.debug("acme authorization polled", { name: displayName(result), status: result.status });
        if (result.status === "valid") continue;
        const failed = result.challenges.find((c) => c.error);
        const detail = failed?.error?.detail ?? `its authorization is ${result.status}`;
        throw new ValidationFailed(displayName(result), detail);
      }
    } finally {
      await Promise.all(presented.map((task) => solver.cleanup(task).catch(() => {})));
    }
  }

  /**
   * The /sign answer for an error, worked out once per error object: the same failure reaches the requester, the
   * notifiers and the renewal bookkeeping, with one error id and one log line.
   */
  #classify(error: unknown, request: IssueRequest): IssueError {
    if (typeof error !== "object" || error === null) return this.#classifyNew(error, request);
    let known = this.#classified.get(error);
    if (!known) {
      known = this.#classifyNew(error, request);
      this.#classified.set(error, known);
    }
    return known;
  }

  #classifyNew(error: unknown, request: IssueRequest): IssueError {
    const { log } = this.#opts;
    const retry = this.#opts.retryAfterSeconds ?? 10;
    if (error instanceof IssueError) return error;
    if (error instanceof CaUnavailableError) return new IssueError(503, error.message, error.retryAfterSeconds);
    if (error instanceof StorageUnavailableError) {
      log.warn("storage unavailable", { names: request.names, reason: error.message });
      return new IssueError(503, error.message, error.retryAfterSeconds ?? retry);
    }
    if (error instanceof ClaimLostError) {
      log.warn("order stopped: storage claim lost", { names: request.names, reason: error.message });
      return new IssueError(503, `${error.message}: retry this request later`, retry);
    }
    if (error instanceof ChallengeError) {
      log.warn("challenge failed", { names: request.names, status: error.status, reason: error.message });
      return new IssueError(
        error.status,
        error.message,
        error.status === 503 ? error.retryAfterSeconds ?? retry : undefined,
      );
    }
    if (error instanceof ValidationFailed) {
      log.warn("validation failed", { names: request.names, name: error.identifier, detail: error.detail });
      return new IssueError(421, `Validation of ${error.identifier} failed: ${error.detail}`);
    }
    if (error instanceof AcmeUnsupportedError) {
      log.error("ca does not support the request", { names: request.names, reason: error.message });
      return new IssueError(503, `${error.message}: fix the profile in the config`, 3600);
    }
    if (isProblem(error)) {
      const problem = error as AcmeProblem;
      if (problem.is("accountDoesNotExist")) {
        this.#opts.onAccountLost?.(problem.detail);
        return new IssueError(503, `The CA no longer knows our account; reconnecting: ${problem.detail}`, retry);
      }
      if (problem.is("rateLimited")) {
        const seconds = problem.retryAfter
          ? Math.max(1, Math.ceil((problem.retryAfter.getTime() - Date.now()) / 1000))
          : 3600;
        log.warn("rate limited by the CA", { names: request.names, detail: problem.detail, retryAfter: seconds });
        return new IssueError(429, `The CA rate-limited this request: ${problem.detail}`, seconds);
      }
      // The CA refuses these names (policy, CAA) or this CSR: the client's request, not a server fault.
      if (problem.is("rejectedIdentifier") || problem.is("caa") || problem.is("unsupportedIdentifier")) {
        log.warn("ca refused the names", { names: request.names, type: problem.type, detail: problem.detail });
        return new IssueError(421, `The CA refuses to issue for ${request.names.join(", ")}: ${problem.detail}`);
      }
      if (problem.is("badCSR") || problem.is("badPublicKey") || problem.is("badSignatureAlgorithm")) {
        log.warn("ca refused the csr", { names: request.names, type: problem.type, detail: problem.detail });
        return new IssueError(403, `The CA refused this CSR: ${problem.detail}`);
      }
      if (problem.status >= 500 || problem.is("serverInternal")) {
        log.warn("ca error", { names: request.names, status: problem.status, detail: problem.detail });
        return new IssueError(503, `The CA failed (HTTP ${problem.status}): ${problem.detail}`, retry);
      }
    }
    if (error instanceof AcmeNetworkError || error instanceof AcmeTimeoutError) {
      log.warn("ca unreachable", { names: request.names, reason: error.message });
      return new IssueError(503, `The CA could not be reached: ${error.message}`, retry);
    }
    const errorId = crypto.randomUUID().slice(0, 8);
    const message = error instanceof Error ? error.message : String(error);
    log.error("issuance failed", {
      errorId,
      names: request.names,
      error: message,
      problem: isProblem(error) ? (error as AcmeProblem).type : undefined,
    });
    return new IssueError(500, `Issuance failed (error id ${errorId}): ${message}`, undefined, errorId);
  }
}

/** True when the entry's ARI information should be asked for again. */
export function ariRefreshDue(entry: Entry, now: Date): boolean {
  const retryAfter = entry.ari?.retryAfter ? Date.parse(entry.ari.retryAfter) : 0;
  if (!entry.ari) return true;
  // At least twice a day, whatever the CA said (Let's Encrypt asks clients to check that often).
  const fetchedAt = entry.ari.fetchedAt ? Date.parse(entry.ari.fetchedAt) : 0;
  return now.getTime() >= retryAfter || now.getTime() - fetchedAt >= 12 * 3_600_000;
}

class SignTimeout extends Error {}

/** The order ended without a certificate (invalid, or valid without one). */
class OrderInvalid extends Error {}

class ValidationFailed extends Error {
  constructor(readonly identifier: string, readonly detail: string) {
    super(`Validation of ${identifier} failed: ${detail}`);
  }
}

function displayName(authorization: AcmeAuthorization): string {
  return `${authorization.wildcard ? "*." : ""}${authorization.identifier.value}`;
}

/** Leaf first, one empty line between PEM blocks, a final newline. */
export function formatChain(pem: string): string {
  const blocks = splitPemChain(pem).map((b) => b.trim());
  if (blocks.length === 0) throw new Error("The CA returned no certificate");
  return blocks.join("\n\n") + "\n";
}
