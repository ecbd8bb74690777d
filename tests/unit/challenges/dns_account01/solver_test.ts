/**
 * `type = dns-account01` runs the dns01 solver with the account-label owner: the TXT goes to
 * `_<label>._acme-challenge.<name>` (a `_acme-challenge.<name>` CNAME is not followed, nor touched), a CNAME at the
 * account-label owner is followed like dns-01's, and the journal cleans up the same. In-memory DNS (../dns01/fake_dns.ts).
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../../support/assert.ts";
import { DnsUpdateSolver } from "../../../../src/challenges/dns01/solver.ts";
import { DnsJournal, JOURNAL_FILE } from "../../../../src/challenges/dns01/journal.ts";
import { ChallengeError, type ChallengeTask } from "../../../../src/challenges/solver.ts";
import { accountLabel } from "../../../../src/challenges/dns_account01/label.ts";
import type { DnsUpdateVerification } from "../../../../src/config/types.ts";
import { dns01TxtValue } from "../../../../src/acme/mod.ts";
import { memoryLogger } from "../../../../src/ops/log.ts";
import { FakeDns, server } from "../dns01/fake_dns.ts";

const ACCOUNT = "https://ca.test/acme/acct/42";

const verification: DnsUpdateVerification = {
  type: "dns-account01",
  name: "acct",
  servers: [server(53)],
  ttl: 60,
  timeoutMs: 300,
  transport: "tcp",
  source: { file: "test.ini", line: 1 },
};

function task(identifier: string, accountUrl: string | null = ACCOUNT): ChallengeTask {
  const token = crypto.randomUUID();
  const t: ChallengeTask = { identifier, wildcard: false, token, keyAuthorization: `${token}.thumbprint` };
  return accountUrl === null ? t : { ...t, accountUrl };
}

async function withSolver(dns: FakeDns, fn: (solver: DnsUpdateSolver, journal: DnsJournal) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "acmems-dns-account-" });
  const log = memoryLogger("debug");
  const journal = new DnsJournal(`${dir}/${JOURNAL_FILE}`, { log });
  const solver = new DnsUpdateSolver(verification, { journal, log, exchange: dns.exchange });
  try {
    await solver.start();
    await fn(solver, journal);
  } finally {
    await solver.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("dns-account01 solver: the TXT goes to _<label>._acme-challenge.<name>; cleanup removes it", async () => {
  const dns = new FakeDns({ zones: ["example.test"] });
  await withSolver(dns, async (solver, journal) => {
    assertEquals(solver.challengeType, "dns-account-01");
    const t = task("www.example.test");
    await solver.present(t);
    const owner = `_${await accountLabel(ACCOUNT)}._acme-challenge.www.example.test`;
    assertEquals(dns.values(owner), [await dns01TxtValue(t.keyAuthorization)]);
    assertEquals(dns.values("_acme-challenge.www.example.test"), []);
    assertEquals(journal.entries().map((e) => [e.verification, e.name, e.zone]), [["acct", owner, "example.test"]]);
    await solver.cleanup(t);
    assertEquals(dns.leftovers(), []);
    assertEquals(journal.entries(), []);
  });
});

Deno.test("dns-account01 solver: a _acme-challenge CNAME owned by another client is neither followed nor touched", async () => {
  const dns = new FakeDns({
    zones: ["example.test", "cdn.test"],
    cnames: { "_acme-challenge.shop.example.test": "shop.validation.cdn.test" },
  });
  await withSolver(dns, async (solver) => {
    const t = task("shop.example.test");
    await solver.present(t);
    const owner = `_${await accountLabel(ACCOUNT)}._acme-challenge.shop.example.test`;
    assertEquals(dns.values(owner).length, 1);
    assertEquals(dns.values("shop.validation.cdn.test"), [], "nothing written at the other client's target");
    assertEquals(dns.cnames.get("_acme-challenge.shop.example.test"), "shop.validation.cdn.test");
    await solver.cleanup(t);
    assertEquals(dns.leftovers(), []);
  });
});

Deno.test("dns-account01 solver: a CNAME at the account-label owner is followed (delegation)", async () => {
  const label = await accountLabel(ACCOUNT);
  const dns = new FakeDns({
    zones: ["example.test", "acme.test"],
    cnames: { [`_${label}._acme-challenge.api.example.test`]: "api.acme.test" },
  });
  await withSolver(dns, async (solver, journal) => {
    const t = task("api.example.test");
    await solver.present(t);
    assertEquals(dns.values("api.acme.test"), [await dns01TxtValue(t.keyAuthorization)]);
    assertEquals(journal.entries().map((e) => [e.name, e.zone, e.owner]), [[
      "api.acme.test",
      "acme.test",
      `_${label}._acme-challenge.api.example.test`,
    ]]);
    await solver.cleanup(t);
    assertEquals(dns.leftovers(), []);
  });
});

Deno.test("dns-account01 solver: without the account URL nothing is written (unavailable)", async () => {
  const dns = new FakeDns({ zones: ["example.test"] });
  await withSolver(dns, async (solver, journal) => {
    const error = await assertRejects(() => solver.present(task("www.example.test", null)));
    assert(error instanceof ChallengeError && error.kind === "unavailable", String(error));
    assertStringIncludes(error.message, "account URL");
    assertEquals(dns.log.filter((m) => m.opcode === 5), [], "no UPDATE sent");
    assertEquals(journal.entries(), []);
  });
});
