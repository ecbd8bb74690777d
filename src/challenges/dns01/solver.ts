/**
 * The `dns01-dnsUpdate` and `dns-account01` solver: dns-01 or dns-account-01 through RFC 2136 DNS UPDATE, optionally
 * TSIG-signed (RFC 8945). The verification type decides the owner (record_owner.ts); all else is shared.
 * present(): TXT at the owner (or the end of its CNAME chain) = base64url(SHA-256(key authorization)),
 *   in the zone found by SOA discovery (or `zone =`), journaled before it is sent, and only resolved once the same
 *   server answers it. A name and its wildcard are two tasks with the same owner: two values, each deleted by value.
 * cleanup(): deletes exactly that value (class NONE), never the RRset; a failed deletion stays in the journal and is
 *   retried with backoff (5 s doubling to 10 min); at 24 h it is logged at error level with its name and value.
 * start(): replays the journal (records left by a crash or an outage, or by an earlier solver of this process that
 *   was never closed: see `DnsJournal.register`). close(): one more try for everything pending.
 *
 * Logging: each record's steps (added, visible, removed) are debug lines; a removal that recovers from a failure (a
 * retry, the replay, close()) is one info line; failed deletions are warnings, and errors after 24 h.
 * Every failed UPDATE exchange (add or delete, retries included) is reported to `onUpdateFailure` (metrics), and so
 * is a failed lookup (CNAME, zone discovery) that kept an add from being sent, e.g. with a rejected TSIG key.
 * Only UPDATEs are TSIG-signed (dns/client.ts): lookups go unsigned. An error answer to a signed add that is not signed
 * itself (`DnsError.unverified`: BADSIG/BADKEY never are) could be forged while the server added the record: its entry
 * stays journaled and one deletion is tried (no backoff retries; close() and the next start try again).
 * Failures become ChallengeError: `unavailable` with Retry-After when no server answered (try later),
 * `names-refused` when the server said no or the config is wrong (REFUSED, key rejected, not a zone there).
 * Here: the orchestration; propagation.ts the wait, challenge_error.ts the wording, update_failure.ts the reports.
 */
import { dns01TxtValue } from "../../acme/mod.ts";
import type { DnsServerAddress, DnsUpdateVerification } from "../../config/types.ts";
import type { Logger } from "../../ops/log.ts";
import { DnsClient, DnsError, type Exchange, type Exchanged } from "./dns/client.ts";
import { discoverZone, followCname } from "./dns/discovery.ts";
import type { DnsJournal, JournalEntry, JournalHolder } from "./journal.ts";
import { normalizeName } from "./dns/wire.ts";
import { ChallengeError, type ChallengeSolver, type ChallengeTask } from "../solver.ts";
import { toChallengeError } from "./challenge_error.ts";
import { waitVisible } from "./propagation.ts";
import { type RecordOwner, recordOwnerFor } from "./record_owner.ts";
import { type DnsUpdateFailure, reportUpdateFailure } from "./update_failure.ts";

export { type DnsUpdateFailure, updateFailureReason } from "./update_failure.ts";

export interface DnsUpdateSolverOptions {
  journal: DnsJournal;
  log: Logger;
  /** Every dns01-dnsUpdate verification of the config: journal entries of others are reported at start. */
  knownVerifications?: Set<string>;
  /** Replaces the network (tests). */
  exchange?: Exchange;
  /** First retry of a failed deletion (default 5 s), doubling up to `retryMaxMs` (default 10 min). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** A record undeletable this long is logged at error level (default 24 h). */
  staleAfterMs?: number;
  /** Retry-After of `unavailable` failures (default 30 s). */
  retryAfterSeconds?: number;
  /** Clock in epoch ms (tests). */
  now?: () => number;
  /**
   * Called on every failed UPDATE exchange, add or delete (retries included), and on a failed lookup before an add
   * (`operation: "lookup"`): e.g. a metrics counter. Must not throw (a throw is logged and ignored).
   */
  onUpdateFailure?: (failure: DnsUpdateFailure) => void;
}

const DAY_MS = 24 * 3_600_000;

function taskKey(task: ChallengeTask): string {
  return `${task.identifier}\u0000${task.wildcard}\u0000${task.token}`;
}

