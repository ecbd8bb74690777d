/**
 * The `postgres` storage's certificate cache (`CertCache`, contracts in ../port.ts) over the `entries` table.
 *
 * How: an entry is the `entry` JSON of its row; the row also keeps the renewal index (`due_at`, `next_attempt_at`,
 * `last_fetched_at`) so `claimDue` can pick due entries without reading them. Writes name the claim's fence and
 * notify `entry:<key>` in the same statement (only committed changes are announced); a write whose fence is stale
 * changes nothing ("fenced out", counted). Stale-if-error: the entries this instance read or wrote last (at most
 * MEMORY_ENTRIES) are served by `get` while the database cannot be reached.
 */
import { describeError } from "../../lib/bytes.ts";
import { renewalDue } from "../../renewal/due.ts";
import { PostgresStorageError } from "../errors.ts";
import { isEntry } from "../is_entry.ts";
import type { CacheKey, Claim, Entry } from "../types.ts";
import type { PgConnection, Row } from "./connection.ts";

const KEY = /^[0-9a-f]{64}$/;
/** Entries kept in memory for stale-if-error reads. */
const MEMORY_ENTRIES = 10_000;

export class PgEntries {
  readonly #db: PgConnection;
  readonly #renewWithinDays: number;
  readonly #memory = new Map<CacheKey, Entry>();

  constructor(db: PgConnection, renewWithinDays: number) {
    this.#db = db;
    this.#renewWithinDays = renewWithinDays;
  }

  async get(key: CacheKey): Promise<Entry | null> {
    if (!KEY.test(key)) return null;
    const db = this.#db;
    let rows: Row[];
    try {
      // While the database is known to be down, an entry in memory is served after a short wait, not the full one.
      const remembered = db.down && this.#memory.has(key);
      rows = await db.query(
        "get",
        `select entry, last_fetched_at from ${db.tables.entries} where cache_key = $1 and entry is not null`,
        [key],
        { timeoutMs: remembered ? Math.min(1_000, db.queryTimeoutMs) : undefined },
      );
    } catch (error) {
      const remembered = this.#memory.get(key);
      if (remembered) {
        db.log.debug("postgres storage down, serving the entry from memory", {
          storage: db.name,
          error: describeError(error),
        });
        return structuredClone(remembered);
      }
      return null;
    }
    if (rows.length === 0) {
      this.#memory.delete(key);
      return null;
    }
    const value = entryOfRow(rows[0], key);
    if (!value) {
      db.log.warn("cache entry corrupt, treated as a miss", { storage: db.name, key });
      return null;
    }
    this.#remember(key, value);
    return structuredClone(value);
  }

  async put(claim: Claim, entry: Entry): Promise<boolean> {
    if (entry.key !== claim.key) return false;
    checkKey(claim.key);
    const db = this.#db;
    const due = renewalDue(entry, this.#renewWithinDays, new Date());
    const rows = await db.query(
      "put",
      `with u as (update ${db.tables.entries}
                     set entry = $3::jsonb, not_after = $4::timestamptz, due_at = $5::timestamptz,
                         next_attempt_at = $6::timestamptz,
                         last_fetched_at = greatest(last_fetched_at, $7::timestamptz),
                         -- A new certificate ends the recorded order; a metadata update (ARI, backoff) keeps it.
                         order_url = case when entry->>'chain' is distinct from $3::jsonb->>'chain'
                                          then null else order_url end,
                         updated_at = now()
                   where cache_key = $1 and fence = $2::bigint returning cache_key)
       select pg_notify($8, 'entry:' || cache_key) from u`,
      [
        claim.key,
        String(claim.fence),
        entry,
        entry.notAfter,
        due.at.toISOString(),
        entry.renewal?.nextAttemptAt ?? null,
        entry.lastFetchedAt,
        db.channel,
      ],
    );
    if (rows.length === 0) return db.fenced("put", claim);
    this.#remember(claim.key, structuredClone(entry));
    return true;
  }

  async keys(): Promise<CacheKey[]> {
    const rows = await this.#db.query(
      "keys",
      `select cache_key from ${this.#db.tables.entries} where entry is not null`,
    );
    return rows.map((r) => String(r.cache_key));
  }

  async touch(key: CacheKey, at: Date): Promise<void> {
    if (!KEY.test(key)) return;
    try {
      await this.#db.query(
        "touch",
        `update ${this.#db.tables.entries} set last_fetched_at = greatest(last_fetched_at, $2::timestamptz)
          where cache_key = $1 and entry is not null`,
        [key, at.toISOString()],
      );
    } catch {
      // Best effort: a lost touch only makes a background renewal less likely.
    }
  }

  async remove(claim: Claim): Promise<void> {
    const db = this.#db;
    await db.query(
      "remove",
      `with u as (update ${db.tables.entries}
                     set entry = null, not_after = null, due_at = null, next_attempt_at = null, order_url = null,
                         updated_at = now()
                   where cache_key = $1 and fence = $2::bigint returning cache_key)
       select pg_notify($3, 'entry:' || cache_key) from u`,
      [claim.key, String(claim.fence), db.channel],
    );
    this.#memory.delete(claim.key);
  }

  /**
   * Deletes rows without a certificate (claims of orders that failed, removed entries) whose last claim or write is
   * older than `olderThanMs` (default a day). Safe for fencing: no holder of any of their fences can still be running
   * (leases last seconds, orders at most `order-timeout`), so a fence restarting at 1 cannot meet a stale one.
   */
  async prune(olderThanMs = 86_400_000): Promise<number> {
    const rows = await this.#db.query(
      "prune",
      `delete from ${this.#db.tables.entries}
        where entry is null and lease_until < now() and updated_at < now() - $1::bigint * interval '1 millisecond'
        returning cache_key`,
      [Math.round(olderThanMs)],
    );
    return rows.length;
  }

  #remember(key: CacheKey, entry: Entry): void {
    this.#memory.delete(key);
    this.#memory.set(key, entry);
    while (this.#memory.size > MEMORY_ENTRIES) this.#memory.delete(this.#memory.keys().next().value!);
  }
}

/** Throws for a key that is not a cache key (a bug: keys come from `cacheKey`). */
export function checkKey(key: CacheKey): void {
  if (!KEY.test(key)) throw new PostgresStorageError(`Invalid cache key "${key.slice(0, 80)}"`);
}

/**
 * The entry of a row (`entry`, `last_fetched_at`), with the row's later fetch time; null when it is not an acmems
 * entry of `key` (the caller logs).
 */
export function entryOfRow(row: Row, key: CacheKey): Entry | null {
  const value = parseJson(row.entry);
  if (!isEntry(value) || value.key !== key) return null;
  const seen = row.last_fetched_at;
  if (seen instanceof Date && seen.getTime() > Date.parse(value.lastFetchedAt)) {
    value.lastFetchedAt = seen.toISOString();
  }
  return value;
}

function parseJson(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}
