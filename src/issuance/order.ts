/**
 * Drives one ACME order under a storage claim: place it (or resume the one an earlier holder recorded), record its
 * URL, resolve the authorizations, finalize, download, check the chain against the CSR, and build the cache entry.
 *
 * Contract:
 * - The order URL is recorded in the storage (`noteOrder`) before anything else happens to it, so a successor
 *   resumes it instead of placing another; an order that failed for good is forgotten (`noteOrder(null)`), so a
 *   waiter never mistakes it for one still running.
 * - Every CA call is preceded by `keeper.check()` and gets the keeper's signal: a holder that lost its claim stops.
 * - `replaces` (RFC 9773 §5) is a hint: refused (`alreadyReplaced`, malformed) or failed on (CA 5xx), the order is
 *   placed again without it.
 * - A request that waited for another holder and finds that holder's order invalid fails with that answer
 *   (`unavailable`) instead of ordering a second time.
 * - Retries are the caller's: nothing here retries an order.
 */
import {
  type AcmeClient,
  type AcmeOrder,
  type AcmeProblem,
  encodePem,
  isProblem,
  type ProblemDocument,
  retryAfterOf,
  splitPemChain,
} from "../acme/mod.ts";
import { resolveAuthorizations, ValidationFailed } from "../challenges/resolver.ts";
import type { ChallengeSolver } from "../challenges/solver.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../ops/log.ts";
import { ClaimLostError } from "../storage/errors.ts";
import type { LeaseKeeper } from "../storage/lease.ts";
import type { CacheKey, Claim, Entry, Storage } from "../storage/mod.ts";
import { checkChainMatchesCsr } from "./chain.ts";
import { IssueFailure } from "./failure.ts";
import type { IssueRequest } from "./request.ts";

/** Where an order stands when a fault hook runs. */
export interface FaultPoint {
  storage: string;
  key: CacheKey;
  claim: Claim;
  orderUrl: string;
}

/** Hooks the HA tests use to crash or stall an instance at the interesting moments of an order. */
export interface IssuanceFaults {
  /** The CA created the order; its URL is not recorded in the storage yet. */
  beforeNoteOrder?(point: FaultPoint): void | Promise<void>;
  /** The order URL is recorded: a successor would resume this order. */
  afterNoteOrder?(point: FaultPoint): void | Promise<void>;
}

/** The claim an order runs under, and the keeper that extends it and says when to stop. */
export interface OrderContext {
  storage: Storage;
  claim: Claim;
  keeper: LeaseKeeper;
  /** This request waited for another holder's order of the same CSR (it must not order a second time). */
  waited?: boolean;
  /** The CA ordered from (its name is recorded in the entry); default: the driver's `directoryUrl`, no name. */
  ca?: OrderCa;
}

/** Which CA an order goes to, and who wants to know once the CA has it. */
export interface OrderCa {
  name: string;
  directoryUrl: string;
  /** Called once the CA has the order: placed now (`false`) or resumed from an earlier holder (`true`). */
  onPlaced?: (resumed: boolean) => void;
}

export interface OrderOptions {
  directoryUrl: string;
  /** Challenge solvers by [verification] block name. */
  solvers: Map<string, ChallengeSolver>;
  log: Logger;
  now: Clock;
  /** Retry-After when a waited-for order failed (default 10 s). */
  retryAfterSeconds?: number;
  /** Called for each ACME order placed (metrics, tests). */
  onOrder?: (names: string[], replaces: string | undefined) => void;
  faults?: IssuanceFaults;
}

/** The order ended without a certificate (invalid, or valid without one). */
export class OrderInvalid extends Error {
  constructor(
    message: string,
    /** The order's error (a `caa` one fails over: src/ca/failover.ts). */ readonly problem?: ProblemDocument,
  ) {
    super(message);
  }
}

