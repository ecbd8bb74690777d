/**
 * One failure type for everything below `http/`: a kind, a one-line detail for the client, an optional Retry-After
 * and, for unexpected failures, the error id that is also in the log.
 *
 * Contract: nothing below `http/` knows an HTTP status. `src/http/respond.ts` is the one table from `FailureKind` to
 * the status, the `Retry-After` header and the body a client sees; the notifiers' `status` field is taken from that
 * same table.
 */

export type FailureKind =
  // The request itself (decided in http/ before anything is ordered).
  /** No such route. */
  | "not-found"
  /** The route exists, the method does not. */
  | "method-not-allowed"
  /** No Content-Length (and no chunked body). */
  | "length-required"
  /** Malformed framing or a body that could not be read. */
  | "bad-request"
  /** The body did not arrive within body-timeout. */
  | "body-timeout"
  /** The body is larger than max-size. */
  | "too-large"
  /** The body is not a usable PEM CSR. */
  | "unusable-csr"
  /** The request's Content-Type is not the one the route takes (ACME: `application/jose+json`). */
  | "unsupported-media-type"
  /** The client or this CSR is not allowed (auth blocks, CSR rules, the CA refusing the CSR or its key). */
  | "refused"
  /** Too many requests in flight on this listener. */
  | "busy"
  /** The request conflicts with the resource's state (a certificate revoked already). */
  | "conflict"
  // Issuance.
  /** A name failed validation, the CA refuses the names, or the challenge setup needs the operator. */
  | "names-refused"
  /** The CA rate-limited the request (retryAfter is the CA's). */
  | "rate-limited"
  /** Worth retrying later: CA or storage unreachable, CA 5xx, DNS server down, the order outlived sign-timeout. */
  | "unavailable"
  /** Anything unexpected: logged with `errorId`. */
  | "internal";

/** A failure with its kind; `message` is the one-line detail shown to the client. */
export class IssueFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    /** Seconds the client should wait before retrying (kinds `rate-limited`, `unavailable`, `busy`). */
    readonly retryAfterSeconds?: number,
    /** Also logged with the cause (kind `internal`). */
    readonly errorId?: string,
  ) {
    super(message);
    this.name = "IssueFailure";
  }

  /** The one-line detail shown to the client. */
  get detail(): string {
    return this.message;
  }
}

/** A short random id that ties a client's error message to the log line with the cause. */
export function newErrorId(): string {
  return crypto.randomUUID().slice(0, 8);
}
