/**
 * The in-house ACME client (src/acme) against real pebble 2.10 + BIND (http-01 names resolve to 127.0.0.1).
 *
 * One named and one http-01 responder serve every pebble here; pebbles are grouped by the knobs they need
 * (plain + strict, EAB, nonce/authz chaos, one that gets stopped), each in one Deno.test with steps so startup
 * is paid once and everything is stopped in `finally`.
 */
import * as x509 from "@peculiar/x509";
import { assert, assertEquals, assertRejects } from "../support/assert.ts";
import { makeCsr } from "../support/csr.ts";
import { startNamed } from "../support/named.ts";
import { type Pebble, startPebble } from "../support/pebble.ts";
import { freePort } from "../support/ports.ts";
import { run } from "../support/process.ts";
import {
  AcmeClient,
  type AcmeClientOptions,
  AcmeNetworkError,
  type AcmeOrder,
  AcmeProtocolError,
  AcmeTimeoutError,
  ariCertId,
  type CertificateChain,
  decodePem,
  type FetchLike,
  generateKeyPair,
  importPrivateKeyPem,
  isProblem,
  type KeyType,
  splitPemChain,
} from "../../src/acme/mod.ts";

const POLL_MS = 30_000;

/** A minimal http-01 responder: answers only exact tokens it was given, 404 otherwise. */
function startResponder(port: number) {
  const tokens = new Map<string, string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (req) => {
    const token = new URL(req.url).pathname.match(/^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/)?.[1];
    const body = token && tokens.get(token);
    return body ? new Response(body, { headers: { "content-type": "application/octet-stream" } }) : new Response(
      "not found",
      { status: 404 },
    );
  });
  return { tokens, stop: () => server.shutdown() };
}

type Responder = ReturnType<typeof startResponder>;

interface Issued {
  order: AcmeOrder;
  chain: CertificateChain;
  csr: Awaited<ReturnType<typeof makeCsr>>;
  /** Authorizations that were already valid (reused) and needed no challenge. */
  skipped: number;
}

/** Runs one full http-01 issuance with the explicit API. */
async function issue(
  client: AcmeClient,
  responder: Responder,
  names: string[],
  opts: { profile?: string; replaces?: string; csrKey?: "rsa-2048" | "ec-p256" } = {},
): Promise<Issued> {
  const deadline = Date.now() + POLL_MS;
  let order = await client.newOrder({ identifiers: names, profile: opts.profile, replaces: opts.replaces });
  let skipped = 0;
  const pending: string[] = [];
  for (const url of order.authorizations) {
    const authz = await client.getAuthorization(url);
    if (authz.status === "valid") {
      skipped++;
      continue;
    }
    const challenge = authz.challenges.find((c) => c.type === "http-01");
    assert(challenge?.token, `no http-01 challenge for ${authz.identifier.value}`);
    responder.tokens.set(challenge.token, await client.keyAuthorization(challenge.token));
    await client.respondToChallenge(challenge.url);
    pending.push(url);
  }
  for (const url of pending) {
    const authz = await client.pollAuthorization(url, { deadline });
    assertEquals(authz.status, "valid", `authz ${url}: ${JSON.stringify(authz.challenges.map((c) => c.error))}`);
  }
  order = await client.pollOrder(order.url, { deadline });
  assertEquals(order.status, "ready");
  const csr = await makeCsr({ names, key: opts.csrKey });
  order = await client.finalize(order, csr.csrPem);
  order = await client.pollOrder(order.url, { deadline });
  assertEquals(order.status, "valid");
  const chain = await client.downloadCertificate(order.certificate!);
  return { order, chain, csr, skipped };
}

