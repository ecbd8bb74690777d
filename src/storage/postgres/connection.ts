/**
 * The `postgres` storage's database connection: the pool, one bounded statement at a time, and the outage state.
 *
 * Contract
 * - Every statement is bounded by the query timeout. A transient failure (connection trouble, timeout, shutdown,
 *   overload) becomes `StorageUnavailableError` (503 + Retry-After at /sign) and marks the database down until the
 *   next successful statement; anything else is a bug or a schema problem: `PostgresStorageError`, logged.
 * - A statement is retried once, here, only when its pooled connection was already dead before it ran (the server
 *   restarted while it sat idle); every statement sent through `statement`/`query` with `retry` must be safe to
 *   repeat (fenced writes, upserts, reads; a claim recognizes its own row by its owner token).
 * - `query` runs the migrations first (once per process, retried after a failure; see migrate.ts).
 * - A statement that outlives its timeout still settles later: it is tracked, and `close` waits (bounded) for it.
 * - After `markClosed` every call fails with `StorageUnavailableError` (shutting down or reloaded).
 */
import postgres from "postgres";
import { describeError } from "../../lib/bytes.ts";
import type { Logger } from "../../ops/log.ts";
import { PostgresStorageError, StorageUnavailableError } from "../errors.ts";
import type { Claim } from "../types.ts";
import { migrate } from "./migrate.ts";
import { quoteIdentifier } from "./migrations.ts";

export type Sql = ReturnType<typeof postgres>;
export type Row = Record<string, unknown>;

/** What the storage reports to metrics. */
export interface PostgresStorageEvents {
  notification?(): void;
  /** `kind`: unavailable (connection, timeout, shutdown) or query (anything else). */
  error?(kind: "unavailable" | "query"): void;
  fencedOut?(operation: string): void;
}

/** What the connection needs of the storage's options. */
export interface ConnectionOptions {
  name: string;
  /** postgres:// URL; undefined: the PG* environment variables. */
  url?: string;
  poolSize: number;
  schema: string;
  log: Logger;
  /** `application_name` of every connection (default "acmems"; `?application_name=` in the URL wins). */
  applicationName?: string;
  /** Bound on opening a connection (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Bound on one statement, after which the call fails as unavailable (default 10 000 ms). */
  queryTimeoutMs?: number;
  events?: PostgresStorageEvents;
}

/** Quoted names of the schema's tables. */
export interface Tables {
  schema: string;
  entries: string;
  challenges: string;
  compromisedKeys: string;
  migrations: string;
}

export class PgConnection {
  readonly name: string;
  readonly schema: string;
  readonly log: Logger;
  readonly events: PostgresStorageEvents | undefined;
  readonly tables: Tables;
  /** The NOTIFY channel of the schema. */
  readonly channel: string;
  readonly queryTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** Called when a statement failed as unavailable (the LISTEN connection is probably gone too). */
  onOutage: () => void = () => {};
  readonly #opts: ConnectionOptions;
  readonly #sql: Sql;
  readonly #closing = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();
  #migrated: Promise<void> | undefined;
  /** The last outage, cleared by the next successful statement. */
  #down: { since: number; reason: string } | undefined;
  /** A schema problem no retry fixes (newer schema than this build). */
  #fatal: string | undefined;
  #lastOk = 0;

  constructor(opts: ConnectionOptions) {
    this.#opts = opts;
    this.name = opts.name;
    this.schema = opts.schema;
    this.log = opts.log;
    this.events = opts.events;
    this.queryTimeoutMs = opts.queryTimeoutMs ?? 10_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
    const schema = quoteIdentifier(opts.schema);
    this.tables = {
      schema,
      entries: `${schema}.entries`,
      challenges: `${schema}.challenges`,
      compromisedKeys: `${schema}.compromised_keys`,
      migrations: `${schema}.schema_migrations`,
    };
    this.channel = `acmems_${opts.schema}`;
    this.#sql = this.connect(opts.poolSize);
  }

