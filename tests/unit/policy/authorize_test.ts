import { assert, assertEquals } from "../../support/assert.ts";
import { authorize, compilePolicy, possibleBlocks } from "../../../src/policy/authorize.ts";
import type { AuthBlock } from "../../../src/config/types.ts";
import { authHeader, block, hmacHex, ip } from "./helpers.ts";

const BODY = new TextEncoder().encode("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n");
const GENERIC = (names: string) =>
  `No auth block admits this client for ${names}: check the client address, the Authentication header and the ` +
  "requested names";

const V4 = block("v4", { ips: ["192.0.2.0/24"], domains: ["*.v4.example.org"] });
const V6 = block("v6", { ips: ["2001:db8::/32", "fe80::/10"], domains: ["*.v6.example.org"] });
const HMAC = block("hmac", {
  hmac: { type: "sha256", key: "s3cret" },
  domains: ["hmac.example.org", "**.hmac.example.org"],
});
const BOTH = block("both", {
  ips: ["198.51.100.0/24"],
  hmac: { type: "sha512", key: "other" },
  domains: ["both.example.org"],
});
const ALL = block("all", { ips: ["203.0.113.7"], all: true, domains: ["all.example.org"] });
const OPEN = block("open", { domains: ["open*.test"] });
const BLOCKS = [V4, V6, HMAC, BOTH, ALL, OPEN];

interface Case {
  name: string;
  blocks?: AuthBlock[];
  peer: string;
  authentication?: string | null;
  body?: Uint8Array;
  names: string[];
  /** Name of the admitting block, or the exact refusal reason. */
  expect: { block: string } | { reason: string };
}

