/**
 * The ledger around placing one order at one CA: admit before the CA is called (a refusal is `rate-limited` with
 * the ledger's Retry-After, the CA is not called), give the slots back when the order never reached the CA, and
 * tell the ledger what the CA said (its own 429 → a pause with the CA's Retry-After and unpause URL; a failed
 * authorization → `limit-failed-authorizations`).
 *
 * Used by src/issuance/order.ts for the single CA (`default`); the failover across several CAs (issue 15) calls the
 * ledger per CA itself. Ledger storage failures on the notes are logged, never thrown (the order's own outcome
 * matters more); a storage failure on `admit` is thrown (503: the budget cannot be checked).
 */
import { AcmeNetworkError, type AcmeProblem, isProblem } from "../acme/mod.ts";
import { describeError } from "../lib/bytes.ts";
import type { Clock } from "../lib/clock.ts";
import { IssueFailure } from "../issuance/failure.ts";
import type { Logger } from "../ops/log.ts";
import { ClaimLostError } from "../storage/errors.ts";
import { DEFAULT_CA } from "./ledger_config.ts";
import type { Ledger, OrderIntent } from "./ledger_port.ts";

/** What the gate needs of a request. */
export interface GateRequest {
  names: readonly string[];
  /** The auth block that admitted a host's request. */
  block?: string;
  /** The host's address (absent for background renewals: then the block's budget does not apply). */
  client?: string;
}

/** The unpause URL in a CA's problem detail (Let's Encrypt writes `…/sfe/v1/unpause?jwt=…`), if any. */
export function unpauseUrlOf(detail: string): string | undefined {
  const match = /https:\/\/[^\s"'<>]*unpause[^\s"'<>]*/i.exec(detail);
  return match?.[0].replace(/[.,;)]+$/, "");
}

/** The intent of `request` at `ca`: the block and client only for a host's request. */
export function intentOf(ca: string, request: GateRequest, replaces: string | undefined): OrderIntent {
  const intent: OrderIntent = { ca, names: request.names };
  if (replaces !== undefined) intent.replaces = replaces;
  if (request.client !== undefined && request.block !== undefined) {
    intent.block = request.block;
    intent.client = request.client;
  }
  return intent;
}

/** True when the CA cannot have created an order: unreachable, 5xx, its own 429, or we stopped before calling. */
export function neverPlaced(error: unknown): boolean {
  if (error instanceof AcmeNetworkError || error instanceof ClaimLostError) return true;
  return isProblem(error) && ((error as AcmeProblem).status >= 500 || isProblem(error, "rateLimited"));
}

export function ledgerGate(ledger: Ledger, log: Logger, now: Clock, ca = DEFAULT_CA) {
  return {
    /** Admits `request` at `ca`, then runs `placeOrder`; throws `rate-limited` when the ledger says no. */
    async place<T>(request: GateRequest, replaces: string | undefined, placeOrder: () => Promise<T>): Promise<T> {
      const admission = await ledger.admit(intentOf(ca, request, replaces));
      if (!admission.ok) {
        log.warn("rate limit: order refused by the ledger", {
          names: request.names,
          ca,
          limit: admission.limit,
          scope: admission.scope,
          retryAfter: admission.retryAfterSeconds,
          unpauseUrl: admission.unpauseUrl,
        });
        throw new IssueFailure("rate-limited", admission.detail, admission.retryAfterSeconds);
      }
      try {
        return await placeOrder();
      } catch (error) {
        if (neverPlaced(error)) await admission.ticket.cancel().catch((e) => warn(log, "cancel", e));
        if (isProblem(error, "rateLimited")) {
          const problem = error as AcmeProblem;
          const seconds = problem.retryAfter
            ? Math.max(1, Math.ceil((problem.retryAfter.getTime() - now().getTime()) / 1000))
            : 3600;
          await ledger.noteRateLimited(ca, request.names, seconds, problem.detail, unpauseUrlOf(problem.detail))
            .catch((e) => warn(log, "noteRateLimited", e));
        }
        throw error;
      }
    },
    /** A failed authorization of `name` at `ca`. */
    async failedAuthorization(name: string): Promise<void> {
      await ledger.noteFailedAuthorization(ca, name).catch((e) => warn(log, "noteFailedAuthorization", e));
    },
  };
}

function warn(log: Logger, operation: string, error: unknown): void {
  log.warn("rate-limit ledger: storage failed", { operation, error: describeError(error) });
}
