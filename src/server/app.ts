/**
 * The running server: a validated config wired into the account session, challenge responders, the current
 * generation (src/server/generation.ts), the listeners, metrics and the renewal sweep. `cli/serve.ts` is the thin
 * command around it; tests build apps directly.
 *
 * Contract: `start()` binds every listener first (throwing, with nothing left bound and nothing created on disk, if
 * one address cannot be bound; or takes over those `acmems serve` bound already), then prepares the storages, then
 * connects to the CA (never throwing for network trouble: the session retries). `reload()` never throws (src/server/reload.ts): requests and orders already
 * running finish on the old generation; it also re-reads the account key (a rolled-over account.pem is used from
 * then on: AccountSession.reloadKey). `shutdown()` stops the mgmt listeners (waiting at most body-timeout + 2 s
 * for open connections), gives running orders up to 5 s, then closes the challenge listeners, solvers, notifiers,
 * storages and the session.
 */
import { AcmeClient } from "../acme/mod.ts";
import type { AccountSession } from "../account/session.ts";
import { CaRegistry } from "../ca/registry.ts";
import { Http01Responder } from "../challenges/http01/responder.ts";
import type { ChallengeSolver } from "../challenges/solver.ts";
import type { Config } from "../config/types.ts";
import { AdmittedRepeats } from "../http/admitted_repeats.ts";
import { createCsrParser } from "../csr/parser.ts";
import { createOperatorRoutes, metricsListenerHandler, type OperatorRoutes } from "../http/operator.ts";
import { BodyDeadlines } from "../http/body_deadlines.ts";
import { createMgmtHandler, type MgmtHandler } from "../http/mgmt_router.ts";
import { FetchLog } from "../http/ui/fetch_log.ts";
import { RecentFailures } from "../http/ui/recent_failures.ts";
import type { SignDecision } from "../http/audit.ts";
import type { IssuanceFaults, IssuanceService } from "../issuance/service.ts";
import type { Logger } from "../ops/log.ts";
import { type IdleTrim, startProcessIdleTrim } from "../ops/idle_trim.ts";
import { mallocTrim } from "../ops/malloc_trim.ts";
import { AcmemsMetrics } from "../ops/metrics.ts";
import { prepareStorages } from "../storage/factory.ts";
import type { Storage } from "../storage/mod.ts";
import { CompromisedKeyRegistry } from "../revocation/compromised.ts";
import { buildGeneration, type Generation, meteredFetch } from "./generation.ts";
import type { EarlyListeners } from "./early_listeners.ts";
import { ListenerSet, readTls, type RunningListener, type TlsFiles } from "./listeners.ts";
import { reloadServer } from "./reload.ts";

export interface AppOptions {
  config: Config;
  log: Logger;
  /** The default CA's account key (and every other CA's, unless `caKeys` has its own). */
  keyPair: CryptoKeyPair;
  /** The default CA's `ca-file` certificates (and every other CA's, unless `caCertsByCa` has its own). */
  caCerts?: string[];
  /** The account key of each `[ca]` by name (cli/serve.ts loads or creates them). */
  caKeys?: ReadonlyMap<string, CryptoKeyPair>;
  /** The `ca-file` certificates of each `[ca]` by name. */
  caCertsByCa?: ReadonlyMap<string, string[] | undefined>;
  /** Extra solvers by verification name (tests). */
  solvers?: Map<string, ChallengeSolver>;
  onDecision?: (decision: SignDecision) => void;
  /** Session retry delay when the CA is down (tests shorten it). */
  retryDelayMs?: number;
  /** Background renewal sweep interval (default 1 h, jittered ±10 %); 0 disables it (tests trigger it). */
  sweepIntervalMs?: number;
  /** Fault injection for storage tests. */
  beforeRename?: (tempPath: string) => void | Promise<void>;
  /** Replaces fetch for notifications (tests). */
  notifyFetch?: typeof fetch;
  /** Fault injection points of the issuer (HA tests). */
  faults?: IssuanceFaults;
  /** Listeners `acmems serve` bound before building the App (src/server/early_listeners.ts); start() takes them. */
  listeners?: EarlyListeners;
}