const CASES: Case[] = [
  // IP, v4 / v6 / mapped / zone.
  { name: "v4 match", peer: "192.0.2.10", names: ["www.v4.example.org"], expect: { block: "v4" } },
  {
    name: "v4 mismatch",
    peer: "192.0.3.10",
    names: ["www.v4.example.org"],
    expect: { reason: GENERIC("www.v4.example.org") },
  },
  { name: "IPv4-mapped IPv6 peer", peer: "::ffff:192.0.2.10", names: ["www.v4.example.org"], expect: { block: "v4" } },
  { name: "v6 match", peer: "2001:db8::5", names: ["a.v6.example.org"], expect: { block: "v6" } },
  {
    name: "v6 mismatch",
    peer: "2001:db9::5",
    names: ["a.v6.example.org"],
    expect: { reason: GENERIC("a.v6.example.org") },
  },
  { name: "v6 zone id ignored", peer: "fe80::1%eth0", names: ["a.v6.example.org"], expect: { block: "v6" } },
  {
    name: "v4 peer never matches a v6 network",
    peer: "192.0.2.10",
    names: ["a.v6.example.org"],
    expect: { reason: GENERIC("a.v6.example.org") },
  },
  // HMAC.
  {
    name: "HMAC right",
    peer: "203.0.113.99",
    authentication: authHeader("sha256", "s3cret", BODY),
    names: ["x.y.hmac.example.org", "hmac.example.org"],
    expect: { block: "hmac" },
  },
  {
    name: "HMAC upper-case hex",
    peer: "203.0.113.99",
    authentication: `hmac name=sha256, hash=${hmacHex("sha256", "s3cret", BODY).toUpperCase()}`,
    names: ["hmac.example.org"],
    expect: { block: "hmac" },
  },
  {
    name: "HMAC wrong key",
    peer: "203.0.113.99",
    authentication: authHeader("sha256", "guess", BODY),
    names: ["hmac.example.org"],
    expect: { reason: GENERIC("hmac.example.org") },
  },
  {
    name: "HMAC wrong algorithm",
    peer: "203.0.113.99",
    authentication: authHeader("sha512", "s3cret", BODY),
    names: ["hmac.example.org"],
    expect: { reason: GENERIC("hmac.example.org") },
  },
  {
    name: "HMAC over another body",
    peer: "203.0.113.99",
    authentication: authHeader("sha256", "s3cret", "something else"),
    names: ["hmac.example.org"],
    expect: { reason: GENERIC("hmac.example.org") },
  },
  {
    name: "HMAC missing",
    peer: "203.0.113.99",
    names: ["hmac.example.org"],
    expect: { reason: GENERIC("hmac.example.org") },
  },
  {
    name: "HMAC malformed",
    peer: "203.0.113.99",
    authentication: "hmac name=sha256, hash=xyz",
    names: ["hmac.example.org"],
    expect: {
      reason: "The Authentication header is malformed (the hash is not hexadecimal): expected " +
        "'hmac name=sha256, hash=<hex>'",
    },
  },
  {
    name: "HMAC and IP both required: both right",
    peer: "198.51.100.1",
    authentication: authHeader("sha512", "other", BODY),
    names: ["both.example.org"],
    expect: { block: "both" },
  },
  {
    name: "HMAC and IP both required: IP wrong",
    peer: "198.51.101.1",
    authentication: authHeader("sha512", "other", BODY),
    names: ["both.example.org"],
    expect: { reason: GENERIC("both.example.org") },
  },
  {
    name: "HMAC and IP both required: HMAC missing",
    peer: "198.51.100.1",
    names: ["both.example.org"],
    expect: { reason: GENERIC("both.example.org") },
  },
  // all = yes, domain-only blocks.
  { name: "all = yes with ip", peer: "203.0.113.7", names: ["all.example.org"], expect: { block: "all" } },
  {
    name: "all = yes with ip, other peer",
    peer: "203.0.113.8",
    names: ["all.example.org"],
    expect: { reason: GENERIC("all.example.org") },
  },
  {
    name: "all = yes alone admits every client",
    blocks: [block("all-only", { all: true, domains: ["*.example.org"] })],
    peer: "2001:db8::1",
    names: ["www.example.org"],
    expect: { block: "all-only" },
  },
  {
    name: "domain-only block admits every client",
    peer: "192.0.2.200",
    names: ["open1.test"],
    expect: { block: "open" },
  },
  {
    name: "block without domains admits nothing",
    blocks: [block("no-domains", { ips: ["192.0.2.0/24"], domains: [] })],
    peer: "192.0.2.1",
    names: ["www.example.org"],
    expect: { reason: GENERIC("www.example.org") },
  },
  // Names.
  {
    name: "a glob never matches a name outside its suffix",
    peer: "192.0.2.10",
    names: ["v4.example.org.evil.net"],
    expect: { reason: GENERIC("v4.example.org.evil.net") },
  },
  {
    name: "names are never split across blocks",
    blocks: [
      block("a", { ips: ["192.0.2.0/24"], domains: ["a.example.org"] }),
      block("b", { ips: ["192.0.2.0/24"], domains: ["b.example.org"] }),
    ],
    peer: "192.0.2.1",
    names: ["a.example.org", "b.example.org"],
    expect: { reason: GENERIC("a.example.org, b.example.org") },
  },
  {
    name: "one block covering all names through several globs",
    blocks: [block("ab", { ips: ["192.0.2.0/24"], domains: ["a.example.org", "b.example.org"] })],
    peer: "192.0.2.1",
    names: ["a.example.org", "b.example.org"],
    expect: { block: "ab" },
  },
  {
    name: "requested wildcard needs a wildcard glob",
    blocks: [block("www", { domains: ["www.example.org"] }), block("star", { domains: ["*.example.org"] })],
    peer: "192.0.2.1",
    names: ["*.example.org"],
    expect: { block: "star" },
  },
  {
    name: "many names are summarized",
    peer: "192.0.2.10",
    names: ["a.example.org", "b.example.org", "c.example.org", "d.example.org", "e.example.org"],
    expect: { reason: GENERIC("a.example.org, b.example.org, c.example.org and 2 more") },
  },
  // Order.
  {
    name: "first matching block wins",
    blocks: [
      block("first", { ips: ["192.0.2.0/24"], domains: ["www.example.org"] }),
      block("second", { domains: ["*.example.org"] }),
    ],
    peer: "192.0.2.1",
    names: ["www.example.org"],
    expect: { block: "first" },
  },
  {
    name: "first matching block wins (reversed)",
    blocks: [
      block("second", { domains: ["*.example.org"] }),
      block("first", { ips: ["192.0.2.0/24"], domains: ["www.example.org"] }),
    ],
    peer: "192.0.2.1",
    names: ["www.example.org"],
    expect: { block: "second" },
  },
  {
    name: "a failing HMAC block does not stop a later IP-only block",
    blocks: [
      block("hmac", { hmac: { type: "sha256", key: "k" }, domains: ["*.example.org"] }),
      block("ip", { ips: ["192.0.2.0/24"], domains: ["*.example.org"] }),
    ],
    peer: "192.0.2.1",
    authentication: authHeader("sha256", "wrong", BODY),
    names: ["www.example.org"],
    expect: { block: "ip" },
  },
  {
    name: "a malformed header does not stop a later IP-only block",
    blocks: [
      block("hmac", { hmac: { type: "sha256", key: "k" }, domains: ["*.example.org"] }),
      block("ip", { ips: ["192.0.2.0/24"], domains: ["*.example.org"] }),
    ],
    peer: "192.0.2.1",
    authentication: "Bearer token",
    names: ["www.example.org"],
    expect: { block: "ip" },
  },
  {
    name: "a later block is used when an earlier one lacks a name",
    blocks: [
      block("narrow", { ips: ["192.0.2.0/24"], domains: ["www.example.org"] }),
      block("wide", { ips: ["192.0.2.0/24"], domains: ["www.example.org", "mail.example.org"] }),
    ],
    peer: "192.0.2.1",
    names: ["www.example.org", "mail.example.org"],
    expect: { block: "wide" },
  },
  {
    name: "no names",
    peer: "192.0.2.10",
    names: [],
    expect: { reason: "No names were requested: the CSR must list at least one DNS name" },
  },
];

