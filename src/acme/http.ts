/**
 * The HTTP transport under the ACME client.
 *
 * Contract:
 * - Each attempt has its own timeout (`timeoutMs`, via AbortSignal); a timeout throws `AcmeTimeoutError`
 *   and is not retried (the CA may have acted on the request, and the time budget is spent).
 * - Network errors (refused, reset, DNS, TLS) and 5xx answers are retried up to `retries` times with
 *   exponential backoff. A 5xx `Retry-After` longer than `maxRetryAfterMs` is not waited for: that
 *   response is returned at once. Exhausted network retries throw `AcmeNetworkError`.
 * - A 429 (or any other 4xx) is returned at once: this layer never sleeps on a rate limit.
 * - The request body is produced by a callback per attempt, so a JWS can be re-signed with a fresh nonce.
 * - Every response (including ones that are retried) is passed to `onResponse` first (nonce harvesting).
 * - A caller `signal` aborts the attempt and any backoff sleep; the signal's reason is thrown.
 * - Response bodies are always read to the end or cancelled (no leaked resources).
 * - Redirects are never followed (`redirect: "manual"`): a 3xx answer throws `AcmeUrlRefusedError` naming the URL
 *   and where it pointed (a CA URL must not lead the client, and its signed requests, somewhere else).
 */
import { AcmeNetworkError, AcmeTimeoutError, AcmeUrlRefusedError } from "./errors.ts";
import { delayUntil, parseRetryAfter } from "./retry_after.ts";
import { backoffDelay, sleep } from "./timing.ts";

/** The subset of `fetch` the transport needs (injectable in tests). */
export type FetchLike = (
  input: string | URL | Request,
  init?: RequestInit & { client?: Deno.HttpClient },
) => Promise<Response>;

/** Transport settings. */
export interface HttpTransportOptions {
  /** Replaces the global fetch (tests). */
  fetch?: FetchLike;
  /** A Deno HTTP client (custom CA trust) passed with each request. */
  client?: Deno.HttpClient;
  /** Per-attempt timeout in ms (default 30 000). */
  timeoutMs?: number;
  /** Retries after network errors and 5xx (default 3). */
  retries?: number;
  /** First backoff delay in ms (default 500); doubles per retry with jitter. */
  retryBaseDelayMs?: number;
  /** Backoff ceiling in ms (default 10 000). */
  retryMaxDelayMs?: number;
  /** Longest 5xx `Retry-After` the transport waits for before retrying (default 10 000 ms). */
  maxRetryAfterMs?: number;
  /** User-Agent header (RFC 8555 §6.1 asks clients to send one). */
  userAgent?: string;
  /** Called with every response, before retry decisions. */
  onResponse?: (response: HttpResponse) => void;
}

/** One request. */
export interface HttpRequest {
  method: "GET" | "HEAD" | "POST";
  url: string;
  headers?: Record<string, string>;
  /** Produces the body for each attempt (re-signing with a fresh nonce). */
  body?: () => Promise<string>;
  /** Aborts the request and backoff sleeps. */
  signal?: AbortSignal;
}

/** A fully read response. */
export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
  url: string;
}

/** The default User-Agent. */
export const DEFAULT_USER_AGENT = "acmems-acme-client (Deno)";

/** fetch with timeouts, bounded retries and nonce harvesting. */
export class HttpTransport {
  readonly timeoutMs: number;
  readonly retries: number;
  readonly #fetch: FetchLike;
  readonly #client: Deno.HttpClient | undefined;
  readonly #baseDelay: number;
  readonly #maxDelay: number;
  readonly #maxRetryAfter: number;
  readonly #userAgent: string;
  readonly #onResponse: ((r: HttpResponse) => void) | undefined;

  constructor(opts: HttpTransportOptions = {}) {
    this.#fetch = opts.fetch ?? fetch;
    this.#client = opts.client;
    this.timeoutMs = positive("timeoutMs", opts.timeoutMs ?? 30_000);
    this.retries = nonNegativeInt("retries", opts.retries ?? 3);
    this.#baseDelay = nonNegative("retryBaseDelayMs", opts.retryBaseDelayMs ?? 500);
    this.#maxDelay = nonNegative("retryMaxDelayMs", opts.retryMaxDelayMs ?? 10_000);
    this.#maxRetryAfter = nonNegative("maxRetryAfterMs", opts.maxRetryAfterMs ?? 10_000);
    this.#userAgent = opts.userAgent ?? DEFAULT_USER_AGENT;
    this.#onResponse = opts.onResponse;
  }

  /** Sends a request, retrying as described at the top of this file. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    for (let attempt = 0;; attempt++) {
      if (req.signal?.aborted) throw req.signal.reason;
      // Outside the retry classification: a body callback (nonce fetch) has its own retries.
      const body = req.body ? await req.body() : undefined;
      let response: HttpResponse;
      try {
        response = await this.#attempt(req, body);
      } catch (e) {
        if (!(e instanceof AcmeNetworkError) || attempt >= this.retries) throw e;
        await sleep(backoffDelay(attempt, this.#baseDelay, this.#maxDelay), req.signal);
        continue;
      }
      this.#onResponse?.(response);
      if (response.status >= 300 && response.status < 400) throw redirectRefused(req, response);
      if (response.status < 500 || response.status === 501 || attempt >= this.retries) return response;
      let delay = backoffDelay(attempt, this.#baseDelay, this.#maxDelay);
      const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
      if (retryAfter) {
        const wanted = delayUntil(retryAfter);
        // A long outage window is the caller's decision, not something to block on here.
        if (wanted > this.#maxRetryAfter) return response;
        delay = Math.max(delay, wanted);
      }
      await sleep(delay, req.signal);
    }
  }

  async #attempt(req: HttpRequest, body: string | undefined): Promise<HttpResponse> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    const onAbort = () => controller.abort(req.signal?.reason);
    req.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const headers = new Headers(req.headers);
      headers.set("user-agent", this.#userAgent);
      const init: RequestInit & { client?: Deno.HttpClient } = {
        method: req.method,
        headers,
        body,
        signal: controller.signal,
        redirect: "manual",
      };
      if (this.#client) init.client = this.#client;
      const res = await this.#fetch(req.url, init);
      // Reading the body stays under the same timeout: a CA that stalls mid-body must not hang us.
      const text = req.method === "HEAD" ? await discard(res) : await res.text();
      return { status: res.status, headers: res.headers, text, url: req.url };
    } catch (e) {
      if (timedOut) {
        throw new AcmeTimeoutError(req.url, `Request ${req.method} ${req.url} timed out after ${this.timeoutMs} ms`);
      }
      if (req.signal?.aborted) throw req.signal.reason;
      throw new AcmeNetworkError(req.url, e);
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
    }
  }
}

function redirectRefused(req: HttpRequest, res: HttpResponse): AcmeUrlRefusedError {
  const location = res.headers.get("location");
  const target = location ? `to ${location}` : "without a Location";
  return new AcmeUrlRefusedError(
    req.url,
    `The CA answered ${req.method} ${req.url} with a redirect (HTTP ${res.status} ${target}): redirects are not ` +
      "followed; the CA must serve its URLs directly",
  );
}

async function discard(res: Response): Promise<string> {
  await res.body?.cancel();
  return "";
}

function positive(name: string, value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be > 0, got ${value}`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!(value >= 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be >= 0, got ${value}`);
  return value;
}

function nonNegativeInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be an integer >= 0, got ${value}`);
  return value;
}
