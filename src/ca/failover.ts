/**
 * Failover between CAs, per order: try the auth block's CAs in order (`ca = le, gts`) and go on to the next one when
 * the current one cannot issue for reasons of its own.
 *
 * Contract:
 * - Goes on (`failoverReason`) when the CA is unavailable (session not ready, unreachable, timeout, 5xx after the
 *   client's retries, the account lost), answers 429 / `rateLimited`, refuses the names for CA-specific reasons
 *   (`caa`, `rejectedIdentifier`, `unsupportedIdentifier`), or the ledger refuses with scope `ca` (reason
 *   `rate-limit`, the CA is not called). Never on a validation failure (our fault or the name's) nor on a refused
 *   CSR (`badCSR` …), nor on anything else: those end the order at once.
 * - The ledger (src/ca/ledger_port.ts) is asked before an order is placed at a CA; a `block` refusal ends the
 *   request with `rate-limited` at once, no CA called. A CA's own 429 is told to the ledger (`noteRateLimited`, with
 *   any `https` URL with "unpause" in the detail), a failed authorization too (`noteFailedAuthorization`). A CA that
 *   never created the order (unreachable, 5xx, its 429 or refusal at newOrder) gets its counted slots back
 *   (`ticket.cancel()`), and so does a resumed order (counted when an earlier holder placed it).
 * - A CA that says it no longer knows our account (restarted) is reconnected (bounded wait) and tried once more
 *   before the next CA: its account comes back at once, so the preferred CA keeps its place. A CA that cannot be
 *   reached (network error, timeout) is marked so (`unreachable`) when there are several: the next orders skip it
 *   at once while it reconnects in the background, instead of each waiting for its retries or its timeout.
 * - Each failover is logged (info: from, to, reason) and counted (`acmems_ca_failover_total{from,to,reason}`).
 * - When every CA failed: all rate-limited → `rate-limited` with the smallest Retry-After; otherwise the last CA's
 *   failure. With more than one CA the failure is a `FailoverFailure` naming the CAs tried and why (`issue-failed`
 *   says so); with one CA the error is thrown as it came (the single-CA behaviour is unchanged).
 */
import {
  AcmeNetworkError,
  type AcmeProblem,
  AcmeTimeoutError,
  AcmeUnsupportedError,
  isProblem,
  type ProblemDocument,
} from "../acme/mod.ts";
import { CaUnavailableError } from "../account/session.ts";
import { ValidationFailed } from "../challenges/resolver.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../ops/log.ts";
import { IssueFailure } from "../issuance/failure.ts";
import { OrderInvalid } from "../issuance/order.ts";
import { isKeyRefused } from "../issuance/key_refused.ts";
import { unpauseUrlOf } from "./unpause.ts";
import type { Ledger } from "./ledger_port.ts";
import type { CaEndpoint } from "./registry.ts";

export type FailoverReason =
  | "unavailable"
  | "rate-limit"
  | "caa"
  | "rejected-identifier"
  | "unsupported-identifier";

/** One CA that did not issue, and why. */
export interface TriedCa {
  ca: string;
  /** The failover reason, or the failure's kind when it ended the order. */
  reason: string;
  detail: string;
}

/** The failure of an order that went to more than one CA: the final failure plus every CA tried. */
export class FailoverFailure extends IssueFailure {
  constructor(failure: IssueFailure, readonly tried: readonly TriedCa[]) {
    const cas = tried.map((t) => `${t.ca}: ${t.reason}`).join(", ");
    super(failure.kind, `${failure.message} (CAs tried: ${cas})`, failure.retryAfterSeconds, failure.errorId);
    this.name = "FailoverFailure";
  }
}

/** How long an order waits for a CA that forgot our account to reconnect before it goes on to the next CA. */
const RECONNECT_WAIT_MS = 15_000;

/** Resolves when `promise` settles or after `ms`, whichever is first; never rejects. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** Why an order's failure at one CA sends it to the next CA; null when it must not (see the contract). Pure. */
export function failoverReason(error: unknown): FailoverReason | null {
  // A failed validation or an invalid order stays with this CA, unless its problem is a refusal of this CA only
  // (its CAA records name other CAs; it will not issue for such names or identifiers).
  if (error instanceof ValidationFailed || error instanceof OrderInvalid) return refusalOf(error.problem);
  if (error instanceof CaUnavailableError) return "unavailable";
  if (error instanceof IssueFailure) return error.kind === "rate-limited" ? "rate-limit" : null;
  if (isProblem(error)) {
    const problem = error as AcmeProblem;
    if (problem.is("rateLimited") || problem.status === 429) return "rate-limit";
    const refusal = refusalReason(problem.type);
    if (refusal) return refusal;
    if (problem.is("accountDoesNotExist")) return "unavailable";
    if (problem.status >= 500 || problem.is("serverInternal")) return "unavailable";
    return null;
  }
  if (error instanceof AcmeNetworkError || error instanceof AcmeTimeoutError) return "unavailable";
  if (error instanceof AcmeUnsupportedError) return "unavailable";
  return null;
}

