/**
 * The real lego (Debian 12's 4.9.1) against acmems' ACME front end over HTTPS, with pebble 2.10 upstream validating
 * over http-01 through acmems (tests/integration/acme_clients/front_stack.ts): `lego --server … --eab --kid …
 * --hmac … --csr … run` gets a certificate with the host's key and a chain to pebble's root; the same CSR again is a
 * cache hit (no upstream order); lego making its own key works too; a name outside the block, no EAB and a wrong EAB
 * are refused.
 */
import { assert, assertEquals, assertMatch, assertNotEquals } from "../../support/assert.ts";
import { makeCsr } from "../../support/csr.ts";
import { assertLegoSucceeded, makeLego } from "../../support/lego.ts";
import { assertChainVerifies, dnsNamesOf, leafFile, publicKeyOf, serialOf } from "./checks.ts";
import { startFrontStack, wrongKey } from "./front_stack.ts";

Deno.test("lego against acmems' ACME front end", async (t) => {
  const front = await startFrontStack("tests/integration/acme_clients/lego_test.ts");
  try {
    const { stack, server, tlsCaFile: caFile, rootFile, eab } = front;
    const work = stack.work;
    const lego = await makeLego({ server, caFile, eab, parentDir: work });
    const csr = await makeCsr({ dir: work, names: ["lego.example.test", "lego2.example.test"] });
    let firstSerial = "";

    await t.step("--csr run: the host's key, the CSR's names, a chain to pebble's root", async () => {
      const ordersBefore = await front.newOrders();
      const got = await lego.runCsr(csr.csrFile, "lego.example.test");
      assertLegoSucceeded(got);
      const leaf = await leafFile(got.bundleFile);
      assertEquals(await publicKeyOf(leaf, "cert"), await publicKeyOf(csr.csrFile, "csr"));
      assertEquals(await dnsNamesOf(leaf), ["lego.example.test", "lego2.example.test"]);
      await assertChainVerifies(leaf, got.issuerFile, rootFile);
      assertEquals(await front.newOrders(), ordersBefore + 1, "one upstream order");
      firstSerial = await serialOf(leaf);
    });

    await t.step("the same CSR again: a cache hit, no upstream order, the same certificate", async () => {
      assert(firstSerial, "needs the first step");
      const ordersBefore = await front.newOrders();
      const again = await lego.runCsr(csr.csrFile, "lego.example.test");
      assertLegoSucceeded(again);
      assertEquals(await front.newOrders(), ordersBefore, "a cache hit sends no order upstream");
      assertEquals(await serialOf(await leafFile(again.bundleFile)), firstSerial);
    });

    await t.step("lego renew --csr (forced with --days): answered by acmems from its cache", async () => {
      assert(firstSerial, "needs the first step");
      const ordersBefore = await front.newOrders();
      const renewed = await lego.run(["--csr", csr.csrFile, "renew", "--days", "365", "--no-random-sleep"]);
      assertLegoSucceeded(renewed);
      assertMatch(renewed.output, /acme: Trying renewal with \d+ hours remaining/);
      assertEquals(await front.newOrders(), ordersBefore, "the cached certificate is still fresh: no upstream order");
      const bundle = `${lego.dir}/data/certificates/lego.example.test.crt`;
      assertEquals(await serialOf(await leafFile(bundle)), firstSerial);
    });

    await t.step("lego makes its own key: the certificate holds that key", async () => {
      const got = await lego.runDomains(["legoown.example.test"]);
      assertLegoSucceeded(got);
      const leaf = await leafFile(got.bundleFile);
      assertEquals(await publicKeyOf(leaf, "cert"), await publicKeyOf(got.keyFile!, "key"));
      await assertChainVerifies(leaf, got.issuerFile, rootFile);
    });

    await t.step("a name outside the block: lego reports rejectedIdentifier naming it", async () => {
      const ordersBefore = await front.newOrders();
      const outside = await makeCsr({ dir: work, names: ["x.example.test", "x.web.test"] });
      const r = await lego.runCsr(outside.csrFile, "x.example.test");
      assertNotEquals(r.code, 0, r.output);
      assertMatch(r.output, /urn:ietf:params:acme:error:rejectedIdentifier/);
      assertMatch(r.output, /x\.web\.test/);
      assertEquals(await front.newOrders(), ordersBefore, "nothing is ordered for a refused name");
    });

    await t.step("no EAB and a wrong EAB: refused, and lego says why", async () => {
      const other = await makeCsr({ dir: work, names: ["noeab.example.test"] });
      const none = await makeLego({ server, caFile, parentDir: work });
      const noEab = await none.runCsr(other.csrFile, "noeab.example.test");
      assertNotEquals(noEab.code, 0, noEab.output);
      assertMatch(noEab.output, /Server requires External Account Binding/);
      const wrong = await makeLego({ server, caFile, parentDir: work, eab: wrongKey(eab) });
      const bad = await wrong.runCsr(other.csrFile, "noeab.example.test");
      assertNotEquals(bad.code, 0, bad.output);
      assertMatch(bad.output, /Could not complete registration/);
      assertMatch(
        bad.output,
        /urn:ietf:params:acme:error:unauthorized :: The externalAccountBinding MAC does not verify/,
      );
      assert(!(await Deno.stat(bad.bundleFile).catch(() => null)), "no certificate after a refusal");
    });
  } finally {
    await front.stop();
  }
});
