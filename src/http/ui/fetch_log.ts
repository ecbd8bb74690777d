/**
 * Who last fetched each cached certificate, as this process saw it: the `[auth]` block and the client address of
 * the last /sign answered from (or stored into) a storage. Storages record only the time of a fetch
 * (`Entry.lastFetchedAt`); the block and client are kept here, in memory, for the operator page.
 *
 * Contract: bounded (the oldest records go first past `limit`), never throws; lost on restart (the page then shows
 * the time from the storage without a "by").
 */
import { RecentMap } from "../../lib/recent_map.ts";

/** One fetch: when, and by whom as the /sign request recorded it. */
export interface FetchRecord {
  /** Epoch ms (formatted only when a page is rendered: this is noted on every /sign hit). */
  atMs: number;
  block: string | null;
  client: string | null;
}

export class FetchLog {
  readonly #records = new RecentMap<string, FetchRecord>();
  /** The id of the last fetch noted: a host asking again is the common case on the /sign hit path. */
  #last: { storage: string; key: string; id: string } | undefined;

  constructor(readonly limit = 10_000) {}

  /** Records a fetch of `key` in storage `storage`. */
  note(storage: string, key: string, record: FetchRecord): void {
    let last = this.#last;
    if (last === undefined || last.key !== key || last.storage !== storage) {
      this.#last = last = { storage, key, id: `${storage}\u0000${key}` };
    }
    this.#records.note(last.id, record, this.limit);
  }

  /** The last fetch of `key` in `storage` this process saw, if any. */
  get(storage: string, key: string): FetchRecord | undefined {
    return this.#records.get(`${storage}\u0000${key}`);
  }
}