  /**
   * The pool, or (with `onnotify`) the one connection that LISTENs and must stay open; `onclose` hears that connection
   * close (the database restarted or went away: its LISTEN is gone with it).
   */
  connect(max: number, onnotify?: (channel: string, payload: string) => void, onclose?: () => void): Sql {
    const options = {
      max,
      connect_timeout: Math.max(1, Math.ceil(this.connectTimeoutMs / 1000)),
      // The listening connection stays open for good (0: no idle or lifetime limit).
      idle_timeout: onnotify ? 0 : 300,
      ...(onnotify ? { max_lifetime: 0, onnotify, ...(onclose ? { onclose } : {}) } : {}),
      // A fixed, short pause before reconnecting (the default grows to 20 s): outages end when the database is back.
      backoff: () => 0.25,
      fetch_types: false,
      prepare: true,
      onnotice: () => {},
      connection: { application_name: this.#opts.applicationName ?? "acmems" },
    };
    return this.#opts.url ? postgres(this.#opts.url, options) : postgres(options);
  }

  /** True after `markClosed`. */
  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /** Aborts when the storage closes. */
  get closing(): AbortSignal {
    return this.#closing.signal;
  }

  /** True while the last statement failed as unavailable. */
  get down(): boolean {
    return this.#down !== undefined;
  }

  /** Migrations, once per process (retried after a failure). */
  ready(): Promise<void> {
    if (this.closed) return Promise.reject(this.#closedError());
    if (this.#fatal) return Promise.reject(new PostgresStorageError(this.#fatal));
    this.#migrated ??= migrate(this).catch((error) => {
      this.#migrated = undefined;
      throw error;
    });
    return this.#migrated;
  }

  /** Refuses the database for good (a schema newer than this build): every later call fails with `problem`. */
  refuse(problem: string): PostgresStorageError {
    this.#fatal = problem;
    return new PostgresStorageError(problem);
  }

  /** One database call, bounded by the query timeout; failures become StorageUnavailableError or PostgresStorageError. */
  async statement<T>(
    what: string,
    run: (sql: Sql) => Promise<T>,
    timeoutMs = this.queryTimeoutMs,
    retry = true,
  ): Promise<T> {
    try {
      return await this.#once(what, run, timeoutMs);
    } catch (error) {
      // A pooled connection the server closed while it sat idle (a restart) fails its next statement before running
      // it: one more try gets a fresh connection.
      if (!retry || !(error instanceof StorageUnavailableError) || !isStaleConnection(error.cause)) throw error;
      return await this.#once(what, run, timeoutMs);
    }
  }

  async #once<T>(what: string, run: (sql: Sql) => Promise<T>, timeoutMs: number): Promise<T> {
    if (this.closed) throw this.#closedError();
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
        this.log.info("postgres storage reachable again", { storage: this.name });
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
  async query(
    what: string,
    text: string,
    params: unknown[] = [],
    opts: { timeoutMs?: number; retry?: boolean } = {},
  ): Promise<Row[]> {
    await this.ready();
    return await this.statement(
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
      this.events?.error?.("query");
      this.log.error("postgres storage error", { storage: this.name, operation: what, error: reason });
      return new PostgresStorageError(`[storage "${this.name}"] ${what} failed: ${reason}`);
    }
    this.events?.error?.("unavailable");
    this.onOutage();
    if (!this.#down) {
      this.#down = { since: Date.now(), reason };
      this.log.warn("postgres storage unreachable", { storage: this.name, operation: what, error: reason });
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

  /** A fenced write changed nothing: counts and logs it; always false. */
  fenced(operation: string, claim: Claim): boolean {
    this.events?.fencedOut?.(operation);
    this.log.warn("postgres storage: fenced out (another instance took over this key)", {
      storage: this.name,
      operation,
      key: claim.key,
      fence: claim.fence,
    });
    return false;
  }

  /** Background work that close waits for (its failures are handled where it starts). */
  track(promise: Promise<unknown>): void {
    const tracked = promise.catch(() => {}).finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  /** The statements and background work still running. */
  inFlight(): Promise<unknown>[] {
    return [...this.#pending];
  }

  /** "" when the database answers (asked at most every 5 s, bounded by 2 s), else why not. */
  async problem(): Promise<string> {
    if (this.#fatal) return this.#fatal;
    if (!this.#down && Date.now() - this.#lastOk < 5_000) return "";
    try {
      await this.ready();
      await this.statement("ping", (sql) => sql`select 1`, 2_000);
      return "";
    } catch (error) {
      if (this.#fatal) return this.#fatal;
      return `storage "${this.name}": database unreachable: ${
        error instanceof StorageUnavailableError ? this.#down?.reason ?? describeError(error) : describeError(error)
      }`;
    }
  }

  /** Every later call fails as closed; `closing` aborts. */
  markClosed(): void {
    this.#closing.abort();
  }

  /** Ends the pool (after `markClosed`). */
  async end(): Promise<void> {
    await this.#sql.end({ timeout: 2 }).catch(() => {});
  }
}

class QueryTimeout extends Error {
  override name = "QueryTimeout";
}

/** `promise`, or a QueryTimeout after `ms` (the timer is always cleared; a late settlement is observed). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
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
