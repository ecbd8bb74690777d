/**
 * The option and result shapes of `AcmeClient`'s public methods (construction, accounts, orders,
 * polling, revocation). Types only: nothing here runs.
 */
import type { EabCredentials } from "./eab.ts";
import type { FetchLike } from "./http.ts";
import type { AcmeIdentifier } from "./problem.ts";
import type { AcmeAccount } from "./types.ts";

/** Construction options. */
export interface AcmeClientOptions {
  /** The CA's directory URL. */
  directoryUrl: string;
  /** The account key pair (ECDSA P-256/P-384 or RSA). */
  accountKey: CryptoKeyPair;
  /** The account URL if already known (skips newAccount/findAccount). */
  accountUrl?: string;
  /**
   * Origins (`https://host[:port]`) the CA's URLs may point to besides the directory's own; every other origin is
   * refused (`AcmeUrlRefusedError`). `http:` origins only beside an `http:` directory (a test CA).
   */
  caOrigins?: string[];
  /** Extra trusted CA certificates (PEM) for the CA's HTTPS; creates a Deno.HttpClient (see `close`). */
  caCerts?: string[];
  /** Replaces fetch (tests, instrumentation); it receives the `caCerts` HttpClient as `init.client`. */
  fetch?: FetchLike;
  /** Per-request timeout in ms (default 30 000). */
  timeoutMs?: number;
  /** User-Agent header. */
  userAgent?: string;
  /** How often a badNonce answer is retried with a fresh nonce (default 10). */
  maxBadNonceRetries?: number;
  /** Retries after network errors and 5xx answers (default 3). */
  retries?: number;
  /** First retry backoff in ms (default 500, doubling with jitter). */
  retryBaseDelayMs?: number;
  /** Longest 5xx Retry-After waited for inside one call (default 10 000 ms); longer ones are thrown. */
  maxRetryAfterMs?: number;
  /** First polling interval when the CA sends no Retry-After (default 50 ms, then ×1.5). */
  pollIntervalMs?: number;
  /** Ceiling of the polling interval without Retry-After (default 3000 ms). */
  maxPollIntervalMs?: number;
}

/** newAccount parameters. */
export interface NewAccountOptions {
  /** Contact URLs, e.g. `mailto:ops@example.org`. */
  contact?: string[];
  /** Must be true if the CA has terms of service (`meta.termsOfService`). */
  termsOfServiceAgreed?: boolean;
  /** External account binding credentials, if the CA requires them. */
  eab?: EabCredentials;
  /** Only look the account up (RFC 8555 §7.3.1); prefer `findAccount()`. */
  onlyReturnExisting?: boolean;
}

/** Result of newAccount / findAccount. */
export interface AccountResult {
  /** The account URL (also stored in the client as the JWS `kid`). */
  url: string;
  account: AcmeAccount;
  /** True for 201 Created, false when the key already had an account (200). */
  created: boolean;
}

/** newOrder parameters. */
export interface NewOrderOptions {
  /** DNS names / IP addresses (strings are typed automatically) or explicit identifiers. */
  identifiers: (string | AcmeIdentifier)[];
  /** A profile name from `meta.profiles`. */
  profile?: string;
  /** ARI certificate id of the certificate this order replaces (RFC 9773 §5); dropped if the CA has no ARI. */
  replaces?: string;
  notBefore?: Date | string;
  notAfter?: Date | string;
}

/** Polling parameters. */
export interface PollOptions {
  /** Give up at this time (Date or epoch ms). */
  deadline: Date | number;
  /** Cancels polling early. */
  signal?: AbortSignal;
  /**
   * When to make the first fetch: the CA's Retry-After on the answer that started the wait (a Date, e.g.
   * `retryAfterOf(await client.respondToChallenge(url))`), or a delay in ms (0: at once, e.g. an order whose
   * authorizations are all valid). Default: the first polling interval (50 ms). Never later than the deadline.
   */
  firstPollAfter?: Date | number;
}

/** Per-call options for single requests. */
export interface RequestOptions {
  /** Cancels the request. */
  signal?: AbortSignal;
}

/** revokeCertificate options. */
export interface RevokeOptions extends RequestOptions {
  /** RFC 5280 reason code (see `REVOCATION_REASON`). */
  reason?: number;
  /** Sign with the certificate's own key pair (jwk header) instead of the account. */
  certificateKey?: CryptoKeyPair;
}
