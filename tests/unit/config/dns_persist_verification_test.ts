/** `[verification] type = dns-persist01`: its options, defaults and errors. */
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import { BASE, errorLines, load } from "./helpers.ts";
import { configSummary, resultToJson } from "../../../src/config/summary.ts";

const block = (more = "") => `${BASE}verification = p\n[verification "p"]\ntype = dns-persist01\n${more}`;

Deno.test("dns-persist01: defaults (system resolver, today's draft format, no persistUntil)", () => {
  const result = load(block());
  assertEquals(errorLines(result), []);
  const v = result.config!.verifications.get("p");
  assertEquals(v, {
    type: "dns-persist01",
    name: "p",
    resolvers: [],
    recordFormat: "draft-ietf-acme-dns-persist-00",
    timeoutMs: 10_000,
    source: v!.source,
  });
});

Deno.test("dns-persist01: every option", () => {
  const result = load(block(
    "issuer-domain-name = LetsEncrypt.org.\nresolver = 127.0.0.1:5353\nresolver = ::1\n" +
      "record-format = draft-ietf-acme-dns-persist-00\npersist-until = 1900000000\ntimeout = 3s\n",
  ));
  assertEquals(errorLines(result), []);
  const v = result.config!.verifications.get("p");
  assert(v?.type === "dns-persist01");
  assertEquals(v.issuerDomainName, "letsencrypt.org");
  assertEquals(v.resolvers.map((r) => r.display), ["127.0.0.1:5353", "[::1]:53"]);
  assertEquals(v.persistUntil, 1900000000);
  assertEquals(v.timeoutMs, 3000);
});

Deno.test("dns-persist01: errors name the value and the fix", () => {
  const cases: [string, RegExp][] = [
    ["record-format = draft-99\n", /record-format "draft-99" is not one of draft-ietf-acme-dns-persist-00/],
    ["issuer-domain-name = not a name\n", /issuer-domain-name "not a name" is not a DNS name/],
    ["resolver = dns.example.org\n", /resolver/],
    ["persist-until = soon\n", /persist-until/],
    ["tsig-secret = abc\n", /Unknown option "tsig-secret"/],
  ];
  for (const [more, pattern] of cases) {
    const lines = errorLines(load(block(more)));
    assertEquals(lines.length, 1, `${more}: ${lines}`);
    assertMatch(lines[0], pattern);
  }
  assertMatch(errorLines(load(`${BASE}[verification "p"]\ntype = dns-persist1\n`))[0], /did you mean dns-persist01/);
});

Deno.test("dns-persist01: check-config's summary and JSON show the block", () => {
  const result = load(block("issuer-domain-name = letsencrypt.org\nresolver = 127.0.0.1\n"));
  assertMatch(
    configSummary(result.config!),
    /p \(dns-persist01, default\): no DNS writes; TXT at _validation-persist\.<name> checked through 127\.0\.0\.1:53, issuer letsencrypt\.org/,
  );
  const json = resultToJson(result) as { verifications: Record<string, unknown>[] };
  assertEquals(json.verifications.find((v) => v.name === "p")?.resolvers, ["127.0.0.1:53"]);
});

Deno.test("dns-persist01: another CA than Let's Encrypt without issuer-domain-name is a warning (records needs it)", () => {
  const otherCa = (more: string) =>
    load(block(more).replace("[account]\n", "[account]\nacme-server = https://ca.example/dir\n"));
  const without = otherCa("");
  assertEquals(errorLines(without), []);
  const warned = without.warnings.filter((w) => w.message.includes("issuer-domain-name"));
  assertEquals(warned.length, 1, JSON.stringify(without.warnings));
  assertMatch(
    warned[0].message,
    /\[verification "p"\] has no issuer-domain-name and acme-server https:\/\/ca\.example\/dir/,
  );
  assertMatch(
    configSummary(without.config!),
    /issuer from the CA's challenge \(acmems records needs issuer-domain-name\)/,
  );
  const named = otherCa("issuer-domain-name = ca.example\n");
  assertEquals(named.warnings.filter((w) => w.message.includes("issuer-domain-name")), []);
  // Let's Encrypt (the default staging directory here): letsencrypt.org, no warning.
  const le = load(block());
  assertEquals(le.warnings.filter((w) => w.message.includes("issuer-domain-name")), []);
  assertMatch(configSummary(le.config!), /issuer letsencrypt\.org \(Let's Encrypt's\)/);
});
