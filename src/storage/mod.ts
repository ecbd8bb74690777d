/**
 * The storage folder's entry: where issued certificates are cached, who may order one, and (for several instances)
 * where pending http-01 answers and change hints live.
 *
 * - port.ts: the ports, each with its contract (`CertCache`, `ClaimStore`, `ChallengeStore`, `ChangeFeed`, `CompromisedKeys`,
 *   `StorageLifecycle`) and `Storage`, their composition.
 * - types.ts: the data they carry · errors.ts: every storage error · cache_key.ts, is_entry.ts, idle_changes.ts.
 * - The kinds: none.ts, file.ts, postgres/ (one database shared by several instances); factory.ts builds them from
 *   the config, lease.ts keeps a claim alive while an order runs.
 *
 * Import the kinds from their own files (or through factory.ts); this entry re-exports only what every kind shares.
 */
export type {
  AriState,
  CacheKey,
  Change,
  Claim,
  DueClaim,
  Entry,
  Held,
  RenewalState,
  StoredChallenge,
} from "./types.ts";
export type {
  CertCache,
  ChallengeStore,
  ChangeFeed,
  ClaimStore,
  CompromisedKeys,
  Storage,
  StorageLifecycle,
} from "./port.ts";
export { isHeld } from "./port.ts";
export { ClaimLostError, PostgresStorageError, StorageError, StorageUnavailableError } from "./errors.ts";
export { cacheKey } from "./cache_key.ts";
export { isEntry } from "./is_entry.ts";
export { idleChanges } from "./idle_changes.ts";
