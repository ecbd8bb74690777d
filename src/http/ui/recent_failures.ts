/**
 * The last /sign requests that failed with an error id (names refused, rate limited, unavailable, internal), as this
 * process answered them: for the operator page, so a failure that left nothing in the cache (a first issuance) is
 * visible too, with the error id that finds its log line.
 *
 * Contract: at most `limit` records, newest first; in memory only (lost on restart); never throws.
 */
import type { SignDecision } from "../audit.ts";

export interface RecentFailure {
  /** ISO time. */
  at: string;
  status: number;
  names: string[];
  block: string | null;
  client: string;
  outcome: string;
  errorId: string;
}

export class RecentFailures {
  readonly #records: RecentFailure[] = [];

  constructor(readonly limit = 20) {}

  /** Keeps `decision` if it carries an error id. */
  note(decision: SignDecision, at: Date): void {
    if (!decision.errorId) return;
    this.#records.unshift({
      at: at.toISOString(),
      status: decision.status,
      names: [...decision.names],
      block: decision.block,
      client: decision.client,
      outcome: decision.outcome,
      errorId: decision.errorId,
    });
    if (this.#records.length > this.limit) this.#records.length = this.limit;
  }

  /** Newest first. */
  list(): RecentFailure[] {
    return this.#records.map((r) => ({ ...r, names: [...r.names] }));
  }
}
