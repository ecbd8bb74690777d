import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import { AcmeClient, type AcmeClientOptions } from "../../../src/acme/client.ts";
import { b64url, fromB64url } from "../../../src/acme/encoding.ts";
import { AcmeNetworkError, AcmeTimeoutError, AcmeUnsupportedError } from "../../../src/acme/errors.ts";
import { exportPublicJwk } from "../../../src/acme/jwk.ts";
import { generateKeyPair } from "../../../src/acme/keys.ts";
import { AcmeProblem, isProblem } from "../../../src/acme/problem.ts";
import { retryAfterOf } from "../../../src/acme/retry_after.ts";
import { json, problem, type Route, startStubCa, type StubCa } from "./_stub_ca.ts";

const accountKey = await generateKeyPair("ec-p256");

// Any parseable PEM certificate works for constructing a Deno.HttpClient; this is RFC 9773's example.
const SOME_CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----
`;

/** Runs `fn` with a stub CA and a client that already has an account; always closes both. */
async function withStub(
  routes: Record<string, Route>,
  fn: (client: AcmeClient, stub: StubCa) => Promise<void>,
  opts: Partial<AcmeClientOptions> = {},
): Promise<void> {
  const stub = await startStubCa(routes);
  const client = new AcmeClient({ directoryUrl: stub.directoryUrl, accountKey, retryBaseDelayMs: 10, ...opts });
  try {
    await client.newAccount({ termsOfServiceAgreed: true });
    await fn(client, stub);
  } finally {
    client.close();
    await stub.close();
  }
}

const order = (s: StubCa, status = "pending") => ({
  status,
  identifiers: [{ type: "dns", value: "www.example.test" }],
  authorizations: [`${s.origin}/authz/1`],
  finalize: `${s.origin}/order/1/finalize`,
  ...(status === "valid" ? { certificate: `${s.origin}/cert/1` } : {}),
});

const newOrderOk: Route = (_req, s) => json(order(s), 201, { location: `${s.origin}/order/1` });

const count = (stub: StubCa, method: string, path: string) =>
  stub.requests.filter((r) => r.method === method && r.path === path).length;

Deno.test("429 on newOrder comes back at once as rateLimited with retryAfter ~1 h", async () => {
  await withStub({
    "POST /new-order": () => problem(429, "rateLimited", "too many new orders", { "retry-after": "3600" }),
  }, async (client, stub) => {
    const started = Date.now();
    const e = await assertRejects(() => client.newOrder({ identifiers: ["www.example.test"] }));
    const elapsed = Date.now() - started;
    assert(isProblem(e, "rateLimited"), String(e));
    assertEquals([e.status, e.detail], [429, "too many new orders"]);
    const inMs = e.retryAfter!.getTime() - started;
    assert(inMs > 3590_000 && inMs < 3610_000, `retryAfter should be ~1 h away, is ${inMs} ms`);
    // A sanity bound: the client must not sleep on the rate limit (it would take an hour).
    assert(elapsed < 5_000, `took ${elapsed} ms`);
    assertEquals(count(stub, "POST", "/new-order"), 1);
  });
});

Deno.test("503 twice then 201: retried with a fresh nonce each time", async () => {
  let calls = 0;
  await withStub({
    "POST /new-order": (req, s) =>
      ++calls <= 2 ? problem(503, "serverInternal", "busy", { "retry-after": "0" }) : newOrderOk(req, s),
  }, async (client, stub) => {
    const o = await client.newOrder({ identifiers: ["www.example.test"] });
    assertEquals([o.status, o.url], ["pending", `${stub.origin}/order/1`]);
    assertEquals(calls, 3);
    assertEquals(stub.replayedNonces, 0);
  });
});

Deno.test("503 beyond the retry budget surfaces as the CA's problem", async () => {
  await withStub(
    { "POST /new-order": () => problem(503, "serverInternal", "down for maintenance") },
    async (client, stub) => {
      const e = await assertRejects(() => client.newOrder({ identifiers: ["a.test"] }));
      assert(isProblem(e, "serverInternal") && e.status === 503, String(e));
      assertEquals(count(stub, "POST", "/new-order"), 3); // 1 + retries: 2
    },
    { retries: 2 },
  );
});

Deno.test("a CA that never answers: timeout error, no hang", async () => {
  const held: (() => void)[] = [];
  await withStub({
    "POST /new-order": () =>
      new Promise<Response>((resolve) => held.push(() => resolve(new Response("late", { status: 500 })))),
  }, async (client, stub) => {
    stub.onClose.push(() => held.forEach((release) => release()));
    const started = Date.now();
    const e = await assertRejects(() => client.newOrder({ identifiers: ["a.test"] }));
    const elapsed = Date.now() - started;
    assert(e instanceof AcmeTimeoutError, String(e));
    assert(/timed out after 300 ms/.test(e.message) && e.message.includes("/new-order"), e.message);
    assert(elapsed < 5_000, `took ${elapsed} ms`);
    assertEquals(held.length, 1, "timeouts are not retried");
  }, { timeoutMs: 300 });
});

Deno.test("badNonce once, then success, using the nonce from the badNonce answer", async () => {
  await withStub({ "POST /new-order": newOrderOk }, async (client, stub) => {
    stub.rejectNextNonces(1);
    const o = await client.newOrder({ identifiers: ["www.example.test"] });
    assertEquals(o.status, "pending");
    const posts = stub.requests.filter((r) => r.path === "/new-order");
    assertEquals(posts.map((r) => r.status), [400, 201]);
    assertEquals(posts[1].header?.nonce, posts[0].responseNonce);
  });
});

Deno.test("badNonce beyond maxBadNonceRetries is thrown as badNonce", async () => {
  await withStub({ "POST /new-order": newOrderOk }, async (client, stub) => {
    stub.rejectNextNonces(100);
    const e = await assertRejects(() => client.newOrder({ identifiers: ["a.test"] }));
    assert(isProblem(e, "badNonce"), String(e));
    assertEquals(count(stub, "POST", "/new-order"), 4); // 1 + 3 retries
  }, { maxBadNonceRetries: 3 });
});

Deno.test("connection refused: bounded retries, then AcmeNetworkError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const client = new AcmeClient({
    directoryUrl: `http://127.0.0.1:${port}/dir`,
    accountKey,
    retries: 2,
    retryBaseDelayMs: 10,
  });
  try {
    const started = Date.now();
    const e = await assertRejects(() => client.directory());
    assert(
      e instanceof AcmeNetworkError && e.message.startsWith(`Request to http://127.0.0.1:${port}/dir failed`),
      String(e),
    );
    assert(Date.now() - started < 5_000);
  } finally {
    client.close();
  }
});

