/**
 * The log's account of a refusal (src/policy/closest_block.ts): the closest block is the one that passed the most
 * checks (address, Authentication header, HMAC, names), the first in config order among equals; its failed check
 * is named. The response's reason (authorize.ts) stays the same whatever the detail says.
 */
import { assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { compilePolicy } from "../../../src/policy/authorize.ts";
import type { AuthBlock } from "../../../src/config/types.ts";
import { authHeader, block, ip } from "./helpers.ts";

const BODY = new TextEncoder().encode("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n");

const EMPTY = block("empty", { ips: ["192.0.2.0/24"], domains: [] });
const WEB = block("web", { ips: ["192.0.2.0/24"], domains: ["*.web.example.org"] });
const SIGNED = block("signed", {
  ips: ["192.0.2.0/24", "198.51.100.0/24"],
  hmac: { type: "sha256", key: "s3cret" },
  domains: ["*.signed.example.org"],
});
const IPS = block("ips", { ips: ["198.51.100.0/24"], domains: ["ips.example.org"], ipIdentifiers: ["203.0.113.0/24"] });
const BLOCKS = [EMPTY, WEB, SIGNED, IPS];

async function refusal(
  blocks: AuthBlock[],
  peer: string,
  names: string[] | null,
  authentication: string | null = null,
): Promise<{ closest: string | null; reason: string; response: string }> {
  const policy = compilePolicy(blocks);
  const decision = names === null
    ? policy.precheck({ peer: ip(peer), authentication })
    : await policy.authorize({ peer: ip(peer), authentication, body: BODY, names });
  if (decision.ok) throw new Error(`admitted: ${JSON.stringify(decision)}`);
  return { ...decision.detail, response: decision.reason };
}

Deno.test("closest block: no block's ip holds the client: the first block with names, address not allowed", async () => {
  const r = await refusal(BLOCKS, "203.0.113.9", null);
  assertEquals(r.closest, "web", "the empty block comes last");
  assertStringIncludes(r.reason, "client address 203.0.113.9 not allowed");
  const mapped = await refusal(BLOCKS, "::ffff:203.0.113.9", ["a.web.example.org"]);
  assertStringIncludes(mapped.reason, "client address 203.0.113.9 not allowed", "shown as IPv4");
});

Deno.test("closest block: header missing, of another algorithm, malformed (before the body)", async () => {
  const missing = await refusal([SIGNED, IPS], "192.0.2.1", null);
  assertEquals(missing.closest, "signed");
  assertStringIncludes(missing.reason, "Authentication header missing");
  assertStringIncludes(missing.reason, "hmac name=sha256");
  const sha1 = await refusal([SIGNED], "192.0.2.1", null, authHeader("sha1", "s3cret", BODY));
  assertStringIncludes(sha1.reason, "Authentication header is for sha1");
  const malformed = await refusal([SIGNED], "192.0.2.1", null, "hmac hash=zz");
  assertStringIncludes(malformed.reason, "Authentication header malformed");
});

Deno.test("closest block: the block covering the names wins; else the one that got furthest", async () => {
  // web allows the address but not the name (3 checks passed); signed covers the name and fails the HMAC (2 passed):
  // the client was aiming at signed, so its HMAC mismatch is what the log says.
  const wrong = authHeader("sha256", "wrong", BODY);
  const r1 = await refusal(BLOCKS, "192.0.2.1", ["a.signed.example.org"], wrong);
  assertEquals(r1.closest, "signed");
  assertStringIncludes(r1.reason, "HMAC mismatch");
  // No header at all: header missing, for the same block.
  const r0 = await refusal(BLOCKS, "192.0.2.1", ["a.signed.example.org"]);
  assertEquals(r0.closest, "signed");
  assertStringIncludes(r0.reason, "Authentication header missing");
  // No block covers both names: the one that got furthest.
  const r2 = await refusal([SIGNED, IPS], "198.51.100.5", ["ips.example.org", "x.signed.example.org"], wrong);
  assertEquals(r2.closest, "ips");
  assertStringIncludes(r2.reason, "name x.signed.example.org not covered");
  const r3 = await refusal([SIGNED], "198.51.100.5", ["a.signed.example.org"], wrong);
  assertEquals(r3.closest, "signed");
  assertStringIncludes(r3.reason, "HMAC mismatch");
  // The right HMAC, a name outside: name not covered for signed.
  const right = authHeader("sha256", "s3cret", BODY);
  const r4 = await refusal([SIGNED], "198.51.100.5", ["b.web.example.org"], right);
  assertEquals([r4.closest, r4.reason], ["signed", "name b.web.example.org not covered by the block's domain globs"]);
});

Deno.test("closest block: an IP identifier outside ip-identifiers; a block that admits nothing; no blocks", async () => {
  const r = await refusal(BLOCKS, "198.51.100.5", ["ips.example.org", "203.0.114.1"]);
  assertEquals(r.closest, "ips");
  assertStringIncludes(r.reason, "IP identifier 203.0.114.1 not allowed");
  const empty = await refusal([EMPTY], "192.0.2.1", ["a.example.org"]);
  assertEquals(empty.closest, "empty");
  assertStringIncludes(empty.reason, "admits nothing");
  const none = await refusal([], "192.0.2.1", ["a.example.org"]);
  assertEquals(none.closest, null);
  assertStringIncludes(none.reason, "no [auth");
});

Deno.test("closest block: the response's reason reveals none of it", async () => {
  const r = await refusal(BLOCKS, "192.0.2.1", ["a.signed.example.org"]);
  assertEquals(
    r.response,
    "No auth block admits this client for a.signed.example.org: check the client address, the Authentication header " +
      "and the requested names",
  );
});