export class DnsUpdateSolver implements ChallengeSolver, JournalHolder {
  readonly challengeType: RecordOwner["challengeType"];
  readonly #owner: RecordOwner;
  readonly verification: DnsUpdateVerification;
  /** The verification's settings as App compares them on reload (JSON): see `JournalHolder.settings`. */
  readonly settings: string;
  readonly #client: DnsClient;
  readonly #journal: DnsJournal;
  readonly #log: Logger;
  readonly #opts: DnsUpdateSolverOptions;
  readonly #now: () => number;
  /** Zone per record name, for the process lifetime. */
  readonly #zones = new Map<string, string>();
  /** Journal entry per presented task. */
  readonly #active = new Map<string, string>();
  /** Pending deletion retries per journal entry. */
  readonly #retries = new Map<string, ReturnType<typeof setTimeout>>();
  /** Deletions under way (close() waits for them). */
  readonly #work = new Set<Promise<unknown>>();
  /** Entries already reported as undeletable for 24 h. */
  readonly #stale = new Set<string>();
  #closed = false;

  constructor(verification: DnsUpdateVerification, opts: DnsUpdateSolverOptions) {
    this.verification = verification;
    this.settings = JSON.stringify(verification);
    this.#owner = recordOwnerFor(verification.type);
    this.challengeType = this.#owner.challengeType;
    this.#opts = opts;
    this.#journal = opts.journal;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
    this.#client = new DnsClient({
      servers: verification.servers,
      transport: verification.transport,
      timeoutMs: verification.timeoutMs,
      tsig: verification.tsig,
    }, opts.exchange);
  }

  get #retryAfter(): number {
    return this.#opts.retryAfterSeconds ?? 30;
  }

  async present(task: ChallengeTask): Promise<void> {
    const v = this.verification;
    if (this.#closed) {
      throw new ChallengeError(
        `The dns-01 verification "${v.name}" is shutting down: retry later`,
        "unavailable",
        this.#retryAfter,
      );
    }
    const value = await dns01TxtValue(task.keyAuthorization);
    let owner: string;
    try {
      owner = normalizeName(await this.#owner.name(task));
    } catch (error) {
      if (error instanceof ChallengeError) throw error;
      throw new ChallengeError(
        `No ${this.challengeType} record can be set for ${task.identifier}: ${(error as Error).message}`,
        "names-refused",
      );
    }
    let name = owner;
    let zone: string;
    try {
      name = await followCname(owner, (n, t) => this.#client.query(n, t));
      zone = await this.#zoneFor(name);
    } catch (error) {
      if (error instanceof DnsError) this.#reportFailure("lookup", name, v.zone, error);
      throw this.#challengeError(error, owner, name);
    }

    let entry: JournalEntry;
    try {
      entry = await this.#journal.add({
        verification: v.name,
        name,
        value,
        zone,
        ...(owner !== name ? { owner } : {}),
        addedAt: new Date(this.#now()).toISOString(),
      }, this);
    } catch (error) {
      throw this.#challengeError(error, owner, name);
    }

    let server: DnsServerAddress;
    try {
      ({ server } = await this.#update("add", { zone, add: [{ name, value, ttl: v.ttl }] }));
    } catch (error) {
      if (error instanceof DnsError && (error.kind === "notzone" || error.rcode === "NOTAUTH")) {
        this.#zones.delete(name); // rediscover next time
      }
      if (error instanceof DnsError && error.rcode !== undefined && !error.unverified) {
        // The server answered with an error: nothing was added.
        await this.#journal.strike(entry.id).catch((e) => this.#journalFailed(e));
      } else if (error instanceof DnsError && error.unverified) {
        // An unsigned error answer to a signed UPDATE proves nothing (BADSIG/BADKEY answers are never signed): it
        // may be spoofed while the server added the record. Keep it journaled and try one deletion.
        const fields = { verification: v.name, name, value, zone, rcode: error.rcode };
        this.#log.warn("dns-01 UPDATE answered with an unsigned error: record kept journaled, one deletion", fields);
        this.#track(this.#remove(entry.id, { retry: false }));
      } else {
        // No (trustworthy) answer: the record may have been added all the same.
        this.#schedule(entry.id);
      }
      throw this.#challengeError(error, owner, name);
    }
    this.#log.debug("dns-01 TXT record added", {
      verification: v.name,
      name,
      value,
      zone,
      server: server.display,
      cnameFrom: owner !== name ? owner : undefined,
      identifier: `${task.wildcard ? "*." : ""}${task.identifier}`,
    });

    try {
      await waitVisible(this.#client, name, value, server, v.timeoutMs);
      this.#log.debug("dns-01 TXT record visible", { verification: v.name, name, value, server: server.display });
    } catch (error) {
      this.#track(this.#remove(entry.id).then((ok) => ok || this.#schedule(entry.id)));
      throw this.#challengeError(error, owner, name);
    }
    this.#active.set(taskKey(task), entry.id);
  }

  async cleanup(task: ChallengeTask): Promise<void> {
    const key = taskKey(task);
    const id = this.#active.get(key);
    if (id === undefined) return;
    this.#active.delete(key);
    const removed = await this.#track(this.#remove(id));
    if (!removed) this.#schedule(id);
  }

  async start(): Promise<void> {
    const v = this.verification;
    this.#log.info("dns-01 verification", {
      verification: v.name,
      servers: v.servers.map((s) => s.display),
      transport: v.transport,
      zone: v.zone ?? "discovered by SOA lookup",
      records: this.#owner.describe,
      tsig: v.tsig ? `${v.tsig.name} (${v.tsig.algorithm})` : "none",
    });
    try {
      await this.#journal.load();
    } catch (error) {
      this.#log.error("dns-01 journal cannot be read", { verification: v.name, error: String(error) });
      return;
    }
    const superseded = this.#journal.register(this);
    const known = this.#opts.knownVerifications;
    if (known && [...known][0] === v.name) {
      for (const e of this.#journal.entries().filter((e) => !known.has(e.verification))) {
        this.#log.error("dns-01 journal has a record of a verification no longer configured: delete it by hand", {
          verification: e.verification,
          name: e.name,
          value: e.value,
          zone: e.zone,
          path: this.#journal.path,
        });
      }
    }
    // Entries no live solver holds, and those of a superseded one: after a reload, the old solver's records may
    // still be in use (it hands over its leftovers when it closes).
    const pending = this.#journal.claim(this);
    if (pending.length === 0) return;
    this.#log.info("dns-01 journal replay: deleting records left by an earlier run", {
      verification: v.name,
      records: pending.map((e) => e.name),
      fromUnclosedSolver: superseded > 0 ? superseded : undefined,
    });
    // In the background: a DNS outage at startup must not hold up the server.
    for (const e of pending) {
      this.#track(this.#remove(e.id, { recovering: true }).then((ok) => ok || this.#schedule(e.id)));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#retries.values()) clearTimeout(timer);
    this.#retries.clear();
    await Promise.allSettled([...this.#work]);
    await Promise.all(this.#journal.heldBy(this).map((e) => this.#remove(e.id, { recovering: true })));
    // Leftovers go to the solver that replaced this one in a reload, if any, else to the next start.
    const left = this.#journal.release(this);
    if (left.length > 0) {
      this.#log.warn("dns-01 TXT records left for the next start to delete", {
        verification: this.verification.name,
        records: left.map((e) => `${e.name} "${e.value}"`),
        journal: this.#journal.path,
      });
    }
  }

  /** Takes over the entries a replaced solver of this verification could not delete (config reload). */
  adopt(entries: JournalEntry[]): boolean {
    if (this.#closed) return false;
    for (const e of entries) this.#schedule(e.id);
    return true;
  }

  async #zoneFor(name: string): Promise<string> {
    const configured = this.verification.zone;
    if (configured && (name === configured || name.endsWith(`.${configured}`))) return configured;
    const cached = this.#zones.get(name);
    if (cached) return cached;
    const zone = await discoverZone(name, (n, t) => this.#client.query(n, t), this.verification.servers);
    this.#zones.set(name, zone);
    this.#log.info("dns-01 zone discovered", {
      verification: this.verification.name,
      name,
      zone,
      note: configured ? `outside the configured zone ${configured}` : undefined,
    });
    return zone;
  }

  /** An UPDATE exchange; a failure is reported to `onUpdateFailure` before it is thrown. */
  async #update(operation: "add" | "delete", opts: Parameters<DnsClient["update"]>[0]): Promise<Exchanged> {
    try {
      return await this.#client.update(opts);
    } catch (error) {
      this.#reportFailure(operation, (opts.add ?? opts.remove ?? [])[0]?.name ?? opts.zone, opts.zone, error);
      throw error;
    }
  }

  #reportFailure(operation: DnsUpdateFailure["operation"], name: string, zone: string | undefined, error: unknown) {
    reportUpdateFailure(this.#opts.onUpdateFailure, this.#log, {
      verification: this.verification.name,
      zone,
      name,
      operation,
      error,
    });
  }

  /**
   * One deletion attempt; true when the record is gone, already struck off, or now another solver's (this one was
   * superseded). `recovering`: a retry, the replay or close(), whose success is logged at info. `retry: false`: the
   * caller schedules no retry (the failure's log line says the entry waits for close() or the next start).
   */
  async #remove(id: string, opts: { recovering?: boolean; retry?: boolean } = {}): Promise<boolean> {
    const recovering = opts.recovering ?? false;
    const entry = this.#journal.get(id);
    if (!entry || !this.#journal.holds(this, id)) return true;
    try {
      await this.#update("delete", { zone: entry.zone, remove: [{ name: entry.name, value: entry.value }] });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const attempts = entry.attempts + 1;
      await this.#journal.note(id, {
        attempts,
        lastError: message,
        lastAttemptAt: new Date(this.#now()).toISOString(),
      }).catch((e) => this.#journalFailed(e));
      const fields = {
        verification: this.verification.name,
        name: entry.name,
        value: entry.value,
        zone: entry.zone,
        addedAt: entry.addedAt,
        attempts,
        error: message,
      };
      const age = this.#now() - Date.parse(entry.addedAt);
      if (age >= (this.#opts.staleAfterMs ?? DAY_MS) && !this.#stale.has(id)) {
        this.#stale.add(id);
        this.#log.error("dns-01 TXT record still not deleted after 24 h: delete it by hand", {
          ...fields,
          journal: this.#journal.path,
        });
      } else if (opts.retry === false) {
        this.#log.warn("dns-01 TXT record deletion failed; it stays journaled for close() and the next start", {
          ...fields,
          journal: this.#journal.path,
        });
      } else {
        this.#log.warn("dns-01 TXT record deletion failed, will retry", fields);
      }
      return false;
    }
    await this.#journal.strike(id).catch((e) => this.#journalFailed(e));
    const recovered = recovering || entry.attempts > 0;
    this.#log[recovered ? "info" : "debug"]("dns-01 TXT record removed", {
      verification: this.verification.name,
      name: entry.name,
      value: entry.value,
      zone: entry.zone,
      afterAttempts: entry.attempts > 0 ? entry.attempts : undefined,
    });
    return true;
  }

  /** Retries the deletion of an entry later, with exponential backoff. */
  #schedule(id: string): void {
    if (this.#closed || this.#retries.has(id)) return;
    const entry = this.#journal.get(id);
    if (!entry) return;
    const initial = this.#opts.retryInitialMs ?? 5_000;
    const max = this.#opts.retryMaxMs ?? 600_000;
    const delay = Math.min(max, initial * 2 ** Math.max(0, Math.min(entry.attempts - 1, 30)));
    const timer = setTimeout(() => {
      this.#retries.delete(id);
      this.#track(this.#remove(id, { recovering: true }).then((ok) => ok || this.#schedule(id)));
    }, delay);
    this.#retries.set(id, timer);
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#work.add(work);
    work.finally(() => this.#work.delete(work)).catch(() => {});
    return work;
  }

  #journalFailed(error: unknown): void {
    this.#log.error("dns-01 journal write failed", {
      verification: this.verification.name,
      error: error instanceof Error ? error.message : String(error),
    });
  }

  /** The failure kind: `unavailable` when trying later may help, `names-refused` when the operator must act. */
  #challengeError(error: unknown, owner: string, name: string): ChallengeError {
    const ctx = { verification: this.verification.name, retryAfterSeconds: this.#retryAfter, log: this.#log };
    return toChallengeError(ctx, error, owner, name);
  }
}
