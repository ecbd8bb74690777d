/**
 * The `postgres` storage's pending http-01 answers (`ChallengeStore`, contracts in ../port.ts) over the `challenges`
 * table, with an in-memory copy so any instance answers the CA without a database round trip.
 *
 * How: writes notify `challenge:<token>` in the same statement; the change feed reloads that token here when it
 * hears one, and the whole map after every (re)subscribe (notifications sent meanwhile are lost) and periodically
 * (`tidy`). Expired rows are purged now and then (`tidy`); a lookup never returns an expired answer.
 *
 * Lookups (the internet-facing challenge listener asks for every token it does not know itself) never touch the
 * database: `getChallenge` answers from the map. A token the map does not know may be one another instance has just
 * written and told the CA about, whose notification is still on its way (the CA's request can reach this instance
 * first): such a lookup waits for the feed, at most `waitMs` (default 500 ms: the notification is sent when the
 * answer is committed, before the CA is told to look, so it is normally there long before the CA is), and is
 * answered as soon as the notification (or a reload) brings the token. At most `maxWaiting` (512) lookups wait at
 * once; beyond that an unknown token is unknown at once. Nothing per unknown token reaches the pool that `/sign` uses, so random tokens
 * cost memory and a timer, never a query. A notification lost to a dead LISTEN connection is made up by the next
 * reload (at most five polls later); while the database cannot be reached, the map is all there is.
 */
import { PostgresStorageError } from "../errors.ts";
import type { StoredChallenge } from "../types.ts";
import type { PgConnection, Row } from "./connection.ts";

const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
/** How often expired rows are deleted. */
const PURGE_EVERY_MS = 600_000;

export interface ChallengeWaitOptions {
  /** How long a lookup of an unknown token waits for the feed to bring it (default 500 ms; 0: not at all). */
  waitMs?: number;
  /** At most this many lookups wait at once (default 512); more are answered "unknown" at once. */
  maxWaiting?: number;
}

type Waiter = (challenge: StoredChallenge | null) => void;

export class PgChallenges {
  readonly #db: PgConnection;
  readonly #known = new Map<string, StoredChallenge>();
  /** Lookups waiting for a token to arrive through the feed. */
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #waitMs: number;
  readonly #maxWaiting: number;
  #waiting = 0;
  #lastReload = 0;
  #lastPurge = 0;

  constructor(db: PgConnection, opts: ChallengeWaitOptions = {}) {
    this.#db = db;
    this.#waitMs = opts.waitMs ?? 500;
    this.#maxWaiting = opts.maxWaiting ?? 512;
  }

  async putChallenge(challenge: StoredChallenge): Promise<void> {
    if (!TOKEN.test(challenge.token)) {
      throw new PostgresStorageError(`Invalid challenge token "${challenge.token.slice(0, 40)}"`);
    }
    const db = this.#db;
    await db.query(
      "putChallenge",
      `with u as (insert into ${db.tables.challenges} (token, key_authorization, host, expires_at)
                    values ($1, $2, $3, $4::timestamptz)
                  on conflict (token) do update
                    set key_authorization = excluded.key_authorization, host = excluded.host,
                        expires_at = excluded.expires_at
                  returning token)
       select pg_notify($5, 'challenge:' || token) from u`,
      [challenge.token, challenge.keyAuthorization, challenge.host, challenge.expiresAt, db.channel],
    );
    this.#learn(challenge.token, { ...challenge });
  }

  /**
   * The answer for `token` from the map; an unknown token waits (bounded, see the top) for the feed to bring it.
   * Never queries the database, never throws.
   */
  getChallenge(token: string): Promise<StoredChallenge | null> {
    if (!TOKEN.test(token)) return Promise.resolve(null);
    const known = this.#fresh(token);
    if (known || this.#waitMs <= 0 || this.#waiting >= this.#maxWaiting || this.#db.closed) {
      return Promise.resolve(known);
    }
    return this.#waitFor(token);
  }

