/**
 * certbot and lego when the upstream order outlasts the front end's finalize wait (10 s): pebble's http-01
 * connections to acmems are held 12 s (tests/support/delay_proxy.ts), so finalize answers `processing` with
 * Retry-After and each client polls the order until it is `valid`, then downloads the certificate; one upstream order
 * each (nothing ordered twice while the clients poll).
 */
import { assertEquals, assertMatch } from "../../support/assert.ts";
import { assertCertbotSucceeded, makeCertbot } from "../../support/certbot.ts";
import { makeCsr } from "../../support/csr.ts";
import { assertLegoSucceeded, makeLego } from "../../support/lego.ts";
import { assertChainVerifies, leafFile, publicKeyOf } from "./checks.ts";
import { startFrontStack } from "./front_stack.ts";

/** Longer than the front end's finalize wait (src/acme_server/mod.ts: 10 s). */
const VALIDATION_DELAY_MS = 12_000;

Deno.test("certbot and lego poll a processing order to its certificate", async (t) => {
  const front = await startFrontStack("tests/integration/acme_clients/processing_test.ts", {
    validationDelayMs: VALIDATION_DELAY_MS,
  });
  try {
    const { stack, server, tlsCaFile: caFile, rootFile, eab } = front;
    const work = stack.work;

    await t.step("certbot --csr: processing, polled, valid; one upstream order", async () => {
      const certbot = await makeCertbot({ server, caFile, eab, parentDir: work });
      const csr = await makeCsr({ dir: work, names: ["slow-certbot.example.test"] });
      const before = await front.newOrders();
      const got = await certbot.certonlyCsr(csr.csrFile);
      assertCertbotSucceeded(got);
      // certbot logs every response: finalize answered `processing`, a later poll `valid`.
      assertMatch(got.log, /"status":\s*"processing"/);
      assertEquals(await publicKeyOf(got.certFile, "cert"), await publicKeyOf(csr.csrFile, "csr"));
      await assertChainVerifies(got.certFile, got.chainFile, rootFile);
      assertEquals(await front.newOrders(), before + 1, "polling orders nothing more upstream");
    });

    await t.step("lego --csr run: processing, polled, valid; one upstream order", async () => {
      const lego = await makeLego({ server, caFile, eab, parentDir: work });
      const csr = await makeCsr({ dir: work, names: ["slow-lego.example.test"] });
      const before = await front.newOrders();
      const got = await lego.runCsr(csr.csrFile, "slow-lego.example.test");
      assertLegoSucceeded(got);
      const leaf = await leafFile(got.bundleFile);
      assertEquals(await publicKeyOf(leaf, "cert"), await publicKeyOf(csr.csrFile, "csr"));
      await assertChainVerifies(leaf, got.issuerFile, rootFile);
      assertEquals(await front.newOrders(), before + 1, "polling orders nothing more upstream");
    });
  } finally {
    await front.stop();
  }
});
