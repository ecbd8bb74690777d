/**
 * The ACME front end against the real pebble 2.10 (resolving through bind9; pebble validates http-01 through acmems'
 * own challenge listener): acmems in-process with its mgmt listener on HTTPS (tls-cert/tls-key), a file cache, and an
 * ACME-enabled auth block; our own src/acme client talks to `https://127.0.0.1:PORT/acme/directory` as if acmems were
 * a CA: directory, EAB account, orders, finalize, download, a cache hit, ARI, replaces, key change, revocation (by
 * the account and by the certificate's key; pebble's management port says revoked), profiles.
 */
import * as x509 from "@peculiar/x509";
import {
  AcmeClient,
  AcmeProblem,
  ariCertId,
  type CertificateChain,
  generateKeyPair,
  REVOCATION_REASON,
  splitPemChain,
} from "../../../src/acme/mod.ts";
import { assert, assertEquals, assertNotEquals } from "../../support/assert.ts";
import { ipAuth, testConfig } from "../../support/config.ts";
import { makeCsr, type TestCsr } from "../../support/csr.ts";
import { freePort } from "../../support/ports.ts";
import { run } from "../../support/process.ts";
import { parsePrometheus } from "../../support/prometheus.ts";
import { startApp, startStack } from "../../support/stack.ts";
import { makeTestCa } from "../../support/test_ca.ts";

const EAB = { kid: "hosts-1", hmacKey: "ZWFiLWtleS1mb3ItdGhlLWludGVncmF0aW9uLXRlc3Q" };

async function problemOf(run: () => Promise<unknown>): Promise<AcmeProblem> {
  try {
    await run();
  } catch (error) {
    assert(error instanceof AcmeProblem, `expected an AcmeProblem, got ${error}`);
    return error;
  }
  throw new Error("expected an ACME problem, the call succeeded");
}

