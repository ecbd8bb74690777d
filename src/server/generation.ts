/**
 * Assembly: from one validated `Config`, everything a reload replaces as a whole (a "generation"): the compiled auth
 * policy, the storages (src/storage/factory.ts), the challenge solvers, the notifiers and the issuer. Also the
 * metered fetch the ACME client uses (every request to the CA counted by endpoint and status).
 *
 * Contract: building touches no network and no disk (storages are prepared, solvers started by the caller). A
 * dns-01 solver whose settings did not change is carried over from the previous generation (it owns a cleanup
 * journal); http-01 solvers wrap the responders, which outlive generations because the listeners do.
 */
import type { AccountSession } from "../account/session.ts";
import type { CaEndpoint, CaRegistry } from "../ca/registry.ts";
import { issuerOf } from "../ca/issuer_of.ts";
import { RateLimitLedger } from "../ca/ledger.ts";
import { blockLimitsOf, caLimitsOf, retentionMs } from "../ca/ledger_config.ts";
import type { Http01Responder } from "../challenges/http01/responder.ts";
import type { ChallengeSolver } from "../challenges/solver.ts";
import { Http01Solver } from "../challenges/http01/solver.ts";
import { PersistWatch } from "../challenges/dns_persist01/watch.ts";
import type { Config, NotifyEvent } from "../config/types.ts";
import type { SignContext } from "../http/sign.ts";
import type { AcmeFrontContext } from "../acme_server/lazy.ts";
import type { FetchLog } from "../http/ui/fetch_log.ts";
import { CompromisedKeyRegistry, refuseCompromisedKeys } from "../revocation/compromised.ts";
import { revokeCertificate } from "../revocation/service.ts";
import { systemClock } from "../lib/clock.ts";
import { statusOf } from "../http/respond.ts";
import type { FailureKind } from "../issuance/failure.ts";
import { type IssuanceFaults, IssuanceService } from "../issuance/service.ts";
import type { Logger } from "../ops/log.ts";
import { acmeEndpoint, type AcmemsMetrics } from "../ops/metrics.ts";
import { type NotificationPayload, Notifiers } from "../ops/notify.ts";
import { compilePolicy } from "../policy/authorize.ts";
import { createStorages } from "../storage/factory.ts";
import { createLedgerStore, type LedgerMedium } from "../storage/ledger_stores.ts";
import type { Storage } from "../storage/mod.ts";
import { lazyDnsUpdateSolvers, lazyPersistSolver, lazyTxtLookup } from "./dns_solvers.ts";

/** Everything a config produces that a reload replaces as a whole. */
export interface Generation extends SignContext {
  config: Config;
  issuer: IssuanceService;
  storages: Map<string, Storage>;
  solvers: Map<string, ChallengeSolver>;
  notifiers: Notifiers;
  /**
   * What the mgmt listeners use: /sign's issuer refusing compromised keys, /revoke's revoker, and for the ACME front
   * end the storages and the upstream CA's client.
   */
  mgmt: AcmeFrontContext;
  /** The rate-limit ledger and where it lives (the [mgmt] default storage's medium, or memory). */
  ledger: RateLimitLedger;
  ledgerMedium: LedgerMedium;
}

export interface GenerationDeps {
  log: Logger;
  metrics: AcmemsMetrics;
  /** The default CA's session. */
  session: AccountSession;
  /** Every CA's session (src/ca/registry.ts); without it, the default CA only (through `session`). */
  cas?: CaRegistry;
  /** http-01 answers per verification name (they outlive generations). */
  responders: Map<string, Http01Responder>;
  /** Extra solvers by verification name (tests). */
  solvers?: Map<string, ChallengeSolver>;
  /** Fault injection for storage tests. */
  beforeRename?: (tempPath: string) => void | Promise<void>;
  /** Replaces fetch for notifications (tests). */
  notifyFetch?: typeof fetch;
  /** Fault injection points of the issuer (HA tests). */
  faults?: IssuanceFaults;
  /** Keys revoked for keyCompromise (process-wide: it outlives generations); default a fresh one. */
  compromised?: CompromisedKeyRegistry;
  /** Who fetched which certificate (process-wide, for the operator page). */
  fetches?: FetchLog;
}

type EventDetails = Omit<NotificationPayload, "event" | "time" | "host">;

