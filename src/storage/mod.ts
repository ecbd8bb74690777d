/**
 * The storage port: where issued certificates are cached, who may order one, and (for several instances) where
 * pending http-01 challenges and change notifications live. `none`, `file` and (later) `postgres` implement it.
 *
 * Contract
 * - Keys: `CacheKey` is the lower-case hex SHA-256 over (ACME directory URL, profile, CSR DER), so PEM whitespace
 *   never matters and a switch of CA or profile never serves the old CA's certificate.
 * - `get` never throws for a missing, unreadable or corrupt entry: it logs and returns null (a miss), so /sign
 *   never answers 500 because of a bad cache file.
 * - Ordering is guarded by a claim: `claim` returns a `Claim` with a fence number (strictly increasing per key) and
 *   a local deadline, or `Held` when another holder has it (the caller waits with `waitForRelease`, then reads the
 *   entry again). Only the holder of a valid claim may `put`, `noteOrder` or `release`; a write with a stale fence
 *   is discarded (`false`), never applied. A crashed holder's claim ends with its lease (`file`: the OS drops the
 *   lock when the process dies).
 * - `put` is atomic: after a crash the entry is the old one or the new one, never a mix (`file`: temp file, fsync,
 *   rename, fsync of the directory, mode 0600).
 * - `touch` (last client fetch) is best effort and may be batched; losing one is harmless.
 * - Retries are the caller's business: the issuer retries orders, the sweep retries renewals with backoff.
 * - Challenges and `changes` are for sharing state between instances; `changes` is a hint stream that may drop
 *   events, so waiters also poll.
 * - A storage that cannot be reached right now throws `StorageUnavailableError` from the calls that need it
 *   (`claim`, `put`, …): /sign answers 503 with Retry-After. `get` still never throws (it may serve what it last
 *   read while the storage is down).
 * - Leases (`postgres`): a claim's `deadline` is the send time of its last successful `claim`/`extend` plus the
 *   lease minus a margin, on this process's monotonic clock; the lease itself runs on the database's clock. No CA
 *   call may start after the deadline; `extend` moves it, `false` from `extend` means the claim was taken over.
 */

import { hex } from "../lib/bytes.ts";

/** Lower-case hex SHA-256 over (directory URL, profile, CSR DER). */
export type CacheKey = string;

/** What RFC 9773 renewal information said about a cached certificate. */
export interface AriState {
  /** The ARI certificate id (base64url AKI "." base64url serial). */
  certId: string;
  /** The CA's suggested window, ISO times. */
  window?: { start: string; end: string };
  explanationURL?: string;
  /** The point chosen uniformly at random inside the window (RFC 9773 §4.2), ISO time. */
  chosen?: string;
  /** When to ask again (the answer's Retry-After), ISO time. */
  retryAfter?: string;
  /** When it was last asked, ISO time. */
  fetchedAt?: string;
  /** Why the last lookup failed, if it did. */
  lastError?: string;
}

/** Background renewal bookkeeping. */
export interface RenewalState {
  failures: number;
  /** Earliest next attempt, ISO time. */
  nextAttemptAt?: string;
  lastError?: string;
  lastFailureAt?: string;
  lastSuccessAt?: string;
  /** When the `expiring` notification was last sent for it (shared by instances: at most one a day in all). */
  expiringSentAt?: string;
}

/** One cached certificate. */
export interface Entry {
  version: 1;
  key: CacheKey;
  directoryUrl: string;
  profile?: string;
  /** The CSR, PEM. */
  csr: string;
  names: string[];
  /** The [verification] block used to get it (background renewal uses it again). */
  verification: string;
  /** Leaf first, PEM blocks separated by one empty line, final newline: served byte for byte. */
  chain: string;
  issuedAt: string;
  notBefore: string;
  notAfter: string;
  /** The order that produced the chain. */
  orderUrl?: string;
  ari?: AriState;
  /** When a client last fetched it (GET via /sign), ISO time. */
  lastFetchedAt: string;
  renewal?: RenewalState;
}

/** The right to order for one key, until released. */
export interface Claim {
  key: CacheKey;
  fence: number;
  /** `performance.now()` value after which no CA call may start under this claim. Infinity for OS locks. */
  deadline: number;
  /** An order recorded by an earlier holder that died (resume it instead of ordering again). */
  orderUrl?: string;
}

/** Someone else holds the claim. */
export interface Held {
  held: true;
  heldBy: string;
}

export interface StoredChallenge {
  token: string;
  keyAuthorization: string;
  /** The authorization's identifier value (the Host that must ask for it). */
  host: string;
  expiresAt: string;
}

export interface Change {
  kind: "entry" | "challenge";
  key: string;
}

/** A due entry handed to one instance by `claimDue`, with the claim already held. */
export interface DueClaim {
  claim: Claim;
  entry: Entry;
}

