/**
 * The certbot and lego harnesses (tests/support/certbot.ts, lego.ts) against pebble 2.10 directly, with EAB
 * required: what the acmems front end tests rely on, checked against a reference ACME server. Pebble validates
 * nothing here (PEBBLE_VA_ALWAYS_VALID), the way acmems hands out `valid` authorizations; names on pebble's
 * `domainBlocklist` are refused with `rejectedIdentifier`.
 */
import { assert, assertEquals, assertMatch, assertNotEquals } from "../../support/assert.ts";
import { assertCertbotSucceeded, certbotReport, type Eab, makeCertbot } from "../../support/certbot.ts";
import { makeCsr } from "../../support/csr.ts";
import { assertLegoSucceeded, makeLego } from "../../support/lego.ts";
import { startPebble } from "../../support/pebble.ts";
import { removeWorkDir } from "../../support/process.ts";
import { Cleanup } from "../../support/stack.ts";
import { assertChainVerifies, dnsNamesOf, leafFile, pebbleCertStatus, publicKeyOf, serialOf } from "./checks.ts";

const EAB: Eab = { kid: "harness-kid", hmacKey: "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W" };
const WRONG: Eab = { kid: "harness-kid", hmacKey: "AAAAZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W" };

Deno.test("certbot and lego against pebble with EAB: the harness gets, refuses and revokes", async (t) => {
  const cleanup = new Cleanup();
  try {
    const pebble = await startPebble({
      eabRequired: true,
      eabKeys: { [EAB.kid]: EAB.hmacKey },
      alwaysValid: true,
      domainBlocklist: ["blocked.example.test"],
    });
    cleanup.add(() => pebble.stop());
    const work = await Deno.makeTempDir({ prefix: "acmems-harness-" });
    cleanup.add(() => removeWorkDir(work));
    const rootFile = `${work}/root.pem`;
    await Deno.writeTextFile(rootFile, await pebble.rootPem());
    const clients = { server: pebble.directoryUrl, caFile: pebble.caFile, parentDir: work };

    await t.step("certbot --csr: the host's key, a chain to pebble's root; certbot revoke → Revoked", async () => {
      const certbot = await makeCertbot({ ...clients, eab: EAB });
      const csr = await makeCsr({ dir: work, names: ["a.example.test"] });
      const got = await certbot.certonlyCsr(csr.csrFile);
      assertCertbotSucceeded(got);
      assertEquals(await publicKeyOf(got.certFile, "cert"), await publicKeyOf(csr.csrFile, "csr"));
      await assertChainVerifies(got.certFile, got.chainFile, rootFile);
      const serial = await serialOf(got.certFile);
      assertEquals((await pebbleCertStatus(pebble, serial)).Status, "Valid");
      const revoked = await certbot.revoke(got.certFile, { reason: "superseded" });
      assertCertbotSucceeded(revoked);
      const status = await pebbleCertStatus(pebble, serial);
      assertEquals([status.Status, status.Reason], ["Revoked", 4]);
    });

    await t.step("certbot makes its own key", async () => {
      const certbot = await makeCertbot({ ...clients, eab: EAB });
      const got = await certbot.certonlyOwnKey(["own.example.test"]);
      assertCertbotSucceeded(got);
      assertEquals(await publicKeyOf(got.certFile, "cert"), await publicKeyOf(got.keyFile!, "key"));
      assertEquals(await dnsNamesOf(got.certFile), ["own.example.test"]);
      await assertChainVerifies(got.certFile, got.chainFile, rootFile);
    });

    await t.step("certbot: no EAB, a wrong EAB, a blocked name → fails, naming the problem", async () => {
      const none = await makeCertbot(clients);
      const csr = await makeCsr({ dir: work, names: ["b.example.test"] });
      const noEab = await none.certonlyCsr(csr.csrFile);
      assertNotEquals(noEab.code, 0, noEab.output);
      assertMatch(certbotReport(noEab), /external account/i);
      const wrong = await makeCertbot({ ...clients, eab: WRONG });
      const bad = await wrong.certonlyCsr(csr.csrFile);
      assertNotEquals(bad.code, 0, bad.output);
      assertMatch(certbotReport(bad), /external account binding/i);
      const certbot = await makeCertbot({ ...clients, eab: EAB });
      const blocked = await certbot.certonlyCsr(
        (await makeCsr({ dir: work, names: ["blocked.example.test"] })).csrFile,
      );
      assertNotEquals(blocked.code, 0);
      assertMatch(certbotReport(blocked), /rejectedIdentifier/);
    });

    await t.step("lego --csr run: the host's key and a chain; no EAB, a blocked name → fails", async () => {
      const lego = await makeLego({ ...clients, eab: EAB });
      const csr = await makeCsr({ dir: work, names: ["c.example.test"] });
      const got = await lego.runCsr(csr.csrFile, "c.example.test");
      assertLegoSucceeded(got);
      const leaf = await leafFile(got.bundleFile);
      assertEquals(await publicKeyOf(leaf, "cert"), await publicKeyOf(csr.csrFile, "csr"));
      await assertChainVerifies(leaf, got.issuerFile, rootFile);
      const blocked = await lego.runCsr(
        (await makeCsr({ dir: work, names: ["blocked.example.test"] })).csrFile,
        "blocked.example.test",
      );
      assertNotEquals(blocked.code, 0);
      assertMatch(blocked.output, /rejectedIdentifier/);
      const none = await makeLego(clients);
      const noEab = await none.runCsr(csr.csrFile, "c.example.test");
      assertNotEquals(noEab.code, 0);
      assertMatch(noEab.output, /External Account Binding/);
      const wrong = await makeLego({ ...clients, eab: WRONG });
      const bad = await wrong.runCsr(csr.csrFile, "c.example.test");
      assertNotEquals(bad.code, 0);
      assertMatch(bad.output, /urn:ietf:params:acme:error:unauthorized :: external account binding/);
      assert(!(await Deno.stat(bad.bundleFile).catch(() => null)), "no certificate after a refusal");
    });
  } finally {
    await cleanup.run();
  }
});
