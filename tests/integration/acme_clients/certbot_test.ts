/**
 * The real certbot (Debian 12's 2.1) against acmems' ACME front end over HTTPS, with pebble 2.10 upstream validating
 * over http-01 through acmems (tests/integration/acme_clients/front_stack.ts): certbot gets a certificate for a CSR
 * (the host's key) and for a key it makes itself, each with a chain to pebble's root; the same CSR again is a cache
 * hit (no upstream order); a name outside the block, no EAB and a wrong EAB are refused; `certbot revoke` revokes at
 * pebble.
 */
import { assert, assertEquals, assertMatch, assertNotEquals } from "../../support/assert.ts";
import { assertCertbotSucceeded, certbotReport, makeCertbot } from "../../support/certbot.ts";
import { makeCsr } from "../../support/csr.ts";
import { assertChainVerifies, dnsNamesOf, pebbleCertStatus, publicKeyOf, serialOf } from "./checks.ts";
import { startFrontStack, wrongKey } from "./front_stack.ts";

Deno.test("certbot against acmems' ACME front end", async (t) => {
  const front = await startFrontStack("tests/integration/acme_clients/certbot_test.ts");
  try {
    const { stack, server, tlsCaFile: caFile, rootFile, eab } = front;
    const pebble = stack.pebble;
    const work = stack.work;
    const certbot = await makeCertbot({ server, caFile, eab, parentDir: work });
    const csr = await makeCsr({ dir: work, names: ["www.example.test", "api.example.test"] });
    let first = "";

    await t.step("certonly --csr: the host's key, the CSR's names, a chain to pebble's root", async () => {
      const ordersBefore = await front.newOrders();
      const got = await certbot.certonlyCsr(csr.csrFile, { name: "first" });
      assertCertbotSucceeded(got);
      assertEquals(await publicKeyOf(got.certFile, "cert"), await publicKeyOf(csr.csrFile, "csr"));
      assertEquals(await dnsNamesOf(got.certFile), ["api.example.test", "www.example.test"]);
      await assertChainVerifies(got.certFile, got.chainFile, rootFile);
      assertEquals(await front.newOrders(), ordersBefore + 1, "one upstream order");
      first = got.certFile;
    });

    await t.step("the same CSR again: a cache hit, no upstream order, the same certificate", async () => {
      assert(first, "needs the first step");
      const ordersBefore = await front.newOrders();
      const again = await certbot.certonlyCsr(csr.csrFile, { name: "again" });
      assertCertbotSucceeded(again);
      assertEquals(await front.newOrders(), ordersBefore, "a cache hit sends no order upstream");
      assertEquals(await serialOf(again.certFile), await serialOf(first));
    });

    await t.step("certbot makes its own key: the certificate holds that key", async () => {
      const got = await certbot.certonlyOwnKey(["own.example.test"]);
      assertCertbotSucceeded(got);
      assertEquals(await publicKeyOf(got.certFile, "cert"), await publicKeyOf(got.keyFile!, "key"));
      assertEquals(await dnsNamesOf(got.certFile), ["own.example.test"]);
      await assertChainVerifies(got.certFile, got.chainFile, rootFile);
    });

    await t.step("certbot renew --force-renewal of its own lineage: a new key, a new certificate for it", async () => {
      const made = await certbot.certonlyOwnKey(["renew.example.test"], { certName: "renewing" });
      assertCertbotSucceeded(made);
      const before = await serialOf(made.certFile);
      const oldKey = await publicKeyOf(made.keyFile!, "key");
      const renewed = await certbot.run([
        "renew",
        "--cert-name",
        "renewing",
        "--force-renewal",
        "--no-random-sleep-on-renew",
      ]);
      assertCertbotSucceeded(renewed);
      assertMatch(renewed.output, /Congratulations, all renewals succeeded/);
      const newKey = await publicKeyOf(made.keyFile!, "key");
      assertNotEquals(newKey, oldKey, "certbot makes a new key on renewal");
      assertEquals(await publicKeyOf(made.certFile, "cert"), newKey);
      assertNotEquals(await serialOf(made.certFile), before);
      await assertChainVerifies(made.certFile, made.chainFile, rootFile);
    });

    await t.step("a name outside the block: certbot reports rejectedIdentifier naming it", async () => {
      const ordersBefore = await front.newOrders();
      const outside = await makeCsr({ dir: work, names: ["www.example.test", "www.web.test"] });
      const r = await certbot.certonlyCsr(outside.csrFile, { name: "outside" });
      assertNotEquals(r.code, 0, r.output);
      assertMatch(certbotReport(r), /urn:ietf:params:acme:error:rejectedIdentifier/);
      assertMatch(certbotReport(r), /www\.web\.test/);
      assertEquals(await front.newOrders(), ordersBefore, "nothing is ordered for a refused name");
    });

    await t.step("no EAB and a wrong EAB: refused, and certbot says why", async () => {
      const name = await makeCsr({ dir: work, names: ["noeab.example.test"] });
      const none = await makeCertbot({ server, caFile, parentDir: work });
      const noEab = await none.certonlyCsr(name.csrFile);
      assertNotEquals(noEab.code, 0, noEab.output);
      assertMatch(noEab.output, /Server requires external account binding/);
      const wrong = await makeCertbot({
        server,
        caFile,
        parentDir: work,
        eab: wrongKey(eab),
      });
      const bad = await wrong.certonlyCsr(name.csrFile);
      assertNotEquals(bad.code, 0, bad.output);
      assertMatch(bad.output, /Unable to register an account with ACME server/);
      assertMatch(bad.output, /externalAccountBinding MAC does not verify/);
      assertMatch(bad.log, /urn:ietf:params:acme:error:unauthorized/);
      const unknownKid = await makeCertbot({
        server,
        caFile,
        parentDir: work,
        eab: { kid: "nosuch", hmacKey: eab.hmacKey },
      });
      const unknown = await unknownKid.certonlyCsr(name.csrFile);
      assertNotEquals(unknown.code, 0, unknown.output);
      assertMatch(unknown.output, /Unable to register an account with ACME server/);
      assertMatch(unknown.output, /EAB key id "nosuch" is unknown/);
    });

    await t.step("certbot revoke --cert-path: pebble reports the certificate revoked", async () => {
      assert(first, "needs the first step");
      const serial = await serialOf(first);
      assertEquals((await pebbleCertStatus(pebble, serial)).Status, "Valid");
      const r = await certbot.revoke(first, { reason: "superseded" });
      assertCertbotSucceeded(r);
      const status = await pebbleCertStatus(pebble, serial);
      assertEquals([status.Status, status.Reason], ["Revoked", 4], JSON.stringify(status));
    });
  } finally {
    await front.stop();
  }
});
