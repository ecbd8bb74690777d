/**
 * Issuance: cache lookup → single flight per CSR → ACME order → result.
 *
 * Contract:
 * - One order at a time per (CA, profile, CSR DER): concurrent identical requests share it.
 * - A caller waits at most until its own deadline (`sign-timeout`); the order goes on in the background up to
 *   `orderTimeoutMs`, and its result is kept (`resultTtlMs`) so the client's retry gets it instead of a new order.
 * - A vanished client never cancels an order; independent orders never wait on each other.
 * - Errors come out as `IssueError` with the HTTP status the /sign handler answers: 429 (the CA's rate limit, with
 *   its Retry-After), 421 (a name failed validation, with the CA's detail), 503 (CA unreachable, 5xx after retries,
 *   or the caller's deadline; with Retry-After), 500 (anything else, with an error id that is also logged).
 * - Every challenge presented is cleaned up, whatever happens.
 */
import { AcmeNetworkError, type AcmeProblem, AcmeTimeoutError, isProblem, splitPemChain } from "./acme/mod.ts";
import type { AcmeAuthorization, AcmeClient, AcmeOrder } from "./acme/mod.ts";
import { CaUnavailableError } from "./account/session.ts";
import { ChallengeError, type ChallengeSolver, type ChallengeTask } from "./challenges/solver.ts";
import { checkChainMatchesCsr } from "./issuance/verify_chain.ts";
import type { Logger } from "./log.ts";

export class IssueError extends Error {
  constructor(
    readonly status: 421 | 429 | 500 | 503,
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
  /** Client address, for logs. */
  client?: string;
}

export interface IssueResult {
  /** Leaf first, PEM blocks separated by one empty line, ending with a newline. */
  chain: string;
  /** True when an earlier order's result was reused. */
  reused: boolean;
}

export interface IssuerOptions {
  /** The connected ACME client, or throws CaUnavailableError. */
  client(): AcmeClient;
  directoryUrl: string;
  solvers: Map<string, ChallengeSolver>;
  log: Logger;
  /** Upper bound of one order in the background (default 10 min). */
  orderTimeoutMs?: number;
  /** How long a finished result is kept for the client's retry (default 10 min). */
  resultTtlMs?: number;
  /** Retry-After suggested after a timeout or CA outage (default 10 s). */
  retryAfterSeconds?: number;
}

interface Finished {
  chain: string;
  expires: number;
}

export class Issuer {
  readonly #opts: IssuerOptions;
  readonly #inflight = new Map<string, Promise<string>>();
  readonly #finished = new Map<string, Finished>();

  constructor(opts: IssuerOptions) {
    this.#opts = opts;
  }

  /** Orders currently running (for metrics and shutdown). */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** Waits for every running order to end (shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#inflight.values()]);
  }