Deno.test("authorize: table", async (t) => {
  for (const c of CASES) {
    await t.step(c.name, () => run(c));
  }
});

async function run(c: Case): Promise<void> {
  {
    const result = await authorize(c.blocks ?? BLOCKS, {
      peer: ip(c.peer),
      authentication: c.authentication ?? null,
      body: c.body ?? BODY,
      names: c.names,
    });
    if ("block" in c.expect) {
      assert(result.ok, `${c.name}: ${JSON.stringify(result)}`);
      assertEquals(result.block.name, c.expect.block, c.name);
    } else {
      assert(!result.ok, `${c.name}: admitted by ${result.ok && result.block.name}`);
      assertEquals(result.reason, c.expect.reason, c.name);
    }
  }
}

Deno.test("authorize: the refusal does not tell which check failed", async () => {
  const reasons = new Set<string>();
  const requests = [
    { peer: ip("192.0.3.1"), names: ["www.v4.example.org"] }, // wrong IP
    { peer: ip("192.0.2.1"), names: ["www.v4.example.org"] }, // (control: admitted)
    { peer: ip("192.0.2.1"), names: ["www.v5.example.org"] }, // wrong name
  ];
  for (const r of requests) {
    const result = await authorize(BLOCKS, { ...r, authentication: null, body: BODY });
    if (!result.ok) reasons.add(result.reason.replace(/for .*?:/, "for X:"));
  }
  const wrongHmac = await authorize(BLOCKS, {
    peer: ip("203.0.113.99"),
    authentication: authHeader("sha256", "guess", BODY),
    body: BODY,
    names: ["www.v5.example.org"],
  });
  assert(!wrongHmac.ok);
  reasons.add(wrongHmac.reason.replace(/for .*?:/, "for X:"));
  assertEquals([...reasons], [GENERIC("X")]);
});

