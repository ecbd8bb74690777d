/**
 * The front end's routes and the RFC 8555 §6 request rules every POST passes.
 *
 * Routes (all under `/acme/`):
 *   GET  directory                          directory.ts
 *   HEAD|GET new-nonce                      200 (HEAD) / 204 (GET), Cache-Control: no-store
 *   POST new-account                        jwk     accounts.ts (EAB required)
 *   POST acct/<id>, acct/<id>/orders        kid     accounts.ts
 *   POST key-change                         kid     accounts.ts (inner JWS by the new key)
 *   POST new-order                          kid     orders.ts
 *   POST order/<id>                         kid     finalize.ts (polling)
 *   POST authz/<order>/<n>, chall/<order>/<n>  kid  orders.ts
 *   POST finalize/<order>                   kid     finalize.ts
 *   POST cert/<order>                       kid     finalize.ts (application/pem-certificate-chain)
 *   POST revoke-cert                        kid or jwk  revoke_cert.ts
 *   GET  renewal-info/<certID>              renewal_info.ts
 *
 * A POST must be `application/jose+json` (415 otherwise), framed and sized as /sign bodies ([mgmt] max-size,
 * body-timeout), a flattened JWS (jws.ts) whose nonce is one of ours (`badNonce`, single use), whose `url` is this
 * request's URL (`unauthorized`), with `jwk` where the route takes a key and `kid` (an account URL of ours,
 * `accountDoesNotExist` otherwise) elsewhere; a deactivated account, or one whose auth block is gone or no longer
 * has `acme-eab-kid`, is `unauthorized`. Every answer carries a fresh `Replay-Nonce` and `Link: <directory>;rel="index"`;
 * every error is a problem document (problems.ts). Unexpected errors are `serverInternal` with an error id in the log;
 * a storage that cannot be reached is `serverInternal` with 503 and Retry-After.
 */
import { clientOf } from "../http/client_address.ts";
import { checkFraming, receiveBody } from "../http/body.ts";
import { newErrorId } from "../issuance/failure.ts";
import { networkContains, parseIpAddress, unmapIpv4 } from "../lib/ip.ts";
import { peerAddress } from "../http/client_address.ts";
import { StorageUnavailableError } from "../storage/errors.ts";
import { accountOrders, accountRequest, keyChange, newAccount } from "./accounts.ts";
import type { AcmeExchange, AcmeFrontContext, FrontState, Signed } from "./context.ts";
import { directory } from "./directory.ts";
import { downloadCertificate, finalize, pollOrder } from "./finalize.ts";
import { type Jwk, parseJws, payloadJson, verifyJws } from "./jws.ts";
import { authorizationRequest, challengeRequest, newOrder } from "./orders.ts";
import { AcmeError, problemResponse } from "./problems.ts";
import { renewalInfo } from "./renewal_info.ts";
import { revokeCert } from "./revoke_cert.ts";
import { AcmeUrls, baseUrl } from "./urls.ts";

type Signer = "jwk" | "kid" | "either";
type PostHandler = (ex: AcmeExchange, signed: Signed, ...params: string[]) => Promise<Response> | Response;

const POST_ROUTES: [RegExp, Signer, PostHandler][] = [
  [/^new-account$/, "jwk", newAccount],
  [/^acct\/([A-Za-z0-9_-]+)$/, "kid", accountRequest],
  [/^acct\/([A-Za-z0-9_-]+)\/orders$/, "kid", accountOrders],
  [/^key-change$/, "kid", keyChange],
  [/^new-order$/, "kid", newOrder],
  [/^order\/([A-Za-z0-9_-]+)$/, "kid", pollOrder],
  [/^authz\/([A-Za-z0-9_-]+)\/(\d+)$/, "kid", authorizationRequest],
  [/^chall\/([A-Za-z0-9_-]+)\/(\d+)$/, "kid", challengeRequest],
  [/^finalize\/([A-Za-z0-9_-]+)$/, "kid", finalize],
  [/^cert\/([A-Za-z0-9_-]+)$/, "kid", downloadCertificate],
  [/^revoke-cert$/, "either", revokeCert],
];

/**
 * Handles one request under `/acme/`. Never throws. `refusal`: the answer was decided before (the mgmt listener is
 * busy); it still goes out as a problem document with a nonce and the index link.
 */
export async function route(
  state: FrontState,
  context: AcmeFrontContext,
  request: Request,
  info: Deno.ServeHandlerInfo,
  refusal?: AcmeError,
): Promise<Response> {
  const trusted = context.config.mgmt.trustedProxies;
  const found = clientOf(info, request.headers.get("x-forwarded-for"), trusted);
  const tcpPeer = parseIpAddress(peerAddress(info));
  const viaProxy = tcpPeer !== null && trusted.some((n) => networkContains(n, unmapIpv4(tcpPeer)));
  const urls = new AcmeUrls(baseUrl(request, viaProxy));
  const ex: AcmeExchange = { state, context, request, urls, peer: found.peer, client: found.client };
  let response: Response;
  let error: AcmeError | undefined;
  try {
    if (refusal) {
      await request.body?.cancel().catch(() => {});
      throw refusal;
    }
    response = await dispatch(ex);
  } catch (thrown) {
    error = asAcmeError(ex, thrown);
    response = problemResponse(error);
  }
  const fields = {
    method: request.method,
    path: new URL(request.url).pathname,
    status: response.status,
    client: ex.client,
    ...(error ? { problem: error.error, detail: error.message } : {}),
  };
  if (response.status >= 500) state.log.warn("acme request", fields);
  else state.log.debug("acme request", fields);
  const headers = new Headers(response.headers);
  headers.set("Replay-Nonce", state.nonces.issue());
  headers.append("Link", `<${urls.directory}>;rel="index"`);
  if (!headers.has("Cache-Control")) headers.set("Cache-Control", "no-store");
  return new Response(response.body, { status: response.status, headers });
}