/**
 * The notification fields of an issuer event: a failure `kind` becomes the `status` a /sign client gets for it
 * (src/http/respond.ts), so the webhook's `status` and the HTTP answer come from the same table.
 */
export function notificationDetails(details: EventDetails & { kind?: FailureKind }): EventDetails {
  const { kind, ...rest } = details;
  return kind === undefined ? rest : { ...rest, status: statusOf(kind) };
}

/** `fetch` that counts every request to the CA in `acmems_acme_requests_total` by endpoint and status. */
export function meteredFetch(metrics: AcmemsMetrics, baseFetch: typeof fetch = fetch): typeof fetch {
  return async (input: RequestInfo | URL, init?: RequestInit) => {
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
  };
}

/** Builds the generation of `config`, reusing unchanged dns-01 solvers of `previous`. */
export function buildGeneration(config: Config, previous: Generation | undefined, deps: GenerationDeps): Generation {
  const { log, metrics, session } = deps;
  const solvers = new Map<string, ChallengeSolver>();
  // Keep DNS-UPDATE solvers (dns-01, dns-account-01) whose settings did not change: they own a cleanup journal.
  const fresh = lazyDnsUpdateSolvers(config, log, {
    onUpdateFailure: (failure) => metrics.dnsUpdateFailures.inc({ verification: failure.verification }),
  });
  for (const [name, solver] of fresh) {
    const old = previous?.solvers.get(name);
    const same = old && JSON.stringify(previous!.config.verifications.get(name)) ===
        JSON.stringify(config.verifications.get(name));
    solvers.set(name, same ? old : solver);
  }
  const storages = createStorages(config, log, deps.beforeRename, metrics);
  // With a storage that several instances share, http-01 answers go there too, and any instance can answer.
  const shared = [...storages.values()].find((s) => s.shared);
  for (const [name, responder] of deps.responders) {
    if (config.verifications.get(name)?.type !== "http01") continue;
    solvers.set(name, new Http01Solver(responder, shared));
    responder.fallback = shared ? (token) => shared.getChallenge(token) : undefined;
  }
  // dns-persist-01 writes nothing: a fresh solver (its resolver lookup) per generation, and a watch of the
  // records' persistUntil (the metric, `expiring`).
  const persistLookups = new Map(
    [...config.verifications.values()].flatMap((v) =>
      v.type === "dns-persist01" ? [[v.name, lazyTxtLookup(v)] as const] : []
    ),
  );
  const watch = new PersistWatch({
    lookups: persistLookups,
    accountUrl: () => session.state === "ready" ? session.client().accountUrl : undefined,
    onSeen: (seen) => metrics.notePersistRecord(seen.verification, seen.owner, seen.persistUntil),
  });
  for (const v of config.verifications.values()) {
    if (v.type === "dns-persist01") {
      solvers.set(v.name, lazyPersistSolver(v, persistLookups.get(v.name)!, watch));
    }
  }
  for (const [name, solver] of deps.solvers ?? []) solvers.set(name, solver);
  const notifiers = new Notifiers(config.notifiers, { log, metrics, fetch: deps.notifyFetch });
  // The issuer emits `expiring` from the largest expiring-days on (daily); each notifier keeps only the events
  // within its own expiring-days (Notifiers.emit).
  // No notifier wants `expiring`: the issuer does not look for it (and claims nothing for it).
  const wanting = config.notifiers.filter((n) => n.events.includes("expiring"));
  const expiringDays = wanting.length > 0 ? Math.max(...wanting.map((n) => n.expiringDays)) : undefined;
  const cas = caEndpoints(config, deps);
  const { ledger, ledgerMedium } = buildLedger(config, storages, previous, log);
  metrics.budgetSource = () => ledger.budget();
  const issuer = new IssuanceService({
    client: () => session.client(),
    directoryUrl: config.account.acmeServer,
    cas,
    defaultCa: deps.cas?.defaultCa ?? config.defaultCa,
    solvers,
    storages,
    // Background renewal re-authorizes every stored entry against this config's blocks (a reload swaps them).
    auth: config.auth,
    log,
    metrics,
    orderTimeoutMs: Math.max(config.mgmt.signTimeoutMs, 600_000),
    onEvent: (event: NotifyEvent, details: EventDetails & { kind?: FailureKind }) =>
      notifiers.emit(event, notificationDetails(details)),
    onAccountLost: (reason) => session.accountLost(reason),
    // A key rollover (acmems register --rollover-key) is picked up at the CA's first refusal, not only on SIGHUP.
    onKeyRefused: async () => {
      let changed = false;
      for (const s of deps.cas ? deps.cas.sessions.values() : [session]) if (await s.keyRefused()) changed = true;
      return changed;
    },
    expiringDays,
    persistRecords: persistLookups.size > 0 ? watch : undefined,
    faults: deps.faults,
    onFetch: deps.fetches &&
      ((f) =>
        deps.fetches!.note(f.storage, f.key, {
          atMs: f.at.getTime(),
          block: f.block ?? null,
          client: f.client ?? null,
        })),
    ledger,
  });
  const policy = compilePolicy(config.auth);
  const compromised = deps.compromised ?? new CompromisedKeyRegistry();
  const mgmt: AcmeFrontContext = {
    config,
    policy,
    storages,
    upstream: () => session.client(),
    issuer: refuseCompromisedKeys(issuer, compromised),
    revoker: {
      revoke: async (pair, reason) => {
        // The CA that issued it (from its cache entry), else the default CA.
        const issuer = cas.length > 1 ? await issuerOf(pair.certDer, storages.values(), cas) : undefined;
        return await revokeCertificate(pair, reason, {
          client: () => issuer ? issuer.client() : session.client(),
          storages: storages.values(),
          compromised,
          log,
          now: systemClock,
          owner: `${Deno.hostname()}:${Deno.pid}`,
        });
      },
      revoked: (pair, reason, client) =>
        notifiers.emit("revoked", {
          names: pair.names,
          message: `Certificate ${pair.serial} was revoked (${reason}) at the request of ${client}` +
            (reason === "keyCompromise" ? "; its key is refused from now on." : "."),
          serial: pair.serial,
          reason,
          notAfter: pair.notAfter.toISOString(),
          client,
        }),
    },
  };
  return { config, policy, issuer, storages, solvers, notifiers, mgmt, ledger, ledgerMedium };
}

