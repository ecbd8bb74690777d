/**
 * The management listener's handler: `/sign` goes to the /sign pipeline (sign.ts), other paths to the extra routes
 * (health, metrics, operator routes), and what none of them takes is `not-found`.
 *
 * Contract: the context (config, policy, issuer) is read once per request, so a reload in the middle never mixes
 * two configs. A cap on concurrent /sign requests ([mgmt] max-inflight) answers `busy` at once, with Retry-After,
 * instead of queueing without bound; the count covers the whole pipeline, issuance included. Nothing is retried
 * here: a `busy` client retries after Retry-After.
 */
import { IssueFailure } from "../issuance/failure.ts";
import { failureResponse } from "./respond.ts";
import { handleSign, refuseMethod, type SignContext, type SignDeps, SignExchange } from "./sign.ts";

export interface MgmtHandlerDeps extends SignContext, SignDeps {
  /** The current context (config reload); defaults to the fixed one in these deps. */
  current?: () => SignContext;
  /** Other routes (health, metrics) tried before the not-found answer. */
  extraRoutes?: (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response> | null;
}

/** Seconds a `busy` client is told to wait. */
const BUSY_RETRY_AFTER_SECONDS = 5;

export function createMgmtHandler(
  deps: MgmtHandlerDeps,
): (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response> {
  let inflight = 0;

  return async (request, info) => {
    const started = Date.now();
    if (pathOf(request.url) !== "/sign") {
      const extra = deps.extraRoutes?.(request, info);
      if (extra) return await extra;
      const pathname = new URL(request.url).pathname;
      return failureResponse(
        new IssueFailure("not-found", `Not found: ${pathname}. Certificates are requested with POST /sign.`),
      );
    }
    const exchange = new SignExchange(deps, deps.current?.() ?? deps, request, info, started);
    const wrongMethod = refuseMethod(exchange);
    if (wrongMethod) return wrongMethod;
    const maxInflight = exchange.context.config.mgmt.maxInflight;
    if (inflight >= maxInflight) {
      await request.body?.cancel().catch(() => {});
      return exchange.fail(
        new IssueFailure(
          "busy",
          `Too many requests in progress (more than ${maxInflight}); retry shortly.`,
          BUSY_RETRY_AFTER_SECONDS,
        ),
        { outcome: "too many in flight" },
      );
    }
    inflight++;
    try {
      return await handleSign(exchange);
    } finally {
      inflight--;
    }
  };
}

/** The path of a request URL (`http://host:port/path?query`) without building a URL object. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}
