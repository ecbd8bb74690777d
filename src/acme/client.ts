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
 */
import { ariCertId, ariCertIdFromParts, type AriCertParts, parseRenewalInfo, renewalInfoUrl } from "./ari.ts";
import { type EabCredentials, externalAccountBinding } from "./eab.ts";
import { b64url } from "./encoding.ts";
import { AcmeNetworkError, AcmeProtocolError, AcmeTimeoutError, AcmeUnsupportedError } from "./errors.ts";
import { type FetchLike, type HttpResponse, HttpTransport } from "./http.ts";
import { dns01TxtValue, exportPublicJwk, jwkThumbprint, keyAuthorization, type PublicJwk } from "./jwk.ts";
import { signJws } from "./jws.ts";
import { linksWithRel } from "./link_header.ts";
import { NoncePool } from "./nonce_pool.ts";
import { decodePem } from "./pem.ts";
import { type AcmeIdentifier, problemFromResponse } from "./problem.ts";
import { delayUntil, parseRetryAfter } from "./retry_after.ts";
import { abortable, backoffDelay, deadlineMs, sleep } from "./timing.ts";
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

/** Construction options. */
export interface AcmeClientOptions {
  /** The CA's directory URL. */
  directoryUrl: string;
  /** The account key pair (ECDSA P-256/P-384 or RSA). */
  accountKey: CryptoKeyPair;
  /** The account URL if already known (skips newAccount/findAccount). */
  accountUrl?: string;
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
  /** First polling interval when the CA sends no Retry-After (default 500 ms, doubling). */
  pollIntervalMs?: number;
  /** Ceiling of the polling interval without Retry-After (default 10 000 ms). */
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

interface PostOptions extends RequestOptions {
  /** Sign with a `jwk` header (newAccount, revocation by certificate key). */
  jwkOf?: CryptoKeyPair;
  accept?: string;
}

const JOSE = "application/jose+json";
const PEM_CHAIN = "application/pem-certificate-chain";

/** An RFC 8555 ACME client for one account. */
export class AcmeClient {
  /** The directory URL this client talks to. */
  readonly directoryUrl: string;
  /** How often a badNonce answer is retried. */
  readonly maxBadNonceRetries: number;
  readonly #http: HttpTransport;
  readonly #httpClient: Deno.HttpClient | undefined;
  readonly #nonces = new NoncePool();
  readonly #pollInterval: number;
  readonly #maxPollInterval: number;
  #accountKey: CryptoKeyPair;
  #accountUrl: string | undefined;
  #jwk: Promise<PublicJwk> | undefined;
  #thumbprint: Promise<string> | undefined;
  #directory: Promise<AcmeDirectory> | undefined;
  #closed = false;

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
    this.#accountKey = opts.accountKey;
    this.#accountUrl = opts.accountUrl;
    this.maxBadNonceRetries = opts.maxBadNonceRetries ?? 10;
    if (!Number.isInteger(this.maxBadNonceRetries) || this.maxBadNonceRetries < 0) {
      throw new RangeError(`maxBadNonceRetries must be an integer >= 0, got ${opts.maxBadNonceRetries}`);
    }
    this.#pollInterval = opts.pollIntervalMs ?? 500;
    this.#maxPollInterval = opts.maxPollIntervalMs ?? 10_000;
    if (opts.caCerts?.length) this.#httpClient = Deno.createHttpClient({ caCerts: opts.caCerts });
    try {
      this.#http = new HttpTransport({
        fetch: opts.fetch,
        client: this.#httpClient,
        timeoutMs: opts.timeoutMs,
        retries: opts.retries,
        retryBaseDelayMs: opts.retryBaseDelayMs,
        maxRetryAfterMs: opts.maxRetryAfterMs,
        userAgent: opts.userAgent,
        onResponse: (r) => this.#nonces.add(r.headers.get("replay-nonce")),
      });
    } catch (e) {
      // Invalid options must not leak the HttpClient (no close() will ever be called).
      this.#httpClient?.close();
      throw e;
    }
  }

  /** Releases the HTTP client created for `caCerts`. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#httpClient?.close();
  }

  /** Same as `close()`, for `using client = new AcmeClient(…)`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** The account URL (JWS `kid`), once known. */
  get accountUrl(): string | undefined {
    return this.#accountUrl;
  }

  /** The account key pair currently used for signing. */
  get accountKey(): CryptoKeyPair {
    return this.#accountKey;
  }

  // ---------------------------------------------------------------- directory

  /** The directory, fetched once and cached; a failed fetch is not cached. */
  directory(opts: RequestOptions = {}): Promise<AcmeDirectory> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (!this.#directory) {
      // Shared by concurrent callers, so it runs without any one caller's signal (timeoutMs bounds it).
      const pending = this.#fetchDirectory();
      this.#directory = pending;
      pending.catch(() => {
        if (this.#directory === pending) this.#directory = undefined;
      });
    }
    return abortable(this.#directory, opts.signal);
  }

  /** Drops the cached directory and fetches it again. */
  refreshDirectory(opts: RequestOptions = {}): Promise<AcmeDirectory> {
    this.#directory = undefined;
    return this.directory(opts);
  }

  /** The directory's `meta` object (`{}` if the CA sent none). */
  async meta(opts: RequestOptions = {}): Promise<AcmeDirectoryMeta> {
    return (await this.directory(opts)).meta ?? {};
  }

  async #fetchDirectory(): Promise<AcmeDirectory> {
    const res = await this.#request({ method: "GET", url: this.directoryUrl });
    if (res.status >= 400) throw problemFromResponse(res);
    const dir = parseJson<AcmeDirectory>(res);
    for (const field of ["newNonce", "newAccount", "newOrder"] as const) {
      if (typeof dir?.[field] !== "string") {
        throw new AcmeProtocolError(this.directoryUrl, `ACME directory ${this.directoryUrl} has no "${field}" URL`);
      }
    }
    return dir;
  }

  // ---------------------------------------------------------------- keys

  /** The account's public JWK. */
  publicJwk(): Promise<PublicJwk> {
    this.#jwk ??= exportPublicJwk(this.#accountKey.publicKey);
    return this.#jwk;
  }

  /** The account key's RFC 7638 thumbprint. */
  thumbprint(): Promise<string> {
    this.#thumbprint ??= this.publicJwk().then(jwkThumbprint);
    return this.#thumbprint;
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
  async newAccount(opts: NewAccountOptions = {}, req: RequestOptions = {}): Promise<AccountResult> {
    const dir = await this.directory(req);
    const payload: Record<string, unknown> = {};
    if (opts.contact) payload.contact = opts.contact;
    if (opts.termsOfServiceAgreed !== undefined) payload.termsOfServiceAgreed = opts.termsOfServiceAgreed;
    if (opts.onlyReturnExisting) payload.onlyReturnExisting = true;
    if (opts.eab) {
      payload.externalAccountBinding = await externalAccountBinding(opts.eab, await this.publicJwk(), dir.newAccount);
    }
    const res = await this.#post(dir.newAccount, payload, { ...req, jwkOf: this.#accountKey });
    const url = requireLocation(res);
    this.#accountUrl = url;
    return { url, account: parseJson<AcmeAccount>(res), created: res.status === 201 };
  }

  /** Looks up the existing account for this key; throws `accountDoesNotExist` if there is none. */
  async findAccount(req: RequestOptions = {}): Promise<AccountResult> {
    return await this.newAccount({ onlyReturnExisting: true }, req);
  }

  /** Fetches the account object. */
  async getAccount(req: RequestOptions = {}): Promise<AcmeAccount> {
    const url = this.#requireAccount();
    return parseJson<AcmeAccount>(await this.#post(url, undefined, req));
  }

  /** Replaces the account's contact URLs. */
  async updateAccount(update: { contact: string[] }, req: RequestOptions = {}): Promise<AcmeAccount> {
    const url = this.#requireAccount();
    return parseJson<AcmeAccount>(await this.#post(url, { contact: update.contact }, req));
  }

  /** Deactivates the account (irreversible, RFC 8555 §7.3.6). */
  async deactivateAccount(req: RequestOptions = {}): Promise<AcmeAccount> {
    const url = this.#requireAccount();
    return parseJson<AcmeAccount>(await this.#post(url, { status: "deactivated" }, req));
  }

  /** Rolls the account over to a new key (RFC 8555 §7.3.5); the client signs with it afterwards. */
  async changeAccountKey(newKey: CryptoKeyPair, req: RequestOptions = {}): Promise<void> {
    const account = this.#requireAccount();
    const dir = await this.directory(req);
    if (!dir.keyChange) throw new AcmeUnsupportedError(`The CA at ${this.directoryUrl} offers no keyChange`);
    const inner = await signJws({
      privateKey: newKey.privateKey,
      url: dir.keyChange,
      jwk: await exportPublicJwk(newKey.publicKey),
      payload: { account, oldKey: await this.publicJwk() },
    });
    await this.#post(dir.keyChange, inner, req);
    this.#accountKey = newKey;
    this.#jwk = undefined;
    this.#thumbprint = undefined;
  }

  // ---------------------------------------------------------------- orders

  /** Creates an order (RFC 8555 §7.4). */
  async newOrder(opts: NewOrderOptions, req: RequestOptions = {}): Promise<AcmeOrder> {
    if (!opts.identifiers?.length) throw new TypeError("newOrder needs at least one identifier");
    const dir = await this.directory(req);
    const payload: Record<string, unknown> = { identifiers: opts.identifiers.map(toIdentifier) };
    if (opts.profile !== undefined) {
      const offered = dir.meta?.profiles;
      if (!offered) {
        throw new AcmeUnsupportedError(
          `Profile "${opts.profile}" was asked for, but ${this.directoryUrl} offers no profiles (no meta.profiles)`,
        );
      }
      if (!Object.hasOwn(offered, opts.profile)) {
        throw new AcmeUnsupportedError(
          `Profile "${opts.profile}" is not offered by ${this.directoryUrl} (offered: ${
            Object.keys(offered).join(", ") || "none"
          })`,
        );
      }
      payload.profile = opts.profile;
    }
    // RFC 9773 §5: do not send `replaces` to a CA that does not advertise ARI.
    if (opts.replaces !== undefined && dir.renewalInfo) payload.replaces = opts.replaces;
    if (opts.notBefore !== undefined) payload.notBefore = toRfc3339(opts.notBefore);
    if (opts.notAfter !== undefined) payload.notAfter = toRfc3339(opts.notAfter);
    const res = await this.#post(dir.newOrder, payload, req);
    return withUrl<AcmeOrder>(parseJson(res), requireLocation(res));
  }

  /** Fetches an order. */
  async getOrder(url: string, req: RequestOptions = {}): Promise<AcmeOrder> {
    return (await this.#getWithRetryAfter<AcmeOrder>(url, req.signal)).value;
  }

  /** Fetches an authorization. */
  async getAuthorization(url: string, req: RequestOptions = {}): Promise<AcmeAuthorization> {
    return (await this.#getWithRetryAfter<AcmeAuthorization>(url, req.signal)).value;
  }

  /** Tells the CA the challenge is ready to be validated (POST `{}`, RFC 8555 §7.5.1). */
  async respondToChallenge(url: string, req: RequestOptions = {}): Promise<AcmeChallenge> {
    return withUrl<AcmeChallenge>(parseJson(await this.#post(url, {}, req)), url);
  }

  /** Deactivates an authorization (RFC 8555 §7.5.2). */
  async deactivateAuthorization(url: string, req: RequestOptions = {}): Promise<AcmeAuthorization> {
    return withUrl<AcmeAuthorization>(parseJson(await this.#post(url, { status: "deactivated" }, req)), url);
  }

  /**
   * Polls an authorization until it leaves `pending`, and returns it in whatever state it reached
   * (`valid`, `invalid`, …; an invalid one carries the reason in its challenges' `error`).
   */
  async pollAuthorization(url: string, opts: PollOptions): Promise<AcmeAuthorization> {
    return await this.#poll<AcmeAuthorization>(url, "authorization", opts, (a) => a.status !== "pending");
  }

  /**
   * Polls an order while it is `pending` or `processing`; returns it once `ready`, `valid` or `invalid`.
   * Use after answering challenges (→ ready) and after finalize (→ valid).
   */
  async pollOrder(url: string, opts: PollOptions): Promise<AcmeOrder> {
    return await this.#poll<AcmeOrder>(url, "order", opts, (o) => o.status !== "pending" && o.status !== "processing");
  }

  /** Submits the CSR (DER bytes or PEM text) to the order's finalize URL; returns the updated order. */
  async finalize(
    order: Pick<AcmeOrder, "finalize"> & { url?: string },
    csr: Uint8Array | string,
    req: RequestOptions = {},
  ): Promise<AcmeOrder> {
    const der = typeof csr === "string" ? decodePem(csr, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]).der : csr;
    const res = await this.#post(order.finalize, { csr: b64url(der) }, req);
    const url = res.headers.get("location") ?? order.url;
    if (!url) throw new AcmeProtocolError(order.finalize, `Finalize answer from ${order.finalize} has no order URL`);
    return withUrl<AcmeOrder>(parseJson(res), url);
  }

  /** Downloads a certificate chain (PEM) and the URLs of alternate chains. */
  async downloadCertificate(url: string, req: RequestOptions = {}): Promise<CertificateChain> {
    const res = await this.#post(url, undefined, { ...req, accept: PEM_CHAIN });
    if (!res.text.includes("-----BEGIN CERTIFICATE-----")) {
      throw new AcmeProtocolError(url, `Certificate download from ${url} returned no PEM certificate`);
    }
    return { pem: res.text, alternates: linksWithRel(res.headers.get("link"), url, "alternate") };
  }

  // ---------------------------------------------------------------- ARI and revocation

  /** True if the CA advertises RFC 9773 renewalInfo. */
  async supportsAri(req: RequestOptions = {}): Promise<boolean> {
    return typeof (await this.directory(req)).renewalInfo === "string";
  }

  /**
   * Fetches RFC 9773 renewal information for a certificate (PEM, DER, its AKI+serial, or a ready-made
   * `certId`). Unauthenticated GET; throws `AcmeUnsupportedError` if the CA has no renewalInfo.
   */
  async renewalInfo(
    cert: string | Uint8Array | AriCertParts | { certId: string },
    req: RequestOptions = {},
  ): Promise<RenewalInfo> {
    const dir = await this.directory(req);
    if (!dir.renewalInfo) {
      throw new AcmeUnsupportedError(`The CA at ${this.directoryUrl} offers no renewalInfo (ARI)`);
    }
    const certId = typeof cert === "string" || cert instanceof Uint8Array
      ? ariCertId(cert)
      : "certId" in cert
      ? cert.certId
      : ariCertIdFromParts(cert);
    const url = renewalInfoUrl(dir.renewalInfo, certId);
    const res = await this.#request({ method: "GET", url, signal: req.signal });
    if (res.status >= 400) throw problemFromResponse(res);
    return parseRenewalInfo(parseJson<unknown>(res), res.headers.get("retry-after"), url);
  }

  /**
   * Revokes a certificate (DER or PEM) (RFC 8555 §7.6), signed by the account unless `certificateKey` is
   * given. The second argument is a reason code or the full options.
   */
  async revokeCertificate(cert: Uint8Array | string, reasonOrOpts: number | RevokeOptions = {}): Promise<void> {
    const opts = typeof reasonOrOpts === "number" ? { reason: reasonOrOpts } : reasonOrOpts;
    const dir = await this.directory(opts);
    if (!dir.revokeCert) throw new AcmeUnsupportedError(`The CA at ${this.directoryUrl} offers no revokeCert`);
    const der = typeof cert === "string" ? decodePem(cert, ["CERTIFICATE"]).der : cert;
    const payload: Record<string, unknown> = { certificate: b64url(der) };
    if (opts.reason !== undefined) payload.reason = opts.reason;
    await this.#post(dir.revokeCert, payload, { signal: opts.signal, jwkOf: opts.certificateKey });
  }

  /** `revokeCertificate` under the name of the directory resource (RFC 8555 §7.6), as the issues call the hook. */
  revokeCert(cert: Uint8Array | string, reasonOrOpts: number | RevokeOptions = {}): Promise<void> {
    return this.revokeCertificate(cert, reasonOrOpts);
  }

  // ---------------------------------------------------------------- plumbing

  #closedError(): Error {
    return new Error(`AcmeClient for ${this.directoryUrl} is closed`);
  }

  #requireAccount(): string {
    if (!this.#accountUrl) {
      throw new Error("No ACME account URL: call newAccount() or findAccount() first, or pass accountUrl");
    }
    return this.#accountUrl;
  }

  /** Transport call that drops the cached directory after a transport failure (the CA may have moved). */
  async #request(req: Parameters<HttpTransport["request"]>[0]): Promise<HttpResponse> {
    if (this.#closed) throw this.#closedError();
    try {
      return await this.#http.request(req);
    } catch (e) {
      if (e instanceof AcmeNetworkError || e instanceof AcmeTimeoutError) this.#directory = undefined;
      throw e;
    }
  }

  async #takeNonce(signal?: AbortSignal): Promise<string> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const pooled = this.#nonces.take();
      if (pooled) return pooled;
      const { newNonce } = await this.directory({ signal });
      const res = await this.#request({ method: "HEAD", url: newNonce, signal });
      if (res.status >= 400) throw problemFromResponse(res);
      if (!res.headers.get("replay-nonce")) {
        throw new AcmeProtocolError(newNonce, `newNonce ${newNonce} sent no Replay-Nonce header`);
      }
      // onResponse pooled it; taking from the pool (not the header) keeps each nonce single-use even
      // when concurrent requests race for it.
    }
    throw new AcmeProtocolError(this.directoryUrl, "Could not obtain an unused nonce after 3 newNonce requests");
  }

  /** POST a JWS (payload `undefined` = POST-as-GET), retrying badNonce; throws AcmeProblem on errors. */
  async #post(url: string, payload: unknown, opts: PostOptions = {}): Promise<HttpResponse> {
    for (let badNonces = 0;; badNonces++) {
      const res = await this.#request({
        method: "POST",
        url,
        headers: { "content-type": JOSE, ...(opts.accept ? { accept: opts.accept } : {}) },
        signal: opts.signal,
        body: async () => {
          // The pool is newest-first, so after a badNonce this is the nonce from that answer.
          const nonce = await this.#takeNonce(opts.signal);
          const jws = opts.jwkOf
            ? await signJws({
              privateKey: opts.jwkOf.privateKey,
              jwk: opts.jwkOf === this.#accountKey
                ? await this.publicJwk()
                : await exportPublicJwk(opts.jwkOf.publicKey),
              url,
              nonce,
              payload,
            })
            : await signJws({
              privateKey: this.#accountKey.privateKey,
              kid: this.#requireAccount(),
              url,
              nonce,
              payload,
            });
          return JSON.stringify(jws);
        },
      });
      if (res.status < 400) return res;
      const problem = problemFromResponse(res);
      if (problem.is("badNonce") && badNonces < this.maxBadNonceRetries) continue;
      throw problem;
    }
  }

  async #getWithRetryAfter<T extends { url: string }>(
    url: string,
    signal?: AbortSignal,
  ): Promise<{ value: T; retryAfter: Date | undefined }> {
    const res = await this.#post(url, undefined, { signal });
    return {
      value: withUrl<T>(parseJson(res), url),
      retryAfter: parseRetryAfter(res.headers.get("retry-after")),
    };
  }

  async #poll<T extends { url: string; status: string }>(
    url: string,
    kind: string,
    opts: PollOptions,
    done: (value: T) => boolean,
  ): Promise<T> {
    const end = deadlineMs(opts.deadline);
    let last = "not fetched yet";
    const timeout = () =>
      new AcmeTimeoutError(
        url,
        `Gave up polling ${kind} ${url} at its deadline ${new Date(end).toISOString()}: status still "${last}"`,
      );
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(timeout()), Math.max(0, end - Date.now()));
    const onAbort = () => controller.abort(opts.signal?.reason);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.signal?.aborted) controller.abort(opts.signal.reason);
    try {
      for (let attempt = 0;; attempt++) {
        const { value, retryAfter } = await this.#getWithRetryAfter<T>(url, controller.signal);
        last = value.status;
        if (done(value)) return value;
        const remaining = end - Date.now();
        if (remaining <= 0) throw timeout();
        // First re-poll after 125–250 ms (a CA often finishes a validation or finalization within a second), then
        // doubling: 4 polls in the first ~2 s instead of 2, and no 0.5–1 s wait for a fast CA.
        const fallback = backoffDelay(attempt, this.#pollInterval / 2, this.#maxPollInterval);
        // Honour the CA's Retry-After, but never spin faster than a fifth of the base interval.
        const wanted = retryAfter ? Math.max(delayUntil(retryAfter), this.#pollInterval / 5) : fallback;
        await sleep(Math.min(wanted, remaining), controller.signal);
        if (Date.now() >= end) throw timeout();
      }
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }
}

function parseJson<T>(res: HttpResponse): T {
  try {
    return JSON.parse(res.text) as T;
  } catch {
    throw new AcmeProtocolError(res.url, `Answer from ${res.url} (HTTP ${res.status}) is not valid JSON`);
  }
}

/** Adds the resource URL to a CA object (the CA's own `url` field, as challenges have, is kept). */
function withUrl<T extends { url: string }>(json: unknown, url: string): T {
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    throw new AcmeProtocolError(url, `Answer from ${url} is not a JSON object`);
  }
  return { url, ...json } as T;
}

function requireLocation(res: HttpResponse): string {
  const location = res.headers.get("location");
  if (!location) throw new AcmeProtocolError(res.url, `Answer from ${res.url} has no Location header`);
  return new URL(location, res.url).href;
}

const IPV4_RE = /^(\d{1,3})(\.\d{1,3}){3}$/;

/** Types a bare string identifier: IPv4/IPv6 literals → "ip" (RFC 8738), anything else → "dns". */
export function toIdentifier(id: string | AcmeIdentifier): AcmeIdentifier {
  if (typeof id !== "string") return id;
  if (id === "") throw new TypeError("Empty identifier in newOrder");
  return IPV4_RE.test(id) || id.includes(":") ? { type: "ip", value: id } : { type: "dns", value: id };
}

function toRfc3339(value: Date | string): string {
  if (typeof value === "string") return value;
  if (Number.isNaN(value.getTime())) throw new TypeError("Invalid Date for notBefore/notAfter");
  return value.toISOString();
}
