/**
 * How the issuer proves control of a name: one solver per `[verification]` block.
 *
 * Contract: `present()` makes the challenge answerable (in memory for http-01, a TXT record for dns-01) and
 * resolves only when it is; `cleanup()` removes exactly what `present()` added and never throws (failures are
 * logged by the solver). The resolver (challenges/resolver.ts) calls `cleanup()` for every successful `present()`, whatever happens after.
 */
import type { FailureKind } from "../issuance/failure.ts";
import type { Http01Responder } from "./http01.ts";

export interface ChallengeTask {
  /** The authorization's identifier value (no `*.` even for wildcard authorizations). */
  identifier: string;
  wildcard: boolean;
  token: string;
  /** `token.thumbprint` (RFC 8555 §8.1). */
  keyAuthorization: string;
}

export interface ChallengeSolver {
  readonly challengeType: "http-01" | "dns-01";
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

/** Where http-01 answers are shared with other instances (the postgres storage). */
export interface SharedChallenges {
  putChallenge(challenge: { token: string; keyAuthorization: string; host: string; expiresAt: string }): Promise<void>;
  deleteChallenge(token: string): Promise<void>;
}

/**
 * http-01 through an in-memory responder served by the verification's challenge listeners; with a shared store,
 * the answer is also written there before the CA is told to look, so any instance can answer.
 */
export class Http01Solver implements ChallengeSolver {
  readonly challengeType = "http-01" as const;
  constructor(readonly responder: Http01Responder, readonly shared?: SharedChallenges) {}

  async present(task: ChallengeTask): Promise<void> {
    this.responder.add(task.identifier, task.token, task.keyAuthorization);
    if (this.shared) {
      try {
        await this.shared.putChallenge({
          token: task.token,
          keyAuthorization: task.keyAuthorization,
          host: task.identifier,
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        });
      } catch (error) {
        this.responder.remove(task.identifier, task.token);
        throw new ChallengeError(
          `The shared storage could not record the http-01 answer for ${task.identifier}: ${
            error instanceof Error ? error.message : error
          }`,
          "unavailable",
          30,
        );
      }
    }
  }

  async cleanup(task: ChallengeTask): Promise<void> {
    this.responder.remove(task.identifier, task.token);
    await this.shared?.deleteChallenge(task.token).catch(() => {});
  }
}
