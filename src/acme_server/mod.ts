/**
 * The ACME front end (RFC 8555, RFC 7515, RFC 9773 ARI): hosts run stock ACME clients (certbot, lego, …) against
 * acmems as if it were a CA; acmems applies the auth block's policy and issues through the same path as `POST /sign`
 * (CSR intake, cache, single flight, renewal, failover), proving control upstream itself.
 *
 * Routes, all on the mgmt listeners (https when [mgmt] tls-cert/tls-key are set), under `/acme/` (router.ts has the
 * table): `GET /acme/directory` · `HEAD|GET /acme/new-nonce` · `POST /acme/new-account` · `POST /acme/acct/<id>` ·
 * `POST /acme/key-change` · `POST /acme/new-order` · `POST /acme/order/<id>` · `POST /acme/authz/<order>/<n>` ·
 * `POST /acme/chall/<order>/<n>` · `POST /acme/finalize/<order>` · `POST /acme/cert/<order>` ·
 * `POST /acme/revoke-cert` · `GET /acme/renewal-info/<certID>`.
 *
 * Config: `[auth "name"] acme-eab-kid = KID` and `acme-eab-hmac-key = KEY` (base64url, ≥ 16 bytes, secret) opt a
 * block in; an account created with that EAB is bound to the block, whose `ip =`, `domain =`/`ip-identifiers`,
 * verification, storage, profile apply to everything the account does. `[mgmt] max-size`, `body-timeout`,
 * `sign-timeout`, `max-inflight`, `trusted-proxy` apply as for /sign. The HMAC `Authentication` header is not used.
 * State (accounts, orders, certificates): the block's storage (`file`: `<directory>/acme-front/`, `postgres`: tables
 * `acme_accounts`, `acme_orders`, `acme_certificates`), or memory for a block without one (stores.ts).
 *
 * Use: `createAcmeFront({log, parser})` once per mgmt handler (it holds the nonces, the memory store and the
 * finalizations in flight); `front.handle(context, request, info)` per request, with the generation's
 * `AcmeFrontContext`; `front.close()` at shutdown.
 */
import type { CsrParser } from "../csr/parser.ts";
import { type Clock, systemClock } from "../lib/clock.ts";
import type { Logger } from "../ops/log.ts";
import type { AcmeFrontContext, FrontState } from "./context.ts";
import { NonceStore } from "./nonces.ts";
import { AcmeError } from "./problems.ts";
import { route } from "./router.ts";
import { FrontStores } from "./stores.ts";

export type { AcmeFrontContext } from "./context.ts";

/** How long `close` waits for finalizations in flight. */
const CLOSE_WAIT_MS = 5_000;

/** The path prefix the mgmt router hands to the front end (defined in lazy.ts, which the router loads). */
export { ACME_PREFIX } from "./lazy.ts";

export interface AcmeFrontOptions {
  log: Logger;
  parser: CsrParser;
  now?: Clock;
  /** How long finalize waits for the issuance before answering `processing` (default 10 000 ms). */
  finalizeWaitMs?: number;
  /** Retry-After of a `processing` order, seconds (default 2). */
  processingRetryAfter?: number;
}

export interface AcmeFront {
  handle(context: AcmeFrontContext, request: Request, info: Deno.ServeHandlerInfo): Promise<Response>;
  /** The `busy` answer (every in-flight slot taken) as a problem document with Retry-After. */
  busy(
    context: AcmeFrontContext,
    request: Request,
    info: Deno.ServeHandlerInfo,
    retryAfterSeconds: number,
  ): Promise<Response>;
  /** A refusal decided before the body (`unauthorized`, 403), as a problem document; the body is not read. */
  refuse(context: AcmeFrontContext, request: Request, info: Deno.ServeHandlerInfo, detail: string): Promise<Response>;
  /** Waits (at most 5 s) for finalizations in flight, then closes database connections. */
  close(): Promise<void>;
}

export function createAcmeFront(opts: AcmeFrontOptions): AcmeFront {
  const now = opts.now ?? systemClock;
  const state: FrontState = {
    log: opts.log,
    parser: opts.parser,
    now,
    nonces: new NonceStore({ now }),
    stores: new FrontStores(opts.log),
    finalizing: new Map(),
    finalizeWaitMs: opts.finalizeWaitMs ?? 10_000,
    processingRetryAfter: opts.processingRetryAfter ?? 2,
  };
  return {
    handle: (context, request, info) => route(state, context, request, info),
    busy: (context, request, info, retryAfterSeconds) =>
      route(
        state,
        context,
        request,
        info,
        new AcmeError("serverInternal", "Too many requests in progress; retry shortly", {
          kind: "busy",
          retryAfterSeconds,
        }),
      ),
    refuse: (context, request, info, detail) =>
      route(state, context, request, info, new AcmeError("unauthorized", detail)),
    close: async () => {
      // Finalizations record their order's result; they get a few seconds (the issuer drains its orders first).
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...state.finalizing.values()]),
        new Promise((resolve) => timer = setTimeout(resolve, CLOSE_WAIT_MS)),
      ]);
      clearTimeout(timer);
      await state.stores.close();
    },
  };
}
