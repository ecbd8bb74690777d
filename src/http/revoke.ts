/**
 * The `POST /revoke` route: a host revokes its own certificate with openssl and curl. The body is the certificate
 * (PEM) followed by a fresh CSR signed by the certificate's key (src/revocation/pair.ts); `?reason=` names the RFC
 * 5280 reason (default `unspecified`).
 *
 * Checks, in order (statuses from http/respond.ts's table):
 *   1. a method other than POST                                                method-not-allowed
 *   2. before the body: the client could pass no auth block (as /sign)         refused
 *   3. framing, size and body timeout (as /sign)                               length-required, too-large, …
 *   4. an unknown `reason`                                                     bad-request
 *   5. not one certificate and one CSR, either unparsable, a bad CSR signature bad-request
 *      the CSR's key is not the certificate's                                  refused
 *   6. no auth block admits the client for every DNS name of the certificate
 *      (address, HMAC over the body, names)                                    refused
 *   7. the CA: 200 revoked; revoked already → conflict (409); the CA refuses → names-refused (421); the CA
 *      unavailable → unavailable (503).
 * Every answer is one audit record (as /sign's); a revocation sends the `revoked` notification.
 */
import { IssueFailure } from "../issuance/failure.ts";
import { checkRevocationPair, type RevocationPair } from "../revocation/pair.ts";
import { parseReason, REASON_NAMES, type RevocationReason, type Revoked } from "../revocation/service.ts";
import { failureResponse, statusOf, textResponse } from "./respond.ts";
import {
  authorizeExchange,
  receiveExchangeBody,
  refuseBeforeBody,
  type SignContext,
  type SignExchange,
} from "./sign.ts";

/** Revocation bound to one generation (its storages, its notifiers). */
export interface Revoker {
  revoke(pair: RevocationPair, reason: RevocationReason): Promise<Revoked>;
  /** Told after a successful revocation (the `revoked` notification). */
  revoked(pair: RevocationPair, reason: RevocationReason, client: string): void;
}

/** A mgmt context that can revoke. */
export interface RevokeContext extends SignContext {
  revoker?: Revoker;
}

/** Handles POST /revoke; `exchange.context` must carry a revoker (else not-found). */
export async function handleRevoke(exchange: SignExchange, revoker: Revoker | undefined): Promise<Response> {
  const { request, deps } = exchange;
  if (request.method !== "POST") {
    const response = failureResponse(new IssueFailure("method-not-allowed", "Only POST is supported on /revoke."));
    response.headers.set("Allow", "POST");
    return exchange.decide(response, { outcome: "method not allowed" });
  }
  if (!revoker) {
    await request.body?.cancel().catch(() => {});
    return exchange.fail(new IssueFailure("not-found", "Revocation is not available on this server."), {
      outcome: "no revoker",
    });
  }
  const outsider = await refuseBeforeBody(exchange);
  if (outsider) return outsider;

  const body = await receiveExchangeBody(exchange);
  if (body instanceof Response) return body;

  const reasonText = new URL(request.url).searchParams.get("reason");
  const reason = parseReason(reasonText);
  if (!reason) {
    return exchange.fail(
      new IssueFailure(
        "bad-request",
        `Unknown revocation reason "${String(reasonText).slice(0, 40)}": use one of ${REASON_NAMES.join(", ")}.`,
      ),
      { outcome: "revoke refused: unknown reason" },
    );
  }

  const checked = await checkRevocationPair(body, deps.parser);
  if (!checked.ok) {
    return exchange.fail(new IssueFailure(checked.kind, checked.reason), {
      outcome: `revoke refused: ${checked.code}`,
    });
  }
  const pair = checked.pair;
  const names = pair.names;
  if (names.length === 0) {
    return exchange.fail(
      new IssueFailure(
        "bad-request",
        "The certificate has no DNS name or IP address in its subjectAltName: acmems revokes only certificates " +
          "for DNS names and IP addresses.",
      ),
      { outcome: "revoke refused: no names" },
    );
  }
  const admitted = await authorizeExchange(exchange, body, names, "revoke not authorized");
  if (admitted instanceof Response) return admitted;
  const block = admitted.name;
  try {
    const done = await revoker.revoke(pair, reason);
    revoker.revoked(pair, reason, exchange.client);
    return exchange.decide(
      textResponse(
        200,
        `Revoked certificate ${pair.serial} (${names.join(", ")}) with reason ${reason}; ` +
          `${done.removed} cached ${done.removed === 1 ? "entry" : "entries"} removed.` +
          (reason === "keyCompromise" ? " Its key is refused from now on: use a new key." : ""),
      ),
      { names, block, outcome: `revoked (${reason})` },
    );
  } catch (error) {
    if (error instanceof IssueFailure) {
      return exchange.fail(error, { names, block, outcome: `revoke failed: ${statusOf(error.kind)}` });
    }
    return exchange.failInternal(error, "revoke handler error", { names, block, outcome: "internal error" });
  }
}
