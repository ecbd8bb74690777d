/**
 * `[auth] ip-identifiers` (issue 16 item 4, RFC 8738): the addresses a block's clients may get certificates for,
 * distinct from `ip` (the clients' own addresses); http01 only; Let's Encrypt wants the `shortlived` profile.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../../support/assert.ts";
import { configSummary, configToJson } from "../../../src/config/summary.ts";
import { errorLines, load } from "./helpers.ts";

const ACCOUNT = (server = "https://pebble.test:14000/dir") =>
  `[account]\ndir = /acct\naccept-terms-of-service = yes\nacme-server = ${server}\n`;

Deno.test("ip-identifiers: comma-separated and repeatable networks, kept apart from ip", () => {
  const result = load(`${ACCOUNT()}[auth "hosts"]
ip = 10.0.0.0/8
ip-identifiers = 198.51.100.0/24, 2001:db8::/64
ip-identifiers = 203.0.113.7
`);
  assert(result.ok, errorLines(result).join("\n"));
  const block = result.config!.auth[0];
  assertEquals(block.ips.map((n) => n.text), ["10.0.0.0/8"]);
  assertEquals(block.ipIdentifiers?.map((n) => n.text), ["198.51.100.0/24", "2001:db8::/64", "203.0.113.7"]);
  assertEquals(block.domains, [], "a block with only ip-identifiers is not an error");
  const json = JSON.parse(JSON.stringify(configToJson(result.config!)));
  assertEquals(json.auth[0].ipIdentifiers, ["198.51.100.0/24", "2001:db8::/64", "203.0.113.7"]);
  assertStringIncludes(
    configSummary(result.config!),
    "    ip addresses: 198.51.100.0/24, 2001:db8::/64, 203.0.113.7\n",
  );
});

Deno.test("ip-identifiers: a bad network or an empty entry is an error at its line", () => {
  for (
    const [value, message] of [
      ["198.51.100.0/24, 2001:db8::/200", /2001:db8::\/200/],
      ["198.51.100.1/24", /host bits/i],
      ["198.51.100.0/24,, 203.0.113.7", /has an empty entry: separate networks with one comma/],
      ["www.example.org", /www\.example\.org/],
    ] as const
  ) {
    const result = load(`${ACCOUNT()}[auth "hosts"]\nip = 10.0.0.0/8\nip-identifiers = ${value}\n`);
    assert(!result.ok, value);
    assertEquals(result.errors[0].line, 7, errorLines(result).join("\n"));
    assertMatch(result.errors[0].message, /^\[auth "hosts"\] ip-identifiers: /, value);
    assertMatch(result.errors[0].message, message, value);
  }
});

Deno.test("ip-identifiers: a dns-01 verification is refused (CAs validate IP addresses over http-01)", () => {
  const result = load(`${ACCOUNT()}[verification "d"]
type = dns01-dnsUpdate
dns-server = 127.0.0.1
[auth "hosts"]
ip = 10.0.0.0/8
ip-identifiers = 198.51.100.0/24
verification = d
`);
  assert(!result.ok);
  assertEquals(errorLines(result), [
    `10: [auth "hosts"] ip-identifiers needs an http01 verification, but verification "d" is dns01-dnsUpdate: CAs ` +
    "validate IP addresses over http-01 (or tls-alpn-01), never dns-01; use an http01 [verification]",
  ]);
});

Deno.test("ip-identifiers: with Let's Encrypt, check-config warns unless the block's profile is shortlived", () => {
  const block = (profile: string) => `[auth "hosts"]\nip = 10.0.0.0/8\nip-identifiers = 198.51.100.0/24\n${profile}`;
  const warnings = (text: string) => {
    const result = load(text);
    assert(result.ok, errorLines(result).join("\n"));
    return result.warnings.filter((w) => w.message.includes("ip-identifiers")).map((w) => `${w.line}: ${w.message}`);
  };
  const LE = ACCOUNT("https://acme-v02.api.letsencrypt.org/directory");
  assertEquals(warnings(LE + block("")), [
    `7: [auth "hosts"] ip-identifiers: Let's Encrypt issues IP address certificates only in the shortlived profile, ` +
    `but this block uses the CA's default profile: set profile = shortlived in this block`,
  ]);
  assertEquals(warnings(LE + block("profile = tlsserver\n")).length, 1);
  assertMatch(warnings(LE + block("profile = tlsserver\n"))[0], /uses profile "tlsserver"/);
  assertEquals(warnings(LE + block("profile = shortlived\n")), []);
  assertEquals(warnings(`${LE}profile = shortlived\n${block("")}`), [], "the [account] profile counts");
  assertEquals(warnings(ACCOUNT("https://acme-staging-v02.api.letsencrypt.org/directory") + block("")).length, 1);
  assertEquals(warnings(ACCOUNT() + block("")), [], "another CA (pebble) issues IP certificates in any profile");

  // A block ordering from a [ca] that is Let's Encrypt, the default CA being pebble: warned, naming that CA.
  const caLe = (profile: string) =>
    `[ca "le"]\nacme-server = https://acme-v02.api.letsencrypt.org/directory\ndir = /var/lib/acmems/le\n` +
    `accept-terms-of-service = yes\n${profile}`;
  const viaLe = warnings(`${ACCOUNT()}${caLe("")}${block("ca = le\n")}`);
  assertEquals(viaLe.length, 1, viaLe.join("\n"));
  assertMatch(viaLe[0], /Let's Encrypt \(CA "le"\) issues IP address certificates only in the shortlived profile/);
  assertEquals(warnings(`${ACCOUNT()}${caLe("profile = shortlived\n")}${block("ca = le\n")}`), [], "its profile");
  assertEquals(warnings(`${ACCOUNT()}${caLe("")}${block("ca = le\nprofile = shortlived\n")}`), []);
  assertEquals(warnings(`${ACCOUNT()}${caLe("")}${block("")}`), [], "the block orders from pebble only");
});