/** Leaf first, one empty line between PEM blocks, a final newline. */
export function formatChain(pem: string): string {
  const blocks = splitPemChain(pem).map((b) => b.trim());
  if (blocks.length === 0) throw new Error("The CA returned no certificate");
  return blocks.join("\n\n") + "\n";
}

export class OrderDriver {
  readonly #opts: OrderOptions;

  constructor(opts: OrderOptions) {
    this.#opts = opts;
  }

  /** Places (or resumes) the order for `request` and returns the new cache entry (not stored yet). */
  async order(
    client: AcmeClient,
    request: IssueRequest,
    key: CacheKey,
    deadline: number,
    replaces: string | undefined,
    ctx: OrderContext,
  ): Promise<Entry> {
    const { log } = this.#opts;
    const { keeper, claim, storage } = ctx;
    const solver = this.#opts.solvers.get(request.verification);
    if (!solver) throw new Error(`Verification "${request.verification}" has no challenge solver`);
    let order = claim.orderUrl ? await this.#resume(client, claim.orderUrl, request, keeper, ctx.waited) : undefined;
    if (order) ctx.ca?.onPlaced?.(true);
    if (!order) {
      order = await this.#place(client, request, replaces, keeper);
      ctx.ca?.onPlaced?.(false);
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
    const downloaded = await client.downloadCertificate(order.certificate!, { signal: keeper.signal });
    log.debug("acme certificate downloaded", { order: order.url, certificate: order.certificate });
    const chain = formatChain(downloaded.pem);
    const at = this.#opts.now();
    const leaf = await checkChainMatchesCsr(chain, request.csrDer, request.names, at);
    const now = at.toISOString();
    const entry: Entry = {
      version: 1,
      key,
      directoryUrl: ctx.ca?.directoryUrl ?? this.#opts.directoryUrl,
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
    if (ctx.ca) entry.ca = ctx.ca.name;
    if (request.profile) entry.profile = request.profile;
    if (request.block !== undefined) entry.block = request.block;
    return entry;
  }

  /** A new order; the `replaces` hint is dropped when the CA refuses or fails on it. */
  async #place(
    client: AcmeClient,
    request: IssueRequest,
    replaces: string | undefined,
    keeper: LeaseKeeper,
  ): Promise<AcmeOrder> {
    const { log } = this.#opts;
    const signal = keeper.signal;
    log.debug("acme new order", { names: request.names, profile: request.profile, replaces });
    try {
      keeper.check();
      this.#opts.onOrder?.(request.names, replaces);
      return await client.newOrder({ identifiers: request.names, profile: request.profile, replaces }, { signal });
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
      return await client.newOrder({ identifiers: request.names, profile: request.profile }, { signal });
    }
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
      await resolveAuthorizations({
        client,
        order,
        names: request.names,
        solver,
        deadline,
        guard: keeper,
        log,
        retryAfterSeconds: this.#opts.retryAfterSeconds,
      });
      keeper.check();
      // Every authorization is valid: the order is ready now (CAs compute it on read), so fetch it at once.
      order = await client.pollOrder(order.url, { deadline, signal, firstPollAfter: 0 });
      log.debug("acme order polled", { order: order.url, status: order.status });
    }
    if (order.status === "ready") {
      log.debug("acme finalize", { order: order.url });
      keeper.check();
      order = await client.finalize(order, request.csrDer, { signal });
      if (order.status !== "valid") {
        keeper.check();
        order = await client.pollOrder(order.url, { deadline, signal, firstPollAfter: retryAfterOf(order) });
      }
    } else if (order.status === "processing") {
      // A resumed order the CA is still processing: the first poll waits for the Retry-After of that answer.
      keeper.check();
      order = await client.pollOrder(order.url, { deadline, signal, firstPollAfter: retryAfterOf(order) });
    }
    if (order.status !== "valid" || !order.certificate) {
      const detail = order.error?.detail ?? `the order ended as "${order.status}"`;
      throw new OrderInvalid(`The CA did not issue the certificate: ${detail}`, order.error);
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
      throw new IssueFailure(
        "unavailable",
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
}
