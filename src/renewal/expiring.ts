/**
 * The `expiring` notification: a cached certificate within `expiring-days` of its notAfter that has not been
 * renewed.
 *
 * Contract: at most once a day per certificate in all. The time sent is recorded in the entry under its claim
 * (`renewal.expiringSentAt`), so instances sharing a storage (and a restarted instance) send it once; when the
 * claim is not won (another instance sent it, or the entry is being renewed) the next sweep looks again.
 *
 * Also `expiring` for a dns-persist-01 record the certificate needs (its names' `_validation-persist` records under
 * a dns-persist01 verification) whose `persistUntil` is within `expiring-days`: the next renewal would fail. At most
 * once a day per record and instance (kept in memory).
 */
import { type UpdateDeps, updateEntry } from "../issuance/claims.ts";
import type { OnIssueEvent } from "../issuance/request.ts";
import type { CacheKey, Entry, Storage } from "../storage/mod.ts";

const DAY_MS = 86_400_000;

export interface ExpiringOptions extends UpdateDeps {
  onEvent?: OnIssueEvent;
  /** Days before notAfter when `expiring` fires; unset: never (nothing is claimed for it). */
  expiringDays?: number;
  /** The dns-persist-01 records' persistUntil (src/challenges/dns_persist01/watch.ts). */
  persist?: PersistRecords;
}

/** Which dns-persist-01 records an entry needs that end by a time. */
export interface PersistRecords {
  ending(
    verification: string,
    names: readonly string[],
    untilSeconds: number,
    now: Date,
  ): Promise<{ owner: string; persistUntil?: number }[]>;
}

export class ExpiringCheck {
  readonly #opts: ExpiringOptions;
  readonly #sent = new Map<CacheKey, number>();
  /** When `expiring` was last sent for a dns-persist-01 record, by owner. */
  readonly #sentRecords = new Map<string, number>();

  constructor(opts: ExpiringOptions) {
    this.#opts = opts;
  }

  /** Sends `expiring` for the entry when it is time (see the contract above). */
  async check(storage: Storage, key: CacheKey, entry: Entry, now: Date): Promise<void> {
    const onEvent = this.#opts.onEvent;
    const days = this.#opts.expiringDays;
    if (!onEvent || days === undefined) return;
    await this.#checkRecords(entry, days, now);
    const left = Date.parse(entry.notAfter) - now.getTime();
    if (left > days * DAY_MS) return;
    const last = this.#sent.get(key) ?? 0;
    if (now.getTime() - last < DAY_MS) return;
    const recently = (e: Entry) => now.getTime() - Date.parse(e.renewal?.expiringSentAt ?? "") < DAY_MS;
    const won = await updateEntry(this.#opts, storage, key, (e) => {
      if (recently(e)) return Promise.resolve(false);
      e.renewal = { ...e.renewal, failures: e.renewal?.failures ?? 0, expiringSentAt: now.toISOString() };
      return Promise.resolve(true);
    });
    // Not won: another instance sent it, or the entry is busy (renewing): the next sweep looks again.
    if (!won) {
      if (recently((await storage.get(key).catch(() => null)) ?? entry)) this.#sent.set(key, now.getTime());
      return;
    }
    this.#sent.set(key, now.getTime());
    onEvent("expiring", {
      names: entry.names,
      notAfter: entry.notAfter,
      message: `The cached certificate for ${entry.names.join(", ")} expires at ${entry.notAfter} and has not been ` +
        `renewed${entry.renewal?.lastError ? `: ${entry.renewal.lastError}` : ""}`,
    });
  }

  /** `expiring` for each dns-persist-01 record the entry needs that ends within `days`. */
  async #checkRecords(entry: Entry, days: number, now: Date): Promise<void> {
    const persist = this.#opts.persist;
    if (!persist) return;
    const until = Math.floor((now.getTime() + days * DAY_MS) / 1000);
    const ending = await persist.ending(entry.verification, entry.names, until, now).catch(() => []);
    for (const record of ending) {
      if (now.getTime() - (this.#sentRecords.get(record.owner) ?? 0) < DAY_MS) continue;
      this.#sentRecords.set(record.owner, now.getTime());
      const at = new Date(record.persistUntil! * 1000).toISOString();
      this.#opts.onEvent!("expiring", {
        names: entry.names,
        // The record's end: each notifier keeps the events within its own expiring-days (Notifiers.emit).
        notAfter: at,
        message: `The dns-persist-01 record ${record.owner} needed by the cached certificate for ` +
          `${entry.names.join(", ")} ends at ${at} (persistUntil=${record.persistUntil}): publish it again with a ` +
          "later persistUntil or none (acmems records prints it), or its next validation fails",
      });
    }
  }
}
