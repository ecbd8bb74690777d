/**
 * Turns whatever an issuance threw into an `IssueFailure` (src/issuance/failure.ts): a kind, the one-line detail
 * the client sees, Retry-After and, for the unexpected, an error id that is also in the log.
 *
 * Contract: one classification per error object (memoised), so the requester, the notifiers and the renewal
 * bookkeeping see the same failure with one error id and one log line. The CA's rate limit keeps its Retry-After;
 * a name that failed validation or names the CA refuses are `names-refused`; a CSR or key the CA refuses is
 * `refused`; an unreachable or failing CA, storage or DNS server is `unavailable` (with Retry-After); anything else
 * is `internal`.
 */
import { AcmeNetworkError, type AcmeProblem, AcmeTimeoutError, AcmeUnsupportedError, isProblem } from "../acme/mod.ts";
import { CaUnavailableError } from "../account/session.ts";
import { unpauseUrlOf } from "../ca/unpause.ts";
import { ChallengeError } from "../challenges/solver.ts";
import { ValidationFailed } from "../challenges/resolver.ts";
import type { Clock } from "../lib/clock.ts";
import type { Logger } from "../ops/log.ts";
import { ClaimLostError } from "../storage/errors.ts";
import { StorageUnavailableError } from "../storage/mod.ts";
import { IssueFailure, newErrorId } from "./failure.ts";

export interface ClassifierOptions {
  log: Logger;
  now: Clock;
  /** Retry-After for transient failures without their own (default 10 s). */
  retryAfterSeconds?: number;
  /** Told when the CA says our account does not exist (the session reconnects). */
  onAccountLost?: (reason: string) => Promise<void> | void;
}

export class FailureClassifier {
  readonly #opts: ClassifierOptions;
  readonly #classified = new WeakMap<object, IssueFailure>();

  constructor(opts: ClassifierOptions) {
    this.#opts = opts;
  }

  /** The failure for `error`, worked out once per error object. */
  classify(error: unknown, names: string[]): IssueFailure {
    if (typeof error !== "object" || error === null) return this.#classifyNew(error, names);
    let known = this.#classified.get(error);
    if (!known) {
      known = this.#classifyNew(error, names);
      this.#classified.set(error, known);
    }
    return known;
  }

  #classifyNew(error: unknown, names: string[]): IssueFailure {
    const { log } = this.#opts;
    const retry = this.#opts.retryAfterSeconds ?? 10;
    if (error instanceof IssueFailure) return error;
    if (error instanceof CaUnavailableError) {
      return new IssueFailure("unavailable", error.message, error.retryAfterSeconds);
    }
    if (error instanceof StorageUnavailableError) {
      log.warn("storage unavailable", { names, reason: error.message });
      return new IssueFailure("unavailable", error.message, error.retryAfterSeconds ?? retry);
    }
    if (error instanceof ClaimLostError) {
      log.warn("order stopped: storage claim lost", { names, reason: error.message });
      return new IssueFailure("unavailable", `${error.message}: retry this request later`, retry);
    }
    if (error instanceof ChallengeError) {
      log.warn("challenge failed", { names, kind: error.kind, reason: error.message });
      return new IssueFailure(
        error.kind,
        error.message,
        error.kind === "unavailable" ? error.retryAfterSeconds ?? retry : undefined,
      );
    }
    if (error instanceof ValidationFailed) {
      log.warn("validation failed", { names, name: error.identifier, detail: error.detail });
      return new IssueFailure("names-refused", `Validation of ${error.identifier} failed: ${error.detail}`);
    }
    if (error instanceof AcmeUnsupportedError) {
      log.error("ca does not support the request", { names, reason: error.message });
      return new IssueFailure("unavailable", `${error.message}: fix the profile in the config`, 3600);
    }
    if (isProblem(error)) {
      const failure = this.#problem(error as AcmeProblem, names, retry);
      if (failure) return failure;
    }
    if (error instanceof AcmeNetworkError || error instanceof AcmeTimeoutError) {
      log.warn("ca unreachable", { names, reason: error.message });
      return new IssueFailure("unavailable", `The CA could not be reached: ${error.message}`, retry);
    }
    const errorId = newErrorId();
    const message = error instanceof Error ? error.message : String(error);
    log.error("issuance failed", {
      errorId,
      names,
      error: message,
      problem: isProblem(error) ? (error as AcmeProblem).type : undefined,
    });
    return new IssueFailure("internal", `Issuance failed (error id ${errorId}): ${message}`, undefined, errorId);
  }

  /** An ACME problem document's failure, or undefined when it is none of the known ones. */
  #problem(problem: AcmeProblem, names: string[], retry: number): IssueFailure | undefined {
    const { log } = this.#opts;
    if (problem.is("accountDoesNotExist")) {
      this.#opts.onAccountLost?.(problem.detail);
      return new IssueFailure(
        "unavailable",
        `The CA no longer knows our account; reconnecting: ${problem.detail}`,
        retry,
      );
    }
    if (problem.is("rateLimited")) {
      const seconds = problem.retryAfter
        ? Math.max(1, Math.ceil((problem.retryAfter.getTime() - this.#opts.now().getTime()) / 1000))
        : 3600;
      log.warn("rate limited by the CA", {
        names,
        detail: problem.detail,
        retryAfter: seconds,
        unpauseUrl: unpauseUrlOf(problem.detail),
      });
      return new IssueFailure("rate-limited", `The CA rate-limited this request: ${problem.detail}`, seconds);
    }
    // The CA refuses these names (policy, CAA) or this CSR: the client's request, not a server fault.
    if (problem.is("rejectedIdentifier") || problem.is("caa") || problem.is("unsupportedIdentifier")) {
      log.warn("ca refused the names", { names, type: problem.type, detail: problem.detail });
      return new IssueFailure("names-refused", `The CA refuses to issue for ${names.join(", ")}: ${problem.detail}`);
    }
    if (problem.is("badCSR") || problem.is("badPublicKey") || problem.is("badSignatureAlgorithm")) {
      log.warn("ca refused the csr", { names, type: problem.type, detail: problem.detail });
      return new IssueFailure("refused", `The CA refused this CSR: ${problem.detail}`);
    }
    if (problem.status >= 500 || problem.is("serverInternal")) {
      log.warn("ca error", { names, status: problem.status, detail: problem.detail });
      return new IssueFailure("unavailable", `The CA failed (HTTP ${problem.status}): ${problem.detail}`, retry);
    }
    return undefined;
  }
}
