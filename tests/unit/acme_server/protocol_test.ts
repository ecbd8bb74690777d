/**
 * The ACME front end's request rules (RFC 8555 §6): directory, nonces, JWS shape, algorithms, url, kid, EAB, and the
 * problem documents they produce.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { exportPublicJwk, generateKeyPair, signJws } from "../../../src/acme/mod.ts";
import { b64url } from "../../../src/acme/encoding.ts";
import { BASE, DIRECTORY, eab, nonce, post, rawJws, setup, signedNewAccount } from "./_setup.ts";

const ERR = "urn:ietf:params:acme:error:";

async function problem(response: Response): Promise<{ status: number; type: string; body: Record<string, unknown> }> {
  assertEquals(response.headers.get("content-type"), "application/problem+json");
  assert(response.headers.get("replay-nonce"), "every answer carries a Replay-Nonce");
  const body = await response.json();
  return { status: response.status, type: body.type, body };
}

Deno.test("acme front: directory lists the resources, EAB required, index link and nonce", async () => {
  const s = setup();
  try {
    const response = await s.fetch(DIRECTORY);
    assertEquals(response.status, 200);
    const dir = await response.json();
    assertEquals(dir.newNonce, `${BASE}/acme/new-nonce`);
    assertEquals(dir.newAccount, `${BASE}/acme/new-account`);
    assertEquals(dir.newOrder, `${BASE}/acme/new-order`);
    assertEquals(dir.revokeCert, `${BASE}/acme/revoke-cert`);
    assertEquals(dir.keyChange, `${BASE}/acme/key-change`);
    assertEquals(dir.renewalInfo, `${BASE}/acme/renewal-info`);
    assertEquals(dir.meta.externalAccountRequired, true);
    assertEquals(response.headers.get("link"), `<${DIRECTORY}>;rel="index"`);
    assert(response.headers.get("replay-nonce"));
  } finally {
    await s.close();
  }
});

Deno.test("acme front: newNonce HEAD and GET give a nonce with Cache-Control no-store", async () => {
  const s = setup();
  try {
    const head = await s.fetch(`${BASE}/acme/new-nonce`, { method: "HEAD" });
    assertEquals(head.status, 200);
    assertEquals(head.headers.get("cache-control"), "no-store");
    const get = await s.fetch(`${BASE}/acme/new-nonce`);
    assertEquals(get.status, 204);
    assert(head.headers.get("replay-nonce") !== get.headers.get("replay-nonce"));
  } finally {
    await s.close();
  }
});

Deno.test("acme front: a replayed nonce is badNonce, with a fresh nonce", async () => {
  const s = setup();
  try {
    const key = await generateKeyPair("ec-p256");
    const n = await nonce(s.fetch);
    const body = await signedNewAccount(key, n, { externalAccountBinding: await eab(key) });
    const first = await post(s.fetch, `${BASE}/acme/new-account`, body);
    assertEquals(first.status, 201);
    await first.body?.cancel();
    const again = await post(s.fetch, `${BASE}/acme/new-account`, body);
    const p = await problem(again);
    assertEquals(p.type, `${ERR}badNonce`);
    assertEquals(p.status, 400);
    assert(again.headers.get("replay-nonce") !== n);
    const unknown = await problem(
      await post(s.fetch, `${BASE}/acme/new-account`, await signedNewAccount(key, "bm90LW91cnM", {})),
    );
    assertEquals(unknown.type, `${ERR}badNonce`);
  } finally {
    await s.close();
  }
});

Deno.test("acme front: a JWS whose url is not the request URL is unauthorized", async () => {
  const s = setup();
  try {
    const key = await generateKeyPair("ec-p256");
    const body = await signedNewAccount(key, await nonce(s.fetch), {
      externalAccountBinding: await eab(key),
    }, `${BASE}/acme/new-order`);
    const p = await problem(await post(s.fetch, `${BASE}/acme/new-account`, body));
    assertEquals(p.type, `${ERR}unauthorized`);
    assertEquals(p.status, 403);
  } finally {
    await s.close();
  }
});

Deno.test("acme front: alg none and HS256 are badSignatureAlgorithm with the algorithms list", async () => {
  const s = setup();
  try {
    const key = await generateKeyPair("ec-p256");
    const jwk = await exportPublicJwk(key.publicKey);
    for (const alg of ["none", "HS256"]) {
      const body = rawJws({ alg, url: `${BASE}/acme/new-account`, nonce: await nonce(s.fetch), jwk }, {}, "");
      const p = await problem(await post(s.fetch, `${BASE}/acme/new-account`, body));
      assertEquals(p.type, `${ERR}badSignatureAlgorithm`, alg);
      assertEquals(p.status, 400);
      const algorithms = p.body.algorithms as string[];
      assert(algorithms.includes("ES256") && algorithms.includes("RS256") && algorithms.includes("ES384"));
      assert(!algorithms.includes("HS256") && !algorithms.includes("none"));
    }
  } finally {
    await s.close();
  }
});

Deno.test("acme front: an unknown kid is accountDoesNotExist", async () => {
  const s = setup();
  try {
    const key = await generateKeyPair("ec-p256");
    const body = await signJws({
      privateKey: key.privateKey,
      url: `${BASE}/acme/new-order`,
      nonce: await nonce(s.fetch),
      kid: `${BASE}/acme/acct/nosuchaccount`,
      payload: { identifiers: [{ type: "dns", value: "www.example.test" }] },
    });
    const p = await problem(await post(s.fetch, `${BASE}/acme/new-order`, body));
    assertEquals(p.type, `${ERR}accountDoesNotExist`);
  } finally {
    await s.close();
  }
});

Deno.test("acme front: a bad signature, both jwk and kid, an unprotected header are refused", async () => {
  const s = setup();
  try {
    const key = await generateKeyPair("ec-p256");
    const other = await generateKeyPair("ec-p256");
    const body = await signedNewAccount(key, await nonce(s.fetch), { externalAccountBinding: await eab(key) });
    const forged = { ...body, signature: (await signedNewAccount(other, "x", {})).signature };
    assertEquals((await problem(await post(s.fetch, `${BASE}/acme/new-account`, forged))).type, `${ERR}malformed`);
    const both = rawJws({
      alg: "ES256",
      url: `${BASE}/acme/new-account`,
      nonce: await nonce(s.fetch),
      jwk: await exportPublicJwk(key.publicKey),
      kid: `${BASE}/acme/acct/x`,
    }, {});
    assertEquals((await problem(await post(s.fetch, `${BASE}/acme/new-account`, both))).type, `${ERR}malformed`);
    const general = { ...body, header: { kid: "x" } };
    assertEquals((await problem(await post(s.fetch, `${BASE}/acme/new-account`, general))).type, `${ERR}malformed`);
  } finally {
    await s.close();
  }
});

Deno.test("acme front: a POST that is not application/jose+json is 415", async () => {
  const s = setup();
  try {
    const response = await s.fetch(`${BASE}/acme/new-account`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    const p = await problem(response);
    assertEquals(p.status, 415);
    assertEquals(p.type, `${ERR}malformed`);
  } finally {
    await s.close();
  }
});

Deno.test("acme front: newAccount without EAB is externalAccountRequired, a wrong MAC or kid is unauthorized", async () => {
  const s = setup();
  try {
    const key = await generateKeyPair("ec-p256");
    const none = await problem(
      await post(s.fetch, `${BASE}/acme/new-account`, await signedNewAccount(key, await nonce(s.fetch), {})),
    );
    assertEquals(none.type, `${ERR}externalAccountRequired`);
    const wrongKey = await eab(key, undefined, undefined, b64url(new Uint8Array(32).fill(7)));
    const wrong = await problem(
      await post(
        s.fetch,
        `${BASE}/acme/new-account`,
        await signedNewAccount(key, await nonce(s.fetch), { externalAccountBinding: wrongKey }),
      ),
    );
    assertEquals(wrong.type, `${ERR}unauthorized`);
    const unknownKid = await eab(key, undefined, "kid-unknown");
    const unknown = await problem(
      await post(
        s.fetch,
        `${BASE}/acme/new-account`,
        await signedNewAccount(key, await nonce(s.fetch), { externalAccountBinding: unknownKid }),
      ),
    );
    assertEquals(unknown.type, `${ERR}unauthorized`);
    const otherKey = await generateKeyPair("ec-p256");
    const foreign = await problem(
      await post(
        s.fetch,
        `${BASE}/acme/new-account`,
        await signedNewAccount(key, await nonce(s.fetch), { externalAccountBinding: await eab(otherKey) }),
      ),
    );
    assertEquals(foreign.type, `${ERR}unauthorized`);
  } finally {
    await s.close();
  }
});

Deno.test("acme front: newAccount with EAB is 201, the same key again 200 with the same Location", async () => {
  const s = setup();
  try {
    const key = await generateKeyPair("ec-p256");
    const created = await post(
      s.fetch,
      `${BASE}/acme/new-account`,
      await signedNewAccount(key, await nonce(s.fetch), {
        termsOfServiceAgreed: true,
        contact: ["mailto:ops@example.test"],
        externalAccountBinding: await eab(key),
      }),
    );
    assertEquals(created.status, 201);
    const location = created.headers.get("location")!;
    assert(location.startsWith(`${BASE}/acme/acct/`));
    assertEquals((await created.json()).status, "valid");
    const again = await post(
      s.fetch,
      `${BASE}/acme/new-account`,
      await signedNewAccount(key, await nonce(s.fetch), { onlyReturnExisting: true }),
    );
    assertEquals(again.status, 200);
    assertEquals(again.headers.get("location"), location);
    await again.body?.cancel();
    const stranger = await generateKeyPair("ec-p256");
    const missing = await problem(
      await post(
        s.fetch,
        `${BASE}/acme/new-account`,
        await signedNewAccount(stranger, await nonce(s.fetch), { onlyReturnExisting: true }),
      ),
    );
    assertEquals(missing.type, `${ERR}accountDoesNotExist`);
  } finally {
    await s.close();
  }
});

Deno.test("acme front: a client address outside the block's ip = is refused at newAccount", async () => {
  const s = setup({ peer: "192.0.2.9" });
  try {
    const key = await generateKeyPair("ec-p256");
    const p = await problem(
      await post(
        s.fetch,
        `${BASE}/acme/new-account`,
        await signedNewAccount(key, await nonce(s.fetch), { externalAccountBinding: await eab(key) }),
      ),
    );
    assertEquals(p.type, `${ERR}unauthorized`);
    assert(String(p.body.detail).includes("192.0.2.9"));
  } finally {
    await s.close();
  }
});

Deno.test("acme front: an ACME-only block (no ip, hmac or all) admits no POST /sign request", async () => {
  const { compilePolicy } = await import("../../../src/policy/authorize.ts");
  const { load } = await import("../config/helpers.ts");
  const result = load(
    `[account]\ndir = /tmp/x\naccept-terms-of-service = yes\n[auth "acme"]\ndomain = *.example.org\n` +
      `acme-eab-kid = kid-1\nacme-eab-hmac-key = c2VjcmV0LWtleS1mb3ItdGhlLWFjbWUtZnJvbnQtZW5k\n`,
  );
  assert(result.ok, JSON.stringify(result.errors));
  const policy = compilePolicy(result.config!.auth);
  const peer = { family: 4 as const, bytes: new Uint8Array([192, 0, 2, 1]) };
  assertEquals(policy.precheck({ peer, authentication: null }).ok, false);
  const decision = await policy.authorize({
    peer,
    authentication: null,
    body: new Uint8Array(),
    names: ["a.example.org"],
  });
  assertEquals(decision.ok, false);
});
