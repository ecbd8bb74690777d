import { assert, assertEquals } from "../../support/assert.ts";
import { parseAuthenticationHeader } from "../../../src/policy/authentication_header.ts";
import { hmacKeyFor, verifyBlockHmac } from "../../../src/policy/hmac.ts";
import type { HmacType } from "../../../src/config/types.ts";
import { authHeader, block, hmacHex } from "./helpers.ts";

const BODY = new TextEncoder().encode(
  "-----BEGIN CERTIFICATE REQUEST-----\nMIIB...\n-----END CERTIFICATE REQUEST-----\n",
);

Deno.test("verifyBlockHmac: every supported algorithm, right and wrong key", async () => {
  for (const type of ["sha1", "sha256", "sha384", "sha512"] as HmacType[]) {
    const b = block(`hmac-${type}`, { domains: ["*.example.org"], hmac: { type, key: "s3cret" } });
    assertEquals(await verifyBlockHmac(b, parseAuthenticationHeader(authHeader(type, "s3cret", BODY)), BODY), true);
    assertEquals(await verifyBlockHmac(b, parseAuthenticationHeader(authHeader(type, "wrong", BODY)), BODY), false);
  }
});

Deno.test("verifyBlockHmac: table", async () => {
  const key = "s3cret-ключ"; // UTF-8 bytes are the key
  const b = block("hmac", { domains: ["*.example.org"], hmac: { type: "sha256", key } });
  const hex = hmacHex("sha256", key, BODY);
  const crlf = new TextEncoder().encode(new TextDecoder().decode(BODY).replaceAll("\n", "\r\n"));
  const stripped = BODY.subarray(0, BODY.length - 1);
  const table: [string, string | null, Uint8Array, boolean][] = [
    ["canonical", `hmac name=sha256, hash=${hex}`, BODY, true],
    ["upper-case hex", `hmac name=sha256, hash=${hex.toUpperCase()}`, BODY, true],
    ["README form", `hmac name=sha256 hash=${hex}`, BODY, true],
    ["wrong algorithm name", `hmac name=sha512, hash=${hmacHex("sha512", key, BODY)}`, BODY, false],
    ["hash of the body without its trailing newline", `hmac name=sha256, hash=${hex}`, stripped, false],
    ["hash over CRLF bytes, CRLF body", authHeader("sha256", key, crlf), crlf, true],
    ["hash over LF bytes, CRLF body", `hmac name=sha256, hash=${hex}`, crlf, false],
    ["one flipped digit", `hmac name=sha256, hash=${hex.slice(0, -1)}${hex.endsWith("0") ? "1" : "0"}`, BODY, false],
    ["malformed", `hmac name=sha256, hash=${hex.slice(2)}`, BODY, false],
    ["absent", null, BODY, false],
    ["empty body", authHeader("sha256", key, ""), new Uint8Array(0), true],
  ];
  for (const [name, header, body, expected] of table) {
    assertEquals(await verifyBlockHmac(b, parseAuthenticationHeader(header), body), expected, name);
  }
});

Deno.test("verifyBlockHmac: wrong digest lengths and blocks without HMAC are refused before comparing", async () => {
  const b = block("hmac", { domains: ["*.example.org"], hmac: { type: "sha256", key: "k" } });
  for (const length of [0, 20, 31, 33, 64]) {
    const header = { kind: "hmac" as const, algorithm: "sha256" as const, digest: new Uint8Array(length) };
    assertEquals(await verifyBlockHmac(b, header, BODY), false, `length ${length}`);
  }
  const ipOnly = block("ip", { domains: ["*.example.org"], ips: ["192.0.2.0/24"] });
  assertEquals(await verifyBlockHmac(ipOnly, parseAuthenticationHeader(authHeader("sha256", "k", BODY)), BODY), false);
});

Deno.test("hmacKeyFor: imported once per block", async () => {
  const b = block("hmac", { domains: ["*.example.org"], hmac: { type: "sha256", key: "k" } });
  const first = hmacKeyFor(b);
  assert(first === hmacKeyFor(b), "same promise for the same block");
  assert(await first);
  const empty = block("empty", { domains: ["*.example.org"], hmac: { type: "sha256", key: "" } });
  // WebCrypto refuses empty HMAC keys: the block then never verifies, and nothing throws.
  assertEquals(await verifyBlockHmac(empty, parseAuthenticationHeader(authHeader("sha256", "", BODY)), BODY), false);
});

Deno.test("verifyBlockHmac: a remembered success admits only the exact body, under the same key", async () => {
  const b = block("hmac", { domains: ["*.example.org"], hmac: { type: "sha256", key: "k1" } });
  const header = parseAuthenticationHeader(authHeader("sha256", "k1", BODY));
  const body = BODY.slice();
  assertEquals(await verifyBlockHmac(b, header, body), true);
  body.fill(0); // the caller's buffer is reused: what was remembered is a copy
  assertEquals(await verifyBlockHmac(b, header, BODY), true, "again, from memory");
  const lastByte = BODY.slice();
  lastByte[lastByte.length - 1] ^= 1;
  const firstByte = BODY.slice();
  firstByte[0] ^= 1;
  for (const [what, other] of [["last byte", lastByte], ["first byte", firstByte], ["prefix", BODY.subarray(0, 10)]]) {
    assertEquals(await verifyBlockHmac(b, header, other as Uint8Array), false, `same digest, ${what} differs`);
  }
  assertEquals(await verifyBlockHmac(b, header, new Uint8Array([...BODY, 0x0a])), false, "a longer body");
  // A reloaded key forgets what the old one verified.
  const rekeyed = { ...b, hmac: { type: "sha256" as const, key: "k2" } };
  assertEquals(await verifyBlockHmac(rekeyed, header, BODY), false);
  b.hmac!.key = "k2";
  assertEquals(await verifyBlockHmac(b, header, BODY), false, "same block object, new key");
});

Deno.test("parseAuthenticationHeader: a repeated value gives the same answer (remembered)", () => {
  const value = authHeader("sha256", "k", BODY);
  const first = parseAuthenticationHeader(value);
  assertEquals(parseAuthenticationHeader(value), first);
  assertEquals(parseAuthenticationHeader(` ${value}`), first, "surrounding space");
  const malformed = parseAuthenticationHeader("hmac name=sha256");
  assertEquals(malformed.kind, "malformed");
  assertEquals(parseAuthenticationHeader("hmac name=sha256"), malformed);
  const long = `hmac name=sha256, hash=${"0".repeat(600)}`;
  assertEquals(parseAuthenticationHeader(long).kind, "malformed", "over-long values are parsed, not remembered");
  assertEquals(parseAuthenticationHeader(null), { kind: "absent" });
  assertEquals(parseAuthenticationHeader(""), { kind: "absent" });
});
