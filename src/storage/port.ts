/**
 * The storage ports, certmagic-style: small interfaces, each with its contract. A storage kind (`none`, `file`,
 * `postgres`) implements all of them as one `Storage`; a consumer asks only for the port it uses (the lease keeper a
 * `ClaimStore`, the http-01 solver a `ChallengeStore`).
 *
 * What holds for every port
 * - Keys: `CacheKey` is the lower-case hex SHA-256 over (ACME directory URL, profile, CSR DER) (`cacheKey`), so PEM
 *   whitespace never matters and a switch of CA or profile never serves the old CA's certificate.
 * - A storage that cannot be reached right now throws `StorageUnavailableError` (errors.ts) from the calls that
 *   need it (`claim`, `put`, …): /sign answers 503 with Retry-After. Calls documented as never throwing do not.
 * - Retries are the caller's business: the issuer retries orders, the sweep retries renewals with backoff. A
 *   storage retries at most once, internally, a statement that is safe to repeat.
 */
import type { CacheKey, Change, Claim, DueClaim, Entry, Held, StoredChallenge } from "./types.ts";

/** The certificate cache: entries by key, written only under a claim (see `ClaimStore`). */
export interface CertCache {
  /** Renew this many days before notAfter (the non-ARI rule). */
  readonly renewWithinDays: number;
  /** Renew in the background only entries a client fetched within this many days. */
  readonly renewActiveDays: number;

  /**
   * The entry, or null. Never throws: a missing, unreadable or corrupt entry is logged and read as a miss, so /sign
   * never answers 500 because of a bad cache file; a storage that is down may serve what it last read or wrote
   * (stale-if-error). The result is the caller's own copy.
   */
  get(key: CacheKey): Promise<Entry | null>;
  /**
   * Optional: like `get`, for a caller that only reads the entry (the /sign hit path). The result may be shared
   * between callers and must not be changed; its `lastFetchedAt` may be older than what `get` returns.
   */
  peek?(key: CacheKey): Promise<Entry | null>;
  /**
   * Optional: what `peek` would return, when that is known without waiting for I/O (file: the entry parsed last
   * time, after one synchronous stat shows the file unchanged); undefined when it is not (the caller then peeks).
   */
  peekNow?(key: CacheKey): Entry | undefined;
  /**
   * Fence-checked, atomic write: after a crash the entry is the old one or the new one, never a mix (`file`: temp
   * file, fsync, rename, fsync of the directory, mode 0600). `false` means `claim` is no longer the valid claim of
   * `entry.key` (or names another key): nothing was written.
   */
  put(claim: Claim, entry: Entry): Promise<boolean>;
  /** Records a client fetch at `at`. Best effort, may be batched, never throws: losing one is harmless. */
  touch(key: CacheKey, at: Date): Promise<void>;
  /** Every stored entry's key (for the renewal sweep). */
  keys(): Promise<CacheKey[]>;
  /** Removes the entry (expired and no longer fetched); does nothing when `claim` is no longer valid. */
  remove(claim: Claim): Promise<void>;
}

/**
 * Fenced claims ("one ACME order per key"). `claim` returns a `Claim` with a fence number (strictly increasing per
 * key) and a local deadline, or `Held` when another holder has it (the caller waits with `waitForRelease`, then reads
 * the entry again). Only the holder of a valid claim may `put`, `remove`, `noteOrder` or `release`; a write with a
 * stale fence is discarded (`false`), never applied. A crashed holder's claim ends with its lease (`file`: the OS
 * drops the lock when the process dies).
 *
 * Leases (`postgres`): a claim's `deadline` is the send time of its last successful `claim`/`extend` plus the lease
 * minus a margin, on this process's monotonic clock; the lease itself runs on the storage's clock. No CA call may
 * start after the deadline (`LeaseKeeper` enforces it). Claims without a lease have `deadline: Infinity`.
 */
export interface ClaimStore {
  /** The claim lease the issuer asks for, in milliseconds (storages without leases: undefined, 60 s is used). */
  readonly leaseMs?: number;

