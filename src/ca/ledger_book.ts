/**
 * One owner's ledger in memory (a CA's or an auth block's): events per key, sorted by time, and pauses. The memory
 * store keeps one book per owner for good; the file store loads and saves one book per file. `BookStore` runs the
 * `LedgerStore` operations over books, one at a time (a process-wide mutex), with load/save hooks.
 *
 * Pure apart from the hooks: no clock (times are passed in), no I/O.
 */
import type { EventRef, FullCheck, LedgerCheck, LedgerStore, Pause, TakeResult } from "./ledger_store.ts";

export interface BookEvent {
  at: number;
  id: string;
}

/** A book as JSON (the file store's file format, version 1). */
export interface BookJson {
  version: 1;
  events: Record<string, [number, string][]>;
  pauses: Record<string, Pause>;
}

export class LedgerBook {
  readonly events = new Map<string, BookEvent[]>();
  readonly pauses = new Map<string, Pause>();

  /** Events of `key` counted in the window `(now - windowMs, …]` (future ones too: a clock set back counts them). */
  inWindow(key: string, windowMs: number, now: number): BookEvent[] {
    const from = now - windowMs;
    return (this.events.get(key) ?? []).filter((e) => e.at > from);
  }

  add(key: string, at: number, id: string): void {
    const list = this.events.get(key) ?? [];
    list.push({ at, id });
    list.sort((a, b) => a.at - b.at);
    this.events.set(key, list);
  }

  remove(key: string, id: string): boolean {
    const list = this.events.get(key);
    const index = list?.findIndex((e) => e.id === id) ?? -1;
    if (!list || index < 0) return false;
    list.splice(index, 1);
    if (list.length === 0) this.events.delete(key);
    return true;
  }

  /** Drops events older than `retainMs` and pauses that ended; true when anything was dropped. */
  prune(now: number, retainMs: number): boolean {
    let changed = false;
    for (const [key, list] of this.events) {
      const kept = list.filter((e) => e.at >= now - retainMs);
      if (kept.length === list.length) continue;
      changed = true;
      if (kept.length === 0) this.events.delete(key);
      else this.events.set(key, kept);
    }
    for (const [key, pause] of this.pauses) {
      if (pause.until <= now) {
        this.pauses.delete(key);
        changed = true;
      }
    }
    return changed;
  }

  toJson(): BookJson {
    const events: BookJson["events"] = {};
    for (const [key, list] of this.events) events[key] = list.map((e) => [e.at, e.id]);
    return { version: 1, events, pauses: Object.fromEntries(this.pauses) };
  }

  /** A book from its JSON; throws naming what is wrong. */
  static fromJson(value: unknown): LedgerBook {
    const json = value as Partial<BookJson>;
    if (typeof json !== "object" || json === null || json.version !== 1) {
      throw new Error("not a version 1 ledger file");
    }
    const book = new LedgerBook();
    for (const [key, list] of Object.entries(json.events ?? {})) {
      if (!Array.isArray(list)) throw new Error(`events of "${key}" are not a list`);
      book.events.set(
        key,
        list.map(([at, id]) => ({ at: Number(at), id: String(id) })).filter((e) => Number.isFinite(e.at))
          .sort((a, b) => a.at - b.at),
      );
    }
    for (const [key, pause] of Object.entries(json.pauses ?? {})) {
      if (typeof pause?.until === "number") book.pauses.set(key, pause);
    }
    return book;
  }
}

/** When one more event fits a full window: the oldest counted events that must leave first, plus the window. */
export function freeAt(counted: readonly BookEvent[], max: number, windowMs: number): number {
  const leaving = counted.length - max; // index of the last event that must leave
  return counted[Math.max(0, leaving)].at + windowMs;
}

/** Where books live: loaded on first use, saved after every change (memory: never saved). */
export interface BookMedium {
  load(owner: string): Promise<LedgerBook>;
  save(owner: string, book: LedgerBook): Promise<void>;
}

/** The LedgerStore operations over books, serialized by one mutex. */
export class BookStore implements LedgerStore {
  readonly #medium: BookMedium;
  readonly #retainMs: number;
  readonly #books = new Map<string, LedgerBook>();
  #tail: Promise<unknown> = Promise.resolve();