Deno.test("ACME front end: our ACME client against acmems (HTTPS) in front of pebble", async (t) => {
  const stack = await startStack({ prefix: "acmems-acme-front-", rootFile: true });
  const clients: AcmeClient[] = [];
  try {
    const work = stack.work;
    const tls = await makeTestCa(`${work}/tls`);
    const mgmtPort = await freePort();
    const app = await startApp({
      configFile: `${work}/acmems.ini`,
      config: testConfig({
        comment: "tests/integration/acme_server/acme_front_test.ts",
        ca: stack.pebble,
        accountDir: `${work}/account`,
        mgmtPort,
        httpPort: stack.pebble.httpPort,
        mgmt: { "tls-cert": tls.serverCertFile, "tls-key": tls.serverKeyFile, "default-storage": "cache" },
        storages: { cache: { type: "file", directory: `${work}/cache` } },
        auth: {
          hosts: ipAuth("*.front.example.test", "127.0.0.1", {
            "acme-eab-kid": EAB.kid,
            "acme-eab-hmac-key": EAB.hmacKey,
          }),
        },
      }),
      keyPair: await generateKeyPair("ec-p256"),
      caCerts: [stack.pebble.caPem],
    });
    stack.cleanup.add(() => app.stop());
    const directoryUrl = `https://127.0.0.1:${mgmtPort}/acme/directory`;
    const newClient = async (key?: CryptoKeyPair) => {
      const client = new AcmeClient({
        directoryUrl,
        accountKey: key ?? await generateKeyPair("ec-p256"),
        caCerts: [tls.caPem],
        pollIntervalMs: 100,
      });
      clients.push(client);
      return client;
    };
    const newOrders = () =>
      parsePrometheus(app.app.metrics.registry.render()).find("acmems_acme_requests_total", { endpoint: "newOrder" })
        .reduce((sum, s) => sum + s.value, 0);
    const issue = async (
      client: AcmeClient,
      names: string[],
      opts: { csr?: TestCsr; profile?: string; replaces?: string } = {},
    ) => {
      let order = await client.newOrder({ identifiers: names, profile: opts.profile, replaces: opts.replaces });
      assertEquals(order.status, "ready");
      for (const url of order.authorizations) assertEquals((await client.getAuthorization(url)).status, "valid");
      const csr = opts.csr ?? await makeCsr({ dir: work, names });
      order = await client.finalize(order, csr.csrPem);
      order = await client.pollOrder(order.url, { deadline: Date.now() + 60_000 });
      assertEquals(order.status, "valid", JSON.stringify(order.error));
      const chain = await client.downloadCertificate(order.certificate!);
      return { order, chain, csr };
    };
    const verify = async (chain: CertificateChain, csr: TestCsr) => {
      const [leafPem, ...intermediates] = splitPemChain(chain.pem);
      await Deno.writeTextFile(`${work}/leaf.pem`, leafPem);
      await Deno.writeTextFile(`${work}/inter.pem`, intermediates.join(""));
      const result = await run("openssl", [
        "verify",
        "-CAfile",
        stack.rootFile,
        "-untrusted",
        `${work}/inter.pem`,
        `${work}/leaf.pem`,
      ]);
      assertEquals(result.code, 0, result.output);
      const leaf = new x509.X509Certificate(leafPem);
      const request = new x509.Pkcs10CertificateRequest(csr.csrPem);
      assertEquals(leaf.publicKey.toString("base64"), request.publicKey.toString("base64"), "the host's key");
      return leaf;
    };
    const pebbleStatus = async (leaf: x509.X509Certificate) => {
      const serial = leaf.serialNumber.toLowerCase().replace(/^0+/, "");
      const r = await run("curl", [
        "-sS",
        "--cacert",
        stack.pebble.caFile,
        `${stack.pebble.managementUrl}/cert-status-by-serial/${serial}`,
      ]);
      return JSON.parse(r.stdout) as { Status: string; Reason?: number };
    };

    const client = await newClient();
    let first: Awaited<ReturnType<typeof issue>>;
    let firstLeaf: x509.X509Certificate;

    await t.step("directory: https URLs, EAB required, profiles and terms relayed from pebble", async () => {
      const dir = await client.directory();
      for (const url of [dir.newNonce, dir.newAccount, dir.newOrder, dir.revokeCert, dir.keyChange, dir.renewalInfo]) {
        assert(url?.startsWith(`https://127.0.0.1:${mgmtPort}/acme/`), String(url));
      }
      assertEquals(dir.meta?.externalAccountRequired, true);
      const httpClient = Deno.createHttpClient({ caCerts: [stack.pebble.caPem] });
      const upstream = await (await fetch(stack.pebble.directoryUrl, { client: httpClient })).json();
      httpClient.close();
      assertEquals(dir.meta?.profiles, upstream.meta.profiles);
      assertEquals(dir.meta?.termsOfService, upstream.meta.termsOfService);
    });

    await t.step("newAccount: no EAB refused, a wrong MAC refused, the right EAB creates the account", async () => {
      const none = await problemOf(() => client.newAccount({ termsOfServiceAgreed: true }));
      assert(none.is("externalAccountRequired"), none.type);
      const wrong = await problemOf(() =>
        client.newAccount({ eab: { kid: EAB.kid, hmacKey: "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk" } })
      );
      assert(wrong.is("unauthorized"), wrong.type);
      const created = await client.newAccount({ termsOfServiceAgreed: true, eab: EAB });
      assert(created.created);
      assertEquals((await client.newAccount({ eab: EAB })).url, created.url, "the same key: the same account");
    });

    await t.step("full order: pebble validates through acmems; the chain verifies, the key is the host's", async () => {
      const before = newOrders();
      first = await issue(client, ["www.front.example.test"]);
      firstLeaf = await verify(first.chain, first.csr);
      assertEquals(newOrders(), before + 1);
    });

    await t.step("a second order for the same CSR is a cache hit: no upstream order", async () => {
      const before = newOrders();
      const again = await issue(client, ["www.front.example.test"], { csr: first.csr });
      assertEquals(again.chain.pem, first.chain.pem);
      assertEquals(newOrders(), before, "no newOrder to pebble");
    });

    await t.step("an identifier outside the block: rejectedIdentifier naming it, nothing ordered", async () => {
      const before = newOrders();
      const refused = await problemOf(() => client.newOrder({ identifiers: ["www.elsewhere.example.test"] }));
      assert(refused.is("rejectedIdentifier"), refused.type);
      assert(refused.detail.includes("www.elsewhere.example.test"), refused.detail);
      assertEquals(newOrders(), before);
    });

    await t.step("ARI: renewalInfo answers acmems' window; an order replacing the certificate", async () => {
      const info = await client.renewalInfo(first.chain.pem);
      const notAfter = firstLeaf.notAfter.getTime();
      assert(info.suggestedWindow.start.getTime() < info.suggestedWindow.end.getTime());
      assert(info.suggestedWindow.end.getTime() <= notAfter, "the window ends before notAfter");
      assert(info.suggestedWindow.start.getTime() > Date.now(), "a fresh certificate is not due");
      const replacement = await issue(client, ["www.front.example.test"], { replaces: ariCertId(first.chain.pem) });
      assertEquals(replacement.order.replaces, ariCertId(first.chain.pem));
      await verify(replacement.chain, replacement.csr);
    });

    await t.step("profile shortlived: the certificate is shorter-lived", async () => {
      const short = await issue(client, ["short.front.example.test"], { profile: "shortlived" });
      const leaf = await verify(short.chain, short.csr);
      const days = (leaf.notAfter.getTime() - leaf.notBefore.getTime()) / 86_400_000;
      assert(days < 10, `shortlived validity ${days} days`);
      const invalid = await problemOf(() =>
        client.newOrder({ identifiers: ["x.front.example.test"], profile: "nosuchprofile" })
      ).catch((error) => error);
      assert(invalid instanceof Error, "an unknown profile is refused (by our client or by acmems)");
    });

    await t.step("revokeCert by the ordering account: pebble reports it revoked with the reason", async () => {
      await client.revokeCertificate(first.chain.pem, REVOCATION_REASON.superseded);
      const status = await pebbleStatus(firstLeaf);
      assertEquals(status.Status, "Revoked");
      assertEquals(status.Reason, REVOCATION_REASON.superseded);
      const again = await problemOf(() => client.revokeCertificate(first.chain.pem));
      assert(again.is("alreadyRevoked"), again.type);
      const info = await client.renewalInfo(first.chain.pem);
      assert(info.suggestedWindow.start.getTime() <= Date.now(), "a revoked (uncached) certificate is due now");
    });

    await t.step("revokeCert signed with the certificate's own key (jwk)", async () => {
      const issued = await issue(client, ["keyed.front.example.test"], {
        csr: await makeCsr({ dir: work, names: ["keyed.front.example.test"] }),
      });
      const leaf = await verify(issued.chain, issued.csr);
      const keyPem = issued.csr.keyPem;
      const der = Uint8Array.from(atob(keyPem.replace(/-----[^-]+-----|\s/g, "")), (c) => c.charCodeAt(0));
      const privateKey = await crypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve: "P-256" }, true, [
        "sign",
      ]);
      const jwk = await crypto.subtle.exportKey("jwk", privateKey);
      delete jwk.d;
      const publicKey = await crypto.subtle.importKey(
        "jwk",
        { ...jwk, key_ops: ["verify"] },
        {
          name: "ECDSA",
          namedCurve: "P-256",
        },
        true,
        ["verify"],
      );
      const stranger = await newClient();
      await stranger.revokeCertificate(issued.chain.pem, {
        reason: REVOCATION_REASON.keyCompromise,
        certificateKey: { privateKey, publicKey },
      });
      assertEquals((await pebbleStatus(leaf)).Status, "Revoked");
    });

    await t.step("key change: the new key signs, the old key finds no account; then deactivation", async () => {
      const account = await client.getAccount();
      assertEquals(account.status, "valid");
      const oldKey = client.accountKey;
      await client.changeAccountKey(await generateKeyPair("rsa-2048"));
      assertEquals((await client.getAccount()).status, "valid");
      const stale = await newClient(oldKey);
      const missing = await problemOf(() => stale.findAccount());
      assert(missing.is("accountDoesNotExist"), missing.type);
      assertEquals((await client.deactivateAccount()).status, "deactivated");
      const refused = await problemOf(() => client.newOrder({ identifiers: ["www.front.example.test"] }));
      assert(refused.is("unauthorized"), refused.type);
      assertNotEquals(refused.detail, "");
    });
  } finally {
    for (const client of clients) client.close();
    await stack.cleanup.run();
  }
});
