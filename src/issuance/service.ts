/**
 * Issuance, the front: cache lookup → single flight per CSR → claim in storage → ACME order → cache entry.
 *
 * Contract:
 * - The cache key is SHA-256 over (CA directory URL, profile, CSR DER). A request looks at its block's CAs in order
 *   of preference (`ca =`): until an entry there is due (src/renewal/due.ts), /sign gets its chain byte for byte
 *   and no CA is asked; a due one is renewed preferred CA first, with failover (src/issuance/flights.ts).
 * - One order per CSR and block, whichever CA it goes to (coordinator.ts, flights.ts): concurrent identical requests
 *   share one order, and processes sharing a storage never order twice at one CA.
 * - A caller waits at most until its own deadline (`sign-timeout`); the order goes on in the background up to
 *   `orderTimeoutMs` and its result is stored (or kept in memory: src/issuance/results.ts), so the client's retry
 *   gets it instead of a new order.
 * - A due certificate that is still valid is served (`stale`) when its renewal fails or takes too long, so a CA
 *   outage or rate limit never breaks a host that already has a working certificate.
 * - A vanished client never cancels an order; independent orders never wait on each other.
 * - Failures come out as `IssueFailure` (src/issuance/failure.ts, classified in classify.ts): `rate-limited` (the
 *   CA's rate limit, with its Retry-After), `names-refused` (a name failed validation, with the CA's detail),
 *   `refused` (the CA refused the CSR), `unavailable` (CA unreachable, 5xx after retries, DNS server down, or the
 *   caller's deadline; with Retry-After), `internal` (anything else, with an error id also logged). Nothing here
 *   knows an HTTP status: src/http/respond.ts maps the kinds.
 * - `issue-failed` is told to the notifiers at most once per names and kind every 10 minutes.
 * - Every time comparison uses the injected clock (`now`); timers and deadlines in epoch ms run on the real one.
 */
import { type AcmeProblem, isProblem } from "../acme/mod.ts";
import { isKeyRefused } from "./key_refused.ts";
import type { Clock } from "../lib/clock.ts";
import { type Due, dueAt, renewalDue } from "../renewal/due.ts";
import type { RenewalSweep, SweepStats } from "../renewal/sweep.ts";
import { NoneStorage } from "../storage/none.ts";
import type { CacheKey, Entry, Storage } from "../storage/mod.ts";
import type { AriTracker } from "./ari.ts";
import { Background } from "./background.ts";
import type { FailureClassifier } from "./classify.ts";
import type { Coordinator, Obtained } from "./coordinator.ts";
import type { CaChoice, Flights } from "./flights.ts";
import { IssueFailure } from "./failure.ts";
import type { FailureNotices } from "./failure_notice.ts";
import { noteCertificate } from "./gauges.ts";
import { hitFacts } from "./hit_facts.ts";
import { buildIssuanceParts } from "./parts.ts";
import type { CacheState, IssueRequest, IssueResult } from "./request.ts";
import { type KeptResults, TouchThrottle } from "./results.ts";
import type { IssuanceOptions } from "./options.ts";

export type { CacheState, IssueRequest, IssueResult } from "./request.ts";
export type { FaultPoint, IssuanceFaults } from "./order.ts";

export type { IssuanceOptions } from "./options.ts";

const STALE_MARGIN_MS = 3_600_000;

export class IssuanceService {
  readonly #opts: IssuanceOptions;
  readonly #now: Clock;
  /** The null cache behind `storage: null` requests. */
  readonly #none = new NoneStorage("none");
  readonly #background = new Background();
  readonly #kept: KeptResults;
  readonly #touches = new TouchThrottle();
  readonly #classifier: FailureClassifier;
  readonly #ari: AriTracker;
  readonly #coordinator: Coordinator;
  readonly #renewal: RenewalSweep;
  readonly #notices: FailureNotices;
  /** Orders whose requester timed out (followed once each). */
  readonly #abandoned = new WeakSet<Promise<Obtained>>();
  readonly #flights: Flights;
  /** `acmems_cache_requests_total` by result, label text computed once (every /sign answer counts). */
  readonly #counted: Partial<Record<CacheState, () => void>> = {};

  constructor(opts: IssuanceOptions) {
    this.#opts = opts;
    for (const result of ["hit", "miss", "stale"] as const) {
      const inc = opts.metrics?.cacheRequests.bind({ result });
      if (inc) this.#counted[result] = () => inc();
    }
    const parts = buildIssuanceParts(opts, this.#none, (promise: Promise<unknown>) => this.#background.track(promise));
    this.#now = parts.now;
    this.#kept = parts.kept;
    this.#classifier = parts.classifier;
    this.#notices = parts.notices;
    this.#ari = parts.ari;
    this.#coordinator = parts.coordinator;
    this.#flights = parts.flights;
    this.#renewal = parts.renewal;
  }

  /** Orders currently running (for metrics and shutdown). */
  get inflight(): number {
    return this.#coordinator.size;
  }

  /** Waits for every running order and background write to end (shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#coordinator.orders, ...this.#background.pending]);
  }

  /** One pass of background renewal (src/renewal/sweep.ts). Never throws. */
  sweep(): Promise<SweepStats> {
    return this.#renewal.sweep();
  }

  #storage(name: string | null): Storage {
    if (name === null) return this.#none;
    const storage = this.#opts.storages?.get(name);
    if (!storage) throw new Error(`Storage "${name}" is not configured`);
    return storage;
  }

