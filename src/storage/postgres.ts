/**
 * `type = postgres`: one PostgreSQL database shared by several acmems instances (on one or many hosts).
 *
 * What lives there (schema in postgres_migrations.ts): the cached certificates, the claims that make "one ACME
 * order per cache key" hold across instances, and the pending http-01 answers any instance can serve.
 *
 * Claims are lease rows on the database clock, with a fence number: `claim` is one upsert that succeeds only when
 * the row's lease has ended, bumping the fence; every later write of the holder (`noteOrder`, `put`, `release`,
 * `remove`, `extend`) names its fence and changes nothing when someone took over meanwhile (0 rows: "fenced out").
 * The holder's local `deadline` is the send time of its last successful claim/extend plus the lease minus a margin,
 * so it stops before the database can hand the key to another instance, whatever the two clocks say. No session
 * advisory locks: a partitioned holder's lock would stay held until TCP gave up, and it would never be told.
 *
 * Every write notifies (`pg_notify` in the same statement, so only committed changes are announced) on one channel
 * per schema: other instances wake their waiters and refresh their in-memory challenge map. Notifications are hints
 * (no replay): waiters also poll, and the challenge map is reloaded on every (re)subscribe and periodically.
 *
 * When the database cannot be reached: calls that need it throw `StorageUnavailableError` (503 + Retry-After at
 * /sign), `get` falls back to the entries this instance read or wrote before (stale-if-error), challenge lookups
 * fall back to the in-memory map, and `problem()` tells /ready why. The pool reconnects by itself; LISTEN is
 * re-established (postgres.js re-listens after a reconnect; a first subscription that failed is retried here).
 */
import postgres from "postgres";
import type { Logger } from "../ops/log.ts";
import { renewalDue } from "../renewal/due.ts";
import {
  type CacheKey,
  type Change,
  type Claim,
  type DueClaim,
  type Entry,
  type Held,
  isEntry,
  type Storage,
  StorageUnavailableError,
  type StoredChallenge,
} from "./mod.ts";
import { MIGRATIONS, quoteIdentifier, SCHEMA_NAME, SCHEMA_VERSION } from "./postgres_migrations.ts";
import { describeError } from "../lib/bytes.ts";

type Sql = ReturnType<typeof postgres>;
type Row = Record<string, unknown>;

const KEY = /^[0-9a-f]{64}$/;
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
/** `pg_advisory_xact_lock(MIGRATION_LOCK, hashtext(schema))` serializes migrations of one schema. */
const MIGRATION_LOCK = 0x61636d65; // "acme"
/** Entries kept in memory for stale-if-error reads. */
const MEMORY_ENTRIES = 10_000;

/** A non-transient database failure (a bug or a schema problem, not an outage). */
export class PostgresStorageError extends Error {
  override name = "PostgresStorageError";
}

/** What the storage reports to metrics. */
export interface PostgresStorageEvents {
  notification?(): void;
  /** `kind`: unavailable (connection, timeout, shutdown) or query (anything else). */
  error?(kind: "unavailable" | "query"): void;
  fencedOut?(operation: string): void;
}

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
  /** Subtracted from the lease for the local deadline (default: a fifth of the lease, at most 5 s). */
  marginMs?: number;
  events?: PostgresStorageEvents;
}

export class PostgresStorage implements Storage {
  readonly kind = "postgres";
  readonly ephemeral = false;
  readonly shared = true;
  readonly name: string;
  readonly renewWithinDays: number;
  readonly renewActiveDays: number;
  readonly leaseMs: number;
  readonly schema: string;
  readonly #opts: PostgresStorageOptions;
  readonly #sql: Sql;
  readonly #channel: string;
  readonly #t: { entries: string; challenges: string; migrations: string; schema: string };
  readonly #queryTimeoutMs: number;
  readonly #pollMs: number;
  readonly #marginMs: number;
  readonly #memory = new Map<CacheKey, Entry>();
  readonly #challenges = new Map<string, StoredChallenge>();
  readonly #subscribers = new Set<(change: Change) => void>();
  readonly #closing = new AbortController();
  #migrated: Promise<void> | undefined;
  #listenSql: Sql | undefined;
  #listening: Promise<void> | undefined;
  #listenUp = false;
  #started = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastReload = 0;
  #lastPurge = 0;
  /** The last outage, cleared by the next successful statement. */
  #down: { since: number; reason: string } | undefined;
  /** A schema problem no retry fixes (newer schema than this build). */
  #fatal: string | undefined;
  #lastOk = 0;
  #closed = false;
  readonly #pending = new Set<Promise<unknown>>();

