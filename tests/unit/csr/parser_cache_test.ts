import { assert, assertEquals } from "../../support/assert.ts";
import { parseCsrPem } from "../../../src/csr/intake.ts";
import { createCsrParser } from "../../../src/csr/parser.ts";
import { derToPem, OpensslFactory, pemToDer } from "./openssl_helpers.ts";

Deno.test("createCsrParser memoises verified CSRs by the SHA-256 of their DER (bounded LRU)", async (t) => {
  const openssl = await OpensslFactory.create();
  try {
    const pems = await Promise.all(
      ["a", "b", "c"].map((host) => openssl.csr({ san: `DNS:${host}.example.org` })),
    );
    const parser = createCsrParser({ maxEntries: 2 });

    await t.step("a repeated CSR is a cache hit returning the same parsed object", async () => {
      const first = await parser.parse(pems[0]);
      const second = await parser.parse(pems[0]);
      assert(first.ok && second.ok);
      assert(first.csr === second.csr, "second parse must come from the cache");
      assertEquals(parser.size, 1);
    });

    await t.step("PEM whitespace, CRLF and surrounding text do not change the key", async () => {
      const first = await parser.parse(pems[0]);
      const crlf = await parser.parse(`junk\r\n${pems[0].replaceAll("\n", "\r\n")}trailer`);
      const bytes = await parser.parse(new TextEncoder().encode(pems[0]));
      assert(first.ok && crlf.ok && bytes.ok);
      assert(first.csr === crlf.csr && first.csr === bytes.csr);
      assertEquals(parser.size, 1);
    });

    await t.step("the cached result equals an uncached parse", async () => {
      const cached = await parser.parse(pems[0]);
      const fresh = await parseCsrPem(pems[0]);
      assert(cached.ok && fresh.ok);
      assertEquals(cached.csr, fresh.csr);
    });

    await t.step("least recently used entries are evicted", async () => {
      const a = await parser.parse(pems[0]);
      const b = await parser.parse(pems[1]);
      await parser.parse(pems[0]); // a is now the most recently used
      await parser.parse(pems[2]); // evicts b
      assertEquals(parser.size, 2);
      const a2 = await parser.parse(pems[0]);
      const b2 = await parser.parse(pems[1]);
      assert(a.ok && b.ok && a2.ok && b2.ok);
      assert(a.csr === a2.csr, "a stayed cached");
      assert(b.csr !== b2.csr, "b was evicted and parsed again");
      assertEquals(b.csr.sha256, b2.csr.sha256);
    });

    await t.step("refusals are not cached, and a tampered CSR never hits a verified entry", async () => {
      parser.clear();
      const der = pemToDer(pems[0]);
      der[der.length - 1] ^= 1;
      const tampered = await parser.parse(derToPem(der));
      assert(!tampered.ok);
      assertEquals(tampered.kind, "unusable-csr");
      assertEquals(parser.size, 0);
      const good = await parser.parse(pems[0]);
      assert(good.ok);
      assertEquals((await parser.parse(derToPem(der))).ok, false);
      assertEquals(parser.size, 1);
    });

    await t.step("identical CSRs arriving together share one verification", async () => {
      parser.clear();
      const results = await Promise.all([parser.parse(pems[1]), parser.parse(pems[1]), parser.parse(pems[1])]);
      assert(results.every((r) => r.ok));
      const [x, y, z] = results;
      assert(x.ok && y.ok && z.ok && x.csr === y.csr && y.csr === z.csr);
      assertEquals(parser.size, 1);
    });

    await t.step("parseKnown answers exactly the bodies seen, at any offset, and forgets evicted ones", async () => {
      parser.clear();
      const body = new TextEncoder().encode(pems[0]);
      assertEquals(parser.parseKnown?.(body), undefined, "nothing known before the first parse");
      const first = await parser.parse(body);
      assert(first.ok);
      // The same bytes in another buffer, at an offset that is not a word boundary.
      const shifted = new Uint8Array(body.length + 3);
      shifted.set(body, 3);
      const known = parser.parseKnown?.(shifted.subarray(3));
      assert(known?.ok && known.csr === first.csr);
      const asText = parser.parseKnown?.(pems[0]);
      assert(asText?.ok && asText.csr === first.csr);
      // The memo keeps its own copy: changing the caller's buffer changes nothing it knows.
      body[body.length - 2] ^= 1;
      assertEquals(parser.parseKnown?.(body), undefined, "a body one byte off is not known");
      body[body.length - 2] ^= 1;
      assert(parser.parseKnown?.(body)?.ok);
      for (let i = 0; i < body.length; i += 97) {
        const changed = body.slice();
        changed[i] ^= 0x20;
        assertEquals(parser.parseKnown?.(changed), undefined, `byte ${i} changed`);
      }
      await parser.parse(pems[1]);
      await parser.parse(pems[2]); // evicts pems[0] (maxEntries 2)
      assertEquals(parser.parseKnown?.(body), undefined, "an evicted CSR's body is forgotten");
    });

    await t.step("maxEntries 0 disables caching", async () => {
      const uncached = createCsrParser({ maxEntries: 0 });
      const first = await uncached.parse(pems[0]);
      const second = await uncached.parse(pems[0]);
      assert(first.ok && second.ok);
      assert(first.csr !== second.csr);
      assertEquals(uncached.size, 0);
    });
  } finally {
    await openssl.close();
  }
});
