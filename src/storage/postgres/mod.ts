/**
 * `type = postgres`: one PostgreSQL database shared by several acmems instances (on one or many hosts). The port
 * contracts are in ../port.ts; this file composes the rooms that implement them:
 *
 * - connection.ts: the pool, bounded statements, outage state (`StorageUnavailableError`), /ready's `problem`.
 * - migrate.ts + migrations.ts: the schema, migrated once per process before the first statement.
 * - entries.ts (`CertCache`, stale-if-error from memory) · claims.ts (`ClaimStore`: fenced lease rows on the
 *   database clock, `claimDue`) · challenges.ts (`ChallengeStore`, with an in-memory copy) · feed.ts (`ChangeFeed`:
 *   LISTEN/NOTIFY, one channel per schema).
 *
 * Lifecycle: `start` migrates and subscribes in the background (it waits at most the connect timeout); a poll every
 * `pollMs` keeps the subscription alive and the challenge map fresh. When the database cannot be reached, calls
 * that need it throw `StorageUnavailableError`, `get` answers from memory, and `problem()` tells /ready why; the
 * pool reconnects by itself. `getChallenge` always answers from memory (the challenge listener is internet-facing:
 * an unknown token never costs a statement; see challenges.ts for the bounded wait for another instance's answer). `close` waits (bounded) for statements in flight, then ends both
 * connections.
 */
import { describeError } from "../../lib/bytes.ts";
import type { Logger } from "../../ops/log.ts";
import { PostgresStorageError } from "../errors.ts";
import type { Storage } from "../port.ts";
import type { CacheKey, Change, Claim, DueClaim, Entry, Held, StoredChallenge } from "../types.ts";
import { PgChallenges } from "./challenges.ts";
import { type DueScope, PgClaims } from "./claims.ts";
import { PgConnection, type PostgresStorageEvents, withTimeout } from "./connection.ts";
import { PgEntries } from "./entries.ts";
import { PgFeed } from "./feed.ts";
import { PgLedgerStore } from "./ledger.ts";
import { SCHEMA_NAME } from "./migrations.ts";

export type { PostgresStorageEvents };
/** Importable from here too (its home is ../errors.ts). */
export { PostgresStorageError };

export interface PostgresStorageOptions {
  name: string;
  /** postgres:// URL; undefined: the PG* environment variables. */
  url?: string;
  poolSize: number;
  /** Claim lease (database clock), milliseconds. */
  leaseMs: number;
  schema: string;
  renewWithinDays: number;
  renewActiveDays: number;
  log: Logger;
  /** `application_name` of every connection (default "acmems"; `?application_name=` in the URL wins). */
  applicationName?: string;
  /** Bound on opening a connection (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Bound on one statement, after which the call fails as unavailable (default 10 000 ms). */
  queryTimeoutMs?: number;
  /** How often waiters and the challenge map poll besides notifications (default 1000 ms). */
  pollMs?: number;
  /**
   * How long a lookup of an http-01 token this instance does not know waits for the change feed to bring it (another
   * instance wrote it and told the CA, whose request came here first). Default 500 ms.
   */
  challengeWaitMs?: number;
  /** Subtracted from the lease for the local deadline (default: a fifth of the lease, at most 5 s). */
  marginMs?: number;
  events?: PostgresStorageEvents;
}