Deno.test("the directory is cached, and a failed fetch is not", async () => {
  let dirCalls = 0;
  const stub = await startStubCa();
  const original = stub.routes.get("GET /dir")!;
  stub.routes.set("GET /dir", (req, s) => ++dirCalls === 1 ? new Response("oops", { status: 500 }) : original(req, s));
  const client = new AcmeClient({ directoryUrl: stub.directoryUrl, accountKey, retries: 0 });
  try {
    const e = await assertRejects(() => client.directory());
    assert(e instanceof AcmeProblem && e.status === 500 && e.type === "about:blank", String(e));
    const meta = await client.meta();
    assertEquals(meta.termsOfService, `${stub.origin}/tos`);
    await client.directory();
    await client.newAccount({ termsOfServiceAgreed: true });
    assertEquals(dirCalls, 2);
    await client.refreshDirectory();
    assertEquals(dirCalls, 3);
  } finally {
    client.close();
    await stub.close();
  }
});

Deno.test("account calls: jwk for newAccount, kid afterwards, payloads as RFC 8555 says", async () => {
  await withStub({
    "POST /acct/1": (req) => {
      if (req.payload === "") return json({ status: "valid", contact: [] });
      const p = req.payload as Record<string, unknown>;
      return json({ status: p.status ?? "valid", contact: p.contact });
    },
  }, async (client, stub) => {
    const created = stub.requests.find((r) => r.path === "/new-acct")!;
    assert(created.header?.jwk && !created.header.kid, "newAccount must carry jwk");
    assertEquals(created.payload, { termsOfServiceAgreed: true });
    assertEquals(client.accountUrl, `${stub.origin}/acct/1`);

    assertEquals((await client.getAccount()).status, "valid");
    assertEquals((await client.updateAccount({ contact: ["mailto:ops@example.test"] })).contact, [
      "mailto:ops@example.test",
    ]);
    assertEquals((await client.deactivateAccount()).status, "deactivated");
    const posts = stub.requests.filter((r) => r.path === "/acct/1");
    assertEquals(posts.map((r) => r.payload), ["", { contact: ["mailto:ops@example.test"] }, {
      status: "deactivated",
    }]);
    assert(posts.every((r) => r.header?.kid === `${stub.origin}/acct/1` && !r.header.jwk));
    assert(
      stub.requests.filter((r) => r.method === "POST").every((r) =>
        r.headers.get("content-type") === "application/jose+json"
      ),
    );
  });
});

