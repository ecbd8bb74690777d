import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import {
  authenticationFromHeaders,
  malformedAuthenticationReason,
  parseAuthenticationHeader,
} from "../../../src/policy/authentication_header.ts";

const HEX256 = "0123456789abcdef".repeat(4);
const HEX1 = "0123456789abcdef0123456789abcdef01234567";
const HEX384 = "ab".repeat(48);
const HEX512 = "cd".repeat(64);

/** [header value, algorithm, lower-case hex digest] */
const WELL_FORMED: [string, string, string][] = [
  [`hmac name=sha256, hash=${HEX256}`, "sha256", HEX256], // canonical
  [`hmac name=sha256 hash=${HEX256}`, "sha256", HEX256], // README form, no comma
  [`hmac name=sha256,hash=${HEX256}`, "sha256", HEX256], // comma without space
  [`hmac hash=${HEX256}, name=sha256`, "sha256", HEX256], // any order
  [`hmac name=sha256, hash=${HEX256}, foo=bar`, "sha256", HEX256], // unknown parameter ignored
  [`HMAC name=sha256, hash=${HEX256}`, "sha256", HEX256], // scheme case
  [`Hmac NAME=SHA256, HASH=${HEX256}`, "sha256", HEX256], // parameter and algorithm case
  [`hmac name=sha256, hash=${HEX256.toUpperCase()}`, "sha256", HEX256], // upper-case hex
  [`hmac  name=sha256,  hash=${HEX256}`, "sha256", HEX256], // two spaces
  [`  hmac name=sha256, hash=${HEX256}  `, "sha256", HEX256], // surrounding space
  [`hmac name = sha256 , hash = ${HEX256}`, "sha256", HEX256], // spaces around '='
  [`hmac name="sha256", hash="${HEX256}"`, "sha256", HEX256], // quoted values
  [`hmac name=sha256, hash=${HEX256},`, "sha256", HEX256], // trailing comma
  [`hmac name=sha2-256, hash=${HEX256}`, "sha256", HEX256], // what OpenSSL 3 prints
  [`hmac name=SHA-256, hash=${HEX256}`, "sha256", HEX256],
  [`hmac name=sha1, hash=${HEX1}`, "sha1", HEX1],
  [`hmac name=sha384, hash=${HEX384}`, "sha384", HEX384],
  [`hmac name=sha512, hash=${HEX512}`, "sha512", HEX512],
  [`hmac\tname=sha256,\thash=${HEX256}`, "sha256", HEX256],
];

/** [header value, part of the problem] */
const MALFORMED: [string, string][] = [
  ["hmac", "no name= parameter"],
  [`name=sha256, hash=${HEX256}`, "no scheme"],
  [`Bearer abc.def.ghi`, "the scheme is 'Bearer', not 'hmac'"],
  [`Basic dXNlcjpwYXNz`, "the scheme is 'Basic'"],
  [`hmac name=sha256`, "no hash= parameter"],
  [`hmac name=sha256, hash=`, "no hash= parameter"],
  [`hmac hash=${HEX256}`, "no name= parameter"],
  [`hmac name=sha256, hash=${HEX256}, junk`, "a parameter without '='"],
  [`hmac name=sha256, =x, hash=${HEX256}`, "a parameter without '='"],
  [`hmac name=md5, hash=${"ab".repeat(16)}`, "the algorithm 'md5' is not supported"],
  [`hmac name=sha3_256, hash=${HEX256}`, "'sha3_256' is not supported"],
  [`hmac name=sha256, hash=${HEX256.slice(1)}`, "the hash has 63 hex digits, sha256 needs 64"],
  [`hmac name=sha256, hash=${HEX256}00`, "the hash has 66 hex digits, sha256 needs 64"],
  [`hmac name=sha512, hash=${HEX256}`, "the hash has 64 hex digits, sha512 needs 128"],
  [`hmac name=sha256, hash=${"g".repeat(64)}`, "the hash is not hexadecimal"],
  [`hmac name=sha256, hash=${"A".repeat(43)}=`, "the hash is not hexadecimal"], // base64 instead of hex
  [`hmac name=sha256, hash=${HEX256}, hash=${HEX256}`, "more than one hash= parameter"],
  [`hmac name=sha256, name=sha1, hash=${HEX256}`, "more than one name= parameter"],
  // Two Authentication headers, as Headers.get() joins them.
  [`hmac name=sha256, hash=${HEX256}, hmac name=sha256, hash=${HEX256}`, "a parameter without '='"],
];