  /** The cache key of a request at its preferred CA (remembered by CSR hash and profile when the hash is known). */
  async keyFor(
    request: Pick<IssueRequest, "profile" | "csrDer"> & { csrSha256?: string; block?: string },
  ): Promise<CacheKey> {
    return (await this.#flights.choices({ csrSha256: "", ...request }))[0].key;
  }

  /** Serves from the cache, or issues (joining a running order); waits at most until `deadline` (epoch ms). */
  async issue(request: IssueRequest, deadline: number): Promise<IssueResult> {
    const result = await this.#issue(request, deadline, false);
    if (request.storage !== null && this.#opts.onFetch) {
      this.#noteFetch(request, request.storage, result.key ?? await this.keyFor(request), this.#now());
    }
    return result;
  }

  /**
   * The answer `issue` would give when it is a cache hit that can be told without waiting for I/O (the keys
   * remembered, the storage's `peekNow` knows the entries, one of them valid and not due), with the same effects;
   * null otherwise, and then `issue` decides. Saves the /sign hit path its promises.
   */
  hitNow(request: IssueRequest): IssueResult | null {
    if (request.storage === null) return null;
    const storage = this.#storage(request.storage);
    if (!storage.peekNow) return null;
    const choices = this.#flights.choicesNow(request);
    if (!choices) return null;
    const now = this.#now();
    for (const { key } of choices) {
      const cached = storage.peekNow(key);
      if (cached === undefined) return null;
      const hit = this.#hit(storage, key, cached, now);
      if (hit) {
        this.#noteFetch(request, request.storage, hit.key ?? key, now);
        return hit;
      }
    }
    return null;
  }

  /** Tells `onFetch` (the operator page's record) who fetched `key`. */
  #noteFetch(request: IssueRequest, storage: string, key: CacheKey, at: Date): void {
    this.#opts.onFetch?.({ storage, key, at, block: request.block, client: request.client });
  }

  async #issue(request: IssueRequest, deadline: number, retried: boolean): Promise<IssueResult> {
    const storage = this.#storage(request.storage);
    const choices = await this.#flights.choices(request);
    const now = this.#now();

    // The block's CAs in order of preference: any valid, not-due entry is served (a fallback CA's too).
    const entries = new Map<CacheKey, Entry | null>();
    let first: { key: CacheKey; entry: Entry } | undefined;
    for (const { key } of choices) {
      // A read-only look where the storage offers one (file: no read or parse while the file is unchanged).
      let cached: Entry | null = storage.peek ? await storage.peek(key) : await storage.get(key);
      const kept = cached ? undefined : this.#kept.take(key);
      if (kept?.once) {
        // The retry of a request that timed out gets the order's result, once (with `none`, the only way it can).
        const due = renewalDue(kept.entry, storage.renewWithinDays, now);
        noteCertificate(this.#opts.metrics, key, kept.entry, due, now);
        return this.#result(kept.entry, "miss", due);
      }
      cached ??= kept?.entry ?? null;
      entries.set(key, cached);
      if (!cached) continue;
      const hit = this.#hit(storage, key, cached, now);
      if (hit) return hit;
      first ??= { key, entry: cached };
    }
    const cached = first?.entry ?? null;
    const key = first?.key ?? choices[0].key;
    if (first) {
      const served = this.#backingOff(storage, first.key, first.entry, now);
      if (served) return served;
    }

    let order = this.#flights.running([...choices.map((c) => c.key), key]);
    if (!order) {
      // Fail fast (and start nothing) while no CA of the block is available, unless a still-valid certificate can
      // be served.
      const down = this.#flights.allUnavailable(choices, request.names);
      if (down) {
        const stale = this.#stale(cached, storage, down);
        if (stale) return stale;
        throw this.#failed(down, request, choices);
      }
      order = this.#flights.start(request, storage, choices, entries, first);
      // A failed renewal of a cached certificate backs off for /sign as it does for the sweep.
      if (first) {
        const renewing = first;
        order.catch((error) =>
          this.#background.track(this.#renewal.renewalFailed(storage, renewing.key, renewing.entry, request, error))
        );
      }
    }
    return await this.#await(order, request, storage, key, cached, deadline, retried, choices);
  }

  /** A cached entry's answer while it is not due (a hit); null when due. */
  #hit(storage: Storage, key: CacheKey, cached: Entry, now: Date): IssueResult | null {
    // Entries here are the storage's read-only ones (or kept results): their parsed times are remembered.
    const facts = hitFacts(cached, storage.renewWithinDays);
    const due = dueAt(facts.rule, now);
    if (due.due) return null;
    this.#touch(storage, key, now);
    if (now.getTime() >= facts.ariRefreshAtMs) this.#ari.maybeRefresh(storage, key, cached, now);
    noteCertificate(this.#opts.metrics, key, cached, due, now, facts);
    return this.#result(cached, "hit", due, facts.window);
  }

