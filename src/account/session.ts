/**
 * The ACME account as the server uses it: one `AcmeClient`, connected in the background.
 *
 * Contract: `start()` never throws for network trouble. When the CA cannot be reached the session is `unavailable`
 * and retries with backoff until `close()`; while not `ready`, `client()` throws `CaUnavailableError` (the /sign
 * handler answers 503). A permanent problem (no account and the terms not accepted, or external account binding
 * required: src/account/enroll.ts) makes the session `failed` with `problem` saying which, and a reason naming the
 * command to run; it does not retry.
 * Before each connection an interrupted key rollover is finished or discarded (src/account/rollover.ts), so the key
 * in use is the one the CA knows. `reloadKey()` (SIGHUP) switches to a changed account.pem once the CA answered for
 * the account with it; until then, and when it refuses, the old client keeps serving.
 */
import { AcmeClient, exportPublicJwk, jwkThumbprint } from "../acme/mod.ts";
import type { AccountConfig } from "../config/types.ts";
import type { Logger } from "../ops/log.ts";
import { accountClientOptions } from "./open.ts";
import { enroll, registrationFor } from "./enroll.ts";
import { lookupThrough, recoverRollover } from "./rollover.ts";
import {
  accountKeyPath,
  hasNextKey,
  loadAccountKey,
  loadRegistration,
  nextKeyPath,
  registrationPath,
} from "./store.ts";

export class CaUnavailableError extends Error {
  constructor(message: string, readonly retryAfterSeconds = 30) {
    super(message);
    this.name = "CaUnavailableError";
  }
}

export type SessionState = "starting" | "ready" | "unavailable" | "failed";

/** Why a `failed` session cannot get an account: the operator runs `acmems register` (cli/serve.ts says how). */
export interface AccountProblem {
  kind: "terms-not-accepted" | "eab-required";
  /** What is wrong, without the command to run. */
  why: string;
}

export interface AccountSessionOptions {
  account: AccountConfig;
  keyPair: CryptoKeyPair;
  /** Extra trusted CA certificates (from [account] ca-file). */
  caCerts?: string[];
  log: Logger;
  /** First retry delay when the CA is unreachable (default 2 s, doubling up to 60 s). */
  retryDelayMs?: number;
  /** Called each time the session becomes ready (e.g. to check the configured profiles). */
  onReady?: () => void;
  /** Replaces client construction (tests). */
  createClient?: (opts: ConstructorParameters<typeof AcmeClient>[0]) => AcmeClient;
}

export class AccountSession {
  #state: SessionState = "starting";
  #reason = "connecting to the CA";
  #problem: AccountProblem | undefined;
  #client: AcmeClient | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #lastDirectoryOk = 0;
  /** Date.now() when the state last changed. */
  #since = Date.now();
  #probeClient: Deno.HttpClient | undefined;
  #reconnecting: Promise<void> | undefined;
  #keyReload: Promise<boolean> | undefined;
  /** The account key in use (account.pem; replaced by a finished rollover or `reloadKey`). */
  #keyPair: CryptoKeyPair;
  readonly #opts: AccountSessionOptions;

  constructor(opts: AccountSessionOptions) {
    this.#opts = opts;
    this.#keyPair = opts.keyPair;
  }

  get state(): SessionState {
    return this.#state;
  }

  get reason(): string {
    return this.#reason;
  }

  /** Milliseconds since epoch when the session entered its current state (the operator page's "since"). */
  get since(): number {
    return this.#since;
  }

