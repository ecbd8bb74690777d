/**
 * Wires a validated config into a running server: account session, challenge responders, issuer, handlers,
 * listeners, metrics, notifications and reload. `cli/serve.ts` is the thin command around it; tests build apps
 * directly.
 *
 * Reload: a new config is built into a new "generation" (auth policy, storages, solvers, notifiers, issuer) and
 * swapped in at once; requests and orders already running finish on the old generation, whose storages are closed
 * when its issuer has drained. Listener addresses and the account stay as they were (the log says a restart is
 * needed for those, and for `[logging]`); TLS files are re-read and checked before anything is swapped (a broken pair
 * refuses the whole reload), and only when their bytes changed are the mgmt listeners rebound on the same ports.
 */
import { AcmeClient } from "./acme/mod.ts";
import { AccountSession } from "./account/session.ts";
import { Http01Responder } from "./challenges/http01/responder.ts";
import type { ChallengeSolver } from "./challenges/solver.ts";
import { Http01Solver } from "./challenges/http01/solver.ts";
import { createDnsUpdateSolvers } from "./challenges/dns01/factory.ts";
import type { Config, ListenAddress, LoggingConfig } from "./config/types.ts";
import { networkContains, parseIpAddress } from "./lib/ip.ts";
import { createCsrParser } from "./csr/intake.ts";
import { createMgmtHandler, peerAddress, type SignContext, type SignDecision } from "./http/sign_handler.ts";
import { type IssuanceFaults, IssuanceService } from "./issuance/service.ts";
import { statusOf } from "./http/respond.ts";
import type { Logger } from "./ops/log.ts";
import { acmeEndpoint, AcmemsMetrics } from "./ops/metrics.ts";
import { Notifiers } from "./ops/notify.ts";
import { compilePolicy } from "./policy/authorize.ts";
import { createStorages, prepareStorages, storagesWritableProblem } from "./storage/factory.ts";
import type { Storage } from "./storage/mod.ts";

export interface AppOptions {
  config: Config;
  log: Logger;
  keyPair: CryptoKeyPair;
  caCerts?: string[];
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
}

export interface RunningListener {
  role: string;
  address: ListenAddress;
  /** The bound port (differs from the configured one only for port 0 in tests). */
  port: number;
  /** Replaced when a TLS reload rebinds the listener. */
  server: Deno.HttpServer<Deno.NetAddr>;
}

/** PEM certificate chain and key of the mgmt listeners. */
export interface TlsFiles {
  cert: string;
  key: string;
}

/**
 * Checks that a certificate and key work for a TLS listener, by opening one on a loopback port and closing it at
 * once (the same parser Deno.serve uses: a mismatched pair is caught too). Throws naming both files; skips the
 * check when no loopback port can be opened (nothing to learn then).
 */
export function checkTlsFiles(tls: TlsFiles, files: { certFile: string; keyFile: string }): void {
  let listener: Deno.TlsListener;
  try {
    listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key });
  } catch (error) {
    if (error instanceof Deno.errors.AddrNotAvailable || error instanceof Deno.errors.PermissionDenied) return;
    throw new Error(
      `The mgmt TLS files tls-cert ${files.certFile} and tls-key ${files.keyFile} are not a usable certificate and ` +
        `key (${error instanceof Error ? error.message : error}): fix them and reload again`,
    );
  }
  listener.close();
}

/** The `[logging]` options that changed: they are set when the process starts. */
export function loggingChanges(before: LoggingConfig, after: LoggingConfig): string[] {
  return (["level", "format", "destination"] as const)
    .filter((option) => before[option] !== after[option])
    .map((option) =>
      `[logging] ${option} changed (${before[option]} -> ${after[option]}): it needs a restart; ` +
      "the old setting stays in use until then"
    );
}