  constructor(medium: BookMedium, retainMs: number) {
    this.#medium = medium;
    this.#retainMs = retainMs;
  }

  /** Runs `work` after every earlier operation (one at a time, in order). */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(work, work);
    this.#tail = run.catch(() => {});
    return run;
  }

  async #book(owner: string): Promise<LedgerBook> {
    let book = this.#books.get(owner);
    if (!book) {
      book = await this.#medium.load(owner);
      this.#books.set(owner, book);
    }
    return book;
  }

  /**
   * Saves the books of `owners`; on failure they are all dropped from memory, so the next operation reloads what the
   * medium holds (an event saved in one book before another failed stays counted: the safe side).
   */
  async #save(owners: Iterable<string>): Promise<void> {
    const list = [...owners];
    try {
      for (const owner of list) await this.#medium.save(owner, this.#books.get(owner)!);
    } catch (error) {
      for (const owner of list) this.#books.delete(owner);
      throw error;
    }
  }

  take(checks: readonly LedgerCheck[], now: number): Promise<TakeResult> {
    return this.#serial(async () => {
      const full: FullCheck[] = [];
      const changed = new Set<string>();
      for (const [index, check] of checks.entries()) {
        const book = await this.#book(check.owner);
        if (book.prune(now, this.#retainMs)) changed.add(check.owner);
        const counted = book.inWindow(check.key, check.windowMs, now);
        if (check.enforce && counted.length >= check.max) {
          full.push({ index, freeAt: freeAt(counted, check.max, check.windowMs), count: counted.length });
        }
      }
      if (full.length > 0) {
        if (changed.size > 0) await this.#save(changed).catch(() => {});
        return { ok: false, full };
      }
      const events: EventRef[] = [];
      for (const check of checks) {
        if (!check.record) continue;
        const id = crypto.randomUUID();
        this.#books.get(check.owner)!.add(check.key, now, id);
        events.push({ owner: check.owner, key: check.key, id });
        changed.add(check.owner);
      }
      // Not saved: not admitted either (the books are dropped and reload from what was saved).
      await this.#save(changed);
      return { ok: true, events };
    });
  }

  release(events: readonly EventRef[]): Promise<void> {
    return this.#serial(async () => {
      const changed = new Set<string>();
      for (const event of events) {
        if ((await this.#book(event.owner)).remove(event.key, event.id)) changed.add(event.owner);
      }
      await this.#save(changed);
    });
  }

  record(owner: string, key: string, now: number): Promise<void> {
    return this.#serial(async () => {
      const book = await this.#book(owner);
      book.prune(now, this.#retainMs);
      book.add(key, now, crypto.randomUUID());
      await this.#save([owner]);
    });
  }

  count(owner: string, prefix: string, windowMs: number, now: number): Promise<Map<string, number>> {
    return this.#serial(async () => {
      const book = await this.#book(owner);
      const counts = new Map<string, number>();
      for (const key of book.events.keys()) {
        if (!key.startsWith(prefix)) continue;
        const n = book.inWindow(key, windowMs, now).length;
        if (n > 0) counts.set(key, n);
      }
      return counts;
    });
  }

  pause(owner: string, key: string, pause: Pause): Promise<void> {
    return this.#serial(async () => {
      const book = await this.#book(owner);
      const known = book.pauses.get(key);
      if (known && known.until > pause.until) return;
      book.pauses.set(key, pause);
      await this.#save([owner]);
    });
  }

  pauses(owner: string, keys: readonly string[], now: number): Promise<Map<string, Pause>> {
    return this.#serial(async () => {
      const book = await this.#book(owner);
      const found = new Map<string, Pause>();
      for (const key of keys) {
        const pause = book.pauses.get(key);
        if (pause && pause.until > now) found.set(key, pause);
      }
      return found;
    });
  }
}

/** A ledger kept in memory only (`none` storage, or no storage): lost at restart. */
export function memoryLedgerStore(retainMs: number): LedgerStore {
  return new BookStore({ load: () => Promise.resolve(new LedgerBook()), save: () => Promise.resolve() }, retainMs);
}
