/**
 * `AcmeSession`: the signed-request plumbing behind `AcmeClient` — transport, nonce pool, cached
 * directory, account key and account URL. The operation modules (accounts, orders, certificates,
 * renewal_info, poll) take one of these as their context.
 *
 * Contract:
 * - Each JWS takes its own nonce from the pool (a nonce is never used twice); `badNonce` is retried up
 *   to `maxBadNonceRetries` times with the nonce from that answer. Every other CA error throws an
 *   `AcmeProblem` at once (no sleeping on 429). Network errors and 5xx are retried by the transport.
 * - The directory is fetched once and shared; a failed fetch, and any transport failure, drops it.
 * - After `close()` every request rejects; closing is idempotent.
 * - Every request's URL passes the `CaUrlPolicy` (ca_urls.ts) first: https: (or the directory's http:), on the
 *   directory's origin or an allowed one. The directory's entries and Location headers are checked as they arrive.
 */
import { parseJson, requireLocation, withUrl } from "./answers.ts";
import { CaUrlPolicy } from "./ca_urls.ts";
import type { RequestOptions } from "./client_options.ts";
import { AcmeNetworkError, AcmeProtocolError, AcmeTimeoutError } from "./errors.ts";
import { type FetchLike, type HttpResponse, HttpTransport } from "./http.ts";
import { exportPublicJwk, jwkThumbprint, type PublicJwk } from "./jwk.ts";
import { signJws } from "./jws.ts";
import { NoncePool } from "./nonce_pool.ts";
import { problemFromResponse } from "./problem.ts";
import { parseRetryAfter, rememberRetryAfter } from "./retry_after.ts";
import { abortable } from "./timing.ts";
import type { AcmeDirectory } from "./types.ts";

/** Options for one signed POST. */
export interface PostOptions extends RequestOptions {
  /** Sign with a `jwk` header (newAccount, revocation by certificate key). */
  jwkOf?: CryptoKeyPair;
  accept?: string;
}

/** What the session is built from (validated by `AcmeClient`). */
export interface SessionOptions {
  directoryUrl: string;
  /** Origins the CA's URLs may use besides the directory's (see ca_urls.ts). */
  caOrigins?: string[];
  accountKey: CryptoKeyPair;
  accountUrl?: string;
  maxBadNonceRetries: number;
  caCerts?: string[];
  fetch?: FetchLike;
  timeoutMs?: number;
  retries?: number;
  retryBaseDelayMs?: number;
  maxRetryAfterMs?: number;
  userAgent?: string;
}

const JOSE = "application/jose+json";

/** The directory's resource URLs (RFC 8555 §7.1.1, RFC 9773 §3). */
const DIRECTORY_URLS = [
  "newNonce",
  "newAccount",
  "newOrder",
  "newAuthz",
  "revokeCert",
  "keyChange",
  "renewalInfo",
] as const;

/** One account's connection to one CA. */
export class AcmeSession {
  readonly directoryUrl: string;
  readonly maxBadNonceRetries: number;
  /** The scheme and origin rules every CA URL must pass. */
  readonly urls: CaUrlPolicy;
  readonly #http: HttpTransport;
  readonly #httpClient: Deno.HttpClient | undefined;
  readonly #nonces = new NoncePool();
  #accountKey: CryptoKeyPair;
  #accountUrl: string | undefined;
  #jwk: Promise<PublicJwk> | undefined;
  #thumbprint: Promise<string> | undefined;
  #directory: Promise<AcmeDirectory> | undefined;
  #closed = false;