export class PostgresStorage implements Storage {
  readonly kind = "postgres";
  readonly shared = true;
  readonly name: string;
  readonly renewWithinDays: number;
  readonly renewActiveDays: number;
  readonly leaseMs: number;
  readonly schema: string;
  readonly #db: PgConnection;
  readonly #entries: PgEntries;
  readonly #claims: PgClaims;
  readonly #challenges: PgChallenges;
  readonly #feed: PgFeed;
  readonly #pollMs: number;
  #started = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(opts: PostgresStorageOptions) {
    if (!SCHEMA_NAME.test(opts.schema)) {
      throw new PostgresStorageError(`[storage "${opts.name}"] schema "${opts.schema}" is not a plain lower-case name`);
    }
    this.name = opts.name;
    this.renewWithinDays = opts.renewWithinDays;
    this.renewActiveDays = opts.renewActiveDays;
    this.leaseMs = opts.leaseMs;
    this.schema = opts.schema;
    this.#pollMs = opts.pollMs ?? 1000;
    const db = this.#db = new PgConnection(opts);
    this.#entries = new PgEntries(db, opts.renewWithinDays);
    const challenges = this.#challenges = new PgChallenges(db, { waitMs: opts.challengeWaitMs });
    const feed = this.#feed = new PgFeed(db, {
      pollMs: this.#pollMs,
      onChallenge: (token) => db.track(challenges.load(token).catch(() => {})),
      onSubscribed: () => challenges.reload().catch(() => {}),
    });
    db.onOutage = () => feed.lost();
    this.#claims = new PgClaims(db, {
      leaseMs: opts.leaseMs,
      marginMs: opts.marginMs ?? Math.min(5_000, Math.floor(opts.leaseMs / 5)),
      renewWithinDays: opts.renewWithinDays,
      renewActiveDays: opts.renewActiveDays,
      pollMs: this.#pollMs,
      waitForChange: (topic, ms, signal) => feed.waitForChange(topic, ms, signal),
    });
  }

  // ------------------------------------------------------------------------------------------------ lifecycle

  /** Resolves after the first attempt to migrate and subscribe, at most after the connect timeout. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#schedule();
    const first = (async () => {
      try {
        await this.#db.ready();
      } catch (error) {
        this.#db.log.warn("postgres storage not available yet; retrying in the background", {
          storage: this.name,
          error: describeError(error),
        });
        return;
      }
      await this.#feed.subscribe().catch(() => {});
    })();
    this.#db.track(first);
    await withTimeout(first, this.#db.connectTimeoutMs, "start").catch(() => {});
  }

  /** The poll: keeps LISTEN alive, reloads the challenge map now and then, purges expired challenges. */
  #schedule(): void {
    if (this.#db.closed) return;
    this.#timer = setTimeout(async () => {
      this.#timer = undefined;
      try {
        await this.#feed.keepAlive();
        await this.#challenges.tidy(5 * this.#pollMs);
      } finally {
        this.#schedule();
      }
    }, this.#pollMs);
  }

  problem(): Promise<string> {
    return this.#db.problem();
  }

  prune(olderThanMs?: number): Promise<number> {
    return this.#entries.prune(olderThanMs);
  }

  async close(): Promise<void> {
    const db = this.#db;
    if (db.closed) return;
    db.markClosed();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    // Let statements in flight finish first (bounded): postgres.js cannot end a connection that is still being
    // opened, which would stay open behind our back.
    await withTimeout(Promise.allSettled([...db.inFlight(), this.#feed.subscribing]), 2_000, "close")
      .catch(() => {});
    await Promise.all([db.end(), this.#feed.end()]);
    await this.#feed.subscribing?.catch(() => {});
    await Promise.allSettled(db.inFlight());
  }

  /** Pending challenges this instance knows without asking the database (tests, diagnostics). */
  get knownChallenges(): number {
    return this.#challenges.size;
  }

  /** Whether the LISTEN subscription is established. */
  get listening(): boolean {
    return this.#feed.listening;
  }

  // ------------------------------------------------------------------------------------------------ ports

  get(key: CacheKey): Promise<Entry | null> {
    return this.#entries.get(key);
  }

  put(claim: Claim, entry: Entry): Promise<boolean> {
    return this.#entries.put(claim, entry);
  }

  touch(key: CacheKey, at: Date): Promise<void> {
    return this.#entries.touch(key, at);
  }

  keys(): Promise<CacheKey[]> {
    return this.#entries.keys();
  }

  remove(claim: Claim): Promise<void> {
    return this.#entries.remove(claim);
  }

  claim(key: CacheKey, owner: string, leaseMs?: number): Promise<Claim | Held> {
    return this.#claims.claim(key, owner, leaseMs);
  }

  extend(claim: Claim, leaseMs?: number): Promise<boolean> {
    return this.#claims.extend(claim, leaseMs);
  }

  waitForRelease(key: CacheKey, signal: AbortSignal): Promise<void> {
    return this.#claims.waitForRelease(key, signal);
  }

  noteOrder(claim: Claim, orderUrl: string | null): Promise<boolean> {
    return this.#claims.noteOrder(claim, orderUrl);
  }

  release(claim: Claim): Promise<void> {
    return this.#claims.release(claim);
  }

  claimDue(owner: string, leaseMs: number, now: Date, limit: number, scope?: DueScope): Promise<DueClaim[]> {
    return this.#claims.claimDue(owner, leaseMs, now, limit, scope);
  }

  putChallenge(challenge: StoredChallenge): Promise<void> {
    return this.#challenges.putChallenge(challenge);
  }

  getChallenge(token: string): Promise<StoredChallenge | null> {
    return this.#challenges.getChallenge(token);
  }

  deleteChallenge(token: string): Promise<void> {
    return this.#challenges.deleteChallenge(token);
  }

  async compromisedKeys(): Promise<string[]> {
    const db = this.#db;
    const rows = await db.query("compromisedKeys", `select spki_sha256 from ${db.tables.compromisedKeys}`);
    return rows.map((row) => String(row.spki_sha256));
  }

  async recordCompromisedKey(spkiSha256: string, at: Date): Promise<void> {
    const db = this.#db;
    await db.query(
      "recordCompromisedKey",
      `insert into ${db.tables.compromisedKeys} (spki_sha256, recorded_at) values ($1, $2::timestamptz)
       on conflict (spki_sha256) do nothing`,
      [spkiSha256, at.toISOString()],
    );
  }

  /** The rate-limit ledger in this database (shared by every instance; src/storage/postgres/ledger.ts). */
  ledgerStore(retainMs: number): PgLedgerStore {
    return new PgLedgerStore(this.#db, retainMs);
  }

  changes(signal: AbortSignal): AsyncIterable<Change> {
    return this.#feed.changes(signal);
  }
}