Deno.test("Authentication header: accepted forms", () => {
  for (const [value, algorithm, hex] of WELL_FORMED) {
    const parsed = parseAuthenticationHeader(value);
    assert(parsed.kind === "hmac", `${JSON.stringify(value)}: ${JSON.stringify(parsed)}`);
    assertEquals(parsed.algorithm, algorithm, value);
    assertEquals(Array.from(parsed.digest, (b) => b.toString(16).padStart(2, "0")).join(""), hex, value);
  }
});

Deno.test("Authentication header: malformed forms are typed results, never exceptions", () => {
  for (const [value, part] of MALFORMED) {
    const parsed = parseAuthenticationHeader(value);
    assert(parsed.kind === "malformed", `${JSON.stringify(value)} should be malformed: ${JSON.stringify(parsed)}`);
    assertStringIncludes(parsed.problem, part, `${JSON.stringify(value)}: ${parsed.problem}`);
    const reason = malformedAuthenticationReason(parsed.problem);
    assert(reason.startsWith("The Authentication header is malformed ("), reason);
    assert(reason.endsWith("expected 'hmac name=sha256, hash=<hex>'"), reason);
    assert(!/[\r\n]/.test(reason));
  }
});

Deno.test("Authentication header: absent", () => {
  for (const value of [null, undefined, "", "   "]) {
    assertEquals(parseAuthenticationHeader(value).kind, "absent", JSON.stringify(value));
  }
});

Deno.test("Authentication header: lookup is case-insensitive and Authorization is not read", () => {
  const value = `hmac name=sha256, hash=${HEX256}`;
  assertEquals(authenticationFromHeaders(new Headers({ "authentication": value })), value);
  assertEquals(authenticationFromHeaders(new Headers({ "AUTHENTICATION": value })), value);
  assertEquals(authenticationFromHeaders(new Headers({ "Authorization": value })), null);
});

Deno.test("Authentication header: random strings never throw", () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const alphabet = 'hmac HMAC name=sha256,hash= 0123456789abcdefXYZ"\t=,';
  for (let i = 0; i < 2000; i++) {
    let value = "";
    const length = Math.floor(random() * 120);
    for (let j = 0; j < length; j++) value += alphabet[Math.floor(random() * alphabet.length)];
    const parsed = parseAuthenticationHeader(value);
    assert(["absent", "hmac", "malformed"].includes(parsed.kind));
  }
});

Deno.test("Authentication header: hostile long values are refused without quadratic work", () => {
  const hash = "ab".repeat(32);
  // 60 000 blanks without '=': the old single-regex normalisation backtracked over them for about a second.
  const blanks = parseAuthenticationHeader(`hmac a${" ".repeat(60_000)}b`);
  assertEquals(blanks.kind, "malformed");
  assert(blanks.kind === "malformed" && /at most 1024/.test(blanks.problem), JSON.stringify(blanks));
  // Just under the limit: still parsed, and valid when it is a valid header padded with blanks.
  const padded = parseAuthenticationHeader(`hmac name=sha256,${" ".repeat(900)}hash=${hash}`);
  assertEquals(padded.kind, "hmac");
  // Many blanks around '=' in an otherwise normal header.
  assertEquals(parseAuthenticationHeader(`hmac name  =   sha256 , hash =  ${hash}`).kind, "hmac");
});