/** The failover reason of a CA-specific refusal (`caa`, `rejectedIdentifier`, `unsupportedIdentifier`), else null. */
function refusalReason(type: string | undefined): FailoverReason | null {
  switch (type?.replace(/^urn:ietf:params:acme:error:/, "")) {
    case "caa":
      return "caa";
    case "rejectedIdentifier":
      return "rejected-identifier";
    case "unsupportedIdentifier":
      return "unsupported-identifier";
    default:
      return null;
  }
}

/** `refusalReason` of a problem document, or of a compound one whose subproblems all give the same. */
function refusalOf(problem: ProblemDocument | undefined): FailoverReason | null {
  const direct = refusalReason(problem?.type);
  if (direct || !problem?.subproblems?.length) return direct;
  const reasons = problem.subproblems.map((sub) => refusalReason(sub.type));
  return reasons.every((r) => r !== null && r === reasons[0]) ? reasons[0] : null;
}

/**
 * A rate limit of the whole ACME account rather than of some names, from the CA's detail (Let's Encrypt: "too many
 * new orders (300) from this account in the last 3h0m0s"; "too many new registrations"). Pure.
 */
export function accountWideLimit(detail: string | undefined): boolean {
  return /\b(from this account|new orders|new registrations|newOrdersPerAccount)\b/i.test(detail ?? "");
}

/** The CA's unpause URL in a problem detail (Let's Encrypt: "… visit https://portal.letsencrypt.org/sfe/v1/unpause?…"). */
export { unpauseUrlOf };

/** Seconds until `retryAfter` (≥ 1), or an hour when the CA gave none. Pure. */
export function secondsUntil(retryAfter: Date | undefined, now: Date): number {
  return retryAfter ? Math.max(1, Math.ceil((retryAfter.getTime() - now.getTime()) / 1000)) : 3600;
}

/** The failure when every CA failed: all rate-limited → the smallest Retry-After; else the last. Pure. */
export function finalFailure(failures: readonly IssueFailure[]): IssueFailure {
  if (failures.length > 0 && failures.every((f) => f.kind === "rate-limited")) {
    const soonest = failures.reduce((a, b) =>
      (b.retryAfterSeconds ?? Infinity) < (a.retryAfterSeconds ?? Infinity) ? b : a
    );
    return soonest;
  }
  return failures[failures.length - 1];
}

/** The order being failed over (what the ledger is told). */
export interface FailoverOrder {
  names: string[];
  /** The ARI certificate id of the certificate this order replaces at `ca` (only that CA's own). */
  replaces(ca: string): string | undefined;
  block?: string;
  client?: string;
}

export interface FailoverDeps {
  ledger: Ledger;
  log: Logger;
  now: Clock;
  /** `acmems_ca_failover_total` (src/ops/metrics.ts). */
  failovers?: { inc(labels: Record<string, string>): void };
  /** The failure a thrown error stands for (src/issuance/classify.ts). */
  classify(error: unknown): IssueFailure;
}

/**
 * What one attempt is handed: the CA, its connected client, and `placed(resumed)` to call once the CA has the order
 * (`resumed`: an earlier holder placed it, and it was counted then: this admission's slots are given back).
 */
export type Attempt<T> = (
  ca: CaEndpoint,
  client: ReturnType<CaEndpoint["client"]>,
  placed: (resumed: boolean) => void,
) => Promise<T>;

