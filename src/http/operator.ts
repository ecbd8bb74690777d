/**
 * The operator routes on the mgmt and metrics listeners: `GET /health` (the process answers), `GET /ready` (the CA
 * and every storage can be used: 200 `ready`, else 503 `not ready` with `Retry-After: 10`), `GET /metrics`
 * (Prometheus text) and `GET /` (the operator page, src/http/ui/), the last two only to `[mgmt] metrics-ip` peers
 * (403 for others). HEAD is answered like GET.
 *
 * The reasons of a `not ready` (CA URLs, storage paths, database errors) are for operators: only `metrics-ip` peers
 * get them in the body; everyone else gets the bare word, with the same status. The log gets them once per change
 * (`not ready` with the reasons at warning level, `ready again` at info), not once per request.
 *
 * Contract: `/ready` asks the CA's directory at most every 10 s (2 s timeout) and writes into the file storages at
 * most every 10 s; databases are asked on every call (each storage bounds and throttles its own check). The routes
 * read the config and storages in force through the getters, so a reload is seen by the next request.
 */
import type { Config, IpNetwork } from "../config/types.ts";
import type { Clock } from "../lib/clock.ts";
import { type IpAddress, networkContains, parseIpAddress } from "../lib/ip.ts";
import type { Logger } from "../ops/log.ts";
import type { Registry } from "../ops/metrics.ts";
import { storagesWritableProblem } from "../storage/factory.ts";
import type { Storage } from "../storage/mod.ts";
import { statusOf, textResponse } from "./respond.ts";
import { clientOf, peerAddress } from "./client_address.ts";
import type { OperatorPageDeps } from "./ui/handler.ts";
import type { CaStatus } from "./ui/page.ts";

/** What `/ready` (and the operator page) needs to know of the account session. */
export interface ReadinessSession {
  readonly state: string;
  readonly reason: string;
  /** Milliseconds since epoch when the CA's directory last answered (0: never). */
  readonly lastDirectoryOk: number;
  /** Milliseconds since epoch when the session entered its state (the operator page's "since"). */
  readonly since?: number;
  probe(timeoutMs: number): Promise<boolean>;
}

export interface OperatorDeps {
  session: ReadinessSession;
  config: () => Config;
  storages: () => Iterable<Storage>;
  registry: Registry;
  /** Default: Date.now() (the source of `lastDirectoryOk`). */
  now?: Clock;
  /** Where a change of readiness and its reasons is written (default: nowhere). */
  log?: Logger;
  /** The operator page's extras (src/http/ui/handler.ts): the CAs (default: the one session), budget, fetch log. */
  page?: Partial<Pick<OperatorPageDeps, "cas" | "budget" | "fetches" | "failures" | "registration" | "now">>;
}

