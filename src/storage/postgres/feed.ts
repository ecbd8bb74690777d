/**
 * The `postgres` storage's change feed (`ChangeFeed`, contract in ../port.ts): LISTEN on the schema's channel, on one
 * dedicated connection, and fan the notifications out to `changes` iterators and to claim waiters.
 *
 * How: every write notifies (`pg_notify` in the same statement) `entry:<key>` or `challenge:<token>`. Notifications
 * are hints (no replay): waiters also poll, and the challenge map is reloaded after every (re)subscribe
 * (`onSubscribed`). A listening connection that closes (the database restarted) makes the next poll subscribe anew;
 * one that dies quietly (a re-LISTEN that failed while the database was down) is found by the poll's `keepAlive`,
 * which pings the channel and subscribes anew when it heard nothing, and a statement that failed as unavailable
 * (`lost`) makes the next poll subscribe anew too. postgres.js's own `listen()` is not used: it
 * re-listens by itself after a reconnect, and a client ended while it does that leaves a connection open.
 */
import type { Change } from "../types.ts";
import { type PgConnection, type Sql, withTimeout } from "./connection.ts";
import { quoteIdentifier } from "./migrations.ts";

export interface FeedHooks {
  /** How often the poll runs (a ping is sent every five polls). */
  pollMs: number;
  /** A `challenge:<token>` notification arrived. */
  onChallenge(token: string): void;
  /** A (re)subscription succeeded: notifications sent meanwhile are lost. */
  onSubscribed(): Promise<void>;
}

export class PgFeed {
  readonly #db: PgConnection;
  readonly #hooks: FeedHooks;
  readonly #subscribers = new Set<(change: Change) => void>();
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #ping = { id: crypto.randomUUID(), sent: 0, heard: 0, at: 0 };
  #listenSql: Sql | undefined;
  #listening: Promise<void> | undefined;
  #listenUp = false;

  constructor(db: PgConnection, hooks: FeedHooks) {
    this.#db = db;
    this.#hooks = hooks;
  }

  /** Whether the LISTEN subscription is established. */
  get listening(): boolean {
    return this.#listenUp;
  }

  /** The (re)subscription under way, if any. */
  get subscribing(): Promise<void> | undefined {
    return this.#listening;
  }

  changes(signal: AbortSignal): AsyncIterable<Change> {
    const stop = AbortSignal.any([signal, this.#db.closing]);
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
  waitForChange(topic: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const stop = AbortSignal.any([signal, this.#db.closing]);
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

  /** The subscription is probably gone (a statement failed as unavailable): the next poll subscribes anew. */
  lost(): void {
    this.#listenUp = false;
  }

  /** The poll's share: subscribes when not subscribed, else checks the subscription. Never throws. */
  async keepAlive(): Promise<void> {
    if (!this.#listenUp && !this.#listening) await this.subscribe().catch(() => {});
    else if (this.#listenUp) await this.#heartbeat();
  }

  /**
   * Checks that LISTEN still works: notifies a ping every few polls and expects to hear it before the next one. A
   * listening connection can die quietly (a re-LISTEN that failed while the database was down); then subscribe anew.
   */
  async #heartbeat(): Promise<void> {
    const db = this.#db;
    const now = Date.now();
    if (now - this.#ping.at < 5 * this.#hooks.pollMs) return;
    if (this.#ping.sent > this.#ping.heard) {
      db.log.debug("postgres storage: LISTEN heard nothing, subscribing again", { storage: db.name });
      this.#listenUp = false;
      this.#ping.heard = this.#ping.sent;
      return;
    }
    const seq = ++this.#ping.sent;
    this.#ping.at = now;
    try {
      await db.query("ping", `select pg_notify($1, $2)`, [db.channel, `ping:${this.#ping.id}:${seq}`]);
    } catch {
      this.#ping.heard = this.#ping.sent; // Unreachable: the failure itself starts a new subscription.
    }
  }

  #onNotify(payload: string): void {
    if (payload.startsWith("ping:")) {
      const [, id, seq] = payload.split(":");
      if (id === this.#ping.id) this.#ping.heard = Math.max(this.#ping.heard, Number(seq));
      return;
    }
    this.#db.events?.notification?.();
    const colon = payload.indexOf(":");
    if (colon < 0) return;
    const kind = payload.slice(0, colon);
    const key = payload.slice(colon + 1);
    if (kind !== "entry" && kind !== "challenge") return;
    if (kind === "challenge") this.#hooks.onChallenge(key);
    for (const wake of [...(this.#waiters.get(payload) ?? [])]) wake();
    for (const subscriber of this.#subscribers) subscriber({ kind, key });
  }

  /**
   * LISTEN on a dedicated connection; the old one, if any, is closed first. Every successful (re)subscribe calls
   * `onSubscribed`, since notifications sent meanwhile are lost.
   */
  subscribe(): Promise<void> {
    const db = this.#db;
    if (db.closed || this.#listenUp) return Promise.resolve();
    this.#listening ??= (async () => {
      const old = this.#listenSql;
      this.#listenSql = undefined;
      await old?.end({ timeout: 1 }).catch(() => {});
      await db.ready();
      if (db.closed) return;
      const sql: Sql = this.#listenSql = db.connect(1, (channel, payload) => {
        if (sql === this.#listenSql && channel === db.channel) this.#onNotify(payload);
      }, () => {
        // The LISTEN died with its connection (a restarted database): the next poll subscribes anew, without
        // waiting for the heartbeat to miss a ping.
        if (sql === this.#listenSql) this.#listenUp = false;
      });
      try {
        await withTimeout(sql.unsafe(`listen ${quoteIdentifier(db.channel)}`), db.queryTimeoutMs, "LISTEN");
      } catch (error) {
        if (this.#listenSql === sql) this.#listenSql = undefined;
        await sql.end({ timeout: 1 }).catch(() => {});
        throw error;
      }
      this.#listenUp = true;
      this.#ping.heard = this.#ping.sent;
      await this.#hooks.onSubscribed();
    })().finally(() => (this.#listening = undefined));
    return this.#listening;
  }

  /** Ends the listening connection (after the connection was marked closed). */
  async end(): Promise<void> {
    const listenSql = this.#listenSql;
    this.#listenSql = undefined;
    this.#listenUp = false;
    await listenSql?.end({ timeout: 2 }).catch(() => {});
  }
}