  /** Takes the claim of `key` for `leaseMs`, or says who holds it. A claim whose holder died carries its `orderUrl`. */
  claim(key: CacheKey, owner: string, leaseMs: number): Promise<Claim | Held>;
  /**
   * Renews the lease and moves `claim.deadline`; `false` means the claim was taken over (or released) meanwhile.
   * Throws when the storage cannot be reached (the keeper tries again until the deadline).
   */
  extend(claim: Claim, leaseMs: number): Promise<boolean>;
  /**
   * Resolves when the holder released (or its lease ended), when the signal aborts, or at once when the storage
   * cannot be asked (the caller's next `claim` reports the outage). The caller then reads and claims again.
   */
  waitForRelease(key: CacheKey, signal: AbortSignal): Promise<void>;
  /**
   * Records the order placed under `claim` (a successor resumes it); null forgets an order that failed for good.
   * `false`: the claim is no longer valid and nothing was recorded.
   */
  noteOrder(claim: Claim, orderUrl: string | null): Promise<boolean>;
  /** Gives the claim up; does nothing for a claim that is no longer valid; never throws (a lease ends by itself). */
  release(claim: Claim): Promise<void>;
  /**
   * Optional (several instances): claims up to `limit` entries, nobody holding them, for which the renewal plan
   * (src/renewal/plan.ts, with `scope.directoryUrl`; ARI counts as checked) says `renew` at `now`, so that each due
   * entry goes to one instance; keys in `scope.exclude` are left alone. Without `scope`, entries of any CA count.
   */
  claimDue?(
    owner: string,
    leaseMs: number,
    now: Date,
    limit: number,
    scope?: { directoryUrl: string; exclude?: readonly CacheKey[] },
  ): Promise<DueClaim[]>;
}

/**
 * Pending http-01 answers, for sharing them between instances: whichever instance the CA reaches can answer. An
 * answer is valid until its `expiresAt`.
 */
export interface ChallengeStore {
  /** Records (or replaces) the answer for `challenge.token`; throws when it could not be recorded. */
  putChallenge(challenge: StoredChallenge): Promise<void>;
  /**
   * The answer for `token` if it has not expired, else null; never throws (a storage that is down: null). Asked by
   * the internet-facing challenge listener for every token it does not know, so a storage shared between instances
   * answers from memory: an unknown token costs no database statement. It may wait, bounded, for an answer another
   * instance has just written to arrive (the CA's request can come before the news of it).
   */
  getChallenge(token: string): Promise<StoredChallenge | null>;
  /** Forgets the answer for `token` (nothing when there is none). */
  deleteChallenge(token: string): Promise<void>;
}

/** Change hints from other instances. */
export interface ChangeFeed {
  /**
   * Changes written by any instance until `signal` aborts (then the iteration ends). A hint stream: events may be
   * dropped (no replay), so waiters also poll. A storage nobody else writes to never reports anything.
   */
  changes(signal: AbortSignal): AsyncIterable<Change>;
}

/**
 * Keys whose certificates were revoked for `keyCompromise` (POST /revoke): /sign refuses them from then on. A key is
 * named by the lower-case hex SHA-256 of its SubjectPublicKeyInfo DER. The list only grows (a compromised key stays
 * compromised). Callers keep the list in memory (src/revocation/compromised.ts) and ask the storage at start and
 * after each record, so /sign's check costs no storage call.
 */
export interface CompromisedKeys {
  /** Every recorded key; throws when the storage cannot be reached. */
  compromisedKeys(): Promise<string[]>;
  /** Records `spkiSha256` (idempotent, durable when the call returns); throws when it could not be recorded. */
  recordCompromisedKey(spkiSha256: string, at: Date): Promise<void>;
}

/** Starting, health, housekeeping and closing. */
export interface StorageLifecycle {
  /** Optional: connects and prepares (migrations, notifications) in the background; never throws. */
  start?(): Promise<void>;
  /** Optional: why the storage cannot be used right now, "" when it can (for /ready). */
  problem?(): Promise<string>;
  /** Optional: deletes bookkeeping without a certificate (old claims); returns how many. Run by the sweep. */
  prune?(): Promise<number>;
  /** Releases what this process holds (claims, connections, timers); the storage is unusable afterwards. */
  close(): Promise<void>;
}

/** A whole storage kind: every port, and what logs, metrics and the assembly need to know about it. */
export interface Storage extends CertCache, ClaimStore, ChallengeStore, ChangeFeed, CompromisedKeys, StorageLifecycle {
  /** `none`, `file`, `postgres`: for logs and metrics. */
  readonly kind: string;
  /** The [storage] block's name. */
  readonly name: string;
  /** True when other instances on other hosts see the same storage (http-01 answers are shared through it). */
  readonly shared?: boolean;
}

