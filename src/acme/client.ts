/**
 * `AcmeClient`: one ACME account at one CA (RFC 8555, RFC 9773 ARI, profiles, EAB).
 *
 * Contract:
 * - Stateless towards the CA apart from the account URL, a cached directory and a nonce pool; safe to
 *   use concurrently (each request takes its own nonce; a nonce is never used twice).
 * - Every CA error answer throws an `AcmeProblem` carrying type, detail, status, subproblems and the
 *   `Retry-After` time. `rateLimited` (429) is thrown **at once**: nothing here sleeps on a rate limit.
 *   Callers schedule the retry from `problem.retryAfter`.
 * - `badNonce` is retried up to `maxBadNonceRetries` times, each time with the nonce the CA sent in
 *   the badNonce answer. Network errors and 5xx are retried by the transport (see http.ts).
 * - Every request is bounded by `timeoutMs`; pollers are additionally bounded by their `deadline` and
 *   throw `AcmeTimeoutError` when it passes (an in-flight request is aborted at the deadline).
 * - Reads are POST-as-GET (RFC 8555 §6.3) except the directory, newNonce and renewalInfo (RFC 9773 §4.1).
 * - With `caCerts`, the client owns a `Deno.HttpClient`: call `close()` (or use `using`) when done.
 * - The CA's URLs are trusted no further than the directory: each must be https: (http: only when the directory is
 *   http:) and on the directory's origin or one in `caOrigins`, else `AcmeUrlRefusedError`; redirects are errors,
 *   never followed (ca_urls.ts, http.ts).
 *
 * The class is a façade: the request plumbing is session.ts, the operations are accounts.ts, orders.ts,
 * certificates.ts, renewal_info.ts and poll.ts, each a set of free functions taking the session.
 */
import * as accounts from "./accounts.ts";
import type { AriCertParts } from "./ari.ts";
import * as certificates from "./certificates.ts";
import type {
  AccountResult,
  AcmeClientOptions,
  NewAccountOptions,
  NewOrderOptions,
  PollOptions,
  RequestOptions,
  RevokeOptions,
} from "./client_options.ts";
import { dns01TxtValue, keyAuthorization, type PublicJwk } from "./jwk.ts";
import * as orders from "./orders.ts";
import { type PollIntervals, pollUntil } from "./poll.ts";
import { DEFAULT_POLL_PACE } from "./poll_schedule.ts";
import * as ari from "./renewal_info.ts";
import { AcmeSession } from "./session.ts";
import type {
  AcmeAccount,
  AcmeAuthorization,
  AcmeChallenge,
  AcmeDirectory,
  AcmeDirectoryMeta,
  AcmeOrder,
  CertificateChain,
  RenewalInfo,
} from "./types.ts";

export type {
  AccountResult,
  AcmeClientOptions,
  NewAccountOptions,
  NewOrderOptions,
  PollOptions,
  RequestOptions,
  RevokeOptions,
} from "./client_options.ts";
export { toIdentifier } from "./orders.ts";

/** An RFC 8555 ACME client for one account. */
export class AcmeClient {
  /** The directory URL this client talks to. */
  readonly directoryUrl: string;
  /** How often a badNonce answer is retried. */
  readonly maxBadNonceRetries: number;
  readonly #s: AcmeSession;
  readonly #intervals: PollIntervals;