/**
 * The rate-limit ledger of `config`, kept in the [mgmt] default storage (memory without one); a reload keeps the
 * previous memory or file store when the medium did not change, so the counts survive it.
 */
export function buildLedger(
  config: Config,
  storages: Map<string, Storage>,
  previous: Generation | undefined,
  log: Logger,
): { ledger: RateLimitLedger; ledgerMedium: LedgerMedium } {
  const cas = caLimitsOf(config);
  const blocks = blockLimitsOf(config);
  const storage = config.mgmt.defaultStorage === null ? undefined : storages.get(config.mgmt.defaultStorage);
  let ledgerMedium = createLedgerStore(
    storage,
    retentionMs(cas, blocks),
    (path) => log.error("rate-limit ledger file unreadable: set aside, counting starts anew", { path }),
  );
  const old = previous?.ledgerMedium;
  if (old?.reusable && old.medium === ledgerMedium.medium) ledgerMedium = old;
  return { ledger: new RateLimitLedger({ store: ledgerMedium.store, cas, blocks, now: systemClock }), ledgerMedium };
}

/** What issuance needs of each CA: the registry's sessions, or the default CA alone through `deps.session`. */
function caEndpoints(config: Config, deps: GenerationDeps): CaEndpoint[] {
  if (deps.cas) return deps.cas.endpoints();
  const { session } = deps;
  return [{
    name: config.defaultCa ?? "default",
    directoryUrl: config.account.acmeServer,
    profile: config.account.profile,
    client: () => session.client(),
    accountLost: (reason) => session.accountLost(reason),
  }];
}

/**
 * Lets an old generation go once `next` is in force: its running orders finish, then its notifiers drain and its
 * storages and the solvers `next` does not reuse are closed. Never throws.
 */
export async function retireGeneration(old: Generation, next: Generation): Promise<void> {
  await old.issuer.drain();
  await old.notifiers.drain();
  for (const storage of old.storages.values()) await storage.close().catch(() => {});
  for (const [name, solver] of old.solvers) {
    if (next.solvers.get(name) !== solver) await solver.close?.().catch(() => {});
  }
}