  constructor(opts: SessionOptions) {
    this.directoryUrl = opts.directoryUrl;
    this.urls = new CaUrlPolicy(opts.directoryUrl, opts.caOrigins);
    this.#accountKey = opts.accountKey;
    this.#accountUrl = opts.accountUrl;
    this.maxBadNonceRetries = opts.maxBadNonceRetries;
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

  get accountUrl(): string | undefined {
    return this.#accountUrl;
  }

  set accountUrl(url: string) {
    this.#accountUrl = url;
  }

  get accountKey(): CryptoKeyPair {
    return this.#accountKey;
  }

  /** Switches the signing key (after a key change); the cached JWK and thumbprint are dropped. */
  set accountKey(key: CryptoKeyPair) {
    this.#accountKey = key;
    this.#jwk = undefined;
    this.#thumbprint = undefined;
  }

  /** The account URL, or an Error telling the caller to create or find the account first. */
  requireAccount(): string {
    if (!this.#accountUrl) {
      throw new Error("No ACME account URL: call newAccount() or findAccount() first, or pass accountUrl");
    }
    return this.#accountUrl;
  }

  /** The account's public JWK (cached per key). */
  publicJwk(): Promise<PublicJwk> {
    this.#jwk ??= exportPublicJwk(this.#accountKey.publicKey);
    return this.#jwk;
  }

  /** The account key's RFC 7638 thumbprint (cached per key). */
  thumbprint(): Promise<string> {
    this.#thumbprint ??= this.publicJwk().then(jwkThumbprint);
    return this.#thumbprint;
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

  async #fetchDirectory(): Promise<AcmeDirectory> {
    const res = await this.request({ method: "GET", url: this.directoryUrl });
    if (res.status >= 400) throw problemFromResponse(res);
    const dir = parseJson<AcmeDirectory>(res);
    for (const field of ["newNonce", "newAccount", "newOrder"] as const) {
      if (typeof dir?.[field] !== "string") {
        throw new AcmeProtocolError(this.directoryUrl, `ACME directory ${this.directoryUrl} has no "${field}" URL`);
      }
    }
    for (const field of DIRECTORY_URLS) {
      const url = dir[field];
      if (url !== undefined) this.urls.check(String(url), `directory entry ${field}`);
    }
    return dir;
  }

  // ---------------------------------------------------------------- requests

  #closedError(): Error {
    return new Error(`AcmeClient for ${this.directoryUrl} is closed`);
  }

  /** Transport call that drops the cached directory after a transport failure (the CA may have moved). */
  async request(req: Parameters<HttpTransport["request"]>[0]): Promise<HttpResponse> {
    if (this.#closed) throw this.#closedError();
    this.urls.check(req.url, "URL");
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
      const res = await this.request({ method: "HEAD", url: newNonce, signal });
      if (res.status >= 400) throw problemFromResponse(res);
      if (!res.headers.get("replay-nonce")) {
        throw new AcmeProtocolError(newNonce, `newNonce ${newNonce} sent no Replay-Nonce header`);
      }
      // onResponse pooled it; taking from the pool (not the header) keeps each nonce single-use even
      // when concurrent requests race for it.
    }
    throw new AcmeProtocolError(this.directoryUrl, "Could not obtain an unused nonce after 3 newNonce requests");
  }

  /** The absolute Location of a created resource, checked like every CA URL. */
  location(res: HttpResponse): string {
    return this.urls.check(requireLocation(res), "Location header");
  }

  /** POST a JWS (payload `undefined` = POST-as-GET), retrying badNonce; throws AcmeProblem on errors. */
  async post(url: string, payload: unknown, opts: PostOptions = {}): Promise<HttpResponse> {
    for (let badNonces = 0;; badNonces++) {
      const res = await this.request({
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
              kid: this.requireAccount(),
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

  /** POST-as-GET of a resource, with its URL added and the answer's Retry-After. */
  async getWithRetryAfter<T extends { url: string }>(
    url: string,
    signal?: AbortSignal,
  ): Promise<{ value: T; retryAfter: Date | undefined }> {
    const res = await this.post(url, undefined, { signal });
    const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
    return { value: rememberRetryAfter(withUrl<T>(parseJson(res), url), retryAfter), retryAfter };
  }
}