Deno.test("findAccount: onlyReturnExisting, accountDoesNotExist when none", async () => {
  await withStub({}, async (client, stub) => {
    stub.routes.set(
      "POST /new-acct",
      (req) =>
        (req.payload as { onlyReturnExisting?: boolean }).onlyReturnExisting
          ? problem(400, "accountDoesNotExist", "No account exists with the provided key")
          : json({ status: "valid" }, 201, { location: `${stub.origin}/acct/1` }),
    );
    const e = await assertRejects(() => client.findAccount());
    assert(isProblem(e, "accountDoesNotExist"), String(e));
    assertEquals(stub.requests.at(-1)?.payload, { onlyReturnExisting: true });
  });
});

Deno.test("methods that need an account say so before any request", async () => {
  const stub = await startStubCa();
  const client = new AcmeClient({ directoryUrl: stub.directoryUrl, accountKey });
  try {
    await assertRejects(() => client.newOrder({ identifiers: ["a.test"] }), /No ACME account URL: call newAccount/);
    await assertRejects(() => client.getAccount(), /No ACME account URL/);
  } finally {
    client.close();
    await stub.close();
  }
});

Deno.test("newOrder payload: typed identifiers, profile, replaces, dates; unknown profile refused locally", async () => {
  await withStub({ "POST /new-order": newOrderOk }, async (client, stub) => {
    await client.newOrder({
      identifiers: ["www.example.test", "192.0.2.1", "2001:db8::1", { type: "dns", value: "*.example.test" }],
      profile: "shortlived",
      replaces: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
      notAfter: new Date("2027-01-01T00:00:00Z"),
    });
    assertEquals(stub.requests.at(-1)?.payload, {
      identifiers: [
        { type: "dns", value: "www.example.test" },
        { type: "ip", value: "192.0.2.1" },
        { type: "ip", value: "2001:db8::1" },
        { type: "dns", value: "*.example.test" },
      ],
      profile: "shortlived",
      replaces: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
      notAfter: "2027-01-01T00:00:00.000Z",
    });
    const before = stub.requests.length;
    const e = await assertRejects(() => client.newOrder({ identifiers: ["a.test"], profile: "tlsserver" }));
    assert(e instanceof AcmeUnsupportedError, String(e));
    assertEquals(
      e.message,
      `Profile "tlsserver" is not offered by ${stub.directoryUrl} (offered: classic, shortlived)`,
    );
    assertEquals(stub.requests.length, before);
    await assertRejects(() => client.newOrder({ identifiers: [] }), /at least one identifier/);
  });
});

