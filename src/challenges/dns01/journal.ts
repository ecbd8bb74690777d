/**
 * The dns-01 cleanup journal: every TXT record is written here *before* the UPDATE that adds it, and struck off once
 * a deletion succeeded, so a crash or a DNS outage never leaves a record behind unnoticed: the next start replays
 * what is left.
 *
 * One JSON file in the account directory (`dns-journal.json`), shared by every dns01-dnsUpdate verification (each
 * entry names its verification), rewritten atomically on each change:
 *
 *     {"version": 1, "records": [{"id": "…", "verification": "dns", "name": "_acme-challenge.www.example.org",
 *       "value": "…", "zone": "example.org", "owner": "_acme-challenge.www.example.org",
 *       "addedAt": "2026-…Z", "attempts": 0}]}
 *
 * `name` is where the record is (the CNAME target when delegated), `owner` where the CA looks. Writes are serialized
 * within the process; two acmems processes must not share an account directory.
 *
 * Within a process there is one journal per file (`inDirectory`), and each entry is held by the solver that added or
 * replayed it, so that after a config reload the new solver neither deletes records the old one still uses nor loses
 * track of the ones it could not delete (it adopts them when the old one closes).
 *
 * A solver that is dropped without close() (an app abandoned in a simulated crash, then a new app started in the
 * same process) never hands its entries over; it is superseded instead when a solver of the same verification with
 * the same settings starts (`register`). That cannot be a reload: App keeps a solver whose settings did not change
 * and only starts a replacement when they did, so the replacement of a draining solver always differs from it.
 */
import { dirname, resolve } from "../../lib/path.ts";
import { atomicWriteFile } from "../../lib/atomic_write.ts";
import type { Logger } from "../../ops/log.ts";
import { describeFsError } from "../../lib/bytes.ts";

export const JOURNAL_FILE = "dns-journal.json";

export interface JournalEntry {
  id: string;
  /** Name of the [verification] block (its server and key delete the record). */
  verification: string;
  /** Owner of the TXT record as written (after CNAME delegation). */
  name: string;
  value: string;
  zone: string;
  /** `_acme-challenge.<identifier>` when it differs from `name` (CNAME delegation). */
  owner?: string;
  /** ISO time the record was journaled (just before the UPDATE). */
  addedAt: string;
  /** Failed deletion attempts so far. */
  attempts: number;
  lastError?: string;
  lastAttemptAt?: string;
}

interface JournalFile {
  version: 1;
  records: JournalEntry[];
}

function isEntry(v: unknown): v is JournalEntry {
  const e = v as Record<string, unknown>;
  return typeof e === "object" && e !== null && typeof e.id === "string" && typeof e.verification === "string" &&
    typeof e.name === "string" && typeof e.value === "string" && typeof e.zone === "string" &&
    typeof e.addedAt === "string" && typeof e.attempts === "number";
}

/** A solver as the journal sees it: the verification whose entries it handles, and a way to take over entries. */
export interface JournalHolder {
  readonly verification: { readonly name: string };
  /**
   * The verification's settings as App compares them on reload: a holder that starts with the same settings as the
   * latest one of its verification supersedes it (see the module comment). Without it, nothing is superseded.
   */
  readonly settings?: string;
  /** Takes over entries another holder of the same verification left behind; false when it cannot. */
  adopt(entries: JournalEntry[]): boolean;
}

const shared = new Map<string, DnsJournal>();

export class JournalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JournalError";
  }
}

export class DnsJournal {
  readonly path: string;
  readonly #log?: Logger;
  #entries = new Map<string, JournalEntry>();
  #loaded: Promise<void> | undefined;
  #queue: Promise<void> = Promise.resolve();
  readonly #held = new Map<string, JournalHolder>();
  readonly #holders = new Set<JournalHolder>();
  /** The holder that registered last, per verification. */
  readonly #latest = new Map<string, JournalHolder>();

  constructor(path: string, opts: { log?: Logger } = {}) {
    this.path = path;
    this.#log = opts.log;
  }

  /** The journal of an account directory: one instance per file in the process (see the module comment). */
  static inDirectory(dir: string, opts: { log?: Logger } = {}): DnsJournal {
    const path = resolve(dir, JOURNAL_FILE);
    let journal = shared.get(path);
    if (!journal) shared.set(path, journal = new DnsJournal(path, opts));
    return journal;
  }

