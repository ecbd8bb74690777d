/**
 * Revocation through acmems' account (RFC 8555 §7.6), for `POST /revoke` (src/http/revoke.ts): the CA revokes the
 * certificate, the cache entries that serve it are removed (so its renewal stops and the next /sign for the same
 * CSR orders a new certificate), and for `keyCompromise` the key is recorded as compromised (/sign refuses it).
 *
 * Contract: the caller has checked the pair (pair.ts) and authorized the names. Failures are `IssueFailure`s: the CA
 * says the certificate is revoked already → `conflict` (the key is still recorded for keyCompromise); the CA refuses
 * otherwise → `names-refused`; CA unreachable, not ready or answering 5xx → `unavailable` with Retry-After. Removing
 * entries is best effort after the CA's yes: an entry held by a running order is logged and left to expire.
 */
import { AcmeNetworkError, type AcmeProblem, AcmeTimeoutError, isProblem, REVOCATION_REASON } from "../acme/mod.ts";
import type { AcmeClient } from "../acme/mod.ts";
import { CaUnavailableError } from "../account/session.ts";
import type { Clock } from "../lib/clock.ts";
import { IssueFailure } from "../issuance/failure.ts";
import type { Logger } from "../ops/log.ts";
import { type CacheKey, isHeld, type Storage } from "../storage/mod.ts";
import type { CompromisedKeyRegistry } from "./compromised.ts";
import type { RevocationPair } from "./pair.ts";

export type RevocationReason = keyof typeof REVOCATION_REASON;

/** The RFC 5280 reason names /revoke accepts. */
export const REASON_NAMES = Object.keys(REVOCATION_REASON) as RevocationReason[];

/** The reason named by a `reason` query value (absent: `unspecified`), or null when it is none of the names. */
export function parseReason(value: string | null): RevocationReason | null {
  if (value === null || value === "") return "unspecified";
  return (REASON_NAMES as string[]).includes(value) ? value as RevocationReason : null;
}

export interface RevocationDeps {
  /** The account's client; throws `CaUnavailableError` while the CA is not ready. */
  client: () => AcmeClient;
  /** The storages whose entries may hold the certificate. */
  storages: Iterable<Storage>;
  compromised: CompromisedKeyRegistry;
  log: Logger;
  now: Clock;
  /** Identifies this process in claims. */
  owner: string;
}

export interface Revoked {
  /** Cache entries removed. */
  removed: number;
}

/** Revokes the pair's certificate with `reason`, then forgets it; throws `IssueFailure`. */
export async function revokeCertificate(
  pair: RevocationPair,
  reason: RevocationReason,
  deps: RevocationDeps,
): Promise<Revoked> {
  const storages = [...deps.storages];
  try {
    await deps.client().revokeCertificate(pair.certDer, REVOCATION_REASON[reason]);
  } catch (error) {
    const failure = classify(error, pair);
    if (failure.kind === "conflict" && reason === "keyCompromise") await record(pair, deps, storages);
    throw failure;
  }
  if (reason === "keyCompromise") await record(pair, deps, storages);
  return { removed: await dropEntries(pair, deps, storages) };
}

async function record(pair: RevocationPair, deps: RevocationDeps, storages: Storage[]): Promise<void> {
  try {
    await deps.compromised.record(pair.spkiSha256, deps.now(), storages);
  } catch (error) {
    // This process refuses the key already (memory); the others learn it when a storage takes it.
    deps.log.error("compromised key not recorded", {
      key: pair.spkiSha256,
      error: error instanceof Error ? error.message : String(error),
    });
  }
}

/** Removes every cache entry whose leaf is the certificate; returns how many. */
async function dropEntries(pair: RevocationPair, deps: RevocationDeps, storages: Storage[]): Promise<number> {
  let removed = 0;
  for (const storage of storages) {
    try {
      const dropped = await removeEntriesOf(pair.certDer, storage, deps.owner);
      removed += dropped.removed.length;
      for (const key of dropped.busy) {
        deps.log.warn("revoked certificate's entry is busy; left to expire", { storage: storage.name, key });
      }
    } catch (error) {
      deps.log.warn("revoked certificate's entry not removed", {
        storage: storage.name,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return removed;
}

/**
 * Removes from `storage` every cache entry whose leaf is `certDer` (claim, remove, release: its renewal stops with
 * it). `removed`: the names of each entry removed; `busy`: keys another holder has claimed right now (left alone).
 * Throws when the storage cannot be searched. Shared by POST /revoke and `acmems revoke`.
 */
export async function removeEntriesOf(
  certDer: Uint8Array,
  storage: Storage,
  owner: string,
): Promise<{ removed: string[][]; busy: CacheKey[] }> {
  const wanted = base64(certDer);
  const removed: string[][] = [];
  const busy: CacheKey[] = [];
  for (const key of await storage.keys()) {
    const entry = await storage.get(key);
    if (!entry || leafBase64(entry.chain) !== wanted) continue;
    const claim = await storage.claim(key, owner, storage.leaseMs ?? 60_000);
    if (isHeld(claim)) {
      busy.push(key);
      continue;
    }
    try {
      await storage.remove(claim);
      removed.push(entry.names);
    } finally {
      await storage.release(claim);
    }
  }
  return { removed, busy };
}

function classify(error: unknown, pair: RevocationPair): IssueFailure {
  if (error instanceof IssueFailure) return error;
  if (error instanceof CaUnavailableError) {
    return new IssueFailure("unavailable", error.message, error.retryAfterSeconds);
  }
  if (error instanceof AcmeNetworkError || error instanceof AcmeTimeoutError) {
    return new IssueFailure("unavailable", `The CA could not be reached: ${error.message}`, 10);
  }
  if (isProblem(error)) {
    const problem = error as AcmeProblem;
    if (problem.is("alreadyRevoked")) {
      return new IssueFailure("conflict", `Certificate ${pair.serial} is revoked already: ${problem.detail}`);
    }
    if (problem.status >= 500) {
      return new IssueFailure("unavailable", `The CA failed to revoke: ${problem.detail}`, 10);
    }
    return new IssueFailure("names-refused", `The CA refused to revoke certificate ${pair.serial}: ${problem.detail}`);
  }
  throw error;
}

function leafBase64(chain: string): string {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(chain);
  return match ? match[1].replace(/\s+/g, "") : "";
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}
