import { assert, assertEquals, assertThrows } from "../../support/assert.ts";
import { fromB64url, fromUtf8 } from "../../../src/acme/encoding.ts";
import { exportPublicJwk } from "../../../src/acme/jwk.ts";
import { jwsAlgorithm, signJws } from "../../../src/acme/jws.ts";
import { generateKeyPair, type KeyType } from "../../../src/acme/keys.ts";
import { verifyJws } from "./_stub_ca.ts";

const decode = (part: string) => JSON.parse(fromUtf8(fromB64url(part)));

const CASES: { keyType: KeyType; alg: string; sigBytes: number }[] = [
  { keyType: "ec-p256", alg: "ES256", sigBytes: 64 },
  { keyType: "ec-p384", alg: "ES384", sigBytes: 96 },
  { keyType: "rsa-2048", alg: "RS256", sigBytes: 256 },
];

for (const { keyType, alg, sigBytes } of CASES) {
  Deno.test(`signJws ${alg}: jwk header verifies with Web Crypto and carries alg/nonce/url`, async () => {
    const key = await generateKeyPair(keyType);
    const jwk = await exportPublicJwk(key.publicKey);
    assertEquals(jwsAlgorithm(key.privateKey), alg);
    const jws = await signJws({
      privateKey: key.privateKey,
      jwk,
      nonce: "n0nce",
      url: "https://ca.test/new-acct",
      payload: { termsOfServiceAgreed: true },
    });
    assertEquals(decode(jws.protected), { alg, jwk, nonce: "n0nce", url: "https://ca.test/new-acct" });
    assertEquals(decode(jws.payload), { termsOfServiceAgreed: true });
    // JWS wants raw r||s for ECDSA (not DER) and a modulus-sized signature for RSA.
    assertEquals(fromB64url(jws.signature).length, sigBytes);
    assert(await verifyJws(jws, jwk), "signature must verify");
    const tampered = { ...jws, payload: jws.payload.replace(/^e/, "f") };
    assert(!(await verifyJws(tampered, jwk)), "tampered payload must not verify");
  });

  Deno.test(`signJws ${alg}: kid header and POST-as-GET payload`, async () => {
    const key = await generateKeyPair(keyType);
    const jws = await signJws({
      privateKey: key.privateKey,
      kid: "https://ca.test/acct/7",
      nonce: "abc",
      url: "https://ca.test/order/1",
    });
    const header = decode(jws.protected);
    assertEquals(header, { alg, kid: "https://ca.test/acct/7", nonce: "abc", url: "https://ca.test/order/1" });
    assertEquals(jws.payload, "");
    assert(await verifyJws(jws, await exportPublicJwk(key.publicKey)));
  });
}

Deno.test("signJws refuses both or neither of jwk and kid", async () => {
  const key = await generateKeyPair("ec-p256");
  const jwk = await exportPublicJwk(key.publicKey);
  for (const extra of [{}, { jwk, kid: "https://ca.test/acct/1" }]) {
    let error: unknown;
    try {
      await signJws({ privateKey: key.privateKey, url: "https://ca.test/x", nonce: "n", ...extra });
    } catch (e) {
      error = e;
    }
    assert(error instanceof TypeError && /exactly one of jwk or kid/.test(error.message), String(error));
  }
});

Deno.test("jwsAlgorithm rejects keys JWS/ACME cannot use", async () => {
  const hmac = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  assertThrows(() => jwsAlgorithm(hmac), /Unsupported account key algorithm "HMAC"/);
});