  /**
   * Reads the file once (later calls wait for that read). A missing file is an empty journal; an unparsable one is
   * moved aside (and logged at error level) so it can be read by hand. Throws JournalError when it cannot be read:
   * then nothing may be added, or the file would be overwritten.
   */
  load(): Promise<void> {
    this.#loaded ??= this.#read().catch((error) => {
      this.#loaded = undefined; // try again next time (e.g. permissions fixed)
      throw error;
    });
    return this.#loaded;
  }

  async #read(): Promise<void> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw new JournalError(`Cannot read the dns-01 journal ${this.path}: ${describeFsError(error)}`);
    }
    let records: unknown[] | undefined;
    try {
      const parsed = JSON.parse(text) as Partial<JournalFile>;
      if (parsed.version === 1 && Array.isArray(parsed.records)) records = parsed.records;
    } catch {
      // handled below
    }
    if (!records) {
      const aside = `${this.path}.corrupt-${Date.now()}`;
      await Deno.rename(this.path, aside).catch(() => {});
      this.#log?.error("dns-01 journal unreadable, moved aside: remove the TXT records it lists by hand", {
        path: this.path,
        movedTo: aside,
      });
      return;
    }
    for (const record of records) {
      if (isEntry(record)) this.#entries.set(record.id, { ...record });
      else this.#log?.error("dns-01 journal entry ignored: it lacks fields", { path: this.path, entry: record });
    }
  }

  /** Entries not yet struck off (of one verification, or all). */
  entries(verification?: string): JournalEntry[] {
    return [...this.#entries.values()].filter((e) => verification === undefined || e.verification === verification)
      .map((e) => ({ ...e }));
  }

  get(id: string): JournalEntry | undefined {
    const e = this.#entries.get(id);
    return e && { ...e };
  }

  /** Records an entry (held by `holder`, if given) and returns once it is durably on disk. */
  async add(
    entry: Omit<JournalEntry, "id" | "attempts"> & { attempts?: number },
    holder?: JournalHolder,
  ): Promise<JournalEntry> {
    await this.load();
    const full: JournalEntry = { ...entry, id: crypto.randomUUID(), attempts: entry.attempts ?? 0 };
    this.#entries.set(full.id, full);
    try {
      await this.#persist();
    } catch (error) {
      this.#entries.delete(full.id);
      throw error;
    }
    if (holder) this.#held.set(full.id, holder);
    return { ...full };
  }

  /** Strikes an entry off (its record is gone). Unknown ids are ignored. */
  async strike(id: string): Promise<void> {
    await this.load();
    this.#held.delete(id);
    if (!this.#entries.delete(id)) return;
    await this.#persist();
  }

  /**
   * A live solver: it may be offered entries of its verification that another one leaves behind. When the
   * verification's latest holder is still registered and has the same settings, it was dropped without close(): the
   * new holder supersedes it and takes its entries (`claim` returns them). Returns how many entries it took.
   */
  register(holder: JournalHolder): number {
    const name = holder.verification.name;
    const previous = this.#latest.get(name);
    this.#latest.set(name, holder);
    this.#holders.add(holder);
    if (!previous || previous === holder || !this.#holders.has(previous)) return 0;
    if (holder.settings === undefined || previous.settings !== holder.settings) return 0;
    this.#holders.delete(previous);
    const taken = this.heldBy(previous);
    for (const e of taken) this.#held.delete(e.id);
    return taken.length;
  }

  /** Entries of the holder's verification that no live solver holds (left by an earlier run), now held by it. */
  claim(holder: JournalHolder): JournalEntry[] {
    const claimed = [...this.#entries.values()].filter((e) =>
      e.verification === holder.verification.name && !this.#held.has(e.id)
    );
    for (const e of claimed) this.#held.set(e.id, holder);
    return claimed.map((e) => ({ ...e }));
  }

  /** Whether the entry is held by the holder (false once it is struck off or another holder took it). */
  holds(holder: JournalHolder, id: string): boolean {
    return this.#held.get(id) === holder;
  }

  /** Entries the holder holds. */
  heldBy(holder: JournalHolder): JournalEntry[] {
    return [...this.#entries.values()].filter((e) => this.#held.get(e.id) === holder).map((e) => ({ ...e }));
  }

  /**
   * The holder is closing: its remaining entries go to another live solver of the same verification (a reload), or
   * stay unheld for the next start. Returns the entries nobody took.
   */
  release(holder: JournalHolder): JournalEntry[] {
    this.#holders.delete(holder);
    if (this.#latest.get(holder.verification.name) === holder) this.#latest.delete(holder.verification.name);
    const left = this.heldBy(holder);
    for (const e of left) this.#held.delete(e.id);
    if (left.length === 0) return [];
    for (const other of this.#holders) {
      if (other.verification.name !== holder.verification.name) continue;
      for (const e of left) this.#held.set(e.id, other);
      if (other.adopt(left)) return [];
      for (const e of left) this.#held.delete(e.id);
    }
    return left;
  }

  /** Updates the bookkeeping fields of an entry (attempts, last error). */
  async note(id: string, patch: Pick<JournalEntry, "attempts" | "lastError" | "lastAttemptAt">): Promise<void> {
    await this.load();
    const e = this.#entries.get(id);
    if (!e) return;
    Object.assign(e, patch);
    await this.#persist();
  }

  /** Writes the whole state; writes are serialized so the last state always wins. */
  #persist(): Promise<void> {
    const run = this.#queue.then(async () => {
      const file: JournalFile = { version: 1, records: [...this.#entries.values()] };
      try {
        await Deno.mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        await atomicWriteFile(this.path, JSON.stringify(file, null, 1) + "\n", { mode: 0o600 });
      } catch (error) {
        throw new JournalError(`Cannot write the dns-01 journal ${this.path}: ${describeFsError(error)}`);
      }
    });
    this.#queue = run.catch(() => {});
    return run;
  }
}