  /** The unexpired answer for `token` in the map (a copy), or null. */
  #fresh(token: string): StoredChallenge | null {
    const known = this.#known.get(token);
    return known && Date.parse(known.expiresAt) > Date.now() ? { ...known } : null;
  }

  #waitFor(token: string): Promise<StoredChallenge | null> {
    return new Promise((resolve) => {
      let set = this.#waiters.get(token);
      if (!set) this.#waiters.set(token, set = new Set());
      const closing = this.#db.closing;
      let settled = false;
      const done: Waiter = (challenge) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        closing.removeEventListener("abort", onClose);
        set.delete(done);
        if (set.size === 0 && this.#waiters.get(token) === set) this.#waiters.delete(token);
        this.#waiting--;
        resolve(challenge);
      };
      const onClose = () => done(null);
      const timer = setTimeout(() => done(null), this.#waitMs);
      closing.addEventListener("abort", onClose, { once: true });
      set.add(done);
      this.#waiting++;
    });
  }

  /** Puts `challenge` in the map and answers the lookups waiting for it. */
  #learn(token: string, challenge: StoredChallenge): void {
    this.#known.set(token, challenge);
    const waiting = this.#waiters.get(token);
    if (!waiting) return;
    const fresh = this.#fresh(token);
    if (!fresh) return;
    for (const done of [...waiting]) done({ ...fresh });
  }

  async deleteChallenge(token: string): Promise<void> {
    this.#known.delete(token);
    if (!TOKEN.test(token)) return;
    const db = this.#db;
    await db.query(
      "deleteChallenge",
      `with d as (delete from ${db.tables.challenges} where token = $1 returning token)
       select pg_notify($2, 'challenge:' || token) from d`,
      [token, db.channel],
    );
  }

  /**
   * Reads one challenge into the in-memory map (or drops it there when it is gone), for a `challenge:<token>`
   * notification: one statement per answer some instance wrote, never per lookup.
   */
  async load(token: string): Promise<StoredChallenge | null> {
    if (!TOKEN.test(token)) return null;
    const rows = await this.#db.query(
      "getChallenge",
      `select token, key_authorization, host, expires_at from ${this.#db.tables.challenges}
        where token = $1 and expires_at > now()`,
      [token],
    );
    if (rows.length === 0) {
      this.#known.delete(token);
      return null;
    }
    const challenge = challengeOf(rows[0]);
    this.#learn(token, challenge);
    return { ...challenge };
  }

  /** Replaces the in-memory map with the table (after every (re)subscribe, and as a periodic fallback). */
  async reload(): Promise<void> {
    const rows = await this.#db.query(
      "reloadChallenges",
      `select token, key_authorization, host, expires_at from ${this.#db.tables.challenges} where expires_at > now()`,
    );
    this.#known.clear();
    for (const row of rows) this.#known.set(String(row.token), challengeOf(row));
    this.#lastReload = Date.now();
    for (const token of [...this.#waiters.keys()]) {
      const challenge = this.#known.get(token);
      if (challenge) this.#learn(token, challenge);
    }
  }

  /**
   * The poll's share: reloads the map when the last reload is older than `reloadAfterMs`, purges expired rows every
   * ten minutes, drops expired answers from the map. Never throws.
   */
  async tidy(reloadAfterMs: number): Promise<void> {
    if (Date.now() - this.#lastReload > reloadAfterMs) await this.reload().catch(() => {});
    if (Date.now() - this.#lastPurge > PURGE_EVERY_MS) {
      this.#lastPurge = Date.now();
      await this.#db.query("purgeChallenges", `delete from ${this.#db.tables.challenges} where expires_at < now()`)
        .catch(() => {});
    }
    const now = Date.now();
    for (const [token, c] of this.#known) if (Date.parse(c.expiresAt) <= now) this.#known.delete(token);
  }

  /** Pending challenges known without asking the database. */
  get size(): number {
    return this.#known.size;
  }
}

function challengeOf(row: Row): StoredChallenge {
  const expires = row.expires_at instanceof Date ? row.expires_at : new Date(String(row.expires_at));
  return {
    token: String(row.token),
    keyAuthorization: String(row.key_authorization),
    host: String(row.host),
    expiresAt: expires.toISOString(),
  };
}
