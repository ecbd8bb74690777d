/**
 * dns-account-01 (`[verification] type = dns-account01`) against the real peers: bind9 (`named -g`) takes the
 * RFC 2136 updates signed with TSIG, pebble 2.10 resolves through it and validates dns-account-01 for real (its VA
 * derives the same account label), acmems runs in-process (`App` from `loadConfig`, as `serve` builds it).
 *
 * bind9 zones (tests/support/named.ts): tsig.test takes updates signed with `acmems-key` only; its
 * `_acme-challenge.cdn` is a CNAME into example.test, as when another ACME client or a CDN owns dns-01 for the name.
 * Every step ends with no TXT in any zone and an empty cleanup journal.
 */
import { generateKeyPair } from "../../src/acme/mod.ts";
import { DnsUpdateSolver } from "../../src/challenges/dns01/solver.ts";
import { DnsJournal, JOURNAL_FILE } from "../../src/challenges/dns01/journal.ts";
import { accountLabel } from "../../src/challenges/dns_account01/label.ts";
import type { ChallengeSolver } from "../../src/challenges/solver.ts";
import type { Config } from "../../src/config/types.ts";
import type { memoryLogger } from "../../src/ops/log.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { ipAuth, testConfig } from "../support/config.ts";
import { makeCsr } from "../support/csr.ts";
import type { Named } from "../support/named.ts";
import { freePort } from "../support/ports.ts";
import { runChecked } from "../support/process.ts";
import { type AppStack, startApp, startStack } from "../support/stack.ts";

const ZONES = ["example.test", "tsig.test"];

/** Every TXT record of every test zone (zone transfer), except the fixture's own probe records. */
async function txtRecords(named: Named): Promise<string[]> {
  const found: string[] = [];
  for (const zone of ZONES) {
    const r = await runChecked("dig", [
      "@127.0.0.1",
      "-p",
      String(named.port),
      "+tcp",
      "+noall",
      "+answer",
      zone,
      "AXFR",
    ]);
    for (const line of r.stdout.split("\n")) {
      const [owner, , , type, ...rest] = line.trim().split(/\s+/);
      if (type === "TXT" && !owner.startsWith("_acmems-fixture.")) found.push(`${owner} ${rest.join(" ")}`);
    }
  }
  return found;
}

async function journalRecords(dir: string): Promise<unknown[]> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/account/${JOURNAL_FILE}`)).records;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/**
 * The configured dns-account01 solver, looking into bind9 after each record is in place (before pebble is told to
 * look): what pebble will find there, by owner.
 */
function watchingSolver(named: Named, seen: Map<string, string[]>) {
  return (config: Config, log: ReturnType<typeof memoryLogger>) => {
    const v = config.verifications.get("acct");
    assert(v?.type === "dns-account01");
    const real = new DnsUpdateSolver(v, { journal: DnsJournal.inDirectory(config.account.dir, { log }), log });
    const solver: ChallengeSolver = {
      challengeType: real.challengeType,
      present: async (task) => {
        await real.present(task);
        const owner = `_${await accountLabel(task.accountUrl!)}._acme-challenge.${task.identifier}`;
        seen.set(owner, await named.dig(owner, "TXT"));
      },
      cleanup: (task) => real.cleanup(task),
      start: () => real.start(),
      close: () => real.close(),
    };
    return new Map([["acct", solver]]);
  };
}

Deno.test("dns-account-01 via RFC 2136 + TSIG: bind9 + pebble 2.10 + acmems /sign", async (t) => {
  const { work: dir, named, pebble, cleanup } = await startStack({
    prefix: "acmems-dns-account01-test-",
    named: {
      recursion: true,
      records: ["_acme-challenge.cdn.tsig.test. IN CNAME cdn-validation.example.test."],
    },
    pebble: { httpPort: await freePort() },
  });
  let running: AppStack | undefined;
  try {
    const seen = new Map<string, string[]>();
    running = await startApp({
      configFile: `${dir}/acmems.ini`,
      config: testConfig({
        comment: "tests/integration/dns_account01_test.ts",
        ca: pebble,
        accountDir: `${dir}/account`,
        mgmtPort: await freePort(),
        httpPort: null,
        verifications: {
          acct: {
            type: "dns-account01",
            "dns-server": named.address,
            timeout: "2s",
            "tsig-key-file": named.tsigKeyFile,
          },
        },
        auth: { acct: ipAuth(["*.tsig.test", "tsig.test"], "127.0.0.1", { verification: "acct" }) },
      }),
      keyPair: await generateKeyPair("ec-p256"),
      caCerts: [pebble.caPem],
      solvers: watchingSolver(named, seen),
    });
    const app = running;
    const accountUrl = app.app.session.client().accountUrl!;
    const label = await accountLabel(accountUrl);
    const sign = async (names: string[]) => {
      const res = await fetch(`${app.url}/sign`, { method: "POST", body: (await makeCsr({ names })).csrPem });
      return { status: res.status, body: await res.text() };
    };
    const assertClean = async () => {
      assertEquals(await txtRecords(named), [], "TXT records left in the zones");
      assertEquals(await journalRecords(dir), [], "records left in the cleanup journal");
    };

    await t.step("name and wildcard: two values at the account label, validated by pebble, then removed", async () => {
      const signed = await sign(["acct.tsig.test", "*.acct.tsig.test"]);
      assertEquals(signed.status, 200, signed.body);
      const owner = `_${label}._acme-challenge.acct.tsig.test`;
      assertEquals(seen.get(owner)?.length, 2, `bind9 served both values at ${owner}: ${JSON.stringify([...seen])}`);
      const added = app.events().filter((e) => e.event === "dns-01 TXT record added");
      assertEquals(added.map((e) => [e.name, e.zone]), [[owner, "tsig.test"], [owner, "tsig.test"]]);
      assertEquals(await named.dig("_acme-challenge.acct.tsig.test", "TXT"), [], "nothing at the dns-01 owner");
      await assertClean();
    });

    await t.step("a _acme-challenge CNAME owned by someone else does not disturb it, and stays", async () => {
      const signed = await sign(["cdn.tsig.test"]);
      assertEquals(signed.status, 200, signed.body);
      assertEquals(seen.get(`_${label}._acme-challenge.cdn.tsig.test`)?.length, 1);
      assertEquals(await named.dig("_acme-challenge.cdn.tsig.test", "CNAME"), ["cdn-validation.example.test."]);
      await assertClean();
    });
  } finally {
    await running?.stop();
    await cleanup.run();
  }
});