export class App {
  /** Every CA's account session (src/ca/registry.ts). */
  readonly cas: CaRegistry;
  /** The default CA's session. */
  readonly session: AccountSession;
  /** Keys revoked for keyCompromise (/sign refuses them); outlives reloads. */
  readonly compromised = new CompromisedKeyRegistry();
  readonly metrics = new AcmemsMetrics();
  /** Who fetched which certificate (the operator page); outlives reloads. */
  readonly fetches = new FetchLog();
  /** The last /sign failures with an error id (the operator page); outlives reloads. */
  readonly failures = new RecentFailures();
  /** http-01 answers per verification name; they outlive reloads because the listeners do. */
  readonly responders = new Map<string, Http01Responder>();
  readonly mgmtHandler: MgmtHandler;
  readonly #opts: AppOptions;
  readonly #listeners = new ListenerSet();
  /** One timer for every /sign body read's deadline (src/http/body_deadlines.ts). */
  readonly #bodyDeadlines = new BodyDeadlines();
  readonly #operator: OperatorRoutes;
  #gen: Generation;
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;
  /** Gives memory back after a burst of load (src/ops/idle_trim.ts). */
  #idleTrim: IdleTrim | undefined;
  #sweeping: Promise<unknown> | undefined;
  #stopped = false;
  /** The TLS files the mgmt listeners serve (compared on reload). */
  readonly #tls: { current: TlsFiles | undefined } = { current: undefined };

