/**
 * Fuzz: the `Authentication` header parser and the HMAC check behind it.
 *
 * Properties: `parseAuthenticationHeader` never throws and returns exactly one of absent / hmac / malformed; an hmac
 * result carries a digest of the algorithm's length; every well-formed header (random digest, random spelling of the
 * accepted variants) parses back to the same algorithm and digest; mutated headers never throw, and whenever they
 * still parse as hmac, `verifyBlockHmac` decides without throwing and accepts only the exact right digest; a malformed
 * header's refusal reason is one line and never echoes more than a short excerpt of the header.
 */
import { assert, assertEquals } from "../support/assert.ts";
import type { AuthBlock, HmacType } from "../../src/config/types.ts";
import {
  HMAC_DIGEST_BYTES,
  malformedAuthenticationReason,
  parseAuthenticationHeader,
} from "../../src/policy/authentication_header.ts";
import { verifyBlockHmac } from "../../src/policy/hmac.ts";
import { mutateText, type Rng, runCases } from "./_fuzz.ts";

const SPELLINGS: Record<HmacType, string[]> = {
  sha1: ["sha1", "SHA1", "sha-1"],
  sha256: ["sha256", "SHA256", "sha-256", "sha2-256", "Sha2-256"],
  sha384: ["sha384", "sha-384", "sha2-384"],
  sha512: ["sha512", "SHA-512", "sha2-512"],
};
const TYPES = Object.keys(SPELLINGS) as HmacType[];
const KEY = "fuzz-hmac-key-0123456789";
const BODY = new TextEncoder().encode("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n");
const HASH: Record<HmacType, string> = { sha1: "SHA-1", sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512" };

const rightDigest = new Map<HmacType, Uint8Array>();
for (const type of TYPES) {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(KEY),
    { name: "HMAC", hash: HASH[type] },
    false,
    [
      "sign",
    ],
  );
  rightDigest.set(type, new Uint8Array(await crypto.subtle.sign("HMAC", key, BODY)));
}
const blocks = new Map<HmacType, AuthBlock>(
  TYPES.map((type) => [type, { name: type, hmac: { type, key: KEY } } as unknown as AuthBlock]),
);

const hex = (bytes: Uint8Array, upper: boolean) => {
  const h = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return upper ? h.toUpperCase() : h;
};

/** A well-formed header in one of the accepted spellings. */
function wellFormed(rng: Rng, type: HmacType, digest: Uint8Array): string {
  const scheme = rng.pick(["hmac", "HMAC", "Hmac"]);
  const sp = () => rng.pick([" ", "  ", "\t"]);
  const eq = () => rng.pick(["=", " = ", "= ", " ="]);
  const quote = (v: string) => (rng.bool(0.2) ? `"${v}"` : v);
  const name = `${rng.pick(["name", "NAME", "Name"])}${eq()}${quote(rng.pick(SPELLINGS[type]))}`;
  const hash = `${rng.pick(["hash", "HASH"])}${eq()}${quote(hex(digest, rng.bool(0.3)))}`;
  const params = rng.bool() ? [name, hash] : [hash, name];
  if (rng.bool(0.2)) params.splice(rng.int(3), 0, `ts${eq()}${rng.int(1e9)}`);
  const sep = () => rng.pick([", ", ",", " ", " , "]);
  return `${rng.bool(0.1) ? " " : ""}${scheme}${sp()}${params.join(sep())}${rng.bool(0.1) ? " " : ""}`;
}

const TOKENS = [
  ",",
  " ",
  "=",
  '"',
  "hmac",
  "name=",
  "hash=",
  "sha256",
  "sha-512",
  "md5",
  "\t",
  "\0",
  "\u00ff",
  "0",
  "f",
];

Deno.test("fuzz: the Authentication header parser never throws; well-formed headers round-trip", async () => {
  await runCases("authentication well-formed", (rng) => {
    const type = rng.pick(TYPES);
    const digest = rng.bytes(HMAC_DIGEST_BYTES[type]);
    const header = wellFormed(rng, type, digest);
    const parsed = parseAuthenticationHeader(header);
    assert(parsed.kind === "hmac", `${JSON.stringify(header)} did not parse: ${JSON.stringify(parsed)}`);
    assertEquals(parsed.algorithm, type, header);
    assertEquals([...parsed.digest], [...digest], header);
    return "hmac";
  });
});

Deno.test("fuzz: mutated and random Authentication headers give typed results and safe HMAC decisions", async () => {
  await runCases("authentication mutated", async (rng) => {
    const type = rng.pick(TYPES);
    const right = rightDigest.get(type)!;
    const base = wellFormed(rng, type, rng.bool(0.5) ? right : rng.bytes(HMAC_DIGEST_BYTES[type]));
    const header = rng.bool(0.8)
      ? mutateText(base, rng, TOKENS)
      : rng.string(rng.length(300), 'hmacHMACnamehs=, \t"0123456789abcdefABCDEF-;:\u00e9\0');
    const parsed = parseAuthenticationHeader(header);
    switch (parsed.kind) {
      case "absent":
        assert(header.trim() === "", `absent for ${JSON.stringify(header)}`);
        return "absent";
      case "malformed": {
        const reason = malformedAuthenticationReason(parsed.problem);
        assert(!/[\r\n]/.test(reason), `multi-line reason for ${JSON.stringify(header)}`);
        assert(reason.length < 300, `reason of ${reason.length} characters`);
        return "malformed";
      }
      case "hmac": {
        assertEquals(parsed.digest.length, HMAC_DIGEST_BYTES[parsed.algorithm]);
        const block = blocks.get(rng.bool(0.8) ? parsed.algorithm : rng.pick(TYPES))!;
        const accepted = await verifyBlockHmac(block, parsed, BODY);
        const exact = block.hmac!.type === parsed.algorithm &&
          hex(parsed.digest, false) === hex(rightDigest.get(parsed.algorithm)!, false);
        assertEquals(accepted, exact, `verifyBlockHmac for ${JSON.stringify(header)}`);
        return accepted ? "hmac-accepted" : "hmac-refused";
      }
    }
  });
});
