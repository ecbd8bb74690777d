/** A cache entry for tests: fresh, 90 days valid, for `www.example.test` unless overridden. */
import type { Entry } from "../../src/storage/mod.ts";

export function testEntry(chain: string, key: string, overrides: Partial<Entry> = {}): Entry {
  const now = new Date().toISOString();
  return {
    version: 1,
    key,
    directoryUrl: "https://ca.test/dir",
    csr: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    names: ["www.example.test"],
    verification: "http",
    chain,
    issuedAt: now,
    notBefore: now,
    notAfter: new Date(Date.now() + 90 * 86_400_000).toISOString(),
    lastFetchedAt: now,
    ...overrides,
  };
}