  /** Identifies a (CA, profile, CSR) triple: the single-flight and result key. */
  async keyFor(request: IssueRequest): Promise<string> {
    const text = `${this.#opts.directoryUrl}\u0000${request.profile ?? ""}\u0000${request.csrSha256}`;
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** Issues (or joins the order for) a certificate; waits at most until `deadline` (epoch ms). */
  async issue(request: IssueRequest, deadline: number): Promise<IssueResult> {
    const key = await this.keyFor(request);
    const now = Date.now();
    for (const [k, f] of this.#finished) if (f.expires <= now) this.#finished.delete(k);
    const done = this.#finished.get(key);
    if (done) return { chain: done.chain, reused: true };

    let order = this.#inflight.get(key);
    const joined = order !== undefined;
    if (!order) {
      // Fail fast (and start nothing) while the CA is unavailable.
      let client: AcmeClient;
      try {
        client = this.#opts.client();
      } catch (error) {
        throw this.#classify(error, request);
      }
      order = this.#run(client, request, key);
      this.#inflight.set(key, order);
      // Observe the background promise so a client that gave up does not leave an unhandled rejection.
      order.catch(() => {}).finally(() => this.#inflight.delete(key));
    }

    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new SignTimeout()),
        Math.max(0, deadline - Date.now()),
      );
    });
    try {
      const chain = await Promise.race([order, timeout]);
      return { chain, reused: joined };
    } catch (error) {
      if (error instanceof SignTimeout) {
        this.#opts.log.warn("sign timeout reached, order continues in the background", {
          names: request.names,
          client: request.client,
        });
        throw new IssueError(
          503,
          "The CA has not finished this order yet; it goes on in the background: retry this request later",
          this.#opts.retryAfterSeconds ?? 10,
        );
      }
      throw this.#classify(error, request);
    } finally {
      clearTimeout(timer);
    }
  }

  async #run(client: AcmeClient, request: IssueRequest, key: string): Promise<string> {
    const deadline = Date.now() + (this.#opts.orderTimeoutMs ?? 600_000);
    const started = Date.now();
    const chain = await this.#order(client, request, deadline);
    this.#finished.set(key, { chain, expires: Date.now() + (this.#opts.resultTtlMs ?? 600_000) });
    this.#opts.log.info("certificate issued", { names: request.names, durationMs: Date.now() - started });
    return chain;
  }

  async #order(client: AcmeClient, request: IssueRequest, deadline: number): Promise<string> {
    const { log } = this.#opts;
    const solver = this.#opts.solvers.get(request.verification);
    if (!solver) throw new Error(`Verification "${request.verification}" has no challenge solver`);
    log.debug("acme new order", { names: request.names, profile: request.profile });
    let order: AcmeOrder = await client.newOrder({ identifiers: request.names, profile: request.profile });
    if (order.status === "pending") {
      await this.#authorize(client, order, solver, deadline);
      order = await client.pollOrder(order.url, { deadline });
    }
    if (order.status === "ready") {
      log.debug("acme finalize", { order: order.url });
      order = await client.finalize(order, request.csrDer);
      if (order.status !== "valid") order = await client.pollOrder(order.url, { deadline });
    }
    if (order.status !== "valid" || !order.certificate) {
      const detail = order.error?.detail ?? `the order ended as "${order.status}"`;
      throw new Error(`The CA did not issue the certificate: ${detail}`);
    }
    const downloaded = await client.downloadCertificate(order.certificate);
    const chain = formatChain(downloaded.pem);
    await checkChainMatchesCsr(chain, request.csrDer, request.names);
    return chain;
  }

  async #authorize(client: AcmeClient, order: AcmeOrder, solver: ChallengeSolver, deadline: number): Promise<void> {
    const authorizations = await Promise.all(order.authorizations.map((url) => client.getAuthorization(url)));
    const presented: ChallengeTask[] = [];
    const toAnswer: { authorization: AcmeAuthorization; challengeUrl: string }[] = [];
    try {
      for (const authorization of authorizations) {
        if (authorization.status === "valid") continue; // reused from an earlier order
        const name = displayName(authorization);
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
        toAnswer.push({ authorization, challengeUrl: challenge.url });
      }
      // Everything is in place before the CA is told to look (a name and its wildcard share one TXT owner).
      await Promise.all(toAnswer.map((a) => client.respondToChallenge(a.challengeUrl)));
      const results = await Promise.all(
        toAnswer.map((a) => client.pollAuthorization(a.authorization.url, { deadline })),
      );
      for (const result of results) {
        if (result.status === "valid") continue;
        const failed = result.challenges.find((c) => c.error);
        const detail = failed?.error?.detail ?? `its authorization is ${result.status}`;
        throw new ValidationFailed(displayName(result), detail);
      }
    } finally {
      await Promise.all(presented.map((task) => solver.cleanup(task).catch(() => {})));
    }
  }

  #classify(error: unknown, request: IssueRequest): IssueError {
    const { log } = this.#opts;
    const retry = this.#opts.retryAfterSeconds ?? 10;
    if (error instanceof IssueError) return error;
    if (error instanceof CaUnavailableError) return new IssueError(503, error.message, error.retryAfterSeconds);
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
    if (isProblem(error)) {
      const problem = error as AcmeProblem;
      if (problem.is("rateLimited")) {
        const seconds = problem.retryAfter
          ? Math.max(1, Math.ceil((problem.retryAfter.getTime() - Date.now()) / 1000))
          : 3600;
        log.warn("rate limited by the CA", { names: request.names, detail: problem.detail, retryAfter: seconds });
        return new IssueError(429, `The CA rate-limited this request: ${problem.detail}`, seconds);
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

class SignTimeout extends Error {}

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
