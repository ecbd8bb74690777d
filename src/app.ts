/**
 * Wires a validated config into a running server: account session, challenge responders, issuer, handlers and
 * listeners. `cli/serve.ts` is the thin command around it; tests build apps directly.
 */
import { AccountSession } from "./account/session.ts";
import { Http01Responder } from "./challenges/http01.ts";
import { type ChallengeSolver, Http01Solver } from "./challenges/solver.ts";
import { createDnsUpdateSolvers } from "./challenges/dns01_factory.ts";
import type { Config, ListenAddress } from "./config/types.ts";
import { createCsrParser } from "./csr/intake.ts";
import { createMgmtHandler, type SignDecision } from "./http/sign_handler.ts";
import { Issuer } from "./issuer.ts";
import type { Logger } from "./log.ts";
import { compilePolicy } from "./policy/authorize.ts";
import { FileStorage } from "./storage/file.ts";
import type { Storage } from "./storage/mod.ts";
import { NoneStorage } from "./storage/none.ts";

export interface AppOptions {
  config: Config;
  log: Logger;
  keyPair: CryptoKeyPair;
  caCerts?: string[];
  /** Extra solvers by verification name (dns-01 comes with its own module). */
  solvers?: Map<string, ChallengeSolver>;
  onDecision?: (decision: SignDecision) => void;
  /** Session retry delay when the CA is down (tests shorten it). */
  retryDelayMs?: number;
  /** Background renewal sweep interval (default 1 h, jittered ±10 %); 0 disables it (tests trigger it). */
  sweepIntervalMs?: number;
  /** Fault injection for storage tests. */
  beforeRename?: (tempPath: string) => void | Promise<void>;
}

export interface RunningListener {
  role: string;
  address: ListenAddress;
  /** The bound port (differs from the configured one only for port 0 in tests). */
  port: number;
  server: Deno.HttpServer<Deno.NetAddr>;
}

/** One storage per [storage] block (and the implicit cache). */
export function createStorages(
  config: Config,
  log: Logger,
  beforeRename?: (tempPath: string) => void | Promise<void>,
): Map<string, Storage> {
  const storages = new Map<string, Storage>();
  for (const storage of config.storages.values()) {
    storages.set(
      storage.name,
      storage.type === "file"
        ? new FileStorage({
          name: storage.name,
          directory: storage.directory,
          renewWithinDays: storage.renewWithinDays,
          renewActiveDays: storage.renewActiveDays,
          log,
          beforeRename,
        })
        : new NoneStorage(storage.name),
    );
  }
  return storages;
}

export class App {
  readonly session: AccountSession;
  readonly issuer: Issuer;
  readonly responders = new Map<string, Http01Responder>();
  readonly storages = new Map<string, Storage>();
  readonly listeners: RunningListener[] = [];
  readonly mgmtHandler: (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response>;
  readonly #opts: AppOptions;
  readonly #solvers: Map<string, ChallengeSolver>;
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;
  #sweeping: Promise<unknown> | undefined;
  #stopped = false;

  constructor(opts: AppOptions) {
    this.#opts = opts;
    const { config, log } = opts;
    this.session = new AccountSession({
      account: config.account,
      keyPair: opts.keyPair,
      caCerts: opts.caCerts,
      log,
      retryDelayMs: opts.retryDelayMs,
      onReady: () => {
        this.checkProfiles();
      },
    });
    const solvers = new Map<string, ChallengeSolver>([...createDnsUpdateSolvers(config, log), ...(opts.solvers ?? [])]);
    this.#solvers = solvers;
    for (const verification of config.verifications.values()) {
      if (verification.type !== "http01") continue;
      const responder = new Http01Responder();
      this.responders.set(verification.name, responder);
      solvers.set(verification.name, new Http01Solver(responder));
    }
    for (const [name, storage] of createStorages(config, log, opts.beforeRename)) this.storages.set(name, storage);
    this.issuer = new Issuer({
      client: () => this.session.client(),
      directoryUrl: config.account.acmeServer,
      solvers,
      storages: this.storages,
      log,
      orderTimeoutMs: Math.max(config.mgmt.signTimeoutMs, 600_000),
    });
    this.mgmtHandler = createMgmtHandler({
      config,
      parser: createCsrParser({ maxEntries: 1000 }),
      policy: compilePolicy(config.auth),
      issuer: this.issuer,
      log,
      onDecision: opts.onDecision,
    });
  }

  /** Binds every listener (throws naming the address if one cannot be bound), then connects to the CA. */
  async start(): Promise<void> {
    const { config, log } = this.#opts;
    for (const storage of this.storages.values()) {
      // A cache directory that cannot be created is a configuration problem: refuse to start, naming the path.
      if (storage instanceof FileStorage) await storage.init();
    }
    try {
      for (const verification of config.verifications.values()) {
        if (verification.type !== "http01") continue;
        const responder = this.responders.get(verification.name)!;
        for (const address of verification.listeners) {
          this.#listen(`http01 "${verification.name}"`, address, (request) => responder.handle(request));
        }
      }
      for (const address of config.mgmt.listeners) this.#listen("mgmt", address, this.mgmtHandler);
    } catch (error) {
      await this.shutdown();
      throw error;
    }
    for (const l of this.listeners) {
      log.info("listening", { role: l.role, address: l.address.display, port: l.port });
    }
    for (const [name, solver] of this.#solvers) {
      await solver.start?.().catch((error) =>
        log.error("challenge solver start failed", { verification: name, error: String(error) })
      );
    }
    await this.session.start();
    this.#scheduleSweep(0);
  }

  /** Logs configured profiles the CA does not offer (requests needing them get 503 from the issuer). */
  async checkProfiles(): Promise<void> {
    const { config, log } = this.#opts;
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

  #listen(
    role: string,
    address: ListenAddress,
    handler: (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>,
  ): void {
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({ hostname: address.hostname, port: address.port, onListen: () => {} }, handler);
    } catch (error) {
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
      throw new Error(`Cannot listen on ${address.display} for ${role}${where}: ${reason}`);
    }
    this.listeners.push({ role, address, port: server.addr.port, server });
  }

  /** Stops accepting, lets in-flight requests finish, removes pending challenges, disconnects. */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    if (this.#sweepTimer !== undefined) clearTimeout(this.#sweepTimer);
    const servers = this.listeners.splice(0);
    // Management first: no new orders; challenge listeners stay up while running orders finish.
    await Promise.all(servers.filter((l) => l.role === "mgmt").map((l) => l.server.shutdown()));
    const drain = this.issuer.drain();
    const grace = new Promise((resolve) => {
      const t = setTimeout(resolve, 5_000);
      drain.finally(() => clearTimeout(t));
    });
    await Promise.race([drain, grace]);
    await Promise.all(servers.filter((l) => l.role !== "mgmt").map((l) => l.server.shutdown()));
    for (const responder of this.responders.values()) responder.clear();
    for (const [name, solver] of this.#solvers) {
      await solver.close?.().catch((error) =>
        this.#opts.log.error("challenge solver close failed", { verification: name, error: String(error) })
      );
    }
    await this.#sweeping?.catch(() => {});
    for (const storage of this.storages.values()) await storage.close().catch(() => {});
    this.session.close();
  }
}