Deno.test("issuance flow against the stub: authz, challenge, polls honour Retry-After, finalize, download", async () => {
  let authzPolls = 0;
  let orderState = "pending";
  const pollTimes: number[] = [];
  await withStub({
    "POST /new-order": newOrderOk,
    "POST /authz/1": (_req, s) => {
      pollTimes.push(Date.now());
      const status = ++authzPolls >= 3 ? "valid" : "pending";
      return json(
        {
          status,
          identifier: { type: "dns", value: "www.example.test" },
          challenges: [{ type: "http-01", url: `${s.origin}/chall/1`, status, token: "tok_en-1" }],
        },
        200,
        status === "pending" ? { "retry-after": "1" } : {},
      );
    },
    "POST /chall/1": (req, s) => {
      assertEquals(req.payload, {});
      return json({ type: "http-01", url: `${s.origin}/chall/1`, status: "processing", token: "tok_en-1" });
    },
    "POST /order/1": (_req, s) => json(order(s, orderState)),
    "POST /order/1/finalize": (req, s) => {
      assertEquals(Object.keys(req.payload as object), ["csr"]);
      orderState = "valid";
      return json(order(s, "processing"), 200, { location: `${s.origin}/order/1`, "retry-after": "0" });
    },
    "POST /cert/1": (req) => {
      assertEquals(req.headers.get("accept"), "application/pem-certificate-chain");
      return new Response("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", {
        headers: {
          "content-type": "application/pem-certificate-chain",
          link: '</cert/1/1>;rel="alternate", </dir>;rel="index"',
        },
      });
    },
  }, async (client, stub) => {
    const o = await client.newOrder({ identifiers: ["www.example.test"] });
    const authz = await client.getAuthorization(o.authorizations[0]);
    assertEquals(authz.url, `${stub.origin}/authz/1`);
    const challenge = authz.challenges[0];
    assertEquals(await client.keyAuthorization(challenge.token!), `tok_en-1.${await client.thumbprint()}`);
    assertEquals((await client.respondToChallenge(challenge.url)).status, "processing");
    const done = await client.pollAuthorization(authz.url, { deadline: Date.now() + 10_000 });
    assertEquals(done.status, "valid");
    // The CA asked for 1 s between polls.
    for (let i = 2; i < pollTimes.length; i++) {
      assert(pollTimes[i] - pollTimes[i - 1] >= 900, `poll gap ${pollTimes[i] - pollTimes[i - 1]} ms`);
    }
    const csr = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]);
    const finalized = await client.finalize(o, csr);
    assertEquals([finalized.status, finalized.url], ["processing", o.url]);
    assertEquals((stub.requests.at(-1)?.payload as { csr: string }).csr, b64url(csr));
    const valid = await client.pollOrder(o.url, { deadline: Date.now() + 5_000 });
    assertEquals(valid.status, "valid");
    const chain = await client.downloadCertificate(valid.certificate!);
    assert(chain.pem.startsWith("-----BEGIN CERTIFICATE-----"));
    assertEquals(chain.alternates, [`${stub.origin}/cert/1/1`]);
    assertEquals(stub.requests.filter((r) => r.path === "/authz/1").map((r) => r.payload), ["", "", ""]);
    assertEquals(stub.replayedNonces, 0);
  });
});

Deno.test("pollOrder throws a clear timeout at its deadline, even when Retry-After is longer", async () => {
  await withStub({
    "POST /order/1": (_req, s) => json(order(s, "processing"), 200, { "retry-after": "3600" }),
  }, async (client, stub) => {
    const started = Date.now();
    const e = await assertRejects(() => client.pollOrder(`${stub.origin}/order/1`, { deadline: started + 700 }));
    const elapsed = Date.now() - started;
    assert(e instanceof AcmeTimeoutError, String(e));
    assert(
      /Gave up polling order .*\/order\/1 at its deadline .*: status still "processing"/.test(e.message),
      e.message,
    );
    assert(elapsed >= 650 && elapsed < 5_000, `took ${elapsed} ms`);
  });
});

Deno.test("pollAuthorization: a deadline mid-request aborts the request", async () => {
  const held: (() => void)[] = [];
  await withStub({
    "POST /authz/1": () =>
      new Promise<Response>((resolve) => held.push(() => resolve(new Response("", { status: 500 })))),
  }, async (client, stub) => {
    stub.onClose.push(() => held.forEach((release) => release()));
    const started = Date.now();
    const e = await assertRejects(() =>
      client.pollAuthorization(`${stub.origin}/authz/1`, { deadline: started + 400 })
    );
    assert(e instanceof AcmeTimeoutError && /not fetched yet/.test(e.message), String(e));
    assert(Date.now() - started < 5_000);
  });
});

Deno.test("pollOrder: a caller's AbortSignal cancels", async () => {
  await withStub({ "POST /order/1": (_req, s) => json(order(s, "pending")) }, async (client, stub) => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("shutting down")), 200);
    await assertRejects(
      () => client.pollOrder(`${stub.origin}/order/1`, { deadline: Date.now() + 10_000, signal: controller.signal }),
      /shutting down/,
    );
  });
});

Deno.test("concurrent requests never share a nonce", async () => {
  await withStub({ "POST /order/1": (_req, s) => json(order(s)) }, async (client, stub) => {
    const results = await Promise.all(Array.from({ length: 8 }, () => client.getOrder(`${stub.origin}/order/1`)));
    assertEquals(results.length, 8);
    assertEquals(stub.replayedNonces, 0);
  });
});

