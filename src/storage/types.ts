/**
 * The data the storage ports carry: cached certificates (`Entry`), claims (`Claim`, `Held`, `DueClaim`), pending
 * http-01 answers (`StoredChallenge`) and change hints (`Change`). Plain data only: no behaviour, no I/O.
 */

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
  /** The error id of the last failure, also in its log line (`background renewal failed`). */
  lastErrorId?: string;
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
  /** The name of the CA that issued it (`default` for `[account]`; absent in entries before issue 15). */
  ca?: string;
  profile?: string;
  /** The CSR, PEM. */
  csr: string;
  names: string[];
  /** The [verification] block used to get it (background renewal uses it again). */
  verification: string;
  /**
   * The `[auth]` block that admitted the request it was issued for. Background renewal renews it only while that
   * block is still in the config and still admits its names, verification and storage (src/renewal/admission.ts).
   * Absent in entries written by versions before 13: those are re-authorized against every block.
   */
  block?: string;
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

/** A due entry handed to one instance by `claimDue`, with the claim already held. */
export interface DueClaim {
  claim: Claim;
  entry: Entry;
}

/** A pending http-01 answer, shared between instances. */
export interface StoredChallenge {
  token: string;
  keyAuthorization: string;
  /** The authorization's identifier value (the Host that must ask for it). */
  host: string;
  expiresAt: string;
}

/** A hint that something changed in a shared storage (`entry:<key>` or `challenge:<token>`). */
export interface Change {
  kind: "entry" | "challenge";
  key: string;
}
