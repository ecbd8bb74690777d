/**
 * Fuzz: CSR intake (`parseCsrPem`, the memoising `createCsrParser`, `checkCsrRules`) on mutated DER, re-signed
 * structural edits, damaged PEM and random bytes.
 *
 * Properties: nothing throws; every refusal is 415 or 403 with a one-line reason free of control characters (the
 * reason goes to the client and the log); a CSR that passes the rules has only DNS and IP address SANs, at most the
 * profile's name count, every name either a lower-case LDH name (optionally `*.`-prefixed) of at most 253 characters
 * that is not an IP address, or the canonical text of one of its IP SANs (RFC 8738), every CN among them, and no
 * Must-Staple; the cached parser agrees with the plain one.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { ipName } from "../../src/csr/names.ts";
import { checkCsrRules, type CsrParseResult, parseCsrPem } from "../../src/csr/intake.ts";
import { createCsrParser } from "../../src/csr/parser.ts";
import { csrBody, makeSeeds } from "./_csr_corpus.ts";
import { runCases } from "./_fuzz.ts";

const seeds = await makeSeeds();
const LABEL = "([a-z0-9]|[a-z0-9][a-z0-9-]{0,61}[a-z0-9])";
const DNS_NAME = new RegExp(`^(\\*\\.)?(${LABEL}\\.)*${LABEL}$`);

function checkReason(kind: string, reason: string, what: string): void {
  assert(kind === "refused" || kind === "unusable-csr", `${what}: kind ${kind}`);
  assert(reason.length > 0, `${what}: empty reason`);
  // deno-lint-ignore no-control-regex -- control characters are what this looks for
  assert(!/[\x00-\x1f\x7f]/.test(reason), `${what}: control character in the reason ${JSON.stringify(reason)}`);
  assert(reason.length <= 2000, `${what}: reason of ${reason.length} characters`);
}

function checkAccepted(result: Extract<CsrParseResult, { ok: true }>, maxNames: number, what: string): string {
  const rules = checkCsrRules(result.csr, { maxNames });
  if (!rules.ok) {
    checkReason(rules.kind, rules.reason, `${what} rules`);
    return `rules-${rules.code}`;
  }
  const csr = result.csr;
  assert(rules.names.length > 0, `${what}: accepted without names`);
  assert(rules.names.length <= maxNames, `${what}: ${rules.names.length} names accepted, limit ${maxNames}`);
  assert(new Set(rules.names).size === rules.names.length, `${what}: duplicate names`);
  const ipSans = new Set((csr.subjectAltNames ?? []).filter((s) => s.type === "ip").map((s) => ipName(s.value)));
  for (const name of rules.names) {
    if (ipName(name) === name) {
      assert(ipSans.has(name), `${what}: accepted IP ${name} that is not an IP SAN`);
      continue;
    }
    assert(name.length <= 253 && DNS_NAME.test(name), `${what}: accepted name ${JSON.stringify(name)}`);
    assert(!/^[0-9.]+$/.test(name), `${what}: accepted IP-like name ${name}`);
    assert(!/\.[0-9]+$/.test(name), `${what}: accepted all-numeric TLD ${name}`);
  }
  assert(
    csr.subjectAltNames?.every((s) => s.type === "dns" || (s.type === "ip" && ipName(s.value) !== null)),
    `${what}: accepted a SAN that is not a DNS name or an IP address`,
  );
  for (const cn of csr.commonNames) {
    assert(
      rules.names.includes(ipName(cn) ?? cn.toLowerCase()),
      `${what}: CN ${JSON.stringify(cn)} not among the names`,
    );
  }
  assert(!csr.mustStaple, `${what}: accepted must-staple`);
  return "accepted";
}

Deno.test("fuzz: CSR intake never throws; only 415/403 refusals; accepted CSRs hold the issuance rules", async () => {
  for (const seed of seeds) {
    const parsed = await parseCsrPem(seed.pem);
    assert(parsed.ok, `seed ${seed.label} parses: ${!parsed.ok && parsed.reason}`);
  }
  const cached = createCsrParser({ maxEntries: 50 });
  await runCases("csr intake", async (rng) => {
    const { body, kind } = await csrBody(seeds, rng);
    let plain: CsrParseResult;
    let memo: CsrParseResult;
    try {
      plain = await parseCsrPem(body);
      memo = await cached.parse(body);
    } catch (error) {
      throw new Error(`intake threw on a ${kind} body: ${error instanceof Error ? error.stack : error}`);
    }
    assertEquals(memo.ok, plain.ok, `${kind}: the cached parser disagrees`);
    if (!plain.ok) {
      checkReason(plain.kind, plain.reason, kind);
      assertEquals(!memo.ok && memo.code, plain.code, `${kind}: refusal code`);
      return `${kind}:${plain.code}`;
    }
    const maxNames = rng.pick([100, 25]);
    return `${kind}:${checkAccepted(plain, maxNames, kind)}`;
  });
});
