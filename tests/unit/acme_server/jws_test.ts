/** jws.ts: every accepted algorithm verifies; a key that does not fit the algorithm, or a weak RSA key, is refused. */
import { assert, assertEquals } from "../../support/assert.ts";
import { b64url, utf8 } from "../../../src/acme/encoding.ts";
import { type Jwk, parseJws, verifyJws } from "../../../src/acme_server/jws.ts";
import { AcmeError } from "../../../src/acme_server/problems.ts";

type Case = { alg: string; generate: RsaHashedKeyGenParams | EcKeyGenParams | Algorithm; sign: unknown };

const CASES: Case[] = [
  { alg: "ES256", generate: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } },
  { alg: "ES384", generate: { name: "ECDSA", namedCurve: "P-384" }, sign: { name: "ECDSA", hash: "SHA-384" } },
  {
    alg: "RS256",
    generate: {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    sign: { name: "RSASSA-PKCS1-v1_5" },
  },
  {
    alg: "PS256",
    generate: { name: "RSA-PSS", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    sign: { name: "RSA-PSS", saltLength: 32 },
  },
  { alg: "EdDSA", generate: { name: "Ed25519" }, sign: { name: "Ed25519" } },
];

async function signed(c: Case, header: Record<string, unknown> = {}) {
  const keys = await crypto.subtle.generateKey(c.generate as EcKeyGenParams, true, ["sign", "verify"]) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", keys.publicKey) as Jwk;
  const protectedB64 = b64url(
    JSON.stringify({ alg: c.alg, url: "https://x/acme/new-account", nonce: "n", jwk, ...header }),
  );
  const payloadB64 = b64url(JSON.stringify({}));
  const signature = await crypto.subtle.sign(
    c.sign as AlgorithmIdentifier,
    keys.privateKey,
    utf8(`${protectedB64}.${payloadB64}`),
  );
  return { body: { protected: protectedB64, payload: payloadB64, signature: b64url(signature) }, jwk };
}

for (const c of CASES) {
  Deno.test(`jws: ${c.alg} verifies`, async () => {
    const { body, jwk } = await signed(c);
    const jws = parseJws(body, { nonce: "required" });
    await verifyJws(jws, jwk);
  });
}

Deno.test("jws: ES384 over a P-256 key is badPublicKey; a tampered payload is malformed", async () => {
  const { body, jwk } = await signed(CASES[0], { alg: "ES384" });
  const error = await verifyJws(parseJws(body, { nonce: "required" }), jwk).catch((e) => e);
  assert(error instanceof AcmeError);
  assertEquals(error.error, "badPublicKey");
  const good = await signed(CASES[0]);
  const tampered = { ...good.body, payload: b64url(JSON.stringify({ contact: [] })) };
  const bad = await verifyJws(parseJws(tampered, { nonce: "required" }), good.jwk).catch((e) => e);
  assertEquals((bad as AcmeError).error, "malformed");
});

Deno.test("jws: an RSA key under 2048 bits is badPublicKey", async () => {
  const weak: Case = {
    alg: "RS256",
    generate: {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 1024,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    sign: { name: "RSASSA-PKCS1-v1_5" },
  };
  const { body, jwk } = await signed(weak);
  const error = await verifyJws(parseJws(body, { nonce: "required" }), jwk).catch((e) => e);
  assertEquals((error as AcmeError).error, "badPublicKey");
});

Deno.test("jws: a missing nonce is badNonce; a nonce in a key change's inner JWS is malformed", async () => {
  const { body } = await signed(CASES[0], { nonce: undefined });
  const noNonce = (() => {
    try {
      parseJws(body, { nonce: "required" });
    } catch (e) {
      return e as AcmeError;
    }
    return undefined;
  })();
  assertEquals(noNonce?.error, "badNonce");
  const withNonce = await signed(CASES[0]);
  const inner = (() => {
    try {
      parseJws(withNonce.body, { nonce: "forbidden" });
    } catch (e) {
      return e as AcmeError;
    }
    return undefined;
  })();
  assertEquals(inner?.error, "malformed");
});