async function verifyChain(pebble: Pebble, issued: Issued): Promise<x509.X509Certificate> {
  const [leafPem, ...intermediates] = splitPemChain(issued.chain.pem);
  assert(intermediates.length >= 1, "chain must include an intermediate");
  const dir = await Deno.makeTempDir({ prefix: "acme-client-verify-" });
  try {
    await Deno.writeTextFile(`${dir}/root.pem`, await pebble.rootPem());
    await Deno.writeTextFile(`${dir}/inter.pem`, intermediates.join(""));
    await Deno.writeTextFile(`${dir}/leaf.pem`, leafPem);
    const verify = await run("openssl", [
      "verify",
      "-CAfile",
      `${dir}/root.pem`,
      "-untrusted",
      `${dir}/inter.pem`,
      `${dir}/leaf.pem`,
    ]);
    assertEquals(verify.code, 0, verify.output);
    assert(verify.stdout.includes(": OK"), verify.output);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const leaf = new x509.X509Certificate(leafPem);
  const csr = new x509.Pkcs10CertificateRequest(issued.csr.csrPem);
  assertEquals(leaf.publicKey.toString("base64"), csr.publicKey.toString("base64"), "leaf key must be the CSR key");
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  const leafNames = san?.names.items.map((n) => n.value).sort();
  assertEquals(leafNames, issued.order.identifiers.map((i) => i.value).sort());
  return leaf;
}

function newClient(pebble: Pebble, key: CryptoKeyPair, opts: Partial<AcmeClientOptions> = {}): AcmeClient {
  return new AcmeClient({
    directoryUrl: pebble.directoryUrl,
    accountKey: key,
    caCerts: [pebble.caPem],
    pollIntervalMs: 100,
    ...opts,
  });
}

const days = (cert: x509.X509Certificate) => (cert.notAfter.getTime() - cert.notBefore.getTime()) / 86_400_000;

Deno.test("ACME client against pebble", async (t) => {
  const httpPort = await freePort();
  const responder = startResponder(httpPort);
  const named = await startNamed().catch(async (e) => {
    await responder.stop();
    throw e;
  });
  const closers: (() => unknown)[] = [() => responder.stop(), () => named.stop()];
  const cleanup = async () => {
    for (const close of closers.reverse()) await close();
  };
  try {
    // ------------------------------------------------------------ plain pebble, strict mode
    const pebble = await startPebble({ dnsServer: named.address, httpPort, strict: true });
    closers.push(() => pebble.stop());
    const key = await generateKeyPair("ec-p256");
    const client = newClient(pebble, key);
    closers.push(() => client.close());

    await t.step("directory and meta: profiles and ARI advertised", async () => {
      const meta = await client.meta();
      assertEquals(Object.keys(meta.profiles ?? {}).sort(), ["default", "shortlived"]);
      assert(await client.supportsAri());
    });

    await t.step("account: create, same key again, lookup, update contact", async () => {
      const created = await client.newAccount({ contact: ["mailto:ops@example.test"], termsOfServiceAgreed: true });
      assert(created.created, "first newAccount must be 201");
      assertEquals(created.account.status, "valid");
      const again = await client.newAccount({ termsOfServiceAgreed: true });
      assertEquals([again.created, again.url], [false, created.url]);

      const lookup = newClient(pebble, key);
      try {
        assertEquals((await lookup.findAccount()).url, created.url);
      } finally {
        lookup.close();
      }
      const stranger = newClient(pebble, await generateKeyPair("ec-p256"));
      try {
        const e = await assertRejects(() => stranger.findAccount());
        assert(isProblem(e, "accountDoesNotExist"), String(e));
      } finally {
        stranger.close();
      }

      const updated = await client.updateAccount({ contact: ["mailto:new@example.test"] });
      assertEquals(updated.contact, ["mailto:new@example.test"]);
      assertEquals((await client.getAccount()).contact, ["mailto:new@example.test"]);
    });

    let issued: Issued | undefined;
    await t.step("full http-01 order: chain verifies, leaf key and SANs match the CSR", async () => {
      // Without a profile pebble picks one at random, so name it to compare validities below.
      issued = await issue(client, responder, ["www.example.test", "api.example.test"], { profile: "default" });
      assertEquals([issued.skipped, issued.order.profile], [0, "default"]);
      const leaf = await verifyChain(pebble, issued);
      assert(days(leaf) > 89 && days(leaf) <= 90.01, `default profile should be 90 days, is ${days(leaf)}`);
    });

    await t.step("RSA account key (RS256) and RSA CSR", async () => {
      const rsa = newClient(pebble, await generateKeyPair("rsa-2048"));
      try {
        await rsa.newAccount({ termsOfServiceAgreed: true });
        await verifyChain(pebble, await issue(rsa, responder, ["rsa.example.test"], { csrKey: "rsa-2048" }));
      } finally {
        rsa.close();
      }
    });

    await t.step("profile shortlived yields the shorter validity", async () => {
      const short = await issue(client, responder, ["short.example.test"], { profile: "shortlived" });
      assertEquals(short.order.profile, "shortlived");
      const leaf = await verifyChain(pebble, short);
      assert(days(leaf) <= 6.01 && days(leaf) > 5, `shortlived should be 6 days, is ${days(leaf)}`);
    });

    await t.step("ARI: renewalInfo for the issued certificate, a CA-set window, an invalid window", async () => {
      const pem = issued!.chain.pem;
      const info = await client.renewalInfo(pem);
      assert(info.suggestedWindow.start < info.suggestedWindow.end);
      assert(info.retryAfter.getTime() > Date.now());

      await pebble.setRenewalInfo(splitPemChain(pem)[0], {
        suggestedWindow: { start: "2030-01-01T00:00:00Z", end: "2030-01-02T00:00:00Z" },
        explanationURL: "https://ca.example/why",
      });
      const forced = await client.renewalInfo(decodePem(pem, ["CERTIFICATE"]).der);
      assertEquals(forced.suggestedWindow.start.toISOString(), "2030-01-01T00:00:00.000Z");
      assertEquals(forced.explanationURL, "https://ca.example/why");

      await pebble.setRenewalInfo(splitPemChain(pem)[0], {
        suggestedWindow: { start: "2030-01-02T00:00:00Z", end: "2030-01-01T00:00:00Z" },
      });
      const e = await assertRejects(() => client.renewalInfo(pem));
      assert(e instanceof AcmeProtocolError && /empty window/.test(e.message), String(e));
    });

    await t.step("ARI: an order that replaces the issued certificate", async () => {
      const certId = ariCertId(issued!.chain.pem);
      const renewal = await issue(client, responder, ["www.example.test", "api.example.test"], { replaces: certId });
      assertEquals(renewal.order.replaces, certId);
      // A second replacement of the same certificate is refused (RFC 9773 §5).
      const e = await assertRejects(() =>
        client.newOrder({ identifiers: ["www.example.test", "api.example.test"], replaces: certId })
      );
      assert(isProblem(e, "alreadyReplaced") && e.status === 409, String(e));
    });

    await t.step("finalize with a CSR for other names: typed badCSR/unauthorized problem", async () => {
      const deadline = Date.now() + POLL_MS;
      const order = await client.newOrder({ identifiers: ["csr.example.test"] });
      for (const url of order.authorizations) {
        const authz = await client.getAuthorization(url);
        const ch = authz.challenges.find((c) => c.type === "http-01")!;
        responder.tokens.set(ch.token!, await client.keyAuthorization(ch.token!));
        await client.respondToChallenge(ch.url);
        await client.pollAuthorization(url, { deadline });
      }
      assertEquals((await client.pollOrder(order.url, { deadline })).status, "ready");
      const wrong = await makeCsr({ names: ["other.example.test"] });
      const e = await assertRejects(() => client.finalize(order, wrong.csrPem));
      // Pebble says unauthorized, Boulder badCSR: both are typed, and the CA's detail names the order's domain.
      assert(isProblem(e, "badCSR") || isProblem(e, "unauthorized"), String(e));
      assert(e.detail.includes("csr.example.test"), e.detail);
    });

    await t.step("a failing challenge: authorization invalid with the CA's error", async () => {
      const deadline = Date.now() + POLL_MS;
      // unreachable.example.test resolves to 127.0.0.2, where nothing listens.
      const order = await client.newOrder({ identifiers: ["unreachable.example.test"] });
      const authz = await client.getAuthorization(order.authorizations[0]);
      const ch = authz.challenges.find((c) => c.type === "http-01")!;
      await client.respondToChallenge(ch.url);
      const done = await client.pollAuthorization(authz.url, { deadline });
      assertEquals(done.status, "invalid");
      const failed = done.challenges.find((c) => c.type === "http-01")!;
      assertEquals(failed.error?.type, "urn:ietf:params:acme:error:connection", JSON.stringify(failed.error));
      assertEquals((await client.pollOrder(order.url, { deadline })).status, "invalid");
    });

    await t.step("deactivate an authorization", async () => {
      const order = await client.newOrder({ identifiers: ["deact.example.test"] });
      const authz = await client.deactivateAuthorization(order.authorizations[0]);
      assertEquals(authz.status, "deactivated");
    });

    await t.step("revoke: account-signed works, a second revocation is alreadyRevoked", async () => {
      const revokee = await issue(client, responder, ["revoke.example.test"]);
      const leaf = splitPemChain(revokee.chain.pem)[0];
      await client.revokeCertificate(leaf, { reason: 4 });
      const e = await assertRejects(() => client.revokeCertificate(leaf));
      assert(isProblem(e, "alreadyRevoked"), String(e));
    });

    await t.step("revoke signed with the certificate's own key (jwk)", async () => {
      const revokee = await issue(client, responder, ["revoke2.example.test"]);
      const certKey = await importPrivateKeyPem(revokee.csr.keyPem);
      const other = newClient(pebble, await generateKeyPair("ec-p256"));
      try {
        await other.revokeCertificate(splitPemChain(revokee.chain.pem)[0], { certificateKey: certKey });
      } finally {
        other.close();
      }
    });

    await t.step("account key rollover, then deactivate", async () => {
      const roller = newClient(pebble, await generateKeyPair("ec-p256"));
      try {
        const { url } = await roller.newAccount({ termsOfServiceAgreed: true });
        const newKey = await generateKeyPair("ec-p384" satisfies KeyType);
        await roller.changeAccountKey(newKey);
        assertEquals((await roller.getAccount()).status, "valid");
        const byNewKey = newClient(pebble, newKey);
        try {
          assertEquals((await byNewKey.findAccount()).url, url);
        } finally {
          byNewKey.close();
        }
        assertEquals((await roller.deactivateAccount()).status, "deactivated");
        const e = await assertRejects(() => roller.newOrder({ identifiers: ["x.example.test"] }));
        assert(isProblem(e, "unauthorized"), String(e));
      } finally {
        roller.close();
      }
    });

    // ------------------------------------------------------------ EAB
    const hmacKey = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    const eabPebble = await startPebble({ httpPort, eabRequired: true, eabKeys: { "kid-1": hmacKey } });
    closers.push(() => eabPebble.stop());

    await t.step("EAB required: without, with a wrong key, with the right key", async () => {
      const eabClient = newClient(eabPebble, await generateKeyPair("ec-p384"));
      try {
        assertEquals((await eabClient.meta()).externalAccountRequired, true);
        const missing = await assertRejects(() => eabClient.newAccount({ termsOfServiceAgreed: true }));
        assert(isProblem(missing, "externalAccountRequired"), String(missing));
        const wrong = await assertRejects(() =>
          eabClient.newAccount({ termsOfServiceAgreed: true, eab: { kid: "kid-1", hmacKey: "AAAAAAAAAAAAAAAAAAAAAA" } })
        );
        assert(isProblem(wrong, "unauthorized") && /external account binding/.test(wrong.detail), String(wrong));
        const unknownKid = await assertRejects(() =>
          eabClient.newAccount({ termsOfServiceAgreed: true, eab: { kid: "kid-9", hmacKey } })
        );
        assert(isProblem(unknownKid, "unauthorized") && /kid/.test(unknownKid.detail), String(unknownKid));
        const ok = await eabClient.newAccount({ termsOfServiceAgreed: true, eab: { kid: "kid-1", hmacKey } });
        assert(ok.created);
        assertEquals(ok.account.status, "valid");
      } finally {
        eabClient.close();
      }
    });

    // ------------------------------------------------------------ chaos: badNonce storm and authz reuse
    const chaos = await startPebble({ dnsServer: named.address, httpPort, nonceReject: 30, authzReuse: 50 });
    closers.push(() => chaos.stop());

    await t.step("badNonce storm (30 %): 6 sequential orders all succeed", async () => {
      let badNonces = 0;
      const counting: FetchLike = async (input, init) => {
        const res = await fetch(input, init);
        if (res.status === 400 && (await res.clone().text()).includes("badNonce")) badNonces++;
        return res;
      };
      const stormy = newClient(chaos, await generateKeyPair("ec-p256"), { maxBadNonceRetries: 20, fetch: counting });
      try {
        await stormy.newAccount({ termsOfServiceAgreed: true });
        for (let i = 0; i < 6; i++) {
          const result = await issue(stormy, responder, [`storm${i}.example.test`]);
          assertEquals(result.order.status, "valid");
        }
        // About 60 POSTs at 30 %: the storm must actually have happened.
        assert(badNonces >= 5, `expected many badNonce answers, saw ${badNonces}`);
      } finally {
        stormy.close();
      }
    });

    await t.step("authz reuse (50 %): already-valid authorizations are skipped and orders succeed", async () => {
      const reuser = newClient(chaos, await generateKeyPair("ec-p256"), { maxBadNonceRetries: 20 });
      try {
        await reuser.newAccount({ termsOfServiceAgreed: true });
        const names = ["reuse1.example.test", "reuse2.example.test", "reuse3.example.test"];
        await issue(reuser, responder, names);
        let skipped = 0;
        for (let i = 0; i < 4; i++) {
          const again = await issue(reuser, responder, names);
          assertEquals(again.order.status, "valid");
          skipped += again.skipped;
        }
        // 12 authorizations at 50 %: the chance that none is reused is 1 in 4096.
        assert(skipped > 0, "pebble should have reused some valid authorizations");
      } finally {
        reuser.close();
      }
    });

    // ------------------------------------------------------------ a CA that goes away mid-way
    const doomed = await startPebble({ dnsServer: named.address, httpPort });
    closers.push(() => doomed.stop());

    await t.step("CA stopped mid-way: calls fail within their deadline, no hang", async () => {
      const victim = newClient(doomed, await generateKeyPair("ec-p256"), {
        timeoutMs: 2_000,
        retries: 2,
        retryBaseDelayMs: 100,
      });
      try {
        await victim.newAccount({ termsOfServiceAgreed: true });
        const order = await victim.newOrder({ identifiers: ["gone.example.test"] });
        await doomed.stop();
        let started = Date.now();
        const e1 = await assertRejects(() => victim.getOrder(order.url));
        assert(e1 instanceof AcmeNetworkError && /refused/i.test(e1.message), String(e1));
        assert(Date.now() - started < 10_000, `getOrder took ${Date.now() - started} ms`);
        started = Date.now();
        const e2 = await assertRejects(() => victim.pollOrder(order.url, { deadline: started + 3_000 }));
        assert(e2 instanceof AcmeNetworkError || e2 instanceof AcmeTimeoutError, String(e2));
        assert(Date.now() - started < 4_000, `pollOrder took ${Date.now() - started} ms`);
      } finally {
        victim.close();
      }
    });
  } finally {
    await cleanup();
  }
});
