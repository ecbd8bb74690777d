/**
 * The `postgres` storage's fenced claims (`ClaimStore`, contracts in ../port.ts) over the `entries` table.
 *
 * How: a claim is the row's `owner`, `fence` and `lease_until` (on the database clock). `claim` is one upsert that
 * succeeds only when the row's lease has ended, bumping the fence; every later write of the holder (`noteOrder`,
 * `release`, `extend`, and the cache's `put`/`remove`) names its fence and changes nothing when someone took over
 * meanwhile (0 rows: "fenced out", counted). The holder's local `deadline` is the send time of its last successful
 * claim/extend plus the lease minus a margin, so it stops before the database can hand the key to another instance,
 * whatever the two clocks say. No session advisory locks: a partitioned holder's lock would stay held until TCP gave
 * up, and it would never be told. Waiters wake on `entry:<key>` notifications and poll besides.
 */
import type { CacheKey, Claim, DueClaim, Held } from "../types.ts";
import type { PgConnection, Row } from "./connection.ts";
import { checkKey, entryOfRow } from "./entries.ts";

export interface ClaimOptions {
  /** Default claim lease (database clock), milliseconds. */
  leaseMs: number;
  /** Subtracted from the lease for the local deadline (at most a fifth of the lease). */
  marginMs: number;
  renewActiveDays: number;
  /** How often waiters poll besides notifications. */
  pollMs: number;
  /** Waits for a notification about `topic`, at most `ms`, or until `signal` aborts (the change feed). */
  waitForChange(topic: string, ms: number, signal: AbortSignal): Promise<void>;
}

export class PgClaims {
  readonly #db: PgConnection;
  readonly #opts: ClaimOptions;

  constructor(db: PgConnection, opts: ClaimOptions) {
    this.#db = db;
    this.#opts = opts;
  }

  async claim(key: CacheKey, owner: string, leaseMs = this.#opts.leaseMs): Promise<Claim | Held> {
    checkKey(key);
    const db = this.#db;
    // Unique per call: a retried claim whose first attempt did commit finds its own row (and takes the next fence).
    const token = `${owner} #${crypto.randomUUID().slice(0, 8)}`;
    const sentAt = performance.now();
    const rows = await db.query(
      "claim",
      `insert into ${db.tables.entries} as e (cache_key, owner, fence, lease_until)
         values ($1, $2, 1, now() + $3::int * interval '1 millisecond')
       on conflict (cache_key) do update
         set owner = excluded.owner, fence = e.fence + 1, lease_until = excluded.lease_until, updated_at = now()
         where e.lease_until < now() or e.owner = excluded.owner
       returning fence::text as fence, order_url`,
      [key, token, Math.round(leaseMs)],
    );
    if (rows.length === 0) {
      const holder = await db.query(
        "claim",
        `select owner, lease_until from ${db.tables.entries} where cache_key = $1`,
        [key],
      ).catch(() => []);
      const heldBy = typeof holder[0]?.owner === "string" ? holder[0].owner : "another acmems instance";
      return { held: true, heldBy };
    }
    return this.#claimOf(key, rows[0], sentAt, leaseMs);
  }

  async waitForRelease(key: CacheKey, signal: AbortSignal): Promise<void> {
    checkKey(key);
    const db = this.#db;
    while (!signal.aborted && !db.closed) {
      let rows: Row[];
      try {
        rows = await db.query(
          "wait",
          `select greatest(0, extract(epoch from lease_until - now()) * 1000)::float8 as ms
             from ${db.tables.entries} where cache_key = $1`,
          [key],
        );
      } catch {
        return; // Cannot look: the caller's next claim reports the outage.
      }
      const remaining = Number(rows[0]?.ms ?? 0);
      if (remaining <= 0) return;
      await this.#opts.waitForChange(`entry:${key}`, Math.min(remaining + 25, this.#opts.pollMs), signal);
    }
  }

