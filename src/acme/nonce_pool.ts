/**
 * A pool of anti-replay nonces (RFC 8555 §6.5).
 *
 * Contract: every `Replay-Nonce` the CA sends goes in with `add`; `take` hands each nonce out at most
 * once, newest first (older nonces are likelier to have expired server-side). The pool is bounded:
 * beyond `capacity` the oldest nonces are dropped. Values that are not base64url (§6.5.1) are ignored.
 * Fetching a fresh nonce when the pool is empty is the client's job (HEAD newNonce).
 */

const NONCE_RE = /^[A-Za-z0-9_-]+$/;

/** A bounded LIFO store of unused nonces. */
export class NoncePool {
  #nonces: string[] = [];
  readonly capacity: number;

  /** @param capacity how many unused nonces to keep (default 32). */
  constructor(capacity = 32) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`Nonce pool capacity ${capacity} < 1`);
    this.capacity = capacity;
  }

  /** Adds a nonce from a response; returns false if it was missing or malformed. */
  add(nonce: string | null | undefined): boolean {
    if (!nonce || !NONCE_RE.test(nonce)) return false;
    this.#nonces.push(nonce);
    if (this.#nonces.length > this.capacity) this.#nonces.shift();
    return true;
  }

  /** Takes the newest nonce, or `undefined` if the pool is empty. */
  take(): string | undefined {
    return this.#nonces.pop();
  }

  /** Number of unused nonces. */
  get size(): number {
    return this.#nonces.length;
  }

  /** Drops all nonces (e.g. after the directory changed). */
  clear(): void {
    this.#nonces = [];
  }
}
