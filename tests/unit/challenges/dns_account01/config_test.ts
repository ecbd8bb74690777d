/**
 * check-config for `type = dns-account01`: every dns01-dnsUpdate option (TSIG, zone, transport…) with the same
 * checks; the summary names the account-label owner and hides the secret; the factory builds a dns-account-01
 * solver beside the dns-01 ones; an unknown type lists it.
 */
import { assert, assertEquals, assertStringIncludes } from "../../../support/assert.ts";
import { configSummary } from "../../../../src/config/summary.ts";
import { configSecrets } from "../../../../src/config/secrets.ts";
import { createDnsUpdateSolvers } from "../../../../src/challenges/dns01/factory.ts";
import { silentLogger } from "../../../../src/ops/log.ts";
import { BASE, errorLines, load } from "../../config/helpers.ts";

const SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0";
const ACCT = '[verification "acct"]\ntype = dns-account01\ndns-server = 127.0.0.1:5353\n';

Deno.test("dns-account01 config: the dns01 options, read and checked the same", () => {
  const result = load(
    `${BASE}${ACCT}zone = Example.ORG.\ntransport = udp\nttl = 30\ntimeout = 5s\n` +
      `tsig-key-name = acmems-key\ntsig-secret = ${SECRET}\n`,
  );
  assertEquals(errorLines(result), []);
  const v = result.config!.verifications.get("acct")!;
  assert(v.type === "dns-account01", v.type);
  assertEquals([v.zone, v.transport, v.ttl, v.timeoutMs], ["example.org", "udp", 30, 5_000]);
  assertEquals([v.tsig?.name, v.tsig?.algorithm], ["acmems-key", "hmac-sha256"]);
  assert(configSecrets(result.config!).includes(SECRET), "the TSIG secret is scrubbed from the logs");
  const summary = configSummary(result.config!);
  assertStringIncludes(summary, "acct (dns-account01");
  assertStringIncludes(summary, "TXT at _<account label>._acme-challenge.<name> (or the target of a CNAME there)");
  assert(!summary.includes(SECRET), "secret shown");

  const missing = load(`${BASE}[verification "acct"]\ntype = dns-account01\n`);
  assert(errorLines(missing).some((l) => /needs dns-server/.test(l)), errorLines(missing).join(" | "));
  const bad = load(`${BASE}${ACCT}tsig-key-name = k\ntsig-secret = ***\n`);
  assert(errorLines(bad).some((l) => /tsig-secret is not base64/.test(l)), errorLines(bad).join(" | "));
});

Deno.test("dns-account01 config: the factory builds a dns-account-01 solver beside the dns-01 one", () => {
  const result = load(
    `${BASE}[mgmt]\ndefault-verification = d\n[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = [::1]:53\n` +
      ACCT,
  );
  assertEquals(errorLines(result), []);
  const solvers = createDnsUpdateSolvers(result.config!, silentLogger);
  assertEquals([...solvers].map(([name, s]) => [name, s.challengeType]), [["d", "dns-01"], ["acct", "dns-account-01"]]);
});

Deno.test("dns-account01 config: a misspelt type suggests it and lists the supported types", () => {
  const result = load(`${BASE}[verification "acct"]\ntype = dns-acount01\ndns-server = 127.0.0.1\n`);
  const lines = errorLines(result);
  assert(lines.some((l) => l.includes("did you mean dns-account01?")), lines.join(" | "));
  assert(lines.some((l) => l.includes("supported: http01, dns01-dnsUpdate, dns-account01")), lines.join(" | "));
});
