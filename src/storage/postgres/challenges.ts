/**
 * The `postgres` storage's pending http-01 answers (`ChallengeStore`, contracts in ../port.ts) over the `challenges`
 * table, with an in-memory copy so any instance answers the CA without a database round trip.
 *
 * How: writes notify `challenge:<token>` in the same statement; the change feed reloads that token here when it
 * hears one, and the whole map after every (re)subscribe (notifications sent meanwhile are lost) and periodically
 * (`tidy`). While the database cannot be reached, `getChallenge` answers from the map. Expired rows are purged
 * now and then (`tidy`); a lookup never returns an expired answer.
 */
import { PostgresStorageError } from "../errors.ts";
import type { StoredChallenge } from "../types.ts";
import type { PgConnection, Row } from "./connection.ts";

const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
/** How often expired rows are deleted. */
const PURGE_EVERY_MS = 600_000;

export class PgChallenges {
  readonly #db: PgConnection;
  readonly #known = new Map<string, StoredChallenge>();
  #lastReload = 0;
  #lastPurge = 0;

  constructor(db: PgConnection) {
    this.#db = db;
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
    this.#known.set(challenge.token, { ...challenge });
  }

  async getChallenge(token: string): Promise<StoredChallenge | null> {
    if (!TOKEN.test(token)) return null;
    const known = this.#known.get(token);
    if (known && Date.parse(known.expiresAt) > Date.now()) return { ...known };
    try {
      return await this.load(token);
    } catch {
      return null; // Down: only what the in-memory map knows can be answered.
    }
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

  /** Reads one challenge into the in-memory map (or drops it there when it is gone). */
  async load(token: string): Promise<StoredChallenge | null> {
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
    this.#known.set(token, challenge);
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