  /** A due entry whose renewal failed recently: served stale while it backs off (for /sign as for the sweep). */
  #backingOff(storage: Storage, key: CacheKey, cached: Entry, now: Date): IssueResult | null {
    const backoffUntil = cached.renewal?.nextAttemptAt ? Date.parse(cached.renewal.nextAttemptAt) : 0;
    if (backoffUntil > now.getTime() && !this.#coordinator.running(key)) {
      const stale = this.#stale(cached, storage, new Error(cached.renewal?.lastError ?? "renewal backing off"));
      if (stale) {
        this.#touch(storage, key, now);
        return stale;
      }
    }
    return null;
  }

  /** Waits for the order until the caller's deadline; stale serving, sign-timeout and the account-lost retry. */
  async #await(
    order: Promise<Obtained>,
    request: IssueRequest,
    storage: Storage,
    key: CacheKey,
    cached: Entry | null,
    deadline: number,
    retried: boolean,
    choices: readonly CaChoice[],
  ): Promise<IssueResult> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SignTimeout()), Math.max(0, deadline - Date.now()));
    });
    try {
      const obtained = await Promise.race([order, timeout]);
      const at = obtained.key ?? key;
      this.#kept.dropOnce(at); // this request got the result: nothing to hand out later
      const now = this.#now();
      this.#touch(storage, at, now);
      const due = renewalDue(obtained.entry, storage.renewWithinDays, now);
      noteCertificate(this.#opts.metrics, at, obtained.entry, due, now);
      return this.#result(obtained.entry, obtained.ordered ? "miss" : "hit", due);
    } catch (error) {
      const stale = this.#stale(cached, storage, error);
      if (stale) return stale;
      if (error instanceof SignTimeout) {
        this.#opts.log.warn("sign timeout reached, order continues in the background", {
          names: request.names,
          client: request.client,
        });
        this.#followAbandoned(order, request, key, choices);
        throw new IssueFailure(
          "unavailable",
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
        // The deadline is the caller's epoch time on the real clock (a timer, not a clock reading).
        if (Date.now() < deadline) return await this.#issue(request, deadline, true);
      }
      // The CA refused our key's signature: a key rollover replaced account.pem; switch to it, try once more.
      if (!retried && this.#opts.onKeyRefused && isKeyRefused(error) && await this.#opts.onKeyRefused()) {
        if (Date.now() < deadline) return await this.#issue(request, deadline, true);
      }
      throw this.#failed(error, request, choices);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Classifies a failed /sign issuance and tells the notifiers (`issue-failed`: src/issuance/failure_notice.ts). */
  #failed(error: unknown, request: IssueRequest, choices: readonly CaChoice[]): IssueFailure {
    return this.#notices.failed(error, request, choices.map((c) => c.ca.name));
  }

  /**
   * An order whose requester gave up (sign-timeout) goes on: its failure is still reported (once per order), and
   * its result is kept once for the client's retry (src/issuance/results.ts).
   */
  #followAbandoned(order: Promise<Obtained>, request: IssueRequest, key: CacheKey, choices: readonly CaChoice[]): void {
    if (this.#abandoned.has(order)) return;
    this.#abandoned.add(order);
    order.then(
      (obtained) => this.#kept.keepOnce(obtained.key ?? key, obtained.entry),
      (error) => {
        const failure = this.#failed(error, request, choices);
        this.#opts.log.warn("background order failed after its client's sign-timeout", {
          names: request.names,
          kind: failure.kind,
          errorId: failure.errorId,
          error: failure.message,
        });
      },
    );
  }

  /** A due but still valid certificate, served when its renewal cannot be had right now. */
  #stale(cached: Entry | null, storage: Storage, error: unknown): IssueResult | null {
    if (!cached) return null;
    const now = this.#now();
    if (Date.parse(cached.notAfter) - now.getTime() < STALE_MARGIN_MS) return null;
    this.#opts.log.warn("renewal not possible now, serving the cached certificate", {
      names: cached.names,
      notAfter: cached.notAfter,
      reason: error instanceof Error ? error.message : String(error),
    });
    return this.#result(cached, "stale", renewalDue(cached, storage.renewWithinDays, now));
  }

  #result(entry: Entry, cache: CacheState, due: Due, window?: IssueResult["window"]): IssueResult {
    this.#counted[cache]?.();
    const result: IssueResult = { chain: entry.chain, cache, renewAfter: due.at, key: entry.key };
    const ari = entry.ari?.window;
    if (window) result.window = window;
    else if (ari) result.window = { start: new Date(ari.start), end: new Date(ari.end) };
    return result;
  }

  /** Records a client fetch in the storage, at most once an hour per key (best effort, in the background). */
  #touch(storage: Storage, key: CacheKey, now: Date): void {
    if (this.#touches.due(key, now)) this.#background.track(storage.touch(key, now));
  }
}

/** The caller's deadline passed before the order ended. */
class SignTimeout extends Error {}
