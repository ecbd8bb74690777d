import { assertEquals, assertThrows } from "../../support/assert.ts";
import { dns01TxtValue, exportPublicJwk, jwkThumbprint, keyAuthorization, minimalJwk } from "../../../src/acme/jwk.ts";
import { b64url, utf8 } from "../../../src/acme/encoding.ts";
import { generateKeyPair } from "../../../src/acme/keys.ts";

// RFC 7638 §3.1 example key.
const RFC7638_KEY = {
  kty: "RSA" as const,
  n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
  e: "AQAB",
};

Deno.test("jwkThumbprint matches RFC 7638 §3.1", async () => {
  assertEquals(await jwkThumbprint(RFC7638_KEY), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  // Extra members (alg, kid) must not change the thumbprint.
  assertEquals(
    await jwkThumbprint(minimalJwk({ ...RFC7638_KEY, alg: "RS256", kid: "2011-04-29" } as JsonWebKey)),
    "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
  );
});

Deno.test("exportPublicJwk keeps only the required members", async () => {
  const ec = await generateKeyPair("ec-p256");
  assertEquals(Object.keys(await exportPublicJwk(ec.publicKey)).sort(), ["crv", "kty", "x", "y"]);
  const rsa = await generateKeyPair("rsa-2048");
  assertEquals(Object.keys(await exportPublicJwk(rsa.publicKey)).sort(), ["e", "kty", "n"]);
  let error: unknown;
  try {
    await exportPublicJwk(ec.privateKey);
  } catch (e) {
    error = e;
  }
  assertEquals(String(error), "TypeError: Expected a public key, got a private key");
});

Deno.test("key authorizations for http-01 and dns-01", async () => {
  const thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
  const token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
  const keyAuth = keyAuthorization(token, thumbprint);
  assertEquals(keyAuth, `${token}.${thumbprint}`);
  const expected = b64url(await crypto.subtle.digest("SHA-256", utf8(keyAuth)));
  assertEquals(await dns01TxtValue(keyAuth), expected);
  assertEquals(expected.length, 43);
});

Deno.test("keyAuthorization rejects tokens outside base64url (path traversal from a hostile CA)", () => {
  for (const token of ["", "../../etc/passwd", "a b", "tok=", "a/b"]) {
    assertThrows(() => keyAuthorization(token, "tp"), /is not base64url/);
  }
});
