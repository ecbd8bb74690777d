/**
 * Anti-replay nonces (RFC 8555 §6.5): random, single use, handed out in every response's `Replay-Nonce`.
 *
 * Contract: in memory, per process (a client that reaches another instance behind a load balancer gets `badNonce`
 * with that instance's fresh nonce and retries, as RFC 8555 §6.5 expects of clients). A nonce is valid once, for
 * `ttlMs` (default 1 h); at most `max` (default 50 000) are outstanding, the oldest are dropped first. Timers are not
 * used: expiry is checked when a nonce is taken, against the injected clock.
 */
import { b64url } from "../acme/encoding.ts";
import { type Clock, systemClock } from "../lib/clock.ts";

export class NonceStore {
  readonly #issued = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: Clock;

  constructor(opts: { ttlMs?: number; max?: number; now?: Clock } = {}) {
    this.#ttlMs = opts.ttlMs ?? 3_600_000;
    this.#max = opts.max ?? 50_000;
    this.#now = opts.now ?? systemClock;
  }

  /** A fresh nonce (128 random bits, base64url). */
  issue(): string {
    const nonce = b64url(crypto.getRandomValues(new Uint8Array(16)));
    while (this.#issued.size >= this.#max) this.#issued.delete(this.#issued.keys().next().value!);
    this.#issued.set(nonce, this.#now().getTime() + this.#ttlMs);
    return nonce;
  }

  /** True (and forgotten) when `nonce` was issued here, not used yet and not expired. */
  take(nonce: string): boolean {
    const expires = this.#issued.get(nonce);
    if (expires === undefined) return false;
    this.#issued.delete(nonce);
    return expires > this.#now().getTime();
  }
}
