import { assert, assertEquals } from "../../support/assert.ts";
import { externalAccountBinding } from "../../../src/acme/eab.ts";
import { b64url, fromB64url, fromUtf8, toBase64Std, utf8 } from "../../../src/acme/encoding.ts";
import { exportPublicJwk } from "../../../src/acme/jwk.ts";
import { generateKeyPair } from "../../../src/acme/keys.ts";

const decode = (part: string) => JSON.parse(fromUtf8(fromB64url(part)));

Deno.test("externalAccountBinding: HS256 JWS over the account JWK with kid and url, MAC verifies", async () => {
  const account = await generateKeyPair("ec-p256");
  const jwk = await exportPublicJwk(account.publicKey);
  const macKey = crypto.getRandomValues(new Uint8Array(32));
  const cases: { name: string; hmacKey: string | Uint8Array; alg?: "HS256" | "HS384" | "HS512"; hash: string }[] = [
    { name: "base64url key", hmacKey: b64url(macKey), hash: "SHA-256" },
    { name: "raw key", hmacKey: macKey, hash: "SHA-256" },
    // Some CAs print the key in standard base64, with or without padding: the same bytes either way.
    { name: "standard base64 key", hmacKey: toBase64Std(macKey), hash: "SHA-256" },
    { name: "standard base64 key without padding", hmacKey: toBase64Std(macKey).replace(/=+$/, ""), hash: "SHA-256" },
    { name: "base64url key with padding", hmacKey: b64url(macKey) + "=", hash: "SHA-256" },
    { name: "HS512", hmacKey: b64url(macKey), alg: "HS512", hash: "SHA-512" },
  ];
  for (const c of cases) {
    const eab = await externalAccountBinding(
      { kid: "kid-1", hmacKey: c.hmacKey, alg: c.alg },
      jwk,
      "https://ca.test/new-acct",
    );
    assertEquals(Object.keys(eab).sort(), ["payload", "protected", "signature"], c.name);
    // No nonce in an EAB header (RFC 8555 §7.3.4).
    assertEquals(
      decode(eab.protected),
      { alg: c.alg ?? "HS256", kid: "kid-1", url: "https://ca.test/new-acct" },
      c.name,
    );
    assertEquals(decode(eab.payload), jwk, c.name);
    const key = await crypto.subtle.importKey("raw", macKey, { name: "HMAC", hash: c.hash }, false, ["verify"]);
    const ok = await crypto.subtle.verify(
      "HMAC",
      key,
      fromB64url(eab.signature),
      utf8(`${eab.protected}.${eab.payload}`),
    );
    assert(ok, `${c.name}: MAC must verify`);
  }
});

Deno.test("externalAccountBinding rejects bad credentials with the kid in the message", async () => {
  const jwk = await exportPublicJwk((await generateKeyPair("ec-p256")).publicKey);
  const cases = [
    {
      creds: { kid: "k1", hmacKey: "not base64url!" },
      message: 'EAB HMAC key for kid "k1" is not base64url or base64',
    },
    { creds: { kid: "k3", hmacKey: "abcde" }, message: 'EAB HMAC key for kid "k3" is not base64url or base64' },
    { creds: { kid: "k2", hmacKey: "" }, message: 'EAB HMAC key for kid "k2" is empty' },
    { creds: { kid: "", hmacKey: "AAAA" }, message: "EAB key identifier (kid) is empty" },
  ];
  for (const c of cases) {
    let error: unknown;
    try {
      await externalAccountBinding(c.creds, jwk, "https://ca.test/new-acct");
    } catch (e) {
      error = e;
    }
    assertEquals(error instanceof TypeError ? error.message : String(error), c.message);
  }
});