Deno.test("possibleBlocks / precheck: before the body is read", () => {
  const names = (blocks: AuthBlock[]) => blocks.map((b) => b.name);
  const check = (peer: string, authentication: string | null) =>
    names(possibleBlocks(BLOCKS, { peer: ip(peer), authentication }));
  assertEquals(check("192.0.2.1", null), ["v4", "open"]);
  assertEquals(check("::ffff:192.0.2.1", null), ["v4", "open"]);
  assertEquals(check("fe80::1%eth0", null), ["v6", "open"]);
  // HMAC blocks need a header naming their algorithm; its value is not checked yet.
  assertEquals(check("192.0.2.1", `hmac name=sha256, hash=${"0".repeat(64)}`), ["v4", "hmac", "open"]);
  assertEquals(check("198.51.100.1", `hmac name=sha512, hash=${"0".repeat(128)}`), ["both", "open"]);
  assertEquals(check("198.51.100.1", "hmac name=sha512, hash=00"), ["open"]); // malformed: no HMAC block
  assertEquals(check("203.0.113.7", null), ["all", "open"]);

  const strict = compilePolicy([V4, HMAC]);
  assertEquals(names(strict.possibleBlocks({ peer: ip("192.0.2.1"), authentication: null })), ["v4"]);
  assertEquals(strict.precheck({ peer: ip("10.0.0.1"), authentication: null }), {
    ok: false,
    reason: "No auth block admits this client: check the client address and the Authentication header",
    detail: { closest: "hmac", reason: "Authentication header missing: the block needs hmac name=sha256" },
  });
  assertEquals(strict.precheck({ peer: ip("10.0.0.1"), authentication: "hmac name=sha256" }), {
    ok: false,
    reason: "The Authentication header is malformed (it has no hash= parameter): expected " +
      "'hmac name=sha256, hash=<hex>'",
    detail: {
      closest: "hmac",
      reason: "Authentication header malformed (it has no hash= parameter): the block needs hmac name=sha256",
    },
  });
  const ok = strict.precheck({ peer: ip("192.0.2.1"), authentication: null });
  assert(ok.ok);
  assertEquals(names(ok.blocks), ["v4"]);
});

Deno.test("compilePolicy: memoised, and invalid globs match nothing", async () => {
  assert(compilePolicy(BLOCKS) === compilePolicy(BLOCKS), "same array, same compiled policy");
  const bad = block("bad", { domains: ["mail[12.example.org", "www.example.org"] });
  const policy = compilePolicy([bad]);
  assertEquals(policy.errors.length, 1);
  assert(policy.errors[0].startsWith('auth "bad": domain pattern "mail[12.example.org" has an unbalanced'));
  const request = { peer: ip("192.0.2.1"), authentication: null, body: BODY };
  assertEquals((await policy.authorize({ ...request, names: ["www.example.org"] })).ok, true);
  assertEquals((await policy.authorize({ ...request, names: ["mail1.example.org"] })).ok, false);
});

Deno.test("authorize: IP address names are admitted by ip-identifiers only, never by domain globs", async () => {
  const blocks: AuthBlock[] = [
    block("globs", { ips: ["10.0.0.0/8"], domains: ["*"] }),
    block("hosts", {
      ips: ["10.0.0.0/8"],
      domains: ["*.example.org"],
      ipIdentifiers: ["198.51.100.0/24", "2001:db8::/64"],
    }),
    block("only-ips", { ips: ["172.16.0.0/12"], domains: [], ipIdentifiers: ["203.0.113.7"] }),
  ];
  const ask = (names: string[], peer = "10.1.1.1") =>
    authorize(blocks, { peer: ip(peer), authentication: null, body: BODY, names });
  const admitted = async (names: string[], peer?: string) => {
    const result = await ask(names, peer);
    return result.ok ? result.block.name : `refused: ${result.reason}`;
  };
  assertEquals(await admitted(["www.example.org"]), "globs");
  assertEquals(await admitted(["198.51.100.20"]), "hosts", "domain = * admits no IP address");
  assertEquals(await admitted(["www.example.org", "198.51.100.20", "2001:db8::5"]), "hosts");
  assertEquals(await admitted(["203.0.113.7"], "172.16.1.1"), "only-ips", "a block with only ip-identifiers");
  assertEquals(
    await admitted(["198.51.101.1"]),
    "refused: No auth block admits this client for 198.51.101.1: check the client address, the Authentication " +
      "header and the requested names",
  );
  assert(!(await ask(["2001:db8:0:1::5"])).ok, "outside the /64");
  assert(!(await ask(["::ffff:c633:6414"])).ok, "an IPv4-mapped IPv6 SAN is not the IPv4 address");
  assert(!(await ask(["198.51.100.20"], "192.0.2.1")).ok, "ip = (the client's address) still applies");
  assert(!(await ask(["www.example.org"], "172.16.1.1")).ok, "a block with only ip-identifiers admits no DNS name");
});