async function dispatch(ex: AcmeExchange): Promise<Response> {
  const { request } = ex;
  const path = new URL(request.url).pathname.slice("/acme/".length);
  const method = request.method;
  if (path === "directory") {
    allow(method, ["GET", "HEAD"]);
    return await directory(ex);
  }
  if (path === "new-nonce") {
    allow(method, ["GET", "HEAD"]);
    return new Response(null, { status: method === "HEAD" ? 200 : 204 });
  }
  const ari = /^renewal-info\/(.+)$/.exec(path);
  if (ari) {
    allow(method, ["GET"]);
    return await renewalInfo(ex, ari[1]);
  }
  for (const [pattern, signer, handler] of POST_ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    allow(method, ["POST"]);
    const signed = await authenticate(ex, signer);
    return await handler(ex, signed, ...match.slice(1));
  }
  await request.body?.cancel().catch(() => {});
  throw new AcmeError("malformed", `Not found: /acme/${path.slice(0, 80)}; the directory is /acme/directory`, {
    kind: "not-found",
  });
}

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method)) {
    throw new AcmeError("malformed", `Method ${method} is not allowed here: use ${methods.join(" or ")}`, {
      kind: "method-not-allowed",
      headers: { Allow: methods.join(", ") },
    });
  }
}

/** Reads, parses and verifies the JWS of a POST, and finds its signer. */
async function authenticate(ex: AcmeExchange, signer: Signer): Promise<Signed> {
  const { request, state, context } = ex;
  const type = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/jose+json") {
    await request.body?.cancel().catch(() => {});
    throw new AcmeError("malformed", `Content-Type must be application/jose+json, not "${type.slice(0, 60)}"`, {
      kind: "unsupported-media-type",
    });
  }
  const raw = await readJoseBody(request, context.config.mgmt.maxSize, context.config.mgmt.bodyTimeoutMs);
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new AcmeError("malformed", "The body is not JSON: send a flattened JWS");
  }
  const jws = parseJws(body, { nonce: "required" });
  if (!state.nonces.take(jws.header.nonce!)) {
    throw new AcmeError("badNonce", "The nonce is unknown, used already or expired: retry with the fresh Replay-Nonce");
  }
  const expectedUrl = `${ex.urls.base}${new URL(request.url).pathname}`;
  if (jws.header.url !== expectedUrl) {
    throw new AcmeError(
      "unauthorized",
      `The JWS url ${JSON.stringify(jws.header.url.slice(0, 200))} is not this request's URL ${expectedUrl}`,
    );
  }
  if (jws.header.jwk) {
    if (signer === "kid") {
      throw new AcmeError("malformed", "This request must be signed by an account (kid), not a jwk");
    }
    await verifyJws(jws, jws.header.jwk);
    return { jws, payload: payloadJson(jws), jwk: jws.header.jwk };
  }
  if (signer === "jwk") throw new AcmeError("malformed", "This request must carry the account key (jwk), not a kid");
  const kid = jws.header.kid!;
  const id = ex.urls.accountId(kid);
  const found = id ? await state.stores.find(context.config, (store) => store.getAccount(id)) : null;
  if (!found) {
    throw new AcmeError("accountDoesNotExist", `No account ${JSON.stringify(kid.slice(0, 200))}: create one first`);
  }
  const record = found.value;
  await verifyJws(jws, record.jwk as Jwk);
  if (record.status !== "valid") throw new AcmeError("unauthorized", `The account is ${record.status}`);
  const block = context.config.auth.find((b) => b.name === record.block && b.acmeEab);
  if (!block) {
    throw new AcmeError(
      "unauthorized",
      `The auth block "${record.block}" this account is bound to no longer accepts ACME accounts`,
    );
  }
  return { jws, payload: payloadJson(jws), account: { record, store: found.store, block } };
}

/**
 * The body within [mgmt] max-size and body-timeout: with a Content-Length the /sign framing rules (body.ts), without
 * one (chunked) read up to max-size. Throws `malformed` with the framing failure's kind (411, 413, 408, 400).
 */
async function readJoseBody(request: Request, maxSize: number, timeoutMs: number): Promise<Uint8Array> {
  let length: number | null = null;
  if (request.headers.has("content-length")) {
    const framing = checkFraming(request.headers, maxSize);
    if (!framing.ok) {
      await request.body?.cancel().catch(() => {});
      throw new AcmeError("malformed", framing.failure.message, { kind: framing.failure.kind });
    }
    length = framing.length;
  }
  const received = await receiveBody(request, length, maxSize, timeoutMs);
  if (!received.ok) throw new AcmeError("malformed", received.failure.message, { kind: received.failure.kind });
  return received.body;
}

function asAcmeError(ex: AcmeExchange, error: unknown): AcmeError {
  if (error instanceof AcmeError) return error;
  if (error instanceof StorageUnavailableError) {
    return new AcmeError("serverInternal", `The storage cannot be reached right now: retry later`, {
      kind: "unavailable",
      retryAfterSeconds: 10,
    });
  }
  const errorId = newErrorId();
  ex.state.log.error("acme front end error", {
    errorId,
    path: new URL(ex.request.url).pathname,
    error: error instanceof Error ? error.stack ?? error.message : String(error),
  });
  return new AcmeError("serverInternal", `Internal error (error id ${errorId}); the server log has the details`);
}