  async extend(claim: Claim, leaseMs = this.#opts.leaseMs): Promise<boolean> {
    const db = this.#db;
    const sentAt = performance.now();
    const rows = await db.query(
      "extend",
      `update ${db.tables.entries} set lease_until = now() + $3::int * interval '1 millisecond'
        where cache_key = $1 and fence = $2::bigint returning 1`,
      [claim.key, String(claim.fence), Math.round(leaseMs)],
    );
    if (rows.length === 0) return db.fenced("extend", claim);
    claim.deadline = this.#deadline(sentAt, leaseMs);
    return true;
  }

  async noteOrder(claim: Claim, orderUrl: string | null): Promise<boolean> {
    const db = this.#db;
    const rows = await db.query(
      "noteOrder",
      `with u as (update ${db.tables.entries} set order_url = $3, updated_at = now()
                   where cache_key = $1 and fence = $2::bigint returning cache_key)
       select pg_notify($4, 'entry:' || cache_key) from u`,
      [claim.key, String(claim.fence), orderUrl, db.channel],
    );
    if (rows.length === 0) return db.fenced("noteOrder", claim);
    if (orderUrl === null) delete claim.orderUrl;
    else claim.orderUrl = orderUrl;
    return true;
  }

  async release(claim: Claim): Promise<void> {
    const db = this.#db;
    try {
      await db.query(
        "release",
        `with u as (update ${db.tables.entries} set owner = null, lease_until = '-infinity'
                     where cache_key = $1 and fence = $2::bigint returning cache_key)
         select pg_notify($3, 'entry:' || cache_key) from u`,
        [claim.key, String(claim.fence), db.channel],
      );
    } catch {
      // The lease ends by itself; another instance can take over then.
    }
  }

  /** One statement (`for update skip locked`): concurrent instances get disjoint batches. Not retried. */
  async claimDue(owner: string, leaseMs: number, now: Date, limit: number): Promise<DueClaim[]> {
    const db = this.#db;
    const sentAt = performance.now();
    const rows = await db.query(
      "claimDue",
      `with c as (
         select cache_key from ${db.tables.entries}
          where entry is not null and due_at <= $3::timestamptz
            and (next_attempt_at is null or next_attempt_at <= $3::timestamptz)
            and last_fetched_at >= $3::timestamptz - $4::int * interval '1 day'
            and lease_until < now()
          order by due_at
          limit $5
          for update skip locked)
       update ${db.tables.entries} e
          set owner = $1, fence = e.fence + 1, lease_until = now() + $2::int * interval '1 millisecond',
              updated_at = now()
         from c where e.cache_key = c.cache_key
       returning e.cache_key, e.fence::text as fence, e.order_url, e.entry, e.last_fetched_at`,
      [owner, Math.round(leaseMs), now.toISOString(), this.#opts.renewActiveDays, limit],
      { retry: false }, // A batch committed before the connection broke stays claimed until its lease ends.
    );
    const claimed: DueClaim[] = [];
    for (const row of rows) {
      const key = String(row.cache_key);
      const claim = this.#claimOf(key, row, sentAt, leaseMs);
      const entry = entryOfRow(row, key);
      if (!entry) {
        db.log.warn("cache entry corrupt, not renewed", { storage: db.name, key });
        await this.release(claim);
        continue;
      }
      claimed.push({ claim, entry });
    }
    return claimed;
  }

  /** The claim a row (`fence`, `order_url`) grants, sent at `sentAt` for `leaseMs`. */
  #claimOf(key: CacheKey, row: Row, sentAt: number, leaseMs: number): Claim {
    const claim: Claim = { key, fence: Number(row.fence), deadline: this.#deadline(sentAt, leaseMs) };
    if (typeof row.order_url === "string") claim.orderUrl = row.order_url;
    return claim;
  }

  #deadline(sentAt: number, leaseMs: number): number {
    return sentAt + leaseMs - Math.min(this.#opts.marginMs, leaseMs / 5);
  }
}
