/**
 * Who last fetched each cached certificate, as this process saw it: the `[auth]` block and the client address of
 * the last /sign answered from (or stored into) a storage. Storages record only the time of a fetch
 * (`Entry.lastFetchedAt`); the block and client are kept here, in memory, for the operator page.
 *
 * Contract: bounded (the oldest records go first past `limit`), never throws; lost on restart (the page then shows
 * the time from the storage without a "by").
 */

/** One fetch: when, and by whom as the /sign request recorded it. */
export interface FetchRecord {
  /** Epoch ms (formatted only when a page is rendered: this is noted on every /sign hit). */
  atMs: number;
  block: string | null;
  client: string | null;
}

export class FetchLog {
  readonly #records = new Map<string, FetchRecord>();
  /** The last fetch noted, by storage and key: a host asking again is the common case on the /sign hit path. */
  #last: { storage: string; key: string; id: string } | undefined;

  constructor(readonly limit = 10_000) {}

  /** Records a fetch of `key` in storage `storage`. */
  note(storage: string, key: string, record: FetchRecord): void {
    const last = this.#last;
    if (last !== undefined && last.key === key && last.storage === storage && this.#records.has(last.id)) {
      // Already the newest record: replacing its value keeps it last.
      this.#records.set(last.id, record);
      return;
    }
    const id = `${storage}\u0000${key}`;
    this.#last = { storage, key, id };
    this.#records.delete(id);
    this.#records.set(id, record);
    if (this.#records.size > this.limit) {
      const oldest = this.#records.keys().next().value;
      if (oldest !== undefined) this.#records.delete(oldest);
    }
  }

  /** The last fetch of `key` in `storage` this process saw, if any. */
  get(storage: string, key: string): FetchRecord | undefined {
    return this.#records.get(`${storage}\u0000${key}`);
  }
}
