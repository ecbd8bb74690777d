/**
 * What one front-end request is handled with: the generation's context (config, issuer, revoker, storages, the
 * upstream CA's client), the URLs of the listener it came in on, who the client is, and the long-lived parts of the
 * front end (nonces, stores, finalizations in flight). Also the small response helpers every handler shares.
 */
import type { AcmeClient } from "../acme/mod.ts";
import type { AuthBlock } from "../config/types.ts";
import type { CsrParser } from "../csr/parser.ts";
import type { RevokeContext } from "../http/revoke.ts";
import type { Clock } from "../lib/clock.ts";
import type { IpAddress } from "../lib/ip.ts";
import type { Logger } from "../ops/log.ts";
import type { Storage } from "../storage/mod.ts";
import type { AcmeFrontAccount, AcmeFrontStore } from "../storage/port.ts";
import type { Jwk, ParsedJws } from "./jws.ts";
import type { NonceStore } from "./nonces.ts";
import type { FrontStores } from "./stores.ts";
import type { AcmeUrls } from "./urls.ts";

/** The per-generation context the mgmt listener hands the front end (a reload swaps it as a whole). */
export interface AcmeFrontContext extends RevokeContext {
  /** The generation's storages by name (cache entries: ARI windows). */
  storages?: Map<string, Storage>;
  /** The upstream CA's client (its directory's meta is relayed); throws while the CA is not ready. */
  upstream?: () => AcmeClient;
}

/** What outlives requests and reloads. */
export interface FrontState {
  log: Logger;
  parser: CsrParser;
  now: Clock;
  nonces: NonceStore;
  stores: FrontStores;
  /** Finalizations running in this process, by order id. */
  finalizing: Map<string, Promise<void>>;
  /** How long finalize (and a poll that resumes an order) waits for the issuance before answering `processing`. */
  finalizeWaitMs: number;
  /** Retry-After (seconds) of a `processing` order. */
  processingRetryAfter: number;
}

/** One request. */
export interface AcmeExchange {
  state: FrontState;
  context: AcmeFrontContext;
  request: Request;
  urls: AcmeUrls;
  /** The client address `ip =` rules see (as /sign sees it), or null. */
  peer: IpAddress | null;
  client: string;
}

/** A host account with the store it lives in and the block it is bound to. */
export interface BoundAccount {
  record: AcmeFrontAccount;
  store: AcmeFrontStore;
  block: AuthBlock;
}

/** A verified request: its JWS, its payload (undefined for POST-as-GET) and its signer. */
export interface Signed {
  jws: ParsedJws;
  payload: Record<string, unknown> | undefined;
  /** Set when the JWS named an account (`kid`). */
  account?: BoundAccount;
  /** Set when the JWS carried a key (`jwk`). */
  jwk?: Jwk;
}

/** A JSON answer. */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}