/** The storage cannot be reached now (database down or partitioned): the request is worth retrying later. */
export class StorageUnavailableError extends Error {
  constructor(message: string, readonly retryAfterSeconds = 10) {
    super(message);
    this.name = "StorageUnavailableError";
  }
}

export interface Storage {
  /** `none`, `file`, `postgres`: for logs and metrics. */
  readonly kind: string;
  readonly name: string;
  /** Renew this many days before notAfter (the non-ARI rule). */
  readonly renewWithinDays: number;
  /** Renew in the background only entries a client fetched within this many days. */
  readonly renewActiveDays: number;
  /** True when the storage keeps nothing (every request is a miss). */
  readonly ephemeral: boolean;
  /** True when other instances on other hosts see the same storage (http-01 answers are shared through it). */
  readonly shared?: boolean;
  /** The claim lease the issuer asks for, in milliseconds (storages without leases: undefined, 60 s is used). */
  readonly leaseMs?: number;

  get(key: CacheKey): Promise<Entry | null>;
  /**
   * Optional: like `get`, for a caller that only reads the entry (the /sign hit path). The result may be shared
   * between callers and must not be changed; its `lastFetchedAt` may be older than what `get` returns.
   */
  peek?(key: CacheKey): Promise<Entry | null>;
  claim(key: CacheKey, owner: string, leaseMs: number): Promise<Claim | Held>;
  /** Waits until the holder releases (or its lease ends) or the signal aborts; then the caller reads again. */
  waitForRelease(key: CacheKey, signal: AbortSignal): Promise<void>;
  extend(claim: Claim, leaseMs: number): Promise<boolean>;
  /** Records the order placed under `claim` (a successor resumes it); null forgets an order that failed for good. */
  noteOrder(claim: Claim, orderUrl: string | null): Promise<boolean>;
  /** Fence-checked write; false means the claim was lost and the entry was not written. */
  put(claim: Claim, entry: Entry): Promise<boolean>;
  release(claim: Claim): Promise<void>;
  /** Every stored entry's key (for the renewal sweep). */
  keys(): Promise<CacheKey[]>;
  touch(key: CacheKey, at: Date): Promise<void>;
  /** Removes an entry (expired and no longer fetched). */
  remove(claim: Claim): Promise<void>;

  putChallenge(challenge: StoredChallenge): Promise<void>;
  getChallenge(token: string): Promise<StoredChallenge | null>;
  deleteChallenge(token: string): Promise<void>;
  changes(signal: AbortSignal): AsyncIterable<Change>;

  /**
   * Optional (several instances): claims up to `limit` entries that are due at `now` (renewal time and backoff
   * passed, fetched within `renewActiveDays`, nobody holding them), so that each due entry goes to one instance.
   */
  claimDue?(owner: string, leaseMs: number, now: Date, limit: number): Promise<DueClaim[]>;

  /** Optional: deletes bookkeeping without a certificate (old claims); returns how many. Run by the sweep. */
  prune?(): Promise<number>;
  /** Optional: connects and prepares (migrations, notifications) in the background; never throws. */
  start?(): Promise<void>;
  /** Optional: why the storage cannot be used right now, "" when it can (for /ready). */
  problem?(): Promise<string>;

  close(): Promise<void>;
}

export function isHeld(result: Claim | Held): result is Held {
  return (result as Held).held === true;
}

/** The cache key: SHA-256 over (directory URL, profile, CSR DER), hex. */
export async function cacheKey(
  directoryUrl: string,
  profile: string | undefined,
  csrDer: Uint8Array,
): Promise<CacheKey> {
  const head = new TextEncoder().encode(`${directoryUrl}\u0000${profile ?? ""}\u0000`);
  const data = new Uint8Array(head.length + csrDer.length);
  data.set(head);
  data.set(csrDer, head.length);
  const digest = await crypto.subtle.digest("SHA-256", data);
  return hex(new Uint8Array(digest));
}

/** Checks that a parsed JSON value has the shape of an Entry (guards against torn or foreign files). */
export function isEntry(value: unknown): value is Entry {
  if (!value || typeof value !== "object") return false;
  const e = value as Record<string, unknown>;
  return e.version === 1 && typeof e.key === "string" && typeof e.chain === "string" &&
    typeof e.notAfter === "string" && typeof e.notBefore === "string" && typeof e.csr === "string" &&
    Array.isArray(e.names) && typeof e.directoryUrl === "string" && typeof e.verification === "string" &&
    !Number.isNaN(Date.parse(e.notAfter as string)) && !Number.isNaN(Date.parse(e.notBefore as string));
}

/** A change feed that never reports anything and ends when the signal aborts (storages nobody else writes to). */
export function idleChanges(signal: AbortSignal): AsyncIterable<Change> {
  return {
    [Symbol.asyncIterator]() {
      return {
        next: () =>
          new Promise<IteratorResult<Change>>((resolve) => {
            const done = () => resolve({ done: true, value: undefined });
            if (signal.aborted) done();
            else signal.addEventListener("abort", done, { once: true });
          }),
      };
    },
  };
}
