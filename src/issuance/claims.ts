/**
 * Small helpers around storage claims shared by issuance and renewal: counting claim attempts, and a
 * read-modify-write of an entry under a claim.
 *
 * Contract: `updateEntry` never throws and never waits for another holder: when someone else holds the key (an
 * order or another instance's update) it does nothing and returns false; the caller tries again at its next turn.
 */
import type { Logger } from "../ops/log.ts";
import type { AcmemsMetrics } from "../ops/metrics.ts";
import { type CacheKey, type Claim, type Entry, type Held, isHeld, type Storage } from "../storage/mod.ts";

/** Counts a claim attempt (won, or held by someone else) and passes it on. */
export function countClaim(metrics: AcmemsMetrics | undefined, storage: Storage, result: Claim | Held): Claim | Held {
  metrics?.storageClaims.inc({ storage: storage.name, result: isHeld(result) ? "lost" : "won" });
  return result;
}

export interface UpdateDeps {
  /** Identifies this process in claims. */
  owner: string;
  log: Logger;
  metrics?: AcmemsMetrics;
}

/**
 * Read-modify-write of an entry under a claim; skipped when someone else holds it. `mutate` changes the entry in
 * place and says whether to write it. True when it was written.
 */
export async function updateEntry(
  deps: UpdateDeps,
  storage: Storage,
  key: CacheKey,
  mutate: (entry: Entry) => Promise<boolean>,
): Promise<boolean> {
  let claim: Claim | undefined;
  try {
    const result = countClaim(deps.metrics, storage, await storage.claim(key, deps.owner, storage.leaseMs ?? 60_000));
    if (isHeld(result)) return false;
    claim = result;
    const entry = await storage.get(key);
    return entry !== null && await mutate(entry) && await storage.put(claim, entry);
  } catch (error) {
    deps.log.warn("cache entry update failed", {
      key,
      error: error instanceof Error ? error.message : String(error),
    });
    return false;
  } finally {
    if (claim) await storage.release(claim);
  }
}