  /** Moves to `state`; `since` changes only when the state does. */
  #enter(state: SessionState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#since = Date.now();
  }

  /** Set exactly when the state is `failed`. */
  get problem(): AccountProblem | undefined {
    return this.#problem;
  }

  /** Milliseconds since epoch when the CA's directory last answered (0: never). */
  get lastDirectoryOk(): number {
    return this.#lastDirectoryOk;
  }

  /** The connected client; throws CaUnavailableError while the session is not ready. */
  client(): AcmeClient {
    if (this.#state === "ready" && this.#client) return this.#client;
    throw new CaUnavailableError(`The ACME CA is not available: ${this.#reason}`);
  }

  /** Connects once now; on failure keeps retrying in the background. Resolves after the first attempt. */
  async start(): Promise<void> {
    await this.#attempt(0);
  }

  async #attempt(failures: number): Promise<void> {
    if (this.#closed) return;
    const { account, log } = this.#opts;
    try {
      await this.#connect();
      this.#enter("ready");
      this.#reason = "ready";
      this.#problem = undefined;
      log.info("acme account ready", { ca: account.acmeServer });
      this.#opts.onReady?.();
    } catch (error) {
      if (this.#closed) return;
      if (error instanceof PermanentAccountError) {
        this.#enter("failed");
        this.#problem = error.problem;
        this.#reason = error.message;
        log.error("acme account unusable", { ca: account.acmeServer, reason: error.message });
        return;
      }
      this.#enter("unavailable");
      this.#reason = `cannot reach ${account.acmeServer}: ${error instanceof Error ? error.message : String(error)}`;
      const base = this.#opts.retryDelayMs ?? 2000;
      const delay = Math.min(60_000, base * 2 ** Math.min(failures, 5));
      log.warn("acme ca unreachable, retrying", { ca: account.acmeServer, reason: this.#reason, retryInMs: delay });
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#attempt(failures + 1);
      }, delay);
    }
  }

  #newClient(key: CryptoKeyPair, accountUrl?: string): AcmeClient {
    const { account, caCerts } = this.#opts;
    const create = this.#opts.createClient ?? ((o) => new AcmeClient(o));
    return create(accountClientOptions(account, key, caCerts, accountUrl));
  }

  async #connect(): Promise<void> {
    const { account, log } = this.#opts;
    // An interrupted key rollover (src/account/rollover.ts): the CA says which key it knows before any is used.
    const recovery = await recoverRollover(account.dir, lookupThrough((key) => this.#newClient(key)));
    if (recovery.kind === "finished") {
      this.#keyPair = recovery.keyPair;
      log.info("account key rollover finished", { account: recovery.url, key: accountKeyPath(account.dir) });
    } else if (recovery.kind === "discarded") {
      log.warn("account key rollover discarded: the CA never accepted it", { key: nextKeyPath(account.dir) });
    }
    const { registration } = await registrationFor(account);
    this.#client?.close();
    const client = this.#newClient(this.#keyPair, registration?.url);
    this.#client = client;
    // The account of registration.json, else the key's account recovered from the CA, else a new one if allowed.
    const outcome = await enroll(client, {
      account,
      registration,
      mode: "create",
      refresh: false,
      contact: account.email.map((e) => `mailto:${e}`),
      eab: account.eabKid && account.eabHmacKey ? { kid: account.eabKid, hmacKey: account.eabHmacKey } : undefined,
    });
    if (outcome.meta) this.#lastDirectoryOk = Date.now();
    switch (outcome.kind) {
      case "known":
        return;
      case "recovered":
        log.info("acme account recovered", { account: outcome.url });
        return;
      case "created":
      case "found":
        log.info("acme account registered", { account: outcome.url, ca: account.acmeServer });
        return;
      case "terms-not-accepted":
        throw new PermanentAccountError({
          kind: "terms-not-accepted",
          why: `no ACME account for this key and the terms of service at ${outcome.tosUrl} are not accepted`,
        }, ": run acmems register --register --accept-terms-of-service CONFIG");
      case "eab-required":
        throw new PermanentAccountError({
          kind: "eab-required",
          why: "the CA requires external account binding: set eab-kid and eab-hmac-key in [account]",
        }, ", or run acmems register");
      case "ca-error":
        throw outcome.error;
      case "no-account":
        throw new Error("no account for this key"); // not an outcome of mode "create"
    }
  }

  /**
   * The CA no longer knows the account (a test CA restarted, an account deactivated elsewhere): forget the stored
   * registration for this CA and connect again in the background (find or register, as at start).
   */
  accountLost(reason: string): Promise<void> {
    if (this.#reconnecting) return this.#reconnecting;
    if (this.#closed || this.#state !== "ready") return Promise.resolve();
    this.#enter("unavailable");
    this.#reason = `the CA no longer knows the account (${reason}); reconnecting`;
    this.#opts.log.warn("acme account lost, reconnecting", { reason });
    this.#reconnecting = (async () => {
      const stored = await loadRegistration(this.#opts.account.dir).catch(() => null);
      if (stored && stored.directoryUrl === this.#opts.account.acmeServer) {
        await Deno.remove(registrationPath(this.#opts.account.dir)).catch(() => {});
      }
      await this.#attempt(0);
    })().finally(() => (this.#reconnecting = undefined));
    return this.#reconnecting;
  }

  /**
   * The CA could not be reached during an order (src/ca/failover.ts, several CAs): `unavailable` at once, so orders
   * go to the next CA without waiting for this one, and connect again in the background (with the usual backoff)
   * until it answers, when it is used again.
   */
  connectionLost(reason: string): void {
    if (this.#closed || this.#state !== "ready" || this.#reconnecting) return;
    this.#enter("unavailable");
    this.#reason = `cannot reach ${this.#opts.account.acmeServer}: ${reason}; reconnecting`;
    this.#opts.log.warn("acme ca unreachable, reconnecting", { ca: this.#opts.account.acmeServer, reason });
    this.#reconnecting = this.#attempt(0).finally(() => (this.#reconnecting = undefined));
  }

  /**
   * SIGHUP: re-reads account.pem and, when it holds another key than the one in use (`acmems register
   * --rollover-key` ran), checks it with the CA (the account fetched with the new key) and switches to it; requests
   * keep being served with the old client meanwhile. Returns the notes for the operator; never throws. An
   * unfinished rollover (account.pem.next) is left to `acmems register`: it may be running right now.
   */
  async reloadKey(): Promise<string[]> {
    const { account, log } = this.#opts;
    const notes: string[] = [];
    try {
      if (await hasNextKey(account.dir)) {
        notes.push(
          `${nextKeyPath(account.dir)} exists: a key rollover is unfinished; acmems register finishes or discards it`,
        );
      }
      const loaded = await loadAccountKey(account.dir);
      if (!loaded) {
        // Apps built with a key in memory (tests) have none; a server whose file went away keeps its key and says so.
        log.warn("account key file missing on reload, keeping the key in use", { key: accountKeyPath(account.dir) });
        return notes;
      }
      if (await sameKey(loaded.keyPair, this.#keyPair)) return notes;
      const { registration } = await registrationFor(account);
      const client = this.#newClient(loaded.keyPair, registration?.url);
      try {
        if (registration) await client.getAccount();
        else await client.findAccount();
      } catch (error) {
        client.close();
        const why = error instanceof Error ? error.message : String(error);
        log.error("account key reload refused, the old key stays", { key: accountKeyPath(account.dir), reason: why });
        return [
          ...notes,
          `The new key in ${accountKeyPath(account.dir)} does not work at the CA (${why}): keeping the old key`,
        ];
      }
      const old = this.#client;
      this.#keyPair = loaded.keyPair;
      this.#client = client;
      if (!this.#closed) {
        this.#enter("ready");
        this.#reason = "ready";
        this.#problem = undefined;
      }
      old?.close();
      log.info("account key reloaded", { key: accountKeyPath(account.dir), account: client.accountUrl });
      return notes;
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return [...notes, `Cannot reload the account key: ${why}; keeping the key in use`];
    }
  }

  /**
   * The CA refused our key's signature: `reloadKey` (account.pem re-read and checked with the CA, as on SIGHUP), true
   * when another key is in use after it. Concurrent calls share one reload.
   */
  keyRefused(): Promise<boolean> {
    this.#keyReload ??= (async () => {
      const before = this.#keyPair;
      const notes = await this.reloadKey();
      for (const note of notes) this.#opts.log.warn("account key reload", { note });
      return this.#keyPair !== before;
    })().finally(() => (this.#keyReload = undefined));
    return this.#keyReload;
  }

  /**
   * Checks that the CA's directory answers (for /ready): one GET, no retries, bounded by `timeoutMs`, so a probe
   * answers fast when the CA is down. Never throws.
   */
  async probe(timeoutMs = 2000): Promise<boolean> {
    if (this.#closed) return false;
    try {
      if (this.#opts.caCerts && !this.#probeClient) {
        this.#probeClient = Deno.createHttpClient({ caCerts: this.#opts.caCerts });
      }
      const response = await fetch(this.#opts.account.acmeServer, {
        signal: AbortSignal.timeout(timeoutMs),
        // Like every CA request: a redirect is an answer, not a place to go.
        redirect: "manual",
        ...(this.#probeClient ? { client: this.#probeClient } : {}),
      });
      const body = await response.json().catch(() => null);
      const ok = response.ok && body !== null && typeof body === "object" && typeof body.newOrder === "string";
      if (ok) this.#lastDirectoryOk = Date.now();
      return ok;
    } catch {
      return false;
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#client?.close();
    this.#client = undefined;
    this.#probeClient?.close();
    this.#probeClient = undefined;
  }
}

/** A problem only the operator can solve; the message is the problem and the command to run. */
class PermanentAccountError extends Error {
  constructor(readonly problem: AccountProblem, command: string) {
    super(problem.why + command);
  }
}

async function sameKey(a: CryptoKeyPair, b: CryptoKeyPair): Promise<boolean> {
  const [x, y] = await Promise.all([a, b].map(async (k) => jwkThumbprint(await exportPublicJwk(k.publicKey))));
  return x === y;
}
