/**
 * How the issuer proves control of a name: one solver per `[verification]` block.
 *
 * Contract: `present()` makes the challenge answerable (in memory for http-01, a TXT record for dns-01) and
 * resolves only when it is; `cleanup()` removes exactly what `present()` added and never throws (failures are
 * logged by the solver). The resolver (challenges/resolver.ts) calls `cleanup()` for every successful `present()`, whatever happens after.
 */
import type { FailureKind } from "../issuance/failure.ts";

export interface ChallengeTask {
  /** The authorization's identifier value (no `*.` even for wildcard authorizations). */
  identifier: string;
  wildcard: boolean;
  token: string;
  /** `token.thumbprint` (RFC 8555 §8.1). */
  keyAuthorization: string;
  /** The CA's challenge object (e.g. dns-persist-01's `issuer-domain-names`). */
  challenge?: Record<string, unknown>;
  /** The URL of the ACME account the order belongs to (dns-account-01 derives its label from it; dns-persist-01's
   * record names it). */
  accountUrl?: string;
}

export interface ChallengeSolver {
  readonly challengeType: "http-01" | "dns-01" | "dns-account-01" | "dns-persist-01";
  present(task: ChallengeTask): Promise<void>;
  cleanup(task: ChallengeTask): Promise<void>;
  /** Called once when the server starts (e.g. to replay a cleanup journal). Must not throw for I/O trouble. */
  start?(): Promise<void>;
  /** Called once at shutdown, after the last order (e.g. to retry pending deletions once more). */
  close?(): Promise<void>;
}

/**
 * A solver failure and its kind (src/issuance/failure.ts): `names-refused` when the operator must fix something
 * (the DNS server refused the update, the key was rejected), `unavailable` with Retry-After when it is worth trying
 * again later (the DNS server is unreachable or timed out). The message is one line, shown to the client.
 */
export class ChallengeError extends Error {
  constructor(
    message: string,
    readonly kind: Extract<FailureKind, "names-refused" | "unavailable">,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "ChallengeError";
  }
}
