/**
 * The rate-limit ledger's storage port: timestamped events per key, counted in sliding windows, and "paused until"
 * marks. The ledger (ledger.ts) decides which keys and limits apply; a store only counts, atomically.
 *
 * Contract:
 * - `take` is all-or-nothing: it counts every check's events in `(now - window, …]` and, only when no enforced
 *   check is full, adds one event for each check with `record` and returns their references. Concurrent `take`s on
 *   the same keys are serialized (a process mutex for memory and files, row locks in PostgreSQL), so no limit is
 *   ever exceeded by a race.
 * - A full check's `freeAt` is when enough of its oldest counted events leave the window for one more to fit.
 * - `release` removes exactly the events `take` returned (the CA was never reached); unknown events are ignored.
 * - Events older than the store's retention (the longest configured window) are pruned; expired pauses too.
 * - Times are epoch milliseconds from the ledger's injected clock. Stores throw only when their medium fails.
 */

/** One limit to check for an order. */
export interface LedgerCheck {
  /** Whose budget: `ca:NAME` or `block:NAME` (a file store keeps one file per owner). */
  owner: string;
  /** The counted key within the owner: limit name and subkey, e.g. `orders`, `rd|example.com`. */
  key: string;
  windowMs: number;
  max: number;
  /** Refuse when the window is full (false: count only, e.g. an ARI renewal). */
  enforce: boolean;
  /** Add an event when admitted (false: check only, e.g. failed authorizations, counted elsewhere). */
  record: boolean;
}

/** An event `take` added, for `release`. */
export interface EventRef {
  owner: string;
  key: string;
  id: string;
}

/** A full check: its index in the `take` call and when a slot frees (epoch ms). */
export interface FullCheck {
  index: number;
  freeAt: number;
  count: number;
}

export type TakeResult = { ok: true; events: EventRef[] } | { ok: false; full: FullCheck[] };

/** The CA said no (429, or a paused account–name pair) until `until` (epoch ms). */
export interface Pause {
  until: number;
  detail: string;
  unpauseUrl?: string;
}

export interface LedgerStore {
  /** Checks every limit and, when none of the enforced ones is full, records the events (atomically). */
  take(checks: readonly LedgerCheck[], now: number): Promise<TakeResult>;
  /** Removes events `take` added. */
  release(events: readonly EventRef[]): Promise<void>;
  /** Adds one event to `owner`/`key` without checking (a failed authorization). */
  record(owner: string, key: string, now: number): Promise<void>;
  /** Events per key of `owner` whose key starts with `prefix`, within `windowMs` before `now` (keys with none absent). */
  count(owner: string, prefix: string, windowMs: number, now: number): Promise<Map<string, number>>;
  /** Remembers that the CA refuses `owner`/`key` until `pause.until` (a later pause replaces an earlier one). */
  pause(owner: string, key: string, pause: Pause): Promise<void>;
  /** The pauses of `owner` among `keys` still in force at `now`. */
  pauses(owner: string, keys: readonly string[], now: number): Promise<Map<string, Pause>>;
  /** Releases what the store holds open (files are closed after each write; PostgreSQL belongs to its storage). */
  close?(): Promise<void>;
}
