/**
 * ACME problem documents (RFC 8555 §6.7, RFC 7807) as a typed error.
 *
 * Contract: every HTTP error response from the CA becomes an `AcmeProblem`. A body served as
 * `application/problem+json` supplies `type`, `detail`, `subproblems` and `instance`; any other error
 * body gets `type: "about:blank"` (RFC 7807's "nothing beyond the status code"), except a bare 429,
 * which is typed `rateLimited` because that is what the status means. `retryAfter` comes from the
 * response's `Retry-After` header. Nothing here retries or sleeps.
 */
import { abbreviate } from "./encoding.ts";
import { parseRetryAfter } from "./retry_after.ts";

/** Prefix of all ACME error types. */
export const ACME_ERROR_PREFIX = "urn:ietf:params:acme:error:";

/** ACME error types from RFC 8555 §6.7 and later RFCs (RFC 9773 alreadyReplaced, profiles' invalidProfile). */
export type AcmeErrorType =
  | "accountDoesNotExist"
  | "alreadyReplaced"
  | "alreadyRevoked"
  | "badCSR"
  | "badNonce"
  | "badPublicKey"
  | "badRevocationReason"
  | "badSignatureAlgorithm"
  | "caa"
  | "compound"
  | "connection"
  | "dns"
  | "externalAccountRequired"
  | "incorrectResponse"
  | "invalidContact"
  | "invalidProfile"
  | "malformed"
  | "orderNotReady"
  | "rateLimited"
  | "rejectedIdentifier"
  | "serverInternal"
  | "tls"
  | "unauthorized"
  | "unsupportedContact"
  | "unsupportedIdentifier"
  | "userActionRequired";

/** An identifier as used in orders, authorizations and subproblems. */
export interface AcmeIdentifier {
  type: string;
  value: string;
}

/** A subproblem (RFC 8555 §6.7.1): a problem about one identifier. */
export interface AcmeSubproblem {
  type: string;
  detail?: string;
  identifier?: AcmeIdentifier;
}

/** The JSON shape of a problem document. */
export interface ProblemDocument {
  type?: string;
  title?: string;
  detail?: string;
  status?: number;
  instance?: string;
  subproblems?: AcmeSubproblem[];
  /** badSignatureAlgorithm lists what the CA accepts. */
  algorithms?: string[];
}

/** Fields for constructing an `AcmeProblem`. */
export interface AcmeProblemInit {
  type: string;
  detail?: string;
  status: number;
  subproblems?: AcmeSubproblem[];
  retryAfter?: Date;
  instance?: string;
  url?: string;
  algorithms?: string[];
}

/** An error answer from an ACME CA. */
export class AcmeProblem extends Error {
  override name = "AcmeProblem";
  /** Full type URN, e.g. `urn:ietf:params:acme:error:rateLimited`, or `about:blank`. */
  readonly type: string;
  /** Human-readable detail from the CA ("" if none). */
  readonly detail: string;
  /** HTTP status of the response. */
  readonly status: number;
  /** Per-identifier problems (compound errors, rejected identifiers). */
  readonly subproblems: AcmeSubproblem[];
  /** When the CA says to retry (from `Retry-After`), if it said. */
  readonly retryAfter: Date | undefined;
  /** A URL identifying this occurrence, e.g. a rate-limit documentation page. */
  readonly instance: string | undefined;
  /** The request URL that produced the problem. */
  readonly url: string | undefined;
  /** Algorithms the CA accepts (badSignatureAlgorithm only). */
  readonly algorithms: string[] | undefined;

  constructor(init: AcmeProblemInit) {
    const short = shortType(init.type);
    const where = init.url ? ` (${init.url})` : "";
    super(`ACME ${short} (HTTP ${init.status})${where}: ${init.detail || "no detail given"}`);
    this.type = init.type;
    this.detail = init.detail ?? "";
    this.status = init.status;
    this.subproblems = init.subproblems ?? [];
    this.retryAfter = init.retryAfter;
    this.instance = init.instance;
    this.url = init.url;
    this.algorithms = init.algorithms;
  }

  /** The type without the ACME URN prefix (`rateLimited`), or the full type for non-ACME types. */
  get shortType(): string {
    return shortType(this.type);
  }

  /** True if this problem has the given ACME type (short name or full URN). */
  is(type: AcmeErrorType | string): boolean {
    return this.type === fullType(type);
  }
}

/** True if `e` is an `AcmeProblem` of the given type (`"rateLimited"` or the full URN). */
export function isProblem(e: unknown, type?: AcmeErrorType | string): e is AcmeProblem {
  return e instanceof AcmeProblem && (type === undefined || e.is(type));
}

/** Builds an `AcmeProblem` from an HTTP error response's parts. */
export function problemFromResponse(
  response: { status: number; headers: Headers; text: string; url: string },
  now: Date = new Date(),
): AcmeProblem {
  const contentType = response.headers.get("content-type") ?? "";
  const retryAfter = parseRetryAfter(response.headers.get("retry-after"), now);
  let doc: ProblemDocument | undefined;
  if (/^application\/problem\+json\b/i.test(contentType) || /^application\/json\b/i.test(contentType)) {
    try {
      const parsed = JSON.parse(response.text);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) doc = parsed as ProblemDocument;
    } catch {
      // Fall through to the untyped problem below; the body snippet goes into detail.
    }
  }
  if (doc && typeof doc.type === "string") {
    return new AcmeProblem({
      type: doc.type,
      detail: typeof doc.detail === "string" ? doc.detail : doc.title,
      status: response.status,
      subproblems: parseSubproblems(doc.subproblems),
      retryAfter,
      instance: typeof doc.instance === "string" ? doc.instance : undefined,
      url: response.url,
      algorithms: Array.isArray(doc.algorithms) ? doc.algorithms.filter((a) => typeof a === "string") : undefined,
    });
  }
  const snippet = abbreviate(response.text.trim().replace(/\s+/g, " "), 200);
  return new AcmeProblem({
    type: response.status === 429 ? `${ACME_ERROR_PREFIX}rateLimited` : "about:blank",
    detail: snippet ? `unexpected ${contentType || "untyped"} error body: ${snippet}` : "empty error body",
    status: response.status,
    retryAfter,
    url: response.url,
  });
}

/** Converts a problem object embedded in an order/challenge (`error` field) into an `AcmeProblem`. */
export function problemFromDocument(doc: ProblemDocument, url?: string): AcmeProblem {
  return new AcmeProblem({
    type: typeof doc.type === "string" ? doc.type : "about:blank",
    detail: doc.detail,
    status: typeof doc.status === "number" ? doc.status : 0,
    subproblems: parseSubproblems(doc.subproblems),
    instance: doc.instance,
    url,
  });
}

function parseSubproblems(value: unknown): AcmeSubproblem[] {
  if (!Array.isArray(value)) return [];
  return value.filter((s): s is AcmeSubproblem => !!s && typeof s === "object" && typeof s.type === "string")
    .map((s) => ({
      type: s.type,
      detail: typeof s.detail === "string" ? s.detail : undefined,
      identifier: s.identifier && typeof s.identifier.type === "string" && typeof s.identifier.value === "string"
        ? { type: s.identifier.type, value: s.identifier.value }
        : undefined,
    }));
}

function fullType(type: string): string {
  return type.includes(":") ? type : ACME_ERROR_PREFIX + type;
}

function shortType(type: string): string {
  return type.startsWith(ACME_ERROR_PREFIX) ? type.slice(ACME_ERROR_PREFIX.length) : type;
}
