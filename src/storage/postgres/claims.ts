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
 *
 * claimDue: which entries to renew is decided by the renewal plan (src/renewal/plan.ts, `planRenewal`), the same
 * function the sweep applies to every other storage; SQL only narrows the rows the plan looks at. In one
 * transaction: a page of candidate rows is selected and locked (`for update skip locked`, so instances sweeping at
 * once see disjoint rows), each is planned in TypeScript with ARI counted as checked (the sweep refreshed it in its
 * pass over every key just before), only the rows planned `renew` are claimed (owner, fence + 1, lease), and pages
 * follow until `limit` are claimed or no candidate is left. A row the plan turns down is never claimed: its lock
 * ends at commit. A row is claimed only while nobody's lease runs (`lease_until < now()`) and under its row lock,
 * so each due entry goes to exactly one instance.
 * The SQL pre-filter never drops a row the plan would renew, because each of its conditions follows from `renew`:
 * - fetched lately: `last_fetched_at` is the entry's `lastFetchedAt` or later (touches), what the plan's activity
 *   test reads (`entryOfRow` takes the later one);
 * - backoff over: `next_attempt_at` is the entry's `renewal.nextAttemptAt`, written with it;
 * - same CA: `entry->>'directoryUrl'` is what the plan compares;
 * - due: `due_at` is the plan's due time (`renewalDue(...).at`), computed at the last write of the entry — every
 *   change of the ARI answer or certificate is such a write; a due time by ARI is never later than the window's
 *   chosen point, so it also covers a window that has passed since (one already past at the write made `due_at`
 *   the write's time, which the sweep's later `now` is past). `due_at` was computed with the `renew-within`
 *   of that write, so `not_after <= now + renew-within` (the earliest the renew-within and two-thirds rules can make
 *   an entry due) is accepted besides: a changed `renew-within` applies at once. (Not covered: an ARI answer whose
 *   chosen point and window start are both unreadable, whose window end passed after it was stored.)
 */
import { planRenewal } from "../../renewal/plan.ts";
import type { CacheKey, Claim, DueClaim, Entry, Held } from "../types.ts";
import type { PgConnection, Row } from "./connection.ts";
import { checkKey, entryOfRow } from "./entries.ts";

/** What `claimDue` is asked for besides the time: this instance's CA, and keys its sweep already handled. */
export interface DueScope {
  directoryUrl: string;
  exclude?: readonly CacheKey[];
}

export interface ClaimOptions {
  /** Default claim lease (database clock), milliseconds. */
  leaseMs: number;
  /** Subtracted from the lease for the local deadline (at most a fifth of the lease). */
  marginMs: number;
  /** The storage's `renew-within` and `renew-active-days` (the plan's inputs). */
  renewWithinDays: number;
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

  /**
   * Claims up to `limit` entries the renewal plan says `renew` for (see "claimDue" at the top). One transaction,
   * not retried: a batch committed before the connection broke stays claimed until its lease ends.
   */
  async claimDue(
    owner: string,
    leaseMs: number,
    now: Date,
    limit: number,
    scope?: DueScope,
  ): Promise<DueClaim[]> {
    const db = this.#db;
    await db.ready();
    const sentAt = performance.now();
    const passed = [...scope?.exclude ?? []];
    const picked = await db.statement(
      "claimDue",
      (sql) =>
        sql.begin(async (tx) => {
          const picked: { key: CacheKey; entry: Entry; row?: Row }[] = [];
          while (picked.length < limit) {
            const params = [
              now.toISOString(),
              this.#opts.renewWithinDays,
              this.#opts.renewActiveDays,
              scope?.directoryUrl ?? null,
              JSON.stringify(passed),
              limit - picked.length,
            ];
            const page = [...await tx.unsafe(this.#candidates(), params)] as Row[];
            if (page.length === 0) break;
            for (const row of page) {
              const key = String(row.cache_key);
              passed.push(key);
              const entry = entryOfRow(row, key);
              if (!entry) {
                db.log.warn("cache entry corrupt, not renewed", { storage: db.name, key });
                continue;
              }
              const plan = planRenewal(entry, {
                now,
                directoryUrl: scope?.directoryUrl ?? entry.directoryUrl,
                renewWithinDays: this.#opts.renewWithinDays,
                renewActiveDays: this.#opts.renewActiveDays,
                ariChecked: true,
              });
              if (plan.action === "renew") picked.push({ key, entry });
            }
          }
          if (picked.length === 0) return picked;
          const rows = [
            ...await tx.unsafe(
              `update ${db.tables.entries} e
                set owner = $1, fence = e.fence + 1, lease_until = now() + $2::int * interval '1 millisecond',
                    updated_at = now()
              where cache_key in (select jsonb_array_elements_text($3::text::jsonb))
              returning cache_key, fence::text as fence, order_url`,
              [owner, Math.round(leaseMs), JSON.stringify(picked.map((p) => p.key))],
            ),
          ] as Row[];
          const byKey = new Map(rows.map((row) => [String(row.cache_key), row]));
          for (const p of picked) p.row = byKey.get(p.key);
          return picked;
        }),
      undefined,
      false,
    );
    return picked.filter((p) => p.row).map((p) => ({
      claim: this.#claimOf(p.key, p.row!, sentAt, leaseMs),
      entry: p.entry,
    }));
  }

  /**
   * The coarse pre-filter (parameters: now, renew-within days, renew-active days, directory URL or null, keys
   * already passed as a JSON array, page size). Locks what it returns (`skip locked`: rows another instance is
   * deciding about right now are not waited for); rows the plan then turns down are unlocked at commit, unclaimed.
   */
  #candidates(): string {
    return `select cache_key, entry, last_fetched_at from ${this.#db.tables.entries}
       where entry is not null
         and (due_at <= $1::timestamptz or not_after <= $1::timestamptz + $2::int * interval '1 day')
         and (next_attempt_at is null or next_attempt_at <= $1::timestamptz)
         and last_fetched_at >= $1::timestamptz - $3::int * interval '1 day'
         and lease_until < now()
         and ($4::text is null or entry->>'directoryUrl' = $4::text)
         and cache_key not in (select jsonb_array_elements_text($5::text::jsonb))
       order by due_at, cache_key
       limit $6
       for update skip locked`;
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
