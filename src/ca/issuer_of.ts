/**
 * Which configured CA issued a certificate, from the cache entries that serve it: a revocation (RFC 8555 §7.6) goes
 * to the CA that issued the certificate, through that CA's account.
 *
 * Contract: looks through every storage's entries for one whose leaf is `certDer` and answers the CA whose
 * directory URL the entry records; undefined when no entry holds it or its CA is no longer configured (the caller
 * then uses the default CA). A storage that cannot be searched is skipped. Never throws.
 */
import { toBase64Std } from "../acme/encoding.ts";
import type { Storage } from "../storage/mod.ts";

/** The CA of the cache entry whose leaf is `certDer` (see the contract); `cas` are CAs by their directory URL. */
export async function issuerOf<Ca extends { readonly directoryUrl: string }>(
  certDer: Uint8Array,
  storages: Iterable<Storage>,
  cas: readonly Ca[],
): Promise<Ca | undefined> {
  const wanted = toBase64Std(certDer);
  for (const storage of storages) {
    try {
      for (const key of await storage.keys()) {
        const entry = await storage.get(key);
        if (!entry || leafBase64(entry.chain) !== wanted) continue;
        const ca = cas.find((c) => c.directoryUrl === entry.directoryUrl);
        if (ca) return ca;
      }
    } catch {
      // A storage that cannot be searched: the next one, or the default CA.
    }
  }
  return undefined;
}

function leafBase64(chain: string): string {
  const match = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(chain);
  return match ? match[1].replace(/\s+/g, "") : "";
}