  constructor(opts: AppOptions) {
    this.#opts = opts;
    const { config, log } = opts;
    const metrics = this.metrics;
    const fetch = meteredFetch(metrics);
    this.cas = new CaRegistry({
      cas: config.cas,
      defaultCa: config.defaultCa,
      keyPair: (name) => opts.caKeys?.get(name) ?? opts.keyPair,
      caCerts: (name) => opts.caCertsByCa?.has(name) ? opts.caCertsByCa.get(name) : opts.caCerts,
      log,
      retryDelayMs: opts.retryDelayMs,
      onReady: (name) => {
        this.checkProfiles(name);
      },
      createClient: (clientOpts) => new AcmeClient({ ...clientOpts, fetch }),
    });
    this.session = this.cas.default;
    const served = metrics.challengeAnswers.bind({ result: "served" });
    // The label values the README documents for challenge answers: served, 404.
    const notFound = metrics.challengeAnswers.bind({ result: "404" });
    for (const verification of config.verifications.values()) {
      if (verification.type !== "http01") continue;
      this.responders.set(
        verification.name,
        new Http01Responder({ served: () => served(), notFound: () => notFound() }),
      );
    }
    this.#gen = this.#build(config, undefined);
    const cas = this.cas;
    this.#operator = createOperatorRoutes({
      // Ready while one CA is (the others are failed over); read at each request.
      session: {
        get state() {
          return cas.readiness.state;
        },
        get reason() {
          return cas.readiness.reason;
        },
        get lastDirectoryOk() {
          return cas.readiness.lastDirectoryOk;
        },
        probe: (ms) => cas.readiness.probe(ms),
      },
      config: () => this.config,
      storages: () => this.storages.values(),
      registry: metrics.registry,
      log,
      page: {
        fetches: this.fetches,
        failures: this.failures,
        // Every CA's session (the page's reachability section) and the ledger of the generation in force.
        cas: () =>
          [...cas.sessions].map(([name, session]) => ({
            name,
            directoryUrl: this.config.cas.get(name)?.acmeServer ?? "",
            state: session.state,
            reason: session.reason,
            since: session.since ? new Date(session.since).toISOString() : null,
            lastDirectoryOk: session.lastDirectoryOk ? new Date(session.lastDirectoryOk).toISOString() : null,
          })),
        budget: () => this.#gen.ledger.budget(),
      },
    });
    const signCounts = new Map<number, Map<string, () => void>>();
    this.mgmtHandler = createMgmtHandler({
      ...this.#gen.mgmt,
      current: () => this.#gen.mgmt,
      parser: createCsrParser({ maxEntries: 1000 }),
      log,
      bodyDeadlines: this.#bodyDeadlines,
      // Its requests come from the listeners (Deno.serve), which frame each body by its Content-Length.
      framedBodies: true,
      repeats: new AdmittedRepeats(),
      onDecision: (decision) => {
        const status = decision.status;
        const block = decision.block ?? "";
        // Bound once per status and block: this runs for every /sign answer.
        let byBlock = signCounts.get(status);
        if (!byBlock) signCounts.set(status, byBlock = new Map());
        let count = byBlock.get(block);
        if (!count) byBlock.set(block, count = metrics.signRequests.bind({ status: String(status), block }));
        count();
        if (decision.errorId) this.failures.note(decision, new Date());
        opts.onDecision?.(decision);
      },
      extraRoutes: (request, info) => this.#operator(request, info),
    });
  }

  /** The config in force. */
  get config(): Config {
    return this.#gen.config;
  }

  get issuer(): IssuanceService {
    return this.#gen.issuer;
  }

  get storages(): Map<string, Storage> {
    return this.#gen.storages;
  }

  /** The bound listeners (a TLS reload replaces a listener's `server`). */
  get listeners(): RunningListener[] {
    return this.#listeners.all;
  }

  #build(config: Config, previous: Generation | undefined): Generation {
    const { log, solvers, beforeRename, notifyFetch, faults } = this.#opts;
    return buildGeneration(config, previous, {
      log,
      metrics: this.metrics,
      session: this.session,
      cas: this.cas,
      responders: this.responders,
      solvers,
      beforeRename,
      notifyFetch,
      faults,
      compromised: this.compromised,
      fetches: this.fetches,
    });
  }

  /** Binds every listener (throws naming the address if one cannot be bound), then connects to the CA. */
  async start(): Promise<void> {
    const { log } = this.#opts;
    const config = this.config;
    const listeners = this.#listeners;
    // Listeners first: a start that fails on a busy address has created nothing on disk (storage directories).
    try {
      const metricsHandler = metricsListenerHandler(this.#operator);
      const early = this.#opts.listeners;
      if (early) {
        // Bound by `acmems serve` before it loaded this code: they serve from now on.
        this.#tls.current = early.tls;
        listeners.all.push(...early.attach((l) => {
          if (l.role === "mgmt") return this.mgmtHandler;
          if (l.role === "metrics") return metricsHandler;
          const responder = this.responders.get(l.verification!)!;
          return responder.handle;
        }));
      } else {
        for (const verification of config.verifications.values()) {
          if (verification.type !== "http01") continue;
          const responder = this.responders.get(verification.name)!;
          for (const address of verification.listeners) {
            listeners.listen(`http01 "${verification.name}"`, address, responder.handle);
          }
        }
        const tls = await readTls(config);
        this.#tls.current = tls;
        for (const address of config.mgmt.listeners) listeners.listen("mgmt", address, this.mgmtHandler, tls);
        for (const address of config.mgmt.metricsListeners) listeners.listen("metrics", address, metricsHandler);
      }
      await prepareStorages(this.storages.values());
      await this.compromised.load(this.storages.values(), log);
    } catch (error) {
      await this.shutdown();
      throw error;
    }
    for (const l of this.listeners) {
      log.info("listening", {
        role: l.role,
        address: l.address.display,
        port: l.port,
        tls: l.role === "mgmt" && !!config.mgmt.tlsCert,
      });
    }
    for (const [name, solver] of this.#gen.solvers) {
      await solver.start?.().catch((error) =>
        log.error("challenge solver start failed", { verification: name, error: String(error) })
      );
    }
    // Every CA at once; one that cannot be reached is retried in the background (the others serve meanwhile).
    await this.cas.start();
    this.#scheduleSweep(0);
    this.#idleTrim = this.#stopped
      ? undefined
      : startProcessIdleTrim(mallocTrim(), log, () => this.metrics.memoryTrims.inc());
  }

  /**
   * Applies a new, already validated config. Returns the notes the operator should see (things that need a
   * restart). Never throws: a part that cannot be applied keeps the old behaviour and is reported.
   */
  async reload(config: Config): Promise<string[]> {
    const notes = await reloadServer({
      log: this.#opts.log,
      current: () => this.#gen,
      build: (next, previous) => this.#build(next, previous),
      swap: (next) => (this.#gen = next),
      tls: this.#tls,
      listeners: this.#listeners,
      mgmtHandler: this.mgmtHandler,
    }, config);
    await this.compromised.load(this.storages.values(), this.#opts.log);
    // The account key: `acmems register --rollover-key` replaced account.pem; the session switches to it.
    for (const session of this.cas.sessions.values()) notes.push(...await session.reloadKey());
    for (const name of this.cas.names) await this.checkProfiles(name);
    return notes;
  }

  /** Logs configured profiles a CA does not offer (requests needing them fail over, or get 503 from the issuer). */
  async checkProfiles(name = this.cas.defaultCa): Promise<void> {
    const { log } = this.#opts;
    const config = this.config;
    const session = this.cas.session(name);
    const account = config.cas.get(name);
    if (!session || !account) return;
    const wanted = new Set<string>();
    if (account.profile) wanted.add(account.profile);
    for (const block of config.auth) {
      if (block.profile && (block.cas ?? [config.defaultCa]).includes(name)) wanted.add(block.profile);
    }
    if (wanted.size === 0 || session.state !== "ready") return;
    try {
      const offered = (await session.client().meta()).profiles;
      for (const profile of wanted) {
        if (!offered || !(profile in offered)) {
          log.error("profile not offered by the CA", {
            ca: name,
            profile,
            offered: offered ? Object.keys(offered) : [],
            fix: "change profile = in the config",
          });
        }
      }
    } catch {
      // The CA went away again; the next start or sweep sees it.
    }
  }

  /** Runs one background renewal pass now (tests, and the timer). */
  async sweep(): Promise<void> {
    // Keys other instances recorded as compromised reach this one with each sweep.
    await this.compromised.load(this.storages.values(), this.#opts.log);
    if (!this.cas.anyReady) return;
    this.#sweeping = this.issuer.sweep();
    await this.#sweeping;
    this.#sweeping = undefined;
  }

  #scheduleSweep(delayMs: number): void {
    const interval = this.#opts.sweepIntervalMs ?? 3_600_000;
    if (interval <= 0 || this.#stopped) return;
    this.#sweepTimer = setTimeout(async () => {
      this.#sweepTimer = undefined;
      await this.sweep().catch(() => {});
      // Jitter so several instances do not sweep in lockstep.
      this.#scheduleSweep(interval * (0.9 + Math.random() * 0.2));
    }, delayMs);
  }

  /** Stops accepting, lets in-flight requests finish, removes pending challenges, disconnects. */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    if (this.#sweepTimer !== undefined) clearTimeout(this.#sweepTimer);
    this.#idleTrim?.stop();
    const servers = this.#listeners.all.splice(0);
    // Management first: no new orders; challenge listeners stay up while running orders finish. A client that
    // keeps a request open (a body sent slowly) holds Deno's shutdown: it gets body-timeout plus a little, no more.
    const mgmtShutdown = Promise.all(
      servers.filter((l) => !l.role.startsWith("http01")).map((l) => l.server.shutdown()),
    );
    let mgmtTimer: ReturnType<typeof setTimeout> | undefined;
    const mgmtLimitMs = this.#gen.config.mgmt.bodyTimeoutMs + 2_000;
    const mgmtLimit = new Promise<"timeout">((
      resolve,
    ) => (mgmtTimer = setTimeout(() => resolve("timeout"), mgmtLimitMs)));
    if (await Promise.race([mgmtShutdown, mgmtLimit]) === "timeout") {
      this.#opts.log.warn("management connections still open at shutdown, not waiting for them", {
        waitedMs: mgmtLimitMs,
      });
    }
    clearTimeout(mgmtTimer);
    const drain = Promise.all([this.#gen.issuer.drain(), ...this.#listeners.retired]);
    let graceTimer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise((resolve) => (graceTimer = setTimeout(resolve, 5_000)));
    await Promise.race([drain, grace]);
    clearTimeout(graceTimer);
    await Promise.all(servers.filter((l) => l.role.startsWith("http01")).map((l) => l.server.shutdown()));
    for (const responder of this.responders.values()) responder.clear();
    for (const [name, solver] of this.#gen.solvers) {
      await solver.close?.().catch((error) =>
        this.#opts.log.error("challenge solver close failed", { verification: name, error: String(error) })
      );
    }
    await this.#sweeping?.catch(() => {});
    await this.#gen.notifiers.drain();
    await this.mgmtHandler.close().catch(() => {});
    this.#bodyDeadlines.close();
    for (const storage of this.storages.values()) await storage.close().catch(() => {});
    this.cas.close();
  }
}
