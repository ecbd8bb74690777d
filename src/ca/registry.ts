/**
 * The configured CAs, each with its own account session (src/account/session.ts): its own account directory, key,
 * `ca-file`, EAB, profile and `ca-origins`. `[account]` is the CA named `default`.
 *
 * Contract:
 * - `start()` connects every CA at once and never throws for network trouble: a CA that cannot be reached is
 *   `unavailable` (its session retries with backoff in the background) and the others serve meanwhile; issuance
 *   fails over past it (src/ca/failover.ts) until it answers.
 * - A CA whose account cannot be had without the operator (terms not accepted, EAB required) is `failed`; `problems`
 *   names it so `serve` can say which `acmems register --ca NAME` to run.
 * - `endpoint(name)` is what issuance needs of one CA (`CaEndpoint`); its `client()` throws `CaUnavailableError`
 *   while that CA's session is not ready.
 * - The set of CAs is fixed for the registry's life (a reload that changes a CA is applied at the next restart).
 */
import type { AcmeClient } from "../acme/mod.ts";
import { AccountSession, type AccountSessionOptions } from "../account/session.ts";
import type { AccountConfig } from "../config/types.ts";
import type { Logger } from "../ops/log.ts";

/** What issuance needs of one CA. */
export interface CaEndpoint {
  /** The CA's name (`default` for `[account]`). */
  readonly name: string;
  /** Its ACME directory URL (cache entries key on it). */
  readonly directoryUrl: string;
  /** Its `profile =` (an auth block's own profile wins). */
  readonly profile?: string;
  /** The connected client, or throws CaUnavailableError. */
  client(): AcmeClient;
  /** The CA no longer knows the account: reconnect (in the background). */
  accountLost?(reason: string): Promise<void> | void;
  /**
   * The CA could not be reached during an order (network error, timeout): it is not used until it answers again
   * (reconnecting in the background), so the next orders go to the next CA at once instead of waiting for it.
   */
  unreachable?(reason: string): void;
  /** The CA refused the account key's signature: re-read the key (a rollover); true when another key is in use. */
  keyRefused?(): Promise<boolean>;
}

export interface CaRegistryOptions {
  cas: ReadonlyMap<string, AccountConfig>;
  defaultCa: string;
  /** The account key of each CA (loaded or created by the caller). */
  keyPair(name: string): CryptoKeyPair;
  /** The CA certificates of each CA's `ca-file` (read by the caller). */
  caCerts(name: string): string[] | undefined;
  log: Logger;
  retryDelayMs?: number;
  onReady?: (name: string) => void;
  createClient?: AccountSessionOptions["createClient"];
}

export class CaRegistry {
  readonly #sessions = new Map<string, AccountSession>();
  readonly #accounts: ReadonlyMap<string, AccountConfig>;
  readonly defaultCa: string;

  constructor(opts: CaRegistryOptions) {
    this.#accounts = opts.cas;
    this.defaultCa = opts.defaultCa;
    for (const [name, account] of opts.cas) {
      this.#sessions.set(
        name,
        new AccountSession({
          account,
          keyPair: opts.keyPair(name),
          caCerts: opts.caCerts(name),
          log: opts.log,
          retryDelayMs: opts.retryDelayMs,
          onReady: () => opts.onReady?.(name),
          createClient: opts.createClient,
        }),
      );
    }
    if (!this.#sessions.has(opts.defaultCa)) throw new Error(`The default CA "${opts.defaultCa}" is not configured`);
  }

  /** CA names, the default first, then in config order. */
  get names(): string[] {
    return [...this.#sessions.keys()];
  }

  /** The session of the default CA. */
  get default(): AccountSession {
    return this.#sessions.get(this.defaultCa)!;
  }

  /** The session of `name`, or undefined for an unknown name. */
  session(name: string): AccountSession | undefined {
    return this.#sessions.get(name);
  }

  get sessions(): ReadonlyMap<string, AccountSession> {
    return this.#sessions;
  }

  /** True when at least one CA can take orders now. */
  get anyReady(): boolean {
    return [...this.#sessions.values()].some((s) => s.state === "ready");
  }

  /** The CAs whose account needs the operator (session `failed`), with the session's problem. */
  get problems(): { name: string; session: AccountSession }[] {
    return [...this.#sessions].filter(([, s]) => s.problem !== undefined).map(([name, session]) => ({ name, session }));
  }

  /**
   * What `/ready` asks (src/http/operator.ts ReadinessSession): ready while at least one CA is (failover covers the
   * others); the reason names every CA that is not ready.
   */
  get readiness(): { state: string; reason: string; lastDirectoryOk: number; probe(ms: number): Promise<boolean> } {
    const sessions = [...this.#sessions];
    const single = sessions.length === 1 ? sessions[0][1] : undefined;
    if (single) return single;
    const ready = sessions.filter(([, s]) => s.state === "ready");
    const target = ready.length > 0 ? ready : sessions;
    return {
      state: ready.length > 0 ? "ready" : this.default.state,
      reason: sessions.filter(([, s]) => s.state !== "ready").map(([name, s]) => `${name}: ${s.reason}`).join("; ") ||
        "ready",
      lastDirectoryOk: Math.max(...target.map(([, s]) => s.lastDirectoryOk)),
      probe: async (ms: number) => (await Promise.all(target.map(([, s]) => s.probe(ms)))).some(Boolean),
    };
  }

  /** What issuance needs of `name` (see CaEndpoint). */
  endpoint(name: string): CaEndpoint {
    const session = this.#sessions.get(name);
    const account = this.#accounts.get(name);
    if (!session || !account) throw new Error(`CA "${name}" is not configured (known: ${this.names.join(", ")})`);
    return {
      name,
      directoryUrl: account.acmeServer,
      profile: account.profile,
      client: () => session.client(),
      accountLost: (reason) => session.accountLost(reason),
      unreachable: (reason) => session.connectionLost(reason),
      keyRefused: () => session.keyRefused(),
    };
  }

  /** Every CA's endpoint, the default first. */
  endpoints(): CaEndpoint[] {
    return this.names.map((name) => this.endpoint(name));
  }

  /** Connects every CA at once; resolves after each made its first attempt. Never throws for network trouble. */
  async start(): Promise<void> {
    await Promise.all([...this.#sessions.values()].map((s) => s.start()));
  }

  close(): void {
    for (const session of this.#sessions.values()) session.close();
  }
}
