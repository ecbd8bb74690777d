/**
 * The rate-limit ledger of a `postgres` storage: every instance sharing the database shares one budget.
 *
 * Tables (migration 3): `ledger_events` (owner, key, at_ms: one row per counted event, times from the ledger's
 * clock in epoch ms) and `ledger_pauses` (owner, key, until_ms, detail, unpause_url).
 *
 * Contract: a `take` is one transaction under `pg_advisory_xact_lock(LEDGER_LOCK, hashtext(schema))`, so takes of
 * all instances run one after the other: each counts what the others committed, and two instances never admit
 * more than a limit in total. The lock is held for a few short statements (count per check, insert per event).
 * Events older than the retention and ended pauses are deleted at most once a minute per process. Failures are the storage's
 * (`StorageUnavailableError` → 503 at /sign).
 */
import type { EventRef, FullCheck, LedgerCheck, LedgerStore, Pause, TakeResult } from "../../ca/ledger_store.ts";
import { freeAt } from "../../ca/ledger_book.ts";
import type { PgConnection, Row } from "./connection.ts";

/** `pg_advisory_xact_lock(LEDGER_LOCK, hashtext(schema))` serializes the ledger's takes of one schema. */
const LEDGER_LOCK = 0x6c656467; // "ledg"
const PRUNE_EVERY_MS = 60_000;

/** What a ledger transaction runs its statements through. */
interface Tx {
  rows(text: string, params: unknown[]): Promise<Row[]>;
}

export class PgLedgerStore implements LedgerStore {
  readonly #db: PgConnection;
  readonly #retainMs: number;
  readonly #events: string;
  readonly #pauses: string;
  #prunedAt = -Infinity;

  constructor(db: PgConnection, retainMs: number) {
    this.#db = db;
    this.#retainMs = retainMs;
    this.#events = `${db.tables.schema}.ledger_events`;
    this.#pauses = `${db.tables.schema}.ledger_pauses`;
  }

  async #transaction<T>(what: string, work: (tx: Tx) => Promise<T>): Promise<T> {
    await this.#db.ready();
    return await this.#db.statement(what, (sql) =>
      sql.begin(async (tx) => {
        await tx.unsafe(`select pg_advisory_xact_lock(${LEDGER_LOCK}, hashtext($1))`, [this.#db.schema]);
        // deno-lint-ignore no-explicit-any
        return await work({ rows: async (text, params) => [...await tx.unsafe(text, params as any[])] as Row[] });
      }) as Promise<T>);
  }

  async take(checks: readonly LedgerCheck[], now: number): Promise<TakeResult> {
    const prune = now - this.#prunedAt >= PRUNE_EVERY_MS;
    const result = await this.#transaction("ledgerTake", async (tx) => {
      if (prune) {
        await tx.rows(`delete from ${this.#events} where at_ms < $1`, [now - this.#retainMs]);
        await tx.rows(`delete from ${this.#pauses} where until_ms < $1`, [now]);
      }
      const full: FullCheck[] = [];
      for (const [index, check] of checks.entries()) {
        if (!check.enforce) continue;
        const rows = await tx.rows(
          `select at_ms from ${this.#events} where owner = $1 and key = $2 and at_ms > $3 order by at_ms`,
          [check.owner, check.key, now - check.windowMs],
        );
        if (rows.length >= check.max) {
          const counted = rows.map((r) => ({ at: Number(r.at_ms), id: "" }));
          full.push({ index, freeAt: freeAt(counted, check.max, check.windowMs), count: rows.length });
        }
      }
      if (full.length > 0) return { ok: false, full } as TakeResult;
      const events: EventRef[] = [];
      for (const check of checks) {
        if (!check.record) continue;
        const [row] = await tx.rows(
          `insert into ${this.#events} (owner, key, at_ms) values ($1, $2, $3) returning id`,
          [check.owner, check.key, now],
        );
        events.push({ owner: check.owner, key: check.key, id: String(row.id) });
      }
      return { ok: true, events } as TakeResult;
    });
    if (prune) this.#prunedAt = now;
    return result;
  }

  async release(events: readonly EventRef[]): Promise<void> {
    for (const event of events) {
      await this.#db.query("ledgerRelease", `delete from ${this.#events} where id = $1 and owner = $2 and key = $3`, [
        event.id,
        event.owner,
        event.key,
      ]);
    }
  }

  async record(owner: string, key: string, now: number): Promise<void> {
    await this.#db.query("ledgerRecord", `insert into ${this.#events} (owner, key, at_ms) values ($1, $2, $3)`, [
      owner,
      key,
      now,
    ]);
  }

  async count(owner: string, prefix: string, windowMs: number, now: number): Promise<Map<string, number>> {
    const rows = await this.#db.query(
      "ledgerCount",
      `select key, count(*)::int as n from ${this.#events}
       where owner = $1 and left(key, length($2)) = $2 and at_ms > $3 group by key`,
      [owner, prefix, now - windowMs],
    );
    return new Map(rows.map((r) => [String(r.key), Number(r.n)]));
  }

  async pause(owner: string, key: string, pause: Pause): Promise<void> {
    await this.#db.query(
      "ledgerPause",
      `insert into ${this.#pauses} as p (owner, key, until_ms, detail, unpause_url) values ($1, $2, $3, $4, $5)
       on conflict (owner, key) do update set until_ms = excluded.until_ms, detail = excluded.detail,
         unpause_url = excluded.unpause_url
       where p.until_ms <= excluded.until_ms`,
      [owner, key, pause.until, pause.detail, pause.unpauseUrl ?? null],
    );
  }

  async pauses(owner: string, keys: readonly string[], now: number): Promise<Map<string, Pause>> {
    const found = new Map<string, Pause>();
    if (keys.length === 0) return found;
    const rows = await this.#db.query(
      "ledgerPauses",
      `select key, until_ms, detail, unpause_url from ${this.#pauses} where owner = $1 and until_ms > $2`,
      [owner, now],
    );
    for (const row of rows) {
      const key = String(row.key);
      if (!keys.includes(key)) continue;
      const pause: Pause = { until: Number(row.until_ms), detail: String(row.detail) };
      if (row.unpause_url) pause.unpauseUrl = String(row.unpause_url);
      found.set(key, pause);
    }
    return found;
  }
}