Deno.test("renewalInfo: unauthenticated GET under the directory's URL, window parsed", async () => {
  await withStub({
    "GET /ari/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE": () =>
      json({ suggestedWindow: { start: "2026-12-01T00:00:00Z", end: "2026-12-02T00:00:00Z" } }, 200, {
        "retry-after": "3600",
      }),
  }, async (client) => {
    const info = await client.renewalInfo({
      aki: "69885b6b87464041e1b37b847ba0ae2cde01c8d4",
      serial: "87654321",
    });
    assertEquals(info.suggestedWindow.end.toISOString(), "2026-12-02T00:00:00.000Z");
    const inMs = info.retryAfter.getTime() - Date.now();
    assert(inMs > 3590_000 && inMs <= 3600_000, String(inMs));
    const e = await assertRejects(() => client.renewalInfo({ certId: "unknown.id" }));
    assert(isProblem(e) && e.status === 404, String(e));
  });
});

Deno.test("renewalInfo and replaces without ARI in the directory", async () => {
  await withStub({ "POST /new-order": newOrderOk }, async (client, stub) => {
    const original = stub.routes.get("GET /dir")!;
    stub.routes.set("GET /dir", async (req, s) => {
      const dir = await (await original(req, s)).json();
      delete dir.renewalInfo;
      return json(dir);
    });
    await client.refreshDirectory();
    await assertRejects(() => client.renewalInfo({ certId: "a.b" }), /offers no renewalInfo \(ARI\)/);
    assertEquals(await client.supportsAri(), false);
    await client.newOrder({ identifiers: ["a.test"], replaces: "a.b" });
    assertEquals(stub.requests.at(-1)?.payload, { identifiers: [{ type: "dns", value: "a.test" }] });
  });
});

Deno.test("a profile asked of a CA without meta.profiles is refused locally, not sent", async () => {
  await withStub({ "POST /new-order": newOrderOk }, async (client, stub) => {
    const original = stub.routes.get("GET /dir")!;
    stub.routes.set("GET /dir", async (req, s) => {
      const dir = await (await original(req, s)).json();
      delete dir.meta.profiles;
      return json(dir);
    });
    await client.refreshDirectory();
    const before = stub.requests.length;
    const e = await assertRejects(() => client.newOrder({ identifiers: ["a.test"], profile: "shortlived" }));
    assert(e instanceof AcmeUnsupportedError && /offers no profiles/.test(e.message), String(e));
    assertEquals(stub.requests.length, before);
    await client.newOrder({ identifiers: ["a.test"] });
    assertEquals(stub.requests.at(-1)?.payload, { identifiers: [{ type: "dns", value: "a.test" }] });
  });
});

Deno.test("revokeCertificate: account-signed, or signed with the certificate key's jwk", async () => {
  await withStub({ "POST /revoke": () => new Response(null, { status: 200 }) }, async (client, stub) => {
    const der = new Uint8Array([0x30, 0x00]);
    await client.revokeCertificate(der, 4);
    const byAccount = stub.requests.at(-1)!;
    assertEquals(byAccount.payload, { certificate: "MAA", reason: 4 });
    assert(byAccount.header?.kid && !byAccount.header.jwk);
    const certKey = await generateKeyPair("ec-p256");
    await client.revokeCertificate(der, { certificateKey: certKey });
    const byKey = stub.requests.at(-1)!;
    assert(byKey.header?.jwk && !byKey.header.kid);
    assertEquals(byKey.payload, { certificate: "MAA" });
  });
});

Deno.test("revokeCert is revokeCertificate under the directory's name: same payload, same signer choice", async () => {
  await withStub({ "POST /revoke": () => new Response(null, { status: 200 }) }, async (client, stub) => {
    const der = new Uint8Array([0x30, 0x00]);
    await client.revokeCert(der, 1);
    const byAccount = stub.requests.at(-1)!;
    assertEquals([byAccount.path, byAccount.payload], ["/revoke", { certificate: "MAA", reason: 1 }]);
    assert(byAccount.header?.kid && !byAccount.header.jwk);
    const certKey = await generateKeyPair("ec-p256");
    await client.revokeCert(der, { certificateKey: certKey, reason: 0 });
    const byKey = stub.requests.at(-1)!;
    assert(byKey.header?.jwk && !byKey.header.kid);
    assertEquals(byKey.payload, { certificate: "MAA", reason: 0 });
  });
});