  constructor(opts: AcmeClientOptions) {
    try {
      new URL(opts.directoryUrl);
    } catch {
      throw new TypeError(`ACME directory URL "${opts.directoryUrl}" is not a valid URL`);
    }
    if (!opts.accountKey?.privateKey || !opts.accountKey?.publicKey) {
      throw new TypeError("accountKey must be a CryptoKeyPair with privateKey and publicKey");
    }
    this.directoryUrl = opts.directoryUrl;
    this.maxBadNonceRetries = opts.maxBadNonceRetries ?? 10;
    if (!Number.isInteger(this.maxBadNonceRetries) || this.maxBadNonceRetries < 0) {
      throw new RangeError(`maxBadNonceRetries must be an integer >= 0, got ${opts.maxBadNonceRetries}`);
    }
    this.#intervals = {
      ...DEFAULT_POLL_PACE,
      firstMs: opts.pollIntervalMs ?? DEFAULT_POLL_PACE.firstMs,
      maxMs: opts.maxPollIntervalMs ?? DEFAULT_POLL_PACE.maxMs,
    };
    this.#s = new AcmeSession({ ...opts, maxBadNonceRetries: this.maxBadNonceRetries });
  }

  /** Releases the HTTP client created for `caCerts`. Idempotent. */
  close(): void {
    this.#s.close();
  }

  /** Same as `close()`, for `using client = new AcmeClient(…)`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** The account URL (JWS `kid`), once known. */
  get accountUrl(): string | undefined {
    return this.#s.accountUrl;
  }

  /** The account key pair currently used for signing. */
  get accountKey(): CryptoKeyPair {
    return this.#s.accountKey;
  }

  // ---------------------------------------------------------------- directory

  /** The directory, fetched once and cached; a failed fetch is not cached. */
  directory(opts: RequestOptions = {}): Promise<AcmeDirectory> {
    return this.#s.directory(opts);
  }

  /** Drops the cached directory and fetches it again. */
  refreshDirectory(opts: RequestOptions = {}): Promise<AcmeDirectory> {
    return this.#s.refreshDirectory(opts);
  }

  /** The directory's `meta` object (`{}` if the CA sent none). */
  async meta(opts: RequestOptions = {}): Promise<AcmeDirectoryMeta> {
    return (await this.directory(opts)).meta ?? {};
  }

  // ---------------------------------------------------------------- keys

  /** The account's public JWK. */
  publicJwk(): Promise<PublicJwk> {
    return this.#s.publicJwk();
  }

  /** The account key's RFC 7638 thumbprint. */
  thumbprint(): Promise<string> {
    return this.#s.thumbprint();
  }

  /** The http-01 key authorization for a challenge token (`token.thumbprint`). */
  async keyAuthorization(token: string): Promise<string> {
    return keyAuthorization(token, await this.thumbprint());
  }

  /** The dns-01 TXT value for a challenge token. */
  async dns01TxtValue(token: string): Promise<string> {
    return await dns01TxtValue(await this.keyAuthorization(token));
  }

  // ---------------------------------------------------------------- accounts

  /** Creates (201) or finds (200) the account for this key (RFC 8555 §7.3). */
  newAccount(opts: NewAccountOptions = {}, req: RequestOptions = {}): Promise<AccountResult> {
    return accounts.newAccount(this.#s, opts, req);
  }

  /** Looks up the existing account for this key; throws `accountDoesNotExist` if there is none. */
  async findAccount(req: RequestOptions = {}): Promise<AccountResult> {
    return await this.newAccount({ onlyReturnExisting: true }, req);
  }

  /** Fetches the account object. */
  getAccount(req: RequestOptions = {}): Promise<AcmeAccount> {
    return accounts.getAccount(this.#s, req);
  }

  /** Replaces the account's contact URLs. */
  updateAccount(update: { contact: string[] }, req: RequestOptions = {}): Promise<AcmeAccount> {
    return accounts.updateAccount(this.#s, update, req);
  }

  /** Deactivates the account (irreversible, RFC 8555 §7.3.6). */
  deactivateAccount(req: RequestOptions = {}): Promise<AcmeAccount> {
    return accounts.deactivateAccount(this.#s, req);
  }

  /** Rolls the account over to a new key (RFC 8555 §7.3.5); the client signs with it afterwards. */
  changeAccountKey(newKey: CryptoKeyPair, req: RequestOptions = {}): Promise<void> {
    return accounts.changeAccountKey(this.#s, newKey, req);
  }

  // ---------------------------------------------------------------- orders

  /** Creates an order (RFC 8555 §7.4). */
  newOrder(opts: NewOrderOptions, req: RequestOptions = {}): Promise<AcmeOrder> {
    return orders.newOrder(this.#s, opts, req);
  }

  /** Fetches an order. */
  getOrder(url: string, req: RequestOptions = {}): Promise<AcmeOrder> {
    return orders.getOrder(this.#s, url, req);
  }

  /** Fetches an authorization. */
  getAuthorization(url: string, req: RequestOptions = {}): Promise<AcmeAuthorization> {
    return orders.getAuthorization(this.#s, url, req);
  }

  /** Tells the CA the challenge is ready to be validated (POST `{}`, RFC 8555 §7.5.1). */
  respondToChallenge(url: string, req: RequestOptions = {}): Promise<AcmeChallenge> {
    return orders.respondToChallenge(this.#s, url, req);
  }

  /** Deactivates an authorization (RFC 8555 §7.5.2). */
  deactivateAuthorization(url: string, req: RequestOptions = {}): Promise<AcmeAuthorization> {
    return orders.deactivateAuthorization(this.#s, url, req);
  }

  /**
   * Polls an authorization until it leaves `pending`, and returns it in whatever state it reached
   * (`valid`, `invalid`, …; an invalid one carries the reason in its challenges' `error`).
   */
  pollAuthorization(url: string, opts: PollOptions): Promise<AcmeAuthorization> {
    return pollUntil<AcmeAuthorization>(
      this.#s,
      this.#intervals,
      url,
      "authorization",
      opts,
      (a) => orders.checkAuthorizationUrls(this.#s, a).status !== "pending",
    );
  }

  /**
   * Polls an order while it is `pending` or `processing`; returns it once `ready`, `valid` or `invalid`.
   * Use after answering challenges (→ ready) and after finalize (→ valid).
   */
  pollOrder(url: string, opts: PollOptions): Promise<AcmeOrder> {
    return pollUntil<AcmeOrder>(
      this.#s,
      this.#intervals,
      url,
      "order",
      opts,
      (o) => orders.checkOrderUrls(this.#s, o).status !== "pending" && o.status !== "processing",
    );
  }

  /** Submits the CSR (DER bytes or PEM text) to the order's finalize URL; returns the updated order. */
  finalize(
    order: Pick<AcmeOrder, "finalize"> & { url?: string },
    csr: Uint8Array | string,
    req: RequestOptions = {},
  ): Promise<AcmeOrder> {
    return certificates.finalize(this.#s, order, csr, req);
  }

  /** Downloads a certificate chain (PEM) and the URLs of alternate chains. */
  downloadCertificate(url: string, req: RequestOptions = {}): Promise<CertificateChain> {
    return certificates.downloadCertificate(this.#s, url, req);
  }

  // ---------------------------------------------------------------- ARI and revocation

  /** True if the CA advertises RFC 9773 renewalInfo. */
  supportsAri(req: RequestOptions = {}): Promise<boolean> {
    return ari.supportsAri(this.#s, req);
  }

  /**
   * Fetches RFC 9773 renewal information for a certificate (PEM, DER, its AKI+serial, or a ready-made
   * `certId`). Unauthenticated GET; throws `AcmeUnsupportedError` if the CA has no renewalInfo.
   */
  renewalInfo(
    cert: string | Uint8Array | AriCertParts | { certId: string },
    req: RequestOptions = {},
  ): Promise<RenewalInfo> {
    return ari.renewalInfo(this.#s, cert, req);
  }

  /**
   * Revokes a certificate (DER or PEM) (RFC 8555 §7.6), signed by the account unless `certificateKey` is
   * given. The second argument is a reason code or the full options.
   */
  revokeCertificate(cert: Uint8Array | string, reasonOrOpts: number | RevokeOptions = {}): Promise<void> {
    return certificates.revokeCertificate(this.#s, cert, reasonOrOpts);
  }

  /** `revokeCertificate` under the name of the directory resource (RFC 8555 §7.6), as the issues call the hook. */
  revokeCert(cert: Uint8Array | string, reasonOrOpts: number | RevokeOptions = {}): Promise<void> {
    return this.revokeCertificate(cert, reasonOrOpts);
  }
}
