/**
 * dns-01 through RFC 2136 against a second implementation: Knot DNS (`knotd` 3.2 from Debian 12,
 * tests/support/knot.ts), with acmems' DnsUpdateSolver in-process (no CA: present → visible → cleanup).
 *
 * The case delegation exists for: `_acme-challenge.www.zone-a.test` is a CNAME into zone-b.test, and the TSIG key may
 * update zone-b.test only. Knot answers a *signed* query in zone-a.test NOTAUTH/BADKEY (its ACL does not name the
 * key), so acmems must send its lookups (CNAME, SOA, visibility) unsigned and sign only the UPDATEs (issue 13,
 * item 13). The same solver against bind9, with pebble, is tests/integration/dns01_test.ts.
 */
import { dns01TxtValue } from "../../src/acme/mod.ts";
import { DnsJournal, JOURNAL_FILE } from "../../src/challenges/dns01/journal.ts";
import { DnsUpdateSolver } from "../../src/challenges/dns01/solver.ts";
import { ChallengeError, type ChallengeTask } from "../../src/challenges/solver.ts";
import type { DnsUpdateVerification } from "../../src/config/types.ts";
import { memoryLogger } from "../../src/ops/log.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../support/assert.ts";
import { type Knot, startKnot } from "../support/knot.ts";

function verification(knot: Knot): DnsUpdateVerification {
  return {
    type: "dns01-dnsUpdate",
    name: "knot",
    servers: [{ hostname: "127.0.0.1", port: knot.port, display: knot.address }],
    ttl: 30,
    timeoutMs: 2_000,
    transport: "tcp",
    tsig: { ...knot.tsig, source: { file: "knot.ini", line: 3 } },
    source: { file: "knot.ini", line: 1 },
  };
}

function task(identifier: string): ChallengeTask {
  const token = crypto.randomUUID();
  return { identifier, wildcard: false, token, keyAuthorization: `${token}.thumbprint` };
}

function events(log: ReturnType<typeof memoryLogger>, message: string): Record<string, unknown>[] {
  return log.lines.map((l) => JSON.parse(l)).filter((e) => e.event === message);
}

Deno.test("dns-01 via RFC 2136 against Knot DNS: a CNAME delegated out of a zone the key may not update", async (t) => {
  const knot = await startKnot({
    zones: [
      { name: "zone-a.test", records: ["_acme-challenge.www IN CNAME d1.zone-b.test."] },
      { name: "zone-b.test", updateKey: true },
    ],
  });
  const dir = await Deno.makeTempDir({ prefix: "acmems-dns01-knot-" });
  const log = memoryLogger("debug", [knot.tsig.secret]);
  const journal = new DnsJournal(`${dir}/${JOURNAL_FILE}`, { log });
  const solver = new DnsUpdateSolver(verification(knot), { journal, log, retryInitialMs: 100, retryMaxMs: 400 });
  try {
    await solver.start();

    await t.step("premise: knotd answers a signed query outside the key's zones NOTAUTH/BADKEY", async () => {
      const signed = await knot.digRaw("_acme-challenge.www.zone-a.test", "CNAME", { signed: true });
      assertStringIncludes(signed.stdout, "status: NOTAUTH", signed.output);
      assertStringIncludes(signed.stdout, "BADKEY", signed.output);
      assertEquals(await knot.dig("_acme-challenge.www.zone-a.test", "CNAME"), ["d1.zone-b.test."], "unsigned");
      const inZoneB = await knot.digRaw("zone-b.test", "SOA", { signed: true });
      assertStringIncludes(inZoneB.stdout, "status: NOERROR", "a signed query in the key's zone is answered");
    });

    await t.step("present puts the TXT at the CNAME target in zone-b, visible there; cleanup deletes it", async () => {
      const t1 = task("www.zone-a.test");
      const value = await dns01TxtValue(t1.keyAuthorization);
      await solver.present(t1);
      assertEquals(await knot.dig("d1.zone-b.test", "TXT"), [`"${value}"`]);
      assertEquals(await knot.dig("_acme-challenge.www.zone-a.test", "CNAME"), ["d1.zone-b.test."], "untouched");
      assertEquals(journal.entries().map((e) => [e.name, e.zone, e.owner]), [
        ["d1.zone-b.test", "zone-b.test", "_acme-challenge.www.zone-a.test"],
      ]);
      const added = events(log, "dns-01 TXT record added");
      assertEquals(added.map((e) => [e.name, e.zone, e.cnameFrom]), [
        ["d1.zone-b.test", "zone-b.test", "_acme-challenge.www.zone-a.test"],
      ]);
      await solver.cleanup(t1);
      assertEquals(await knot.dig("d1.zone-b.test", "TXT"), []);
      assertEquals(journal.entries(), []);
    });

    await t.step("an UPDATE in the zone the key may not change: 421 after what Knot said, journal kept", async () => {
      const error = await assertRejects(() => solver.present(task("plain.zone-a.test")));
      assert(error instanceof ChallengeError, String(error));
      assertEquals(error.kind, "names-refused");
      assert(error.message.startsWith("TSIG key rejected by the server (BADKEY"), error.message);
      assertStringIncludes(error.message, "zone");
      assertEquals(await knot.dig("_acme-challenge.plain.zone-a.test", "TXT"), [], "nothing added");
      // Knot's BADKEY answer is unsigned (RFC 8945): it could be spoofed, so the record stays journaled.
      assertEquals(journal.entries().map((e) => [e.name, e.zone]), [[
        "_acme-challenge.plain.zone-a.test",
        "zone-a.test",
      ]]);
      assert(!log.lines.join("\n").includes(knot.tsig.secret), "the TSIG secret leaked");
    });
  } finally {
    await solver.close();
    await Deno.remove(dir, { recursive: true });
    await knot.stop();
  }
});