/** Runs `attempt` at each CA of `cas` in turn until one succeeds (see the contract). */
export async function orderWithFailover<T>(
  cas: readonly CaEndpoint[],
  order: FailoverOrder,
  deps: FailoverDeps,
  attempt: Attempt<T>,
): Promise<{ value: T; ca: CaEndpoint; tried: TriedCa[] }> {
  if (cas.length === 0) throw new Error("No CA to order from");
  const { ledger, log } = deps;
  const tried: TriedCa[] = [];
  const failures: IssueFailure[] = [];
  let lastError: unknown;
  const multi = cas.length > 1;
  /** Ends the order with `error` (wrapped with the CAs tried when there are several). */
  const end = (error: unknown, ca: CaEndpoint): never => {
    if (!multi) throw error;
    const failure = deps.classify(error);
    throw new FailoverFailure(failure, [...tried, { ca: ca.name, reason: failure.kind, detail: failure.message }]);
  };
  /** Notes why `ca` did not issue; logs and counts the failover when a next CA follows. */
  const next = (index: number, reason: FailoverReason, failure: IssueFailure, error: unknown): void => {
    const ca = cas[index];
    tried.push({ ca: ca.name, reason, detail: failure.message });
    failures.push(failure);
    lastError = error;
    const to = cas[index + 1];
    if (!to) return;
    log.info("ca failover", { from: ca.name, to: to.name, reason, names: order.names, detail: failure.message });
    deps.failovers?.inc({ from: ca.name, to: to.name, reason });
  };

  for (let i = 0; i < cas.length; i++) {
    const ca = cas[i];
    let client: ReturnType<CaEndpoint["client"]>;
    try {
      client = ca.client();
    } catch (error) {
      if (!(error instanceof CaUnavailableError)) throw error;
      next(i, "unavailable", deps.classify(error), error);
      continue;
    }
    const admission = await ledger.admit({
      ca: ca.name,
      names: order.names,
      replaces: order.replaces(ca.name),
      block: order.block,
      client: order.client,
    });
    if (!admission.ok) {
      const failure = new IssueFailure(
        "rate-limited",
        `${admission.detail}${admission.unpauseUrl ? ` (unpause: ${admission.unpauseUrl})` : ""}`,
        admission.retryAfterSeconds,
      );
      log.warn("rate limit: order refused by the ledger", {
        ca: ca.name,
        names: order.names,
        scope: admission.scope,
        limit: admission.limit,
        retryAfter: admission.retryAfterSeconds,
        unpauseUrl: admission.unpauseUrl,
      });
      if (admission.scope === "block") end(failure, ca);
      next(i, "rate-limit", failure, failure);
      continue;
    }
    let placed = false;
    const onPlaced = (resumed: boolean) => {
      placed = true;
      if (resumed) void admission.ticket.cancel().catch(() => {});
    };
    try {
      let value: T;
      try {
        value = await attempt(ca, client, onPlaced);
      } catch (error) {
        // The CA forgot our account (it restarted): reconnect, then try this CA once more; or it refused our key's
        // signature after a rollover: switch to the new key, then try once more. With one CA the caller does both
        // (src/issuance/service.ts), within the request's deadline.
        if (!multi) throw error;
        if (isProblem(error, "accountDoesNotExist") && ca.accountLost) {
          log.info("ca no longer knows the account, reconnecting before the next CA is tried", { ca: ca.name });
          await withTimeout(Promise.resolve(ca.accountLost((error as AcmeProblem).detail)), RECONNECT_WAIT_MS);
        } else if (!(isKeyRefused(error) && ca.keyRefused && await ca.keyRefused())) {
          // (A key refused after `acmems register --rollover-key --ca NAME`: the new key is in use now, try again.)
          throw error;
        }
        placed = false;
        value = await attempt(ca, ca.client(), onPlaced);
      }
      // No order of ours reached the CA (another holder's fresh result was used): nothing to count.
      if (!placed) await admission.ticket.cancel().catch(() => {});
      return { value, ca, tried };
    } catch (error) {
      const reason = failoverReason(error);
      // The CA cannot be reached: with another CA to go to, stop waiting for this one until it answers again.
      if (multi && (error instanceof AcmeNetworkError || error instanceof AcmeTimeoutError)) {
        ca.unreachable?.(error.message);
      }
      if (error instanceof ValidationFailed) {
        await ledger.noteFailedAuthorization(ca.name, error.identifier).catch((e) =>
          log.warn("rate-limit ledger cannot note a failed authorization", { ca: ca.name, error: String(e) })
        );
      }
      // The CA never created this order (unreachable, 5xx, its 429 or refusal at newOrder, or we stopped before
      // calling it): the slots counted for it are given back.
      if (!placed) await admission.ticket.cancel().catch(() => {});
      if (reason === null) end(error, ca);
      const failure = deps.classify(error);
      if (reason === "rate-limit" && isProblem(error)) {
        const problem = error as AcmeProblem;
        const unpauseUrl = unpauseUrlOf(problem.detail);
        const seconds = secondsUntil(problem.retryAfter, deps.now());
        // A limit of the whole account pauses every order at that CA, not only these names.
        const names = accountWideLimit(problem.detail) ? [] : order.names;
        await ledger.noteRateLimited(ca.name, names, seconds, problem.detail, unpauseUrl).catch((e) =>
          log.warn("rate-limit ledger cannot note the CA's rate limit", { ca: ca.name, error: String(e) })
        );
        if (unpauseUrl) log.warn("the CA paused issuance for these names", { ca: ca.name, unpauseUrl });
      }
      next(i, reason!, failure, error);
    }
  }
  if (!multi) throw lastError;
  throw new FailoverFailure(finalFailure(failures), tried);
}
