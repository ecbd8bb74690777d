/**
 * The CA's own refusals, from a real pebble 2.10 (not the fake CA), through a real `acmems serve` process:
 *
 * - `rejectedIdentifier`: a name on pebble's `domainBlocklist` is refused at newOrder; /sign answers 421 with the
 *   CA's detail (the names are the client's to change, the CA's policy the operator's).
 * - `badCSR`: a CSR acmems' intake accepts but pebble refuses at finalize answers 403 with the CA's detail. Pebble
 *   2.10's finalize (wfe.go) refuses with badCSR only (1) a bad CSR signature, (2) a signature algorithm outside
 *   SHA-256/384/512 with RSA or ECDSA, and (3) "CSR contains a public key for a known account" (RFC 8555 §11.1).
 *   acmems' intake refuses (1) with 415 and (2) with 403 itself, so only (3) reaches the CA: the CSR here is signed
 *   with acmems' own account key (`[account] dir`/account.pem), which its intake does not look for.
 *
 * A control issuance first shows the stack issues at all, so a refusal below is the CA's, not a broken setup.
 */
import { assertEquals, assertStringIncludes } from "../support/assert.ts";
import { startAcmems } from "../support/acmems.ts";
import { startNamed } from "../support/named.ts";
import { startPebble } from "../support/pebble.ts";
import { freePorts } from "../support/ports.ts";
import { runChecked } from "../support/process.ts";
import { curlSign, describe, hostCsr, verifyIssued } from "../e2e/host_tools.ts";
import { configText, ipAuth, NO_STORAGE, testConfig } from "../support/config.ts";
import { Cleanup } from "../support/stack.ts";

/**
 * Blocked by pebble, with every name below it. Two labels on purpose: pebble 2.10's `IsDomainBlocked` indexes the
 * requested name by the blocklist entry's labels and panics on a name with fewer labels that matches so far (e.g.
 * `example.test` against `x.example.test`); every name ordered here has at least two.
 */
const BLOCKED_DOMAIN = "blocked.test";

const AUTH = { local: ipAuth(["*.example.test", `*.${BLOCKED_DOMAIN}`]) };

Deno.test("the CA's own refusals reach a real pebble: rejectedIdentifier answers 421, badCSR 403", async (t) => {
  const cleanup = new Cleanup();
  const work = await Deno.makeTempDir({ prefix: "acmems-ca-refusals-" });
  cleanup.add(() => Deno.remove(work, { recursive: true }));
  try {
    const named = await startNamed();
    cleanup.add(() => named.stop());
    const [httpPort, mgmtPort] = await freePorts(2);
    const pebble = await startPebble({ dnsServer: named.address, httpPort, domainBlocklist: [BLOCKED_DOMAIN] });
    cleanup.add(() => pebble.stop());
    const config = JSON.parse(await Deno.readTextFile(pebble.configFile));
    assertEquals(config.pebble.domainBlocklist, [BLOCKED_DOMAIN], "pebble's config carries the blocklist");
    const rootFile = `${work}/pebble-root.pem`;
    await Deno.writeTextFile(rootFile, await pebble.rootPem());
    const acmems = await startAcmems({
      configText: configText(testConfig({
        comment: "acmems: the CA's own refusals",
        ca: pebble,
        mgmtPort,
        httpPort,
        storages: { none: NO_STORAGE },
        auth: AUTH,
      })),
    });
    cleanup.add(() => acmems.stop());

    await t.step("control: a name the CA accepts is issued (200)", async () => {
      const names = ["control.example.test"];
      const csr = await hostCsr(work, names);
      await verifyIssued(await curlSign(acmems.mgmtUrl, csr.csrFile), csr, names, rootFile, work);
    });

    await t.step("a name on pebble's domainBlocklist: 421 with the CA's rejectedIdentifier detail", async () => {
      const name = `www.${BLOCKED_DOMAIN}`;
      const csr = await hostCsr(work, [name]);
      const answer = await curlSign(acmems.mgmtUrl, csr.csrFile);
      assertEquals(answer.status, 421, describe(answer));
      assertStringIncludes(answer.body, `The CA refuses to issue for ${name}: `);
      // Pebble's own words (wfe.go, verifyOrder), passed through.
      assertStringIncludes(answer.body, `issuance is forbidden by policy: "${name}"`);
      const log = await acmems.log();
      assertStringIncludes(log, "ca refused the names");
      assertStringIncludes(log, "urn:ietf:params:acme:error:rejectedIdentifier");
    });

    await t.step("a CSR with a key pebble knows as an account key: 403 with the CA's badCSR detail", async () => {
      const name = "keyreuse.example.test";
      const accountKey = `${acmems.dir}/account/account.pem`;
      const csrFile = `${work}/keyreuse.csr`;
      await runChecked("openssl", [
        "req",
        "-new",
        "-key",
        accountKey,
        "-subj",
        `/CN=${name}`,
        "-addext",
        `subjectAltName=DNS:${name}`,
        "-out",
        csrFile,
        "-batch",
      ]);
      const answer = await curlSign(acmems.mgmtUrl, csrFile);
      assertEquals(answer.status, 403, describe(answer));
      assertStringIncludes(answer.body, "The CA refused this CSR: ");
      assertStringIncludes(answer.body, "CSR contains a public key for a known account");
      const log = await acmems.log();
      assertStringIncludes(log, "ca refused the csr");
      assertStringIncludes(log, "urn:ietf:params:acme:error:badCSR");
    });
  } finally {
    await cleanup.run();
  }
});