/** Narrows a `claim` result: true when another holder has the key. */
export function isHeld(result: Claim | Held): result is Held {
  return (result as Held).held === true;
}

/**
 * The ACME front end's state (src/acme_server/): host accounts (their public keys, bound to an auth block by EAB),
 * their orders and the certificates issued for them, so that any instance sharing the storage answers. Each record
 * is written whole and atomically (`file`: temp file, fsync, rename); a record is replaced, never merged. Every call
 * throws `StorageUnavailableError` (or another error) when the storage cannot be used; nothing is retried here.
 */
export interface AcmeFrontStore {
  /** The account with this id, or null. */
  getAccount(id: string): Promise<AcmeFrontAccount | null>;
  /** The account whose key has this RFC 7638 thumbprint, or null. */
  accountByThumbprint(thumbprint: string): Promise<AcmeFrontAccount | null>;
  /**
   * Stores a new account, or returns the account that already has its thumbprint (two newAccount requests with the
   * same key racing: both get the one account).
   */
  createAccount(account: AcmeFrontAccount): Promise<AcmeFrontAccount>;
  /**
   * Replaces an account (contact, status, key). When its thumbprint changed (key change), `false` means another
   * account has the new key already and nothing was written.
   */
  updateAccount(account: AcmeFrontAccount, previousThumbprint: string): Promise<boolean>;
  getOrder(id: string): Promise<AcmeFrontOrder | null>;
  /** Creates or replaces an order. */
  putOrder(order: AcmeFrontOrder): Promise<void>;
  /** The certificate with this ARI certID (RFC 9773 `base64url(AKI).base64url(serial)`), or null. */
  getCertificate(certId: string): Promise<AcmeFrontCertificate | null>;
  /** Creates or replaces a certificate record. */
  putCertificate(certificate: AcmeFrontCertificate): Promise<void>;
}

/** A host's ACME account. */
export interface AcmeFrontAccount {
  /** Random base64url; the account URL is `<base>/acme/acct/<id>`. */
  id: string;
  /** RFC 7638 thumbprint of `jwk`. */
  thumbprint: string;
  /** The account's public key (JWK, public members only). */
  jwk: JsonWebKey;
  /** The auth block the EAB bound it to (its `acme-eab-kid` at creation is `eabKid`). */
  block: string;
  eabKid: string;
  status: "valid" | "deactivated";
  contact: string[];
  /** ISO time. */
  createdAt: string;
}

/** An order of a host account. */
export interface AcmeFrontOrder {
  id: string;
  account: string;
  /** `{type: "dns" | "ip", value}` as the host sent them (normalized, in request order). */
  identifiers: { type: string; value: string }[];
  status: "pending" | "ready" | "processing" | "valid" | "invalid";
  profile?: string;
  /** RFC 9773: the certID of the certificate this order replaces. */
  replaces?: string;
  /** The finalize CSR (base64url DER), kept so any instance can resume a `processing` order. */
  csr?: string;
  /** When finalize was accepted (ISO): a `processing` order gives up 15 minutes later. */
  finalizedAt?: string;
  /** After a failed attempt that is worth retrying: not before this time (ISO). */
  resumeAfter?: string;
  /** ARI certID of the issued certificate (its `AcmeFrontCertificate`). */
  certId?: string;
  /** The chain served at the certificate URL. */
  chain?: string;
  /** Indexes of authorizations the host deactivated (the order is then `invalid`). */
  deactivated?: number[];
  /** The problem document of an `invalid` order. */
  error?: { type: string; detail: string };
  /** ISO times. */
  expires: string;
  createdAt: string;
}

/** A certificate issued through the front end (for ARI, revocation and download). */
export interface AcmeFrontCertificate {
  certId: string;
  account: string;
  order: string;
  /** The cache entry that serves it (storage name, or null when the block caches nothing, and key). */
  storage: string | null;
  cacheKey: string;
  notBefore: string;
  notAfter: string;
  /** The renewal window when the certificate was handed out (used when the block caches nothing). */
  window?: { start: string; end: string };
  /** Set when it was revoked through the front end (ARI then says: renew now). ISO time. */
  revokedAt?: string;
}
