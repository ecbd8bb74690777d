/**
 * The dns-persist-01 solver (`[verification] type = dns-persist01`): acmems never writes DNS. `present()` looks up
 * `_validation-persist.<name>` through the verification's resolver and checks it as the CA will (issuer from the
 * challenge's `issuer-domain-names`, our account URL, policy=wildcard for a wildcard name, persistUntil); missing or
 * wrong → a `names-refused` ChallengeError whose message carries the exact record to publish, thrown before the
 * resolver answers any challenge (a failed validation would count against the CA's failed-authorization limit).
 * `cleanup()` has nothing to remove.
 */
import type { DnsPersistVerification } from "../../config/types.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import { DnsError } from "../dns01/dns/client.ts";
import { ChallengeError, type ChallengeSolver, type ChallengeTask } from "../solver.ts";
import { type TxtLookup, txtLookup } from "./lookup.ts";
import type { PersistWatch } from "./watch.ts";
import { checkPersistRecords, persistOwner, type PersistRecord, zoneLine } from "./record.ts";

export interface DnsPersistSolverOptions {
  /** Replaces the resolver lookup (tests). */
  lookup?: TxtLookup;
  now?: Clock;
  /** Told the persistUntil of every record found right (metrics, `expiring`). */
  watch?: PersistWatch;
}

export class DnsPersistSolver implements ChallengeSolver {
  readonly challengeType = "dns-persist-01" as const;
  readonly #lookup: TxtLookup;
  readonly #now: Clock;
  readonly #watch?: PersistWatch;

  constructor(readonly verification: DnsPersistVerification, opts: DnsPersistSolverOptions = {}) {
    this.#lookup = opts.lookup ?? txtLookup(verification.resolvers, verification.timeoutMs);
    this.#now = opts.now ?? systemClock;
    this.#watch = opts.watch;
  }

  async present(task: ChallengeTask): Promise<void> {
    const v = this.verification;
    const name = `${task.wildcard ? "*." : ""}${task.identifier}`;
    const offered = issuerDomainNames(task.challenge);
    const issuers = offered.length > 0 ? offered : v.issuerDomainName ? [v.issuerDomainName] : [];
    if (issuers.length === 0) {
      throw new ChallengeError(
        `The CA's dns-persist-01 challenge for ${name} names no issuer-domain-names: set issuer-domain-name in ` +
          `[verification "${v.name}"]`,
        "names-refused",
      );
    }
    const accountUri = task.accountUrl ?? "";
    const issuer = v.issuerDomainName && issuers.includes(v.issuerDomainName) ? v.issuerDomainName : issuers[0];
    const owner = persistOwner(task.identifier);
    let values: string[];
    try {
      values = await this.#lookup(owner);
    } catch (error) {
      if (error instanceof DnsError) throw new ChallengeError(error.message, "unavailable", 30);
      throw error;
    }
    const nowMs = this.#now().getTime();
    const verdict = checkPersistRecords(values, {
      issuers,
      accountUri,
      wildcard: task.wildcard,
      now: Math.floor(nowMs / 1000),
    }, v.recordFormat);
    if (verdict.ok) return this.#watch?.note(v.name, owner, verdict.record.persistUntil, nowMs);
    const want: PersistRecord = { issuer, accountUri, wildcard: task.wildcard, persistUntil: v.persistUntil };
    throw new ChallengeError(
      `dns-persist-01 for ${name}: ${owner} is ${verdict.state} (${verdict.reason}); no challenge was answered: ` +
        `publish ${zoneLine(task.identifier, want, v.recordFormat)} and retry`,
      "names-refused",
    );
  }

  async cleanup(_task: ChallengeTask): Promise<void> {}
}

/** The `issuer-domain-names` of a challenge object (strings only). */
export function issuerDomainNames(challenge: Record<string, unknown> | undefined): string[] {
  const names = challenge?.["issuer-domain-names"];
  return Array.isArray(names) ? names.filter((n): n is string => typeof n === "string") : [];
}
