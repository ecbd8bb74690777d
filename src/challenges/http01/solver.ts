/**
 * The http-01 solver: present() adds the key authorization to the verification's in-memory responder (served by its
 * challenge listeners) and, with a shared store (postgres), writes it there before the CA is told to look, so any
 * instance can answer; cleanup() removes both and never throws. The write is committed (and its notification sent)
 * before present() returns, so the CA is told to look only afterwards; another instance that gets the CA's request
 * before it heard the notification waits for it (bounded, src/storage/postgres/challenges.ts).
 * A shared store that cannot record the answer fails with `unavailable` (Retry-After 30 s), the local entry undone.
 */
import { type Clock, systemClock } from "../../lib/clock.ts";
import { ChallengeError, type ChallengeSolver, type ChallengeTask } from "../solver.ts";
import type { Http01Responder } from "./responder.ts";

/** Where http-01 answers are shared with other instances (the postgres storage). */
export interface SharedChallenges {
  putChallenge(challenge: { token: string; keyAuthorization: string; host: string; expiresAt: string }): Promise<void>;
  deleteChallenge(token: string): Promise<void>;
}

/** http-01 through an in-memory responder, and a shared store when instances share one. */
export class Http01Solver implements ChallengeSolver {
  readonly challengeType = "http-01" as const;
  constructor(
    readonly responder: Http01Responder,
    readonly shared?: SharedChallenges,
    /** The clock for the shared answer's expiry (tests). */
    readonly now: Clock = systemClock,
  ) {}

  async present(task: ChallengeTask): Promise<void> {
    this.responder.add(task.identifier, task.token, task.keyAuthorization);
    if (this.shared) {
      try {
        await this.shared.putChallenge({
          token: task.token,
          keyAuthorization: task.keyAuthorization,
          host: task.identifier,
          expiresAt: new Date(this.now().getTime() + 3_600_000).toISOString(),
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