/** Deno.serve on one address, plain or with TLS; throws Deno's error. */
function bind(
  hostname: string,
  port: number,
  handler: (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>,
  tls?: TlsFiles,
): Deno.HttpServer<Deno.NetAddr> {
  const options = { hostname, port, onListen: () => {} };
  return tls ? Deno.serve({ ...options, cert: tls.cert, key: tls.key }, handler) : Deno.serve(options, handler);
}

/** A bind failure as the operator should read it: the address, the config line and the likely cause. */
function listenError(role: string, address: ListenAddress, error: unknown): Error {
  const reason = error instanceof Deno.errors.AddrInUse
    ? "the address is already in use (another acmems or service?)"
    : error instanceof Deno.errors.AddrNotAvailable
    ? "this machine has no such address"
    : error instanceof Deno.errors.PermissionDenied
    ? "permission denied (ports below 1024 need privileges)"
    : error instanceof Error
    ? error.message
    : String(error);
  const where = address.source.line > 0 ? ` (${address.source.file}:${address.source.line})` : "";
  return new Error(`Cannot listen on ${address.display} for ${role}${where}: ${reason}`);
}

/** Everything a config produces that a reload replaces as a whole. */
interface Generation extends SignContext {
  config: Config;
  issuer: IssuanceService;
  storages: Map<string, Storage>;
  solvers: Map<string, ChallengeSolver>;
  notifiers: Notifiers;
}

export class App {
  readonly session: AccountSession;
  readonly metrics = new AcmemsMetrics();
  /** http-01 answers per verification name; they outlive reloads because the listeners do. */
  readonly responders = new Map<string, Http01Responder>();
  readonly listeners: RunningListener[] = [];
  readonly mgmtHandler: (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response>;
  readonly #opts: AppOptions;
  #gen: Generation;
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;
  #sweeping: Promise<unknown> | undefined;
  #stopped = false;
  #retired: Promise<unknown>[] = [];
  #storageProbe = { at: 0, problem: "" as string };
  /** The TLS files the mgmt listeners serve (compared on reload). */
  #tls: TlsFiles | undefined;

  constructor(opts: AppOptions) {
    this.#opts = opts;
    const { config, log } = opts;
    const metrics = this.metrics;
    const baseFetch = fetch;
    this.session = new AccountSession({
      account: config.account,
      keyPair: opts.keyPair,
      caCerts: opts.caCerts,
      log,
      retryDelayMs: opts.retryDelayMs,
      onReady: () => {
        this.checkProfiles();
      },
      createClient: (clientOpts) =>
        new AcmeClient({
          ...clientOpts,
          // Count every request to the CA by endpoint and status.
          fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
            const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
            const method = init?.method ?? (input instanceof Request ? input.method : "GET");
            try {
              const response = await baseFetch(input, init);
              metrics.acmeRequests.inc({ endpoint: acmeEndpoint(url, method), status: String(response.status) });
              return response;
            } catch (error) {
              metrics.acmeRequests.inc({ endpoint: acmeEndpoint(url, method), status: "error" });
              throw error;
            }
          },
        }),
    });
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
    this.#gen = this.#generation(config, undefined);
    this.mgmtHandler = createMgmtHandler({
      ...this.#gen,
      current: () => this.#gen,
      parser: createCsrParser({ maxEntries: 1000 }),
      log,
      onDecision: (decision) => {
        metrics.signRequests.inc({ status: String(decision.status), block: decision.block ?? "" });
        opts.onDecision?.(decision);
      },
      extraRoutes: (request, info) => this.#operatorRoutes(request, info),
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

  #generation(config: Config, previous: Generation | undefined): Generation {
    const { log } = this.#opts;
    const solvers = new Map<string, ChallengeSolver>();
    // Keep dns-01 solvers whose settings did not change: they own a cleanup journal.
    const fresh = createDnsUpdateSolvers(config, log, {
      onUpdateFailure: (failure) => this.metrics.dnsUpdateFailures.inc({ verification: failure.verification }),
    });
    for (const [name, solver] of fresh) {
      const old = previous?.solvers.get(name);
      const same = old && JSON.stringify(previous!.config.verifications.get(name)) ===
          JSON.stringify(config.verifications.get(name));
      solvers.set(name, same ? old : solver);
    }
    const storages = createStorages(config, log, this.#opts.beforeRename, this.metrics);
    // With a storage that several instances share, http-01 answers go there too, and any instance can answer.
    const shared = [...storages.values()].find((s) => s.shared);
    for (const [name, responder] of this.responders) {
      if (config.verifications.get(name)?.type !== "http01") continue;
      solvers.set(name, new Http01Solver(responder, shared));
      responder.fallback = shared ? (token) => shared.getChallenge(token) : undefined;
    }
    for (const [name, solver] of this.#opts.solvers ?? []) solvers.set(name, solver);
    const notifiers = new Notifiers(config.notifiers, { log, metrics: this.metrics, fetch: this.#opts.notifyFetch });
    // The issuer emits `expiring` from the largest expiring-days on (daily); each notifier keeps only the events
    // within its own expiring-days (Notifiers.emit).
    // No notifier wants `expiring`: the issuer does not look for it (and claims nothing for it).
    const wanting = config.notifiers.filter((n) => n.events.includes("expiring"));
    const expiringDays = wanting.length > 0 ? Math.max(...wanting.map((n) => n.expiringDays)) : undefined;
    const issuer = new IssuanceService({
      client: () => this.session.client(),
      directoryUrl: config.account.acmeServer,
      solvers,
      storages,
      log,
      metrics: this.metrics,
      orderTimeoutMs: Math.max(config.mgmt.signTimeoutMs, 600_000),
      // issue-failed carries a failure kind; the notifiers' `status` is its /sign status (same place in the JSON).
      onEvent: (event, { kind, names, message, ...rest }) =>
        notifiers.emit(event, { names, message, ...(kind ? { status: statusOf(kind) } : {}), ...rest }),
      onAccountLost: (reason) => this.session.accountLost(reason),
      expiringDays,
      faults: this.#opts.faults,
    });
    return { config, policy: compilePolicy(config.auth), issuer, storages, solvers, notifiers };
  }

  /** /health, /ready and /metrics on the mgmt (and metrics) listeners. */
  #operatorRoutes(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> | null {
    const path = new URL(request.url).pathname;
    if (request.method !== "GET" && request.method !== "HEAD") return null;
    if (path === "/health") return Promise.resolve(new Response("ok\n", { headers: { "Content-Type": "text/plain" } }));
    if (path === "/ready") return this.#ready();
    if (path === "/metrics") {
      const peer = parseIpAddress(peerAddress(info));
      if (!peer || !this.config.mgmt.metricsIps.some((n) => networkContains(n, peer))) {
        return Promise.resolve(
          new Response("Metrics are only served to [mgmt] metrics-ip addresses.\n", {
            status: 403,
            headers: { "Content-Type": "text/plain" },
          }),
        );
      }
      return Promise.resolve(
        new Response(this.metrics.registry.render(), {
          headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
        }),
      );
    }
    return null;
  }

  async #ready(): Promise<Response> {
    const problems: string[] = [];
    if (this.session.state !== "ready") {
      problems.push(`ACME CA: ${this.session.reason}`);
    } else if (Date.now() - this.session.lastDirectoryOk > 10_000) {
      // Asked at most every 10 s, so readiness follows the CA closely without hammering it.
      if (!await this.session.probe(2000)) {
        problems.push(`ACME CA: the directory at ${this.config.account.acmeServer} did not answer`);
      }
    }
    const storageProblem = await this.#storageWritable();
    if (storageProblem) problems.push(storageProblem);
    // Databases (postgres): asked on every /ready (each storage bounds and throttles its own check).
    for (const storage of this.storages.values()) {
      const problem = await storage.problem?.().catch((error) => String(error));
      if (problem) problems.push(problem);
    }
    if (problems.length > 0) {
      return new Response(`not ready: ${problems.join("; ")}\n`, {
        status: 503,
        headers: { "Content-Type": "text/plain", "Retry-After": "10" },
      });
    }
    return new Response("ready\n", { headers: { "Content-Type": "text/plain" } });
  }

  /** Checks (at most every 10 s) that every storage that keeps files can be written. */
  async #storageWritable(): Promise<string> {
    if (Date.now() - this.#storageProbe.at < 10_000) return this.#storageProbe.problem;
    const problem = await storagesWritableProblem(this.storages.values());
    this.#storageProbe = { at: Date.now(), problem };
    return problem;
  }

  /** Binds every listener (throws naming the address if one cannot be bound), then connects to the CA. */
  async start(): Promise<void> {
    const { log } = this.#opts;
    const config = this.config;
    await prepareStorages(this.storages.values());
    try {
      for (const verification of config.verifications.values()) {
        if (verification.type !== "http01") continue;
        const responder = this.responders.get(verification.name)!;
        for (const address of verification.listeners) {
          this.#listen(`http01 "${verification.name}"`, address, (request) => responder.handle(request));
        }
      }
      const tls = await this.#readTls(config);
      this.#tls = tls;
      for (const address of config.mgmt.listeners) this.#listen("mgmt", address, this.mgmtHandler, tls);
      for (const address of config.mgmt.metricsListeners) {
        this.#listen("metrics", address, (request, info) =>
          this.#operatorRoutes(request, info) ??
            Promise.resolve(new Response("Not found.\n", { status: 404, headers: { "Content-Type": "text/plain" } })));
      }
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
    await this.session.start();
    this.#scheduleSweep(0);
  }

  async #readTls(config: Config): Promise<TlsFiles | undefined> {
    if (!config.mgmt.tlsCert || !config.mgmt.tlsKey) return undefined;
    try {
      return { cert: await Deno.readTextFile(config.mgmt.tlsCert), key: await Deno.readTextFile(config.mgmt.tlsKey) };
    } catch (error) {
      throw new Error(
        `Cannot read the mgmt TLS files ${config.mgmt.tlsCert} / ${config.mgmt.tlsKey}: ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
  }

  #listen(
    role: string,
    address: ListenAddress,
    handler: (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>,
    tls?: TlsFiles,
  ): RunningListener {
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = bind(address.hostname, address.port, handler, tls);
    } catch (error) {
      throw listenError(role, address, error);
    }
    const listener = { role, address, port: server.addr.port, server };
    this.listeners.push(listener);
    return listener;
  }

  /**
   * Serves a mgmt listener with new TLS files on the same address and port. The port stays taken until the old
   * listener closes (SO_REUSEPORT would allow both at once, but with TLS it is an unstable Deno API that exits the
   * process without --unstable-net), so: stop the old server accepting without waiting for its in-flight requests,
   * bind the new one as soon as the port is free (within a few milliseconds), and let the old one finish its
   * requests in the background.
   */
  async #rebind(listener: RunningListener, tls: TlsFiles): Promise<void> {
    const old = listener.server;
    this.#retired.push(old.shutdown().catch(() => {}));
    const deadline = Date.now() + 2_000;
    while (true) {
      try {
        listener.server = bind(listener.address.hostname, listener.port, this.mgmtHandler, tls);
        return;
      } catch (error) {
        if (!(error instanceof Deno.errors.AddrInUse) || Date.now() > deadline) {
          this.listeners.splice(this.listeners.indexOf(listener), 1);
          throw listenError(listener.role, listener.address, error);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  }

  /**
   * Applies a new, already validated config. Returns the notes the operator should see (things that need a
   * restart). Never throws: a part that cannot be applied keeps the old behaviour and is reported.
   */
  async reload(config: Config): Promise<string[]> {
    const { log } = this.#opts;
    const notes: string[] = [];
    const old = this.#gen;
    const listenerSet = (c: Config) =>
      JSON.stringify({
        mgmt: c.mgmt.listeners.map((l) => l.display),
        metrics: c.mgmt.metricsListeners.map((l) => l.display),
        http01: [...c.verifications.values()].flatMap((v) =>
          v.type === "http01" ? [`${v.name}=${v.listeners.map((l) => l.display).join(",")}`] : []
        ),
      });
    if (listenerSet(config) !== listenerSet(old.config)) {
      notes.push("Listener addresses changed: they take effect after a restart; the old ones stay in use");
    }
    if (JSON.stringify(config.account) !== JSON.stringify(old.config.account)) {
      notes.push("[account] changed: the ACME account and CA change only after a restart");
    }
    notes.push(...loggingChanges(old.config.logging, config.logging));

    // TLS files are read and checked before anything is swapped: a broken pair refuses the whole reload, so the
    // mgmt listeners are never left without a certificate.
    let newTls: TlsFiles | undefined;
    if (config.mgmt.tlsCert && config.mgmt.tlsKey && this.#tls) {
      try {
        const read = await this.#readTls(config);
        if (read && (read.cert !== this.#tls.cert || read.key !== this.#tls.key)) {
          checkTlsFiles(read, { certFile: config.mgmt.tlsCert, keyFile: config.mgmt.tlsKey });
          newTls = read;
        }
      } catch (error) {
        const reason = `${error instanceof Error ? error.message : error}: keeping the old config`;
        log.error("config reload refused, the old config stays", { errors: [reason] });
        return [...notes, reason];
      }
    } else if (!!config.mgmt.tlsCert !== !!this.#tls) {
      notes.push("Turning mgmt TLS on or off takes effect after a restart");
    }

    const next = this.#generation(config, old);
    try {
      await prepareStorages(next.storages.values());
    } catch (error) {
      notes.push(`${error instanceof Error ? error.message : error}: keeping the old config`);
      for (const unused of next.storages.values()) await unused.close().catch(() => {});
      return notes;
    }
    for (const [name, solver] of next.solvers) {
      if (old.solvers.get(name) !== solver) await solver.start?.().catch(() => {});
    }
    this.#gen = next;
    // The old generation finishes its running orders, then lets go of its storages and replaced solvers.
    const retire = (async () => {
      await old.issuer.drain();
      await old.notifiers.drain();
      for (const storage of old.storages.values()) await storage.close().catch(() => {});
      for (const [name, solver] of old.solvers) {
        if (next.solvers.get(name) !== solver) await solver.close?.().catch(() => {});
      }
    })();
    this.#retired.push(retire);

    // New TLS bytes: the running mgmt listeners are rebound on their ports (unchanged files: nothing to do).
    if (newTls) {
      this.#tls = newTls;
      for (const listener of this.listeners.filter((l) => l.role === "mgmt")) {
        try {
          await this.#rebind(listener, newTls);
        } catch (error) {
          const reason = error instanceof Error ? error.message : String(error);
          log.error("mgmt listener lost on TLS reload: restart acmems", { address: listener.address.display, reason });
          notes.push(`${reason}: restart acmems to serve it again`);
        }
      }
      log.info("mgmt TLS certificate reloaded", { cert: config.mgmt.tlsCert });
    }
    log.info("config reloaded", { files: config.files, auth: config.auth.length, notes });
    await this.checkProfiles();
    return notes;
  }

  /** Logs configured profiles the CA does not offer (requests needing them get 503 from the issuer). */
  async checkProfiles(): Promise<void> {
    const { log } = this.#opts;
    const config = this.config;
    const wanted = new Set<string>();
    if (config.account.profile) wanted.add(config.account.profile);
    for (const block of config.auth) if (block.profile) wanted.add(block.profile);
    if (wanted.size === 0 || this.session.state !== "ready") return;
    try {
      const offered = (await this.session.client().meta()).profiles;
      for (const profile of wanted) {
        if (!offered || !(profile in offered)) {
          log.error("profile not offered by the CA", {
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
    if (this.session.state !== "ready") return;
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
    const servers = this.listeners.splice(0);
    // Management first: no new orders; challenge listeners stay up while running orders finish. A client that
    // keeps a request open (a body sent slowly) holds Deno's shutdown: it gets body-timeout plus a little, no more.
    const mgmtShutdown = Promise.all(
      servers.filter((l) => l.role !== "http01" && !l.role.startsWith("http01")).map((l) => l.server.shutdown()),
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
    const drain = Promise.all([this.#gen.issuer.drain(), ...this.#retired]);
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
    for (const storage of this.storages.values()) await storage.close().catch(() => {});
    this.session.close();
  }
}