Deno.test("changeAccountKey: inner JWS signed by the new key, outer by the old; later requests use the new key", async () => {
  const newKey = await generateKeyPair("ec-p384");
  let inner: { protected: string; payload: string } | undefined;
  await withStub({
    "POST /key-change": (req) => {
      inner = req.payload as typeof inner;
      return json({});
    },
  }, async (client, stub) => {
    const oldJwk = await client.publicJwk();
    await client.changeAccountKey(newKey);
    const header = JSON.parse(new TextDecoder().decode(fromB64url(inner!.protected)));
    const payload = JSON.parse(new TextDecoder().decode(fromB64url(inner!.payload)));
    assertEquals([header.alg, header.url, header.nonce], ["ES384", `${stub.origin}/key-change`, undefined]);
    assertEquals(payload, { account: `${stub.origin}/acct/1`, oldKey: oldJwk });
    assertEquals(stub.requests.at(-1)?.header?.alg, "ES256");
    assertEquals(await client.publicJwk(), await exportPublicJwk(newKey.publicKey));
  });
});

Deno.test("caCerts: the client owns a Deno.HttpClient and close() releases it", async () => {
  const stub = await startStubCa();
  // The resource sanitizer fails this test if close() leaks the HttpClient.
  const client = new AcmeClient({ directoryUrl: stub.directoryUrl, accountKey, caCerts: [SOME_CA_PEM] });
  try {
    assertEquals((await client.directory()).newOrder, `${stub.origin}/new-order`);
  } finally {
    client.close();
    client.close();
    await stub.close();
  }
  await assertRejects(() => client.directory(), /is closed/);
});

Deno.test("constructor validates its options", () => {
  for (
    const [opts, message] of [
      [{ directoryUrl: "not a url", accountKey }, 'ACME directory URL "not a url" is not a valid URL'],
      [{ directoryUrl: "https://ca.test/dir", accountKey, maxBadNonceRetries: -1 }, "maxBadNonceRetries must be"],
      [{ directoryUrl: "https://ca.test/dir", accountKey, timeoutMs: 0 }, "timeoutMs must be > 0"],
      // With caCerts the HttpClient must be released even though construction fails (resource sanitizer).
      [{ directoryUrl: "https://ca.test/dir", accountKey, caCerts: [SOME_CA_PEM], retries: -1 }, "retries must be"],
    ] as const
  ) {
    let error: unknown;
    try {
      new AcmeClient(opts as AcmeClientOptions).close();
    } catch (e) {
      error = e;
    }
    assert(error instanceof Error && error.message.startsWith(message), `${message}: ${error}`);
  }
});

Deno.test("retryAfterOf: the Retry-After of a challenge answer and of a finalize answer, for the poll that follows", async () => {
  await withStub({
    "POST /chall/1": (_req, s) =>
      json({ type: "http-01", url: `${s.origin}/chall/1`, status: "processing", token: "t" }, 200, {
        "retry-after": "2",
      }),
    "POST /chall/2": (_req, s) => json({ type: "http-01", url: `${s.origin}/chall/2`, status: "processing" }),
    "POST /order/1/finalize": (_req, s) =>
      json(order(s, "processing"), 200, { location: `${s.origin}/order/1`, "retry-after": "3" }),
  }, async (client, stub) => {
    const before = Date.now();
    const answered = await client.respondToChallenge(`${stub.origin}/chall/1`);
    const at = retryAfterOf(answered)!.getTime();
    assert(at >= before + 1_000 && at <= Date.now() + 2_000, `retry at ${at - before} ms`);
    assertEquals(retryAfterOf(await client.respondToChallenge(`${stub.origin}/chall/2`)), undefined);
    const finalized = await client.finalize({ finalize: `${stub.origin}/order/1/finalize` }, new Uint8Array([0x30, 0]));
    const finalizeAt = retryAfterOf(finalized)!.getTime();
    assert(finalizeAt >= before + 2_000 && finalizeAt <= Date.now() + 3_000, `retry at ${finalizeAt - before} ms`);
    assertEquals(JSON.stringify(finalized).includes("retry"), false);
  });
});
