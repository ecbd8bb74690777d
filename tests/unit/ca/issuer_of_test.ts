/** `issuerOf`: a revocation goes to the CA whose cache entry holds the certificate (issue 15). */
import { assertEquals } from "../../support/assert.ts";
import { testEntry } from "../../support/entry.ts";
import { toBase64Std } from "../../../src/acme/encoding.ts";
import { issuerOf } from "../../../src/ca/issuer_of.ts";
import type { CaEndpoint } from "../../../src/ca/registry.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { FileStorage } from "../../../src/storage/file.ts";
import { isHeld } from "../../../src/storage/mod.ts";

const pem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${toBase64Std(der)}\n-----END CERTIFICATE-----\n`;
const ca = (name: string): CaEndpoint => ({
  name,
  directoryUrl: `https://${name}.test/dir`,
  client: () => {
    throw new Error("not called");
  },
});

Deno.test("issuerOf: the CA recorded by the entry whose leaf is the certificate; none → undefined", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-issuer-of-" });
  const storage = new FileStorage({
    name: "f",
    directory: dir,
    renewWithinDays: 14,
    renewActiveDays: 30,
    log: memoryLogger(),
  });
  try {
    const fromA = new Uint8Array([1, 2, 3, 4]);
    const fromB = new Uint8Array([5, 6, 7, 8]);
    for (
      const [key, der, url] of [["a".repeat(64), fromA, "https://a.test/dir"], [
        "b".repeat(64),
        fromB,
        "https://b.test/dir",
      ]] as const
    ) {
      const claim = await storage.claim(key, "t", 1000);
      if (isHeld(claim)) throw new Error("held");
      await storage.put(claim, testEntry(pem(der), key, { directoryUrl: url }));
      await storage.release(claim);
    }
    const cas = [ca("a"), ca("b")];
    assertEquals((await issuerOf(fromB, [storage], cas))?.name, "b");
    assertEquals((await issuerOf(fromA, [storage], cas))?.name, "a");
    assertEquals(await issuerOf(new Uint8Array([9]), [storage], cas), undefined);
    assertEquals(await issuerOf(fromB, [storage], [ca("a")]), undefined, "B no longer configured");
  } finally {
    await storage.close();
    await Deno.remove(dir, { recursive: true });
  }
});
