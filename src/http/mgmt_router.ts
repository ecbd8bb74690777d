/**
 * The management listener's handler: `/sign` goes to the /sign pipeline (sign.ts), `/revoke` to revocation
 * (revoke.ts; it takes no /sign slot: the address check before the body keeps outsiders out), `/acme/…` to the ACME
 * front end (src/acme_server/: its accounts are bound to blocks by EAB; a POST from an address that no block with
 * `acme-eab-kid` allows is refused before its body, and the others take an in-flight slot like /sign), other paths
 * to the extra routes
 * (health, metrics, operator routes), and what none of them takes is `not-found`.
 *
 * Contract: the context (config, policy, issuer) is read once per request, so a reload in the middle never mixes
 * two configs. A client that no auth block could admit (decided from its address and `Authentication` header,
 * sign.ts's `refuseBeforeBody`) is answered 403 before it takes a slot, its body unread. Caps on concurrent /sign
 * requests ([mgmt] max-inflight, and max-inflight-per-client for one client address; inflight.ts) answer `busy` at
 * once, with Retry-After, instead of queueing without bound; a slot covers the whole pipeline, body read and
 * issuance included. Nothing is retried here: a `busy` client retries after Retry-After.
 */
import { ACME_PREFIX, type AcmeFrontContext, createAcmeFront } from "../acme_server/lazy.ts"; // loads at first /acme/
import { IssueFailure } from "../issuance/failure.ts";
import { failureResponse } from "./respond.ts";
import { clientOf } from "./client_address.ts";
import type { AuthBlock } from "../config/types.ts";
import type { IpAddress } from "../lib/ip.ts";
import { blockAllowsAddress } from "../policy/authorize.ts";
import { InflightSlots } from "./inflight.ts";
import { handleRevoke } from "./revoke.ts";
import { handleSign, refuseBeforeBody, refuseMethod, type SignDeps, SignExchange } from "./sign.ts";

export interface MgmtHandlerDeps extends AcmeFrontContext, SignDeps {
  /** The current context (config reload); defaults to the fixed one in these deps. */
  current?: () => AcmeFrontContext;
  /** The ACME front end's finalize wait (tests shorten it; default 10 s). */
  acmeFinalizeWaitMs?: number;
  /** Other routes (health, metrics) tried before the not-found answer. */
  extraRoutes?: (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response> | null;
}

/** Seconds a `busy` client is told to wait. */
const BUSY_RETRY_AFTER_SECONDS = 5;

/** The mgmt handler; `close` ends what the ACME front end holds (finalizations, database connections). */
export type MgmtHandler = ((request: Request, info: Deno.ServeHandlerInfo) => Promise<Response>) & {
  close(): Promise<void>;
};

export function createMgmtHandler(deps: MgmtHandlerDeps): MgmtHandler {
  const slots = new InflightSlots();
  const acme = createAcmeFront({ log: deps.log, parser: deps.parser, finalizeWaitMs: deps.acmeFinalizeWaitMs });

  const handler = async (request: Request, info: Deno.ServeHandlerInfo) => {
    const started = Date.now();
    const path = pathOf(request.url);
    if (path.startsWith(ACME_PREFIX)) {
      const context = deps.current?.() ?? deps;
      const { maxInflight, maxInflightPerClient, trustedProxies } = context.config.mgmt;
      const { peer, client } = clientOf(info, request.headers.get("x-forwarded-for"), trustedProxies);
      // A POST (it has a body) from an address no ACME account block allows is refused before it takes a slot,
      // its body unread: outsiders cannot hold /sign's slots with stalled bodies through /acme/ either.
      if (request.method === "POST" && !acmeClientAllowed(context.config.auth, peer)) {
        return await acme.refuse(
          context,
          request,
          info,
          `The client address ${client} is not allowed to use any ACME account: check the ip = lines of the auth ` +
            "blocks with acme-eab-kid",
        );
      }
      const slot = slots.take(client, maxInflight, maxInflightPerClient);
      if (!slot.ok) return await acme.busy(context, request, info, BUSY_RETRY_AFTER_SECONDS);
      try {
        return await acme.handle(context, request, info);
      } finally {
        slot.release();
      }
    }
    if (path === "/revoke") {
      const context = deps.current?.() ?? deps;
      return await handleRevoke(new SignExchange(deps, context, request, info, started), context.revoker);
    }
    if (path !== "/sign") {
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
    const outsider = refuseBeforeBody(exchange);
    if (outsider) return await outsider;
    const { maxInflight, maxInflightPerClient } = exchange.context.config.mgmt;
    const slot = slots.take(exchange.client, maxInflight, maxInflightPerClient);
    if (!slot.ok) {
      await request.body?.cancel().catch(() => {});
      const [message, outcome] = slot.cap === "global"
        ? [`Too many requests in progress (more than ${maxInflight}); retry shortly.`, "too many in flight"]
        : [
          `Too many requests in progress from ${exchange.client} (more than ${maxInflightPerClient} per client); ` +
          "retry shortly.",
          "too many in flight for this client",
        ];
      return exchange.fail(new IssueFailure("busy", message, BUSY_RETRY_AFTER_SECONDS), { outcome });
    }
    try {
      return await handleSign(exchange);
    } finally {
      slot.release();
    }
  };
  return Object.assign(handler, { close: () => acme.close() });
}

/** The path of a request URL (`http://host:port/path?query`) without building a URL object. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

/** Some auth block with `acme-eab-kid` allows `peer` by its `ip` lines. */
function acmeClientAllowed(blocks: readonly AuthBlock[], peer: IpAddress | null): boolean {
  return blocks.some((block) => block.acmeEab !== undefined && blockAllowsAddress(block, peer));
}
