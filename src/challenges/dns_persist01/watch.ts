/**
 * Watches the `persistUntil` of the dns-persist-01 records acmems relies on: the solver notes every record it found
 * right; the `expiring` check (src/renewal/expiring.ts) asks which records a cached certificate needs that end
 * before a time, looking a record up again (through its verification's resolver) when it was last seen more than
 * `maxAgeMs` ago or never (e.g. after a restart). Every record seen is reported to `onSeen` (the metric).
 *
 * Contract: `ending` never throws: a lookup that fails keeps what was known; a record that is not there (or names
 * another account) is not reported here: the solver refuses it with 421 at the next validation.
 */
import { parsePersistRecord, persistOwner } from "./record.ts";
import type { TxtLookup } from "./lookup.ts";

/** A record as last seen. */
export interface PersistSeen {
  verification: string;
  owner: string;
  /** Unix seconds; undefined: the record does not end. */
  persistUntil?: number;
  /** Epoch ms of the sighting. */
  seenAt: number;
}

export interface PersistWatchOptions {
  /** The lookup of each dns-persist01 verification, by name. */
  lookups: ReadonlyMap<string, TxtLookup>;
  /** Our account URL (undefined while unknown: no lookups then). */
  accountUrl: () => string | undefined;
  onSeen?: (seen: PersistSeen) => void;
  /** Look a record up again after this long (default 6 h). */
  maxAgeMs?: number;
}

export class PersistWatch {
  readonly #seen = new Map<string, PersistSeen>();
  readonly #opts: PersistWatchOptions;

  constructor(opts: PersistWatchOptions) {
    this.#opts = opts;
  }

  /** Whether `verification` is a dns-persist01 block this watch knows. */
  watches(verification: string): boolean {
    return this.#opts.lookups.has(verification);
  }

  /** Records a record found right (by the solver). */
  note(verification: string, owner: string, persistUntil: number | undefined, nowMs: number): void {
    const seen: PersistSeen = { verification, owner, persistUntil, seenAt: nowMs };
    this.#seen.set(`${verification}|${owner}`, seen);
    this.#opts.onSeen?.(seen);
  }

  /** The records `names` need under `verification` whose persistUntil is at or before `untilSeconds`. */
  async ending(
    verification: string,
    names: readonly string[],
    untilSeconds: number,
    now: Date,
  ): Promise<PersistSeen[]> {
    if (!this.watches(verification)) return [];
    const owners = [...new Set(names.map(persistOwner))];
    const found: PersistSeen[] = [];
    for (const owner of owners) {
      let seen = this.#seen.get(`${verification}|${owner}`);
      if (!seen || now.getTime() - seen.seenAt > (this.#opts.maxAgeMs ?? 21_600_000)) {
        seen = (await this.#refresh(verification, owner, now.getTime())) ?? seen;
      }
      if (seen?.persistUntil !== undefined && seen.persistUntil <= untilSeconds) found.push(seen);
    }
    return found;
  }

  /** Looks the record up; our account's records (any issuer): the latest persistUntil, none if one has none. */
  async #refresh(verification: string, owner: string, nowMs: number): Promise<PersistSeen | undefined> {
    const account = this.#opts.accountUrl();
    const lookup = this.#opts.lookups.get(verification);
    if (!account || !lookup) return undefined;
    let values: string[];
    try {
      values = await lookup(owner);
    } catch {
      return undefined;
    }
    const ours = values.map((v) => parsePersistRecord(v)).filter((r) => !("error" in r) && r.accountUri === account);
    if (ours.length === 0) return undefined;
    const untils = ours.map((r) => ("error" in r ? undefined : r.persistUntil));
    const persistUntil = untils.includes(undefined) ? undefined : Math.max(...(untils as number[]));
    this.note(verification, owner, persistUntil, nowMs);
    return this.#seen.get(`${verification}|${owner}`);
  }
}