  constructor(opts: PostgresStorageOptions) {
    if (!SCHEMA_NAME.test(opts.schema)) {
      throw new PostgresStorageError(`[storage "${opts.name}"] schema "${opts.schema}" is not a plain lower-case name`);
    }
    this.#opts = opts;
    this.name = opts.name;
    this.renewWithinDays = opts.renewWithinDays;
    this.renewActiveDays = opts.renewActiveDays;
    this.leaseMs = opts.leaseMs;
    this.schema = opts.schema;
    this.#queryTimeoutMs = opts.queryTimeoutMs ?? 10_000;
    this.#pollMs = opts.pollMs ?? 1000;
    this.#marginMs = opts.marginMs ?? Math.min(5_000, Math.floor(opts.leaseMs / 5));
    const schema = quoteIdentifier(opts.schema);
    this.#t = {
      schema,
      entries: `${schema}.entries`,
      challenges: `${schema}.challenges`,
      migrations: `${schema}.schema_migrations`,
    };
    this.#channel = `acmems_${opts.schema}`;
    this.#sql = this.#connect(opts.poolSize);
  }

  /** The pool, or (with `onnotify`) the one connection that LISTENs and must stay open. */
  #connect(max: number, onnotify?: (channel: string, payload: string) => void): Sql {
    const options = {
      max,
      connect_timeout: Math.max(1, Math.ceil((this.#opts.connectTimeoutMs ?? 5_000) / 1000)),
      // The listening connection stays open for good (0: no idle or lifetime limit).
      idle_timeout: onnotify ? 0 : 300,
      ...(onnotify ? { max_lifetime: 0, onnotify } : {}),
      // A fixed, short pause before reconnecting (the default grows to 20 s): outages end when the database is back.
      backoff: () => 0.25,
      fetch_types: false,
      prepare: true,
      onnotice: () => {},
      connection: { application_name: this.#opts.applicationName ?? "acmems" },
    };
    return this.#opts.url ? postgres(this.#opts.url, options) : postgres(options);
  }

  // ------------------------------------------------------------------------------------------------ plumbing

  /**
   * Migrates and subscribes; resolves after the first attempt, at most after the connect timeout (an unreachable
   * database delays the start of acmems by no more than that; the poll keeps trying in the background).
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#schedule();
    const first = (async () => {
      try {
        await this.#ready();
      } catch (error) {
        this.#opts.log.warn("postgres storage not available yet; retrying in the background", {
          storage: this.name,
          error: describeError(error),
        });
        return;
      }
      await this.#subscribe().catch(() => {});
    })();
    this.#track(first);
    await withTimeout(first, this.#opts.connectTimeoutMs ?? 5_000, "start").catch(() => {});
  }

  /** Migrations, once per process (retried after a failure). */
  #ready(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#fatal) return Promise.reject(new PostgresStorageError(this.#fatal));
    this.#migrated ??= this.#migrate().catch((error) => {
      this.#migrated = undefined;
      throw error;
    });
    return this.#migrated;
  }

  async #migrate(): Promise<void> {
    const t = this.#t;
    const applied = await this.#statement("migrate", (sql) =>
      sql.begin(async (tx) => {
        await tx.unsafe(`select pg_advisory_xact_lock(${MIGRATION_LOCK}, hashtext($1))`, [this.schema]);
        const exists = await tx.unsafe(`select 1 from pg_namespace where nspname = $1`, [this.schema]);
        if (exists.length === 0) await tx.unsafe(`create schema ${t.schema}`);
        await tx.unsafe(
          `create table if not exists ${t.migrations} (version integer primary key, name text not null, ` +
            `applied_at timestamptz not null default now())`,
        );
        const [{ version }] = await tx.unsafe(`select coalesce(max(version), 0)::int as version from ${t.migrations}`);
        if (Number(version) > SCHEMA_VERSION) {
          return { newer: Number(version), ran: [] as number[] };
        }
        const ran: number[] = [];
        for (const migration of MIGRATIONS) {
          if (migration.version <= Number(version)) continue;
          for (const statement of migration.statements) await tx.unsafe(statement.replaceAll("{schema}", t.schema));
          await tx.unsafe(`insert into ${t.migrations} (version, name) values ($1, $2)`, [
            migration.version,
            migration.name,
          ]);
          ran.push(migration.version);
        }
        return { newer: 0, ran };
      }));
    if (applied.newer) {
      this.#fatal = `[storage "${this.name}"] the database schema "${this.schema}" is at version ${applied.newer}, ` +
        `newer than this acmems knows (${SCHEMA_VERSION}): upgrade acmems`;
      this.#opts.log.error("postgres schema too new", { storage: this.name, problem: this.#fatal });
      throw new PostgresStorageError(this.#fatal);
    }
    if (applied.ran.length > 0) {
      this.#opts.log.info("postgres schema migrated", { storage: this.name, schema: this.schema, ran: applied.ran });
    }
  }

  /** One database call, bounded by the query timeout; failures become StorageUnavailableError or PostgresStorageError. */
  async #statement<T>(
    what: string,
    run: (sql: Sql) => Promise<T>,
    timeoutMs = this.#queryTimeoutMs,
    retry = true,
  ): Promise<T> {
    try {
      return await this.#once(what, run, timeoutMs);
    } catch (error) {
      // A pooled connection the server closed while it sat idle (a restart) fails its next statement before running
      // it: one more try gets a fresh connection. Every statement retried here is idempotent (fenced writes, upserts,
      // reads; a claim recognizes its own row by its owner token).
      if (!retry || !(error instanceof StorageUnavailableError) || !isStaleConnection(error.cause)) throw error;
      return await this.#once(what, run, timeoutMs);
    }
  }

  async #once<T>(what: string, run: (sql: Sql) => Promise<T>, timeoutMs: number): Promise<T> {
    if (this.#closed) throw this.#closedError();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const work = run(this.#sql);
    // A statement that outlives its timeout still settles later: observe it so nothing goes unhandled.
    const observed = work.catch(() => {}).finally(() => this.#pending.delete(observed));
    this.#pending.add(observed);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new QueryTimeout(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const result = await Promise.race([work, timeout]);
      this.#lastOk = Date.now();
      if (this.#down) {
        this.#opts.log.info("postgres storage reachable again", { storage: this.name });
        this.#down = undefined;
      }
      return result;
    } catch (error) {
      throw this.#failure(what, error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Migrations first, then the statement. */
  async #query(
    what: string,
    text: string,
    params: unknown[] = [],
    opts: { timeoutMs?: number; retry?: boolean } = {},
  ): Promise<Row[]> {
    await this.#ready();
    return await this.#statement(
      what,
      // deno-lint-ignore no-explicit-any
      async (sql) => [...await sql.unsafe(text, params as any[])] as Row[],
      opts.timeoutMs,
      opts.retry,
    );
  }

  #failure(what: string, error: unknown): Error {
    if (error instanceof StorageUnavailableError || error instanceof PostgresStorageError) return error;
    const reason = describeError(error);
    if (!isTransient(error)) {
      this.#opts.events?.error?.("query");
      this.#opts.log.error("postgres storage error", { storage: this.name, operation: what, error: reason });
      return new PostgresStorageError(`[storage "${this.name}"] ${what} failed: ${reason}`);
    }
    this.#opts.events?.error?.("unavailable");
    // The LISTEN connection is probably gone too: the poll subscribes anew (and reloads the challenge map).
    this.#listenUp = false;
    if (!this.#down) {
      this.#down = { since: Date.now(), reason };
      this.#opts.log.warn("postgres storage unreachable", { storage: this.name, operation: what, error: reason });
    } else {
      this.#down.reason = reason;
    }
    const unavailable = new StorageUnavailableError(
      `The database of [storage "${this.name}"] is unreachable: ${reason}`,
      10,
    );
    unavailable.cause = error;
    return unavailable;
  }

  #closedError(): StorageUnavailableError {
    return new StorageUnavailableError(`[storage "${this.name}"] is closed (shutting down or reloaded)`, 5);
  }

  #remember(key: CacheKey, entry: Entry): void {
    this.#memory.delete(key);
    this.#memory.set(key, entry);
    while (this.#memory.size > MEMORY_ENTRIES) this.#memory.delete(this.#memory.keys().next().value!);
  }

  // ------------------------------------------------------------------------------------------------ entries

  async get(key: CacheKey): Promise<Entry | null> {
    if (!KEY.test(key)) return null;
    let rows: Row[];
    try {
      // While the database is known to be down, an entry in memory is served after a short wait, not the full one.
      const remembered = this.#down !== undefined && this.#memory.has(key);
      rows = await this.#query(
        "get",
        `select entry, last_fetched_at from ${this.#t.entries} where cache_key = $1 and entry is not null`,
        [key],
        { timeoutMs: remembered ? Math.min(1_000, this.#queryTimeoutMs) : undefined },
      );
    } catch (error) {
      const remembered = this.#memory.get(key);
      if (remembered) {
        this.#opts.log.debug("postgres storage down, serving the entry from memory", {
          storage: this.name,
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
    const value = parseJson(rows[0].entry);
    if (!isEntry(value) || value.key !== key) {
      this.#opts.log.warn("cache entry corrupt, treated as a miss", { storage: this.name, key });
      return null;
    }
    const seen = rows[0].last_fetched_at;
    if (seen instanceof Date && seen.getTime() > Date.parse(value.lastFetchedAt)) {
      value.lastFetchedAt = seen.toISOString();
    }
    this.#remember(key, value);
    return structuredClone(value);
  }

  async claim(key: CacheKey, owner: string, leaseMs = this.leaseMs): Promise<Claim | Held> {
    checkKey(key);
    // Unique per call: a retried claim whose first attempt did commit finds its own row (and takes the next fence).
    const token = `${owner} #${crypto.randomUUID().slice(0, 8)}`;
    const sentAt = performance.now();
    const rows = await this.#query(
      "claim",
      `insert into ${this.#t.entries} as e (cache_key, owner, fence, lease_until)
         values ($1, $2, 1, now() + $3::int * interval '1 millisecond')
       on conflict (cache_key) do update
         set owner = excluded.owner, fence = e.fence + 1, lease_until = excluded.lease_until, updated_at = now()
         where e.lease_until < now() or e.owner = excluded.owner
       returning fence::text as fence, order_url`,
      [key, token, Math.round(leaseMs)],
    );
    if (rows.length === 0) {
      const holder = await this.#query(
        "claim",
        `select owner, lease_until from ${this.#t.entries} where cache_key = $1`,
        [key],
      ).catch(() => []);
      const heldBy = typeof holder[0]?.owner === "string" ? holder[0].owner : "another acmems instance";
      return { held: true, heldBy };
    }
    const claim: Claim = {
      key,
      fence: Number(rows[0].fence),
      deadline: sentAt + leaseMs - Math.min(this.#marginMs, leaseMs / 5),
    };
    if (typeof rows[0].order_url === "string") claim.orderUrl = rows[0].order_url;
    return claim;
  }

  async waitForRelease(key: CacheKey, signal: AbortSignal): Promise<void> {
    checkKey(key);
    while (!signal.aborted && !this.#closed) {
      let rows: Row[];
      try {
        rows = await this.#query(
          "wait",
          `select greatest(0, extract(epoch from lease_until - now()) * 1000)::float8 as ms
             from ${this.#t.entries} where cache_key = $1`,
          [key],
        );
      } catch {
        return; // Cannot look: the caller's next claim reports the outage.
      }
      const remaining = Number(rows[0]?.ms ?? 0);
      if (remaining <= 0) return;
      await this.#waitForChange(`entry:${key}`, Math.min(remaining + 25, this.#pollMs), signal);
    }
  }

  async extend(claim: Claim, leaseMs = this.leaseMs): Promise<boolean> {
    const sentAt = performance.now();
    const rows = await this.#query(
      "extend",
      `update ${this.#t.entries} set lease_until = now() + $3::int * interval '1 millisecond'
        where cache_key = $1 and fence = $2::bigint returning 1`,
      [claim.key, String(claim.fence), Math.round(leaseMs)],
    );
    if (rows.length === 0) return this.#fenced("extend", claim);
    claim.deadline = sentAt + leaseMs - Math.min(this.#marginMs, leaseMs / 5);
    return true;
  }

  async noteOrder(claim: Claim, orderUrl: string | null): Promise<boolean> {
    const rows = await this.#query(
      "noteOrder",
      `with u as (update ${this.#t.entries} set order_url = $3, updated_at = now()
                   where cache_key = $1 and fence = $2::bigint returning cache_key)
       select pg_notify($4, 'entry:' || cache_key) from u`,
      [claim.key, String(claim.fence), orderUrl, this.#channel],
    );
    if (rows.length === 0) return this.#fenced("noteOrder", claim);
    if (orderUrl === null) delete claim.orderUrl;
    else claim.orderUrl = orderUrl;
    return true;
  }

  async put(claim: Claim, entry: Entry): Promise<boolean> {
    if (entry.key !== claim.key) return false;
    checkKey(claim.key);
    const due = renewalDue(entry, this.renewWithinDays, new Date());
    const rows = await this.#query(
      "put",
      `with u as (update ${this.#t.entries}
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
        this.#channel,
      ],
    );
    if (rows.length === 0) return this.#fenced("put", claim);
    this.#remember(claim.key, structuredClone(entry));
    return true;
  }

  async release(claim: Claim): Promise<void> {
    try {
      await this.#query(
        "release",
        `with u as (update ${this.#t.entries} set owner = null, lease_until = '-infinity'
                     where cache_key = $1 and fence = $2::bigint returning cache_key)
         select pg_notify($3, 'entry:' || cache_key) from u`,
        [claim.key, String(claim.fence), this.#channel],
      );
    } catch {
      // The lease ends by itself; another instance can take over then.
    }
  }

  async keys(): Promise<CacheKey[]> {
    const rows = await this.#query("keys", `select cache_key from ${this.#t.entries} where entry is not null`);
    return rows.map((r) => String(r.cache_key));
  }

  async touch(key: CacheKey, at: Date): Promise<void> {
    if (!KEY.test(key)) return;
    try {
      await this.#query(
        "touch",
        `update ${this.#t.entries} set last_fetched_at = greatest(last_fetched_at, $2::timestamptz)
          where cache_key = $1 and entry is not null`,
        [key, at.toISOString()],
      );
    } catch {
      // Best effort: a lost touch only makes a background renewal less likely.
    }
  }

  async remove(claim: Claim): Promise<void> {
    await this.#query(
      "remove",
      `with u as (update ${this.#t.entries}
                     set entry = null, not_after = null, due_at = null, next_attempt_at = null, order_url = null,
                         updated_at = now()
                   where cache_key = $1 and fence = $2::bigint returning cache_key)
       select pg_notify($3, 'entry:' || cache_key) from u`,
      [claim.key, String(claim.fence), this.#channel],
    );
    this.#memory.delete(claim.key);
  }

  /**
   * Deletes rows without a certificate (claims of orders that failed, removed entries) whose last claim or write is
   * older than `olderThanMs` (default a day). Safe for fencing: no holder of any of their fences can still be running
   * (leases last seconds, orders at most `order-timeout`), so a fence restarting at 1 cannot meet a stale one.
   */
  async prune(olderThanMs = 86_400_000): Promise<number> {
    const rows = await this.#query(
      "prune",
      `delete from ${this.#t.entries}
        where entry is null and lease_until < now() and updated_at < now() - $1::bigint * interval '1 millisecond'
        returning cache_key`,
      [Math.round(olderThanMs)],
    );
    return rows.length;
  }

  async claimDue(owner: string, leaseMs: number, now: Date, limit: number): Promise<DueClaim[]> {
    const sentAt = performance.now();
    const rows = await this.#query(
      "claimDue",
      `with c as (
         select cache_key from ${this.#t.entries}
          where entry is not null and due_at <= $3::timestamptz
            and (next_attempt_at is null or next_attempt_at <= $3::timestamptz)
            and last_fetched_at >= $3::timestamptz - $4::int * interval '1 day'
            and lease_until < now()
          order by due_at
          limit $5
          for update skip locked)
       update ${this.#t.entries} e
          set owner = $1, fence = e.fence + 1, lease_until = now() + $2::int * interval '1 millisecond',
              updated_at = now()
         from c where e.cache_key = c.cache_key
       returning e.cache_key, e.fence::text as fence, e.order_url, e.entry, e.last_fetched_at`,
      [owner, Math.round(leaseMs), now.toISOString(), this.renewActiveDays, limit],
      { retry: false }, // A batch committed before the connection broke stays claimed until its lease ends.
    );
    const claimed: DueClaim[] = [];
    for (const row of rows) {
      const key = String(row.cache_key);
      const claim: Claim = {
        key,
        fence: Number(row.fence),
        deadline: sentAt + leaseMs - Math.min(this.#marginMs, leaseMs / 5),
      };
      if (typeof row.order_url === "string") claim.orderUrl = row.order_url;
      const entry = parseJson(row.entry);
      if (!isEntry(entry) || entry.key !== key) {
        this.#opts.log.warn("cache entry corrupt, not renewed", { storage: this.name, key });
        await this.release(claim);
        continue;
      }
      const seen = row.last_fetched_at;
      if (seen instanceof Date && seen.getTime() > Date.parse(entry.lastFetchedAt)) {
        entry.lastFetchedAt = seen.toISOString();
      }
      claimed.push({ claim, entry });
    }
    return claimed;
  }

  #fenced(operation: string, claim: Claim): boolean {
    this.#opts.events?.fencedOut?.(operation);
    this.#opts.log.warn("postgres storage: fenced out (another instance took over this key)", {
      storage: this.name,
      operation,
      key: claim.key,
      fence: claim.fence,
    });
    return false;
  }

  // ------------------------------------------------------------------------------------------------ challenges

  async putChallenge(challenge: StoredChallenge): Promise<void> {
    if (!TOKEN.test(challenge.token)) {
      throw new PostgresStorageError(`Invalid challenge token "${challenge.token.slice(0, 40)}"`);
    }
    await this.#query(
      "putChallenge",
      `with u as (insert into ${this.#t.challenges} (token, key_authorization, host, expires_at)
                    values ($1, $2, $3, $4::timestamptz)
                  on conflict (token) do update
                    set key_authorization = excluded.key_authorization, host = excluded.host,
                        expires_at = excluded.expires_at
                  returning token)
       select pg_notify($5, 'challenge:' || token) from u`,
      [challenge.token, challenge.keyAuthorization, challenge.host, challenge.expiresAt, this.#channel],
    );
    this.#challenges.set(challenge.token, { ...challenge });
  }

  async getChallenge(token: string): Promise<StoredChallenge | null> {
    if (!TOKEN.test(token)) return null;
    const known = this.#challenges.get(token);
    if (known && Date.parse(known.expiresAt) > Date.now()) return { ...known };
    try {
      return await this.#loadChallenge(token);
    } catch {
      return null; // Down: only what the in-memory map knows can be answered.
    }
  }

  async deleteChallenge(token: string): Promise<void> {
    this.#challenges.delete(token);
    if (!TOKEN.test(token)) return;
    await this.#query(
      "deleteChallenge",
      `with d as (delete from ${this.#t.challenges} where token = $1 returning token)
       select pg_notify($2, 'challenge:' || token) from d`,
      [token, this.#channel],
    );
  }

  /** Reads one challenge into the in-memory map (or drops it there when it is gone). */
  async #loadChallenge(token: string): Promise<StoredChallenge | null> {
    const rows = await this.#query(
      "getChallenge",
      `select token, key_authorization, host, expires_at from ${this.#t.challenges}
        where token = $1 and expires_at > now()`,
      [token],
    );
    if (rows.length === 0) {
      this.#challenges.delete(token);
      return null;
    }
    const challenge = challengeOf(rows[0]);
    this.#challenges.set(token, challenge);
    return { ...challenge };
  }

  /** Replaces the in-memory challenge map with the table (after every (re)subscribe, and as a periodic fallback). */
  async #reloadChallenges(): Promise<void> {
    const rows = await this.#query(
      "reloadChallenges",
      `select token, key_authorization, host, expires_at from ${this.#t.challenges} where expires_at > now()`,
    );
    this.#challenges.clear();
    for (const row of rows) this.#challenges.set(String(row.token), challengeOf(row));
    this.#lastReload = Date.now();
  }

  /** Pending challenges this instance knows without asking the database (tests, diagnostics). */
  get knownChallenges(): number {
    return this.#challenges.size;
  }

  /** Whether the LISTEN subscription is established. */
  get listening(): boolean {
    return this.#listenUp;
  }

  // ------------------------------------------------------------------------------------------------ change feed

  changes(signal: AbortSignal): AsyncIterable<Change> {
    const stop = AbortSignal.any([signal, this.#closing.signal]);
    const subscribers = this.#subscribers;
    return {
      async *[Symbol.asyncIterator]() {
        const queue: Change[] = [];
        let wake: (() => void) | undefined;
        const subscriber = (change: Change) => {
          if (queue.length < 10_000) queue.push(change);
          wake?.();
        };
        subscribers.add(subscriber);
        try {
          while (!stop.aborted) {
            const next = queue.shift();
            if (next) {
              yield next;
              continue;
            }
            await new Promise<void>((resolve) => {
              const done = () => {
                stop.removeEventListener("abort", done);
                wake = undefined;
                resolve();
              };
              wake = done;
              stop.addEventListener("abort", done, { once: true });
            });
          }
        } finally {
          subscribers.delete(subscriber);
        }
      },
    };
  }

  /** Waits for a notification about `topic` ("entry:<key>"), at most `ms`, or until `signal` aborts. */
  #waitForChange(topic: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const stop = AbortSignal.any([signal, this.#closing.signal]);
      const done = () => {
        clearTimeout(timer);
        stop.removeEventListener("abort", done);
        this.#waiters.get(topic)?.delete(done);
        if (this.#waiters.get(topic)?.size === 0) this.#waiters.delete(topic);
        resolve();
      };
      const timer = setTimeout(done, ms);
      if (stop.aborted) return done();
      stop.addEventListener("abort", done, { once: true });
      let set = this.#waiters.get(topic);
      if (!set) this.#waiters.set(topic, set = new Set());
      set.add(done);
    });
  }

  readonly #waiters = new Map<string, Set<() => void>>();

  /**
   * Checks that LISTEN still works: notifies a ping every few polls and expects to hear it before the next one. A
   * listening connection can die quietly (a re-LISTEN that failed while the database was down); then subscribe anew.
   */
  async #heartbeat(): Promise<void> {
    const now = Date.now();
    if (now - this.#ping.at < 5 * this.#pollMs) return;
    if (this.#ping.sent > this.#ping.heard) {
      this.#opts.log.debug("postgres storage: LISTEN heard nothing, subscribing again", { storage: this.name });
      this.#listenUp = false;
      this.#ping.heard = this.#ping.sent;
      return;
    }
    const seq = ++this.#ping.sent;
    this.#ping.at = now;
    try {
      await this.#query("ping", `select pg_notify($1, $2)`, [this.#channel, `ping:${this.#ping.id}:${seq}`]);
    } catch {
      this.#ping.heard = this.#ping.sent; // Unreachable: the failure itself starts a new subscription.
    }
  }

  readonly #ping = { id: crypto.randomUUID(), sent: 0, heard: 0, at: 0 };

  #onNotify(payload: string): void {
    if (payload.startsWith("ping:")) {
      const [, id, seq] = payload.split(":");
      if (id === this.#ping.id) this.#ping.heard = Math.max(this.#ping.heard, Number(seq));
      return;
    }
    this.#opts.events?.notification?.();
    const colon = payload.indexOf(":");
    if (colon < 0) return;
    const kind = payload.slice(0, colon);
    const key = payload.slice(colon + 1);
    if (kind !== "entry" && kind !== "challenge") return;
    if (kind === "challenge") {
      this.#track(this.#loadChallenge(key).catch(() => {}));
    }
    for (const wake of [...(this.#waiters.get(payload) ?? [])]) wake();
    for (const subscriber of this.#subscribers) subscriber({ kind, key });
  }

  /**
   * LISTEN on a dedicated connection. postgres.js's own `listen()` is not used: it re-listens by itself after a
   * reconnect, and a client ended while it does that leaves a connection open. Here the poll's heartbeat notices a
   * dead subscription and calls this again: the old connection is closed and a new one subscribes. Every successful
   * (re)subscribe reloads the challenge map, since notifications sent meanwhile are lost.
   */
  #subscribe(): Promise<void> {
    if (this.#closed || this.#listenUp) return Promise.resolve();
    this.#listening ??= (async () => {
      const old = this.#listenSql;
      this.#listenSql = undefined;
      await old?.end({ timeout: 1 }).catch(() => {});
      await this.#ready();
      if (this.#closed) return;
      const sql: Sql = this.#listenSql = this.#connect(1, (channel, payload) => {
        if (sql === this.#listenSql && channel === this.#channel) this.#onNotify(payload);
      });
      try {
        await withTimeout(sql.unsafe(`listen ${quoteIdentifier(this.#channel)}`), this.#queryTimeoutMs, "LISTEN");
      } catch (error) {
        if (this.#listenSql === sql) this.#listenSql = undefined;
        await sql.end({ timeout: 1 }).catch(() => {});
        throw error;
      }
      this.#listenUp = true;
      this.#ping.heard = this.#ping.sent;
      await this.#reloadChallenges().catch(() => {});
    })().finally(() => (this.#listening = undefined));
    return this.#listening;
  }

  /** Background work that close() waits for (its failures are handled where it starts). */
  #track(promise: Promise<unknown>): void {
    const tracked = promise.catch(() => {}).finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  /** The poll: retries a failed LISTEN, reloads the challenge map now and then, purges expired challenges. */
  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(async () => {
      this.#timer = undefined;
      try {
        if (!this.#listenUp && !this.#listening) await this.#subscribe().catch(() => {});
        else if (this.#listenUp) await this.#heartbeat();
        if (Date.now() - this.#lastReload > 5 * this.#pollMs) await this.#reloadChallenges().catch(() => {});
        if (Date.now() - this.#lastPurge > 600_000) {
          this.#lastPurge = Date.now();
          await this.#query("purgeChallenges", `delete from ${this.#t.challenges} where expires_at < now()`)
            .catch(() => {});
        }
        const now = Date.now();
        for (const [token, c] of this.#challenges) if (Date.parse(c.expiresAt) <= now) this.#challenges.delete(token);
      } finally {
        this.#schedule();
      }
    }, this.#pollMs);
  }

  // ------------------------------------------------------------------------------------------------ health

  /** "" when the database answers (asked at most every 5 s, bounded by 2 s), else why not. */
  async problem(): Promise<string> {
    if (this.#fatal) return this.#fatal;
    if (!this.#down && Date.now() - this.#lastOk < 5_000) return "";
    try {
      await this.#ready();
      await this.#statement("ping", (sql) => sql`select 1`, 2_000);
      return "";
    } catch (error) {
      if (this.#fatal) return this.#fatal;
      return `storage "${this.name}": database unreachable: ${
        error instanceof StorageUnavailableError ? this.#down?.reason ?? describeError(error) : describeError(error)
      }`;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    // Let statements in flight finish first (bounded): postgres.js cannot end a connection that is still being
    // opened, which would stay open behind our back.
    await withTimeout(Promise.allSettled([...this.#pending, this.#listening]), 2_000, "close").catch(() => {});
    const listenSql = this.#listenSql;
    this.#listenSql = undefined;
    this.#listenUp = false;
    await Promise.all([
      this.#sql.end({ timeout: 2 }).catch(() => {}),
      listenSql?.end({ timeout: 2 }).catch(() => {}),
    ]);
    await this.#listening?.catch(() => {});
    await Promise.allSettled([...this.#pending]);
  }
}

class QueryTimeout extends Error {
  override name = "QueryTimeout";
}

/** `promise`, or a QueryTimeout after `ms` (the timer is always cleared; a late settlement is observed). */
async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  promise.catch(() => {});
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new QueryTimeout(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function checkKey(key: CacheKey): void {
  if (!KEY.test(key)) throw new PostgresStorageError(`Invalid cache key "${key.slice(0, 80)}"`);
}

function parseJson(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
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

/** The connection was already dead before the statement ran (not: the database is down, or slow). */
function isStaleConnection(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" &&
    ["57P01", "57P02", "08006", "08003", "CONNECTION_CLOSED", "EPIPE", "ECONNRESET"].includes(code);
}

/** Connection trouble, timeouts, shutdowns, overload: worth retrying later (503), unlike a bad statement. */
function isTransient(error: unknown): boolean {
  if (error instanceof QueryTimeout) return true;
  const code = (error as { code?: unknown })?.code;
  if ((error as { name?: unknown })?.name === "PostgresError" && typeof code === "string") {
    // 08 connection, 53 resources, 57 operator intervention (shutdown), 58 system, 28 auth, 3D no database,
    // 40 serialization/deadlock.
    return /^(08|53|57|58|28|3D|40)/.test(code);
  }
  return true;
}