/** Returns null for any other route or method (the caller answers it). */
export type OperatorRoutes = (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response> | null;

/** The operators' answers keep the plain `text/plain` type they always had. */
const PLAIN = { "Content-Type": "text/plain" };

export function createOperatorRoutes(deps: OperatorDeps): OperatorRoutes {
  // The session stamps `lastDirectoryOk` with Date.now(): by default read the same source (a test that moves
  // Date.now moves both).
  const now = deps.now ?? (() => new Date(Date.now()));
  let storageProbe = { at: 0, problem: "" };

  /** Checks (at most every 10 s) that every storage that keeps files can be written. */
  const storageWritable = async (): Promise<string> => {
    if (now().getTime() - storageProbe.at < 10_000) return storageProbe.problem;
    const problem = await storagesWritableProblem(deps.storages());
    storageProbe = { at: now().getTime(), problem };
    return problem;
  };

  /** The reasons last logged ("" while ready), so a change is logged once. */
  let logged = "";
  const logChange = (problems: string[]) => {
    const reasons = problems.join("; ");
    if (reasons === logged) return;
    if (reasons) deps.log?.warn("not ready", { reasons });
    else deps.log?.info("ready again", { was: logged });
    logged = reasons;
  };

  /** The problems that keep acmems from being ready (none: ready). */
  const readiness = async (): Promise<string[]> => {
    const { session } = deps;
    const problems: string[] = [];
    if (session.state !== "ready") {
      problems.push(`ACME CA: ${session.reason}`);
    } else if (now().getTime() - session.lastDirectoryOk > 10_000) {
      // Asked at most every 10 s, so readiness follows the CA closely without hammering it.
      if (!await session.probe(2000)) {
        problems.push(`ACME CA: the directory at ${deps.config().account.acmeServer} did not answer`);
      }
    }
    const storageProblem = await storageWritable();
    if (storageProblem) problems.push(storageProblem);
    // Databases (postgres): asked on every /ready (each storage bounds and throttles its own check).
    for (const storage of deps.storages()) {
      const problem = await storage.problem?.().catch((error) => String(error));
      if (problem) problems.push(problem);
    }
    logChange(problems);
    return problems;
  };

  /** `/ready`: the reasons only for an operator (a metrics-ip peer). */
  const ready = async (request: Request, info: Deno.ServeHandlerInfo): Promise<Response> => {
    const problems = await readiness();
    if (problems.length === 0) return new Response("ready\n", { headers: PLAIN });
    const body = isOperator(request, info) ? `not ready: ${problems.join("; ")}` : "not ready";
    return textResponse(statusOf("unavailable"), body, { ...PLAIN, "Retry-After": "10" });
  };

  /**
   * The TCP peer is in `[mgmt] metrics-ip`, and so is the client as `/sign` sees it: behind a `trusted-proxy` with an
   * `X-Forwarded-For` header, the address the proxy forwarded for (a proxy on the same host must not make every
   * client behind it an operator). Forwarding headers can refuse, never grant.
   */
  const isOperator = (request: Request, info: Deno.ServeHandlerInfo): boolean => {
    const { mgmt } = deps.config();
    const inMetricsIp = (address: IpAddress | null) =>
      address !== null && mgmt.metricsIps.some((n) => networkContains(n, address));
    if (!inMetricsIp(parseIpAddress(peerAddress(info)))) return false;
    return inMetricsIp(clientOf(info, request.headers.get("x-forwarded-for"), mgmt.trustedProxies ?? NO_PROXIES).peer);
  };

  /** The one CA of `[account]`, from the session (several CAs: `page.cas`). */
  const defaultCas = (): CaStatus[] => {
    const { session } = deps;
    return [{
      name: "default",
      directoryUrl: deps.config().account.acmeServer,
      state: session.state,
      reason: session.reason,
      since: session.since ? new Date(session.since).toISOString() : null,
      lastDirectoryOk: session.lastDirectoryOk ? new Date(session.lastDirectoryOk).toISOString() : null,
    }];
  };
  // The page's rendering (src/http/ui/) loads at the first `GET /`: a server nobody looks at never loads it.
  const page = async (): Promise<Response> =>
    (await import("./ui/handler.ts")).operatorPage({
      config: deps.config,
      storages: deps.storages,
      cas: deps.page?.cas ?? defaultCas,
      budget: deps.page?.budget,
      fetches: deps.page?.fetches,
      failures: deps.page?.failures,
      registration: deps.page?.registration,
      now: deps.page?.now,
    });

  return (request, info) => {
    const path = new URL(request.url).pathname;
    if (request.method !== "GET" && request.method !== "HEAD") return null;
    if (path === "/") {
      // The page shows names, clients and errors: operators only, like /metrics.
      if (!isOperator(request, info)) {
        return Promise.resolve(
          textResponse(statusOf("refused"), "The operator page is only served to [mgmt] metrics-ip addresses.", PLAIN),
        );
      }
      return page();
    }
    if (path === "/health") return Promise.resolve(new Response("ok\n", { headers: PLAIN }));
    if (path === "/ready") return ready(request, info);
    if (path === "/metrics") {
      if (!isOperator(request, info)) {
        return Promise.resolve(
          textResponse(statusOf("refused"), "Metrics are only served to [mgmt] metrics-ip addresses.", PLAIN),
        );
      }
      return deps.registry.refresh().then(() =>
        new Response(deps.registry.render(), {
          headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
        })
      );
    }
    return null;
  };
}

/** No trusted proxies (one shared list: `clientOf` remembers its answers per list). */
const NO_PROXIES: readonly IpNetwork[] = [];

/** The handler of a metrics-only listener: the operator routes, 404 for anything else. */
export function metricsListenerHandler(routes: OperatorRoutes): (
  request: Request,
  info: Deno.ServeHandlerInfo,
) => Promise<Response> {
  return (request, info) =>
    routes(request, info) ?? Promise.resolve(textResponse(statusOf("not-found"), "Not found.", PLAIN));
}
