/**
 * ACME problem documents (RFC 8555 §6.7, RFC 7807) for the front end. An `AcmeError` names the RFC 8555 error type
 * and the failure kind whose HTTP status it is answered with: src/http/respond.ts stays the one table kind → status
 * (and Retry-After), this file only says which kind each ACME error is.
 *
 * Contract: pure. Every error response is `application/problem+json` with `type`
 * `urn:ietf:params:acme:error:<name>`, `detail` and `status`; the router adds Replay-Nonce and the index Link.
 */
import type { FailureKind, IssueFailure } from "../issuance/failure.ts";
import { statusOf } from "../http/respond.ts";

/** The RFC 8555 (and RFC 9773, profiles draft) error names the front end answers with. */
export type AcmeErrorName =
  | "accountDoesNotExist"
  | "alreadyRevoked"
  | "badCSR"
  | "badNonce"
  | "badPublicKey"
  | "badRevocationReason"
  | "badSignatureAlgorithm"
  | "externalAccountRequired"
  | "invalidProfile"
  | "malformed"
  | "orderNotReady"
  | "rateLimited"
  | "rejectedIdentifier"
  | "serverInternal"
  | "unauthorized"
  | "unsupportedIdentifier";

/** The failure kind (hence the HTTP status) each error is answered with by default. */
const KIND: Readonly<Record<AcmeErrorName, FailureKind>> = {
  accountDoesNotExist: "bad-request",
  alreadyRevoked: "bad-request",
  badCSR: "bad-request",
  badNonce: "bad-request",
  badPublicKey: "bad-request",
  badRevocationReason: "bad-request",
  badSignatureAlgorithm: "bad-request",
  externalAccountRequired: "refused",
  invalidProfile: "bad-request",
  malformed: "bad-request",
  orderNotReady: "refused",
  rateLimited: "rate-limited",
  rejectedIdentifier: "bad-request",
  serverInternal: "internal",
  unauthorized: "refused",
  unsupportedIdentifier: "bad-request",
};

/** A subproblem naming one identifier (RFC 8555 §6.7.1). */
export interface Subproblem {
  type: string;
  detail: string;
  identifier: { type: string; value: string };
}

/** An ACME error on its way to the client. */
export class AcmeError extends Error {
  readonly kind: FailureKind;
  constructor(
    readonly error: AcmeErrorName,
    detail: string,
    options: {
      kind?: FailureKind;
      retryAfterSeconds?: number;
      /** `badSignatureAlgorithm`: the algorithms the server accepts. */
      algorithms?: readonly string[];
      subproblems?: Subproblem[];
      headers?: Record<string, string>;
    } = {},
  ) {
    super(detail);
    this.name = "AcmeError";
    this.kind = options.kind ?? KIND[error];
    this.options = options;
  }
  readonly options: {
    retryAfterSeconds?: number;
    algorithms?: readonly string[];
    subproblems?: Subproblem[];
    headers?: Record<string, string>;
  };
}

/** `urn:ietf:params:acme:error:<name>`. */
export function errorType(name: AcmeErrorName): string {
  return `urn:ietf:params:acme:error:${name}`;
}

/** The problem document of an error: `{type, detail, status, …}`. */
export function problemDocument(error: AcmeError): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    type: errorType(error.error),
    detail: error.message,
    status: statusOf(error.kind),
  };
  if (error.options.algorithms) doc.algorithms = [...error.options.algorithms];
  if (error.options.subproblems?.length) doc.subproblems = error.options.subproblems;
  return doc;
}

/** The HTTP answer to an error (without the Replay-Nonce and Link the router adds). */
export function problemResponse(error: AcmeError): Response {
  const headers = new Headers({ "Content-Type": "application/problem+json", ...error.options.headers });
  if (error.options.retryAfterSeconds !== undefined) {
    headers.set("Retry-After", String(error.options.retryAfterSeconds));
  }
  return new Response(JSON.stringify(problemDocument(error)), { status: statusOf(error.kind), headers });
}

/**
 * The ACME error for an issuance or revocation failure (src/issuance/failure.ts): the CA's rate limit is
 * `rateLimited`, a CSR or key the CA (or acmems) refuses is `badCSR`, names the CA refuses or could not validate are
 * `rejectedIdentifier`, a conflict is `alreadyRevoked`, anything else is `serverInternal` with the failure's status.
 */
export function fromIssueFailure(failure: IssueFailure): AcmeError {
  const retryAfterSeconds = failure.retryAfterSeconds;
  switch (failure.kind) {
    case "rate-limited":
      return new AcmeError("rateLimited", failure.message, { retryAfterSeconds });
    case "refused":
    case "unusable-csr":
      return new AcmeError("badCSR", failure.message);
    case "names-refused":
      return new AcmeError("rejectedIdentifier", failure.message, { kind: "refused" });
    case "conflict":
      return new AcmeError("alreadyRevoked", failure.message);
    default:
      return new AcmeError("serverInternal", failure.message, { kind: failure.kind, retryAfterSeconds });
  }
}
