/**
 * check-config for dns01-dnsUpdate blocks, without any network: key files (as tsig-keygen writes them) readable and
 * well-formed, algorithms allowed, addresses and names valid; the summary says where records go; and the factory
 * builds one solver per block from what the config produced.
 */
import { assert, assertEquals, assertStringIncludes } from "../../../support/assert.ts";
import { run } from "../../../support/process.ts";
import { configSummary } from "../../../../src/config/summary.ts";
import { createDnsUpdateSolvers } from "../../../../src/challenges/dns01/factory.ts";
import { DnsUpdateSolver } from "../../../../src/challenges/dns01/solver.ts";
import { silentLogger } from "../../../../src/ops/log.ts";
import { BASE, errorLines, load } from "../../config/helpers.ts";

const DNS = '[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1:5353\n';

Deno.test("dns config: a key file made by tsig-keygen is accepted with its name and algorithm", async () => {
  const keygen = await run("/usr/sbin/tsig-keygen", ["-a", "hmac-sha512", "acmems-key"]);
  assertEquals(keygen.code, 0, keygen.output);
  const result = load(`${BASE}${DNS}tsig-key-file = /etc/acmems/tsig.key\n`, { "/etc/acmems/tsig.key": keygen.stdout });
  assertEquals(errorLines(result), []);
  const v = result.config!.verifications.get("d")!;
  assert(v.type === "dns01-dnsUpdate");
  assertEquals([v.tsig?.name, v.tsig?.algorithm], ["acmems-key", "hmac-sha512"]);
});

Deno.test("dns config: bad keys, algorithms, names and addresses are errors naming the line", () => {
  const cases: [string, string, Record<string, string>, RegExp][] = [
    ["unreadable key file", "tsig-key-file = /nope.key\n", {}, /tsig-key-file \/nope.key cannot be read/],
    ["not a key file", "tsig-key-file = /k\n", { "/k": "hello\n" }, /no key statement found/],
    [
      "MD5 key file",
      "tsig-key-file = /k\n",
      { "/k": 'key "k" { algorithm hmac-md5; secret "c2VjcmV0"; };\n' },
      /hmac-md5 is refused/,
    ],
    [
      "unknown algorithm",
      "tsig-key-name = k\ntsig-algorithm = hmac-sha999\ntsig-secret = c2VjcmV0\n",
      {},
      /hmac-sha999/,
    ],
    [
      "key name with spaces",
      "tsig-key-name = my key\ntsig-secret = c2VjcmV0\n",
      {},
      /tsig-key-name "my key" is not a DNS name/,
    ],
    ["secret not base64", "tsig-key-name = k\ntsig-secret = ***\n", {}, /tsig-secret is not base64/],
    ["zone not a name", "zone = a..b\n", {}, /zone "a..b" is not a DNS name/],
  ];
  for (const [what, lines, files, pattern] of cases) {
    const result = load(`${BASE}${DNS}${lines}`, files);
    assert(!result.ok, `${what}: accepted`);
    assert(errorLines(result).some((l) => pattern.test(l)), `${what}: ${errorLines(result).join(" | ")}`);
  }
  const badServer = load(`${BASE}[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = ns.example.org\n`);
  assert(errorLines(badServer).some((l) => /not an IP address of a DNS server/.test(l)), errorLines(badServer).join());
});

Deno.test("dns config: the summary says where records go and hides the secret", () => {
  const secret = "c2VjcmV0c2VjcmV0c2VjcmV0";
  const result = load(`${BASE}${DNS}tsig-key-name = acmems-key\ntsig-secret = ${secret}\n`);
  const summary = configSummary(result.config!);
  assertStringIncludes(summary, "TXT at _acme-challenge.<name> (or the target of a CNAME there)");
  assertStringIncludes(summary, "in zone found by SOA lookup");
  assert(!summary.includes(secret), "secret shown");
});

Deno.test("dns config: the factory builds one solver per dns01-dnsUpdate block", () => {
  const result = load(
    `${BASE}[mgmt]\ndefault-verification = d\n${DNS}[verification "e"]\ntype = dns01-dnsUpdate\ndns-server = [::1]:53\n` +
      '[verification "h"]\ntype = http01\nlistener = 127.0.0.1:1380\n',
  );
  assertEquals(errorLines(result), []);
  const solvers = createDnsUpdateSolvers(result.config!, silentLogger);
  assertEquals([...solvers.keys()], ["d", "e"]);
  for (const s of solvers.values()) assert(s instanceof DnsUpdateSolver && s.challengeType === "dns-01");
});
