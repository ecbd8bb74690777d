/**
 * The keys revoked for `keyCompromise`, kept in memory for /sign (`has` is a set lookup: the hit path costs no
 * storage call) and recorded in the storages (the `CompromisedKeys` port, src/storage/port.ts) so they survive a
 * restart and reach the other instances that share a storage.
 *
 * Contract: process-wide (it outlives config reloads). `load` merges what the storages hold (run at start, after a
 * reload and with each renewal sweep; a storage that cannot be read is logged and tried again next time); the set
 * only grows. `record` adds to memory first (this process refuses the key at once), then to every storage, and
 * throws when none of them took it.
 */
import type { Logger } from "../ops/log.ts";
import type { CompromisedKeys } from "../storage/port.ts";
import type { IssueRequest } from "../issuance/request.ts";
import { IssueFailure } from "../issuance/failure.ts";
import type { SignIssuer } from "../http/sign.ts";
import { csrKeySha256 } from "./pair.ts";

export class CompromisedKeyRegistry {
  readonly #keys = new Set<string>();

  get size(): number {
    return this.#keys.size;
  }

  has(spkiSha256: string): boolean {
    return this.#keys.has(spkiSha256);
  }

  /** Merges the keys every storage holds; never throws (a storage that cannot be read is logged). */
  async load(storages: Iterable<CompromisedKeys & { name: string }>, log: Logger): Promise<void> {
    const before = this.#keys.size;
    for (const storage of storages) {
      try {
        for (const key of await storage.compromisedKeys()) this.#keys.add(key);
      } catch (error) {
        log.warn("compromised keys not loaded", {
          storage: storage.name,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    // Keys another process recorded (`acmems revoke`, another instance): from now on refused here too.
    if (this.#keys.size > before) {
      log.info("compromised keys loaded", { added: this.#keys.size - before, total: this.#keys.size });
    }
  }

  /** Records the key in memory and in every storage; throws the last error when no storage took it. */
  async record(spkiSha256: string, at: Date, storages: Iterable<CompromisedKeys & { name: string }>): Promise<void> {
    this.#keys.add(spkiSha256);
    let recorded = 0;
    let last: unknown;
    for (const storage of storages) {
      try {
        await storage.recordCompromisedKey(spkiSha256, at);
        recorded++;
      } catch (error) {
        last = error;
      }
    }
    if (recorded === 0 && last !== undefined) throw last;
  }
}

/**
 * The issuer as /sign sees it, refusing CSRs whose key is compromised before anything is looked up. While no key
 * is recorded it adds nothing; otherwise one SHA-256 of the CSR's key, remembered by CSR hash.
 */
export function refuseCompromisedKeys(issuer: SignIssuer, registry: CompromisedKeyRegistry): SignIssuer {
  const byCsr = new Map<string, string>();
  return {
    hitNow(request: IssueRequest) {
      if (!issuer.hitNow) return null;
      if (registry.size > 0) {
        // Only a key already checked is known without waiting; a compromised one is refused by `issue`.
        const key = byCsr.get(request.csrSha256);
        if (key === undefined || registry.has(key)) return null;
      }
      return issuer.hitNow(request);
    },
    async issue(request: IssueRequest, deadline: number) {
      if (registry.size > 0) {
        let key = byCsr.get(request.csrSha256);
        if (key === undefined) {
          key = await csrKeySha256(request.csrDer);
          if (byCsr.size >= 10_000) byCsr.clear();
          byCsr.set(request.csrSha256, key);
        }
        if (registry.has(key)) {
          throw new IssueFailure(
            "refused",
            `The CSR's key (SPKI SHA-256 ${key}) was revoked for keyCompromise: generate a new key and a new CSR.`,
          );
        }
      }
      return await issuer.issue(request, deadline);
    },
  };
}
