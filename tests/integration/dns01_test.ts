/**
 * dns-01 through RFC 2136 DNS UPDATE against the real peers: bind9 (`named -g`) as the authoritative server acmems
 * updates, pebble 2.10 resolving through that bind9 and validating for real, acmems in-process (`App` from
 * `loadConfig`, as `serve` builds it) answering POST /sign over HTTP.
 *
 * bind9 zones (tests/support/named.ts):
 *   example.test      allow-update by address; `sub` is delegated to the zone sub.example.test (same server), and
 *                     `_acme-challenge.cname` is a CNAME into acme.test (the acme-dns pattern)
 *   sub.example.test  allow-update by address: discovery must walk up to it, not stop at example.test
 *   acme.test         allow-update by address: where the delegated record goes
 *   tsig.test         allow-update { key acmems-key; } (hmac-sha256)
 *   policy.test       update-policy { grant acmems-key zonesub TXT; }
 *
 * Every step ends by listing every zone (AXFR) and the cleanup journal: no `_acme-challenge` TXT may be left.
 * The outage steps come last: they stop and restart bind9.
 */
import * as x509 from "@peculiar/x509";
import { generateKeyPair } from "../../src/acme/mod.ts";
import { DnsUpdateSolver } from "../../src/challenges/dns01/solver.ts";
import { DnsJournal, JOURNAL_FILE } from "../../src/challenges/dns01/journal.ts";
import type { ChallengeSolver } from "../../src/challenges/solver.ts";
import type { Config } from "../../src/config/types.ts";
import type { memoryLogger } from "../../src/ops/log.ts";
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { type ConfigSpec, http01, ipAuth, type Options, testConfig } from "../support/config.ts";
import { makeCsr, type TestCsr } from "../support/csr.ts";
import type { Named } from "../support/named.ts";
import type { Pebble } from "../support/pebble.ts";
import { freePort } from "../support/ports.ts";
import { run, runChecked } from "../support/process.ts";
import { type AppStack, startApp as startAppStack, startStack } from "../support/stack.ts";

const HMAC_KEY = "dns01-test-hmac-key-0123456789abcdef";
const WRONG_SECRET = btoa("this is not the secret of acmems-key");
/** `timeout =` of the dns01-dnsUpdate blocks. */
const DNS_TIMEOUT_MS = 2_000;
const ZONES = ["example.test", "sub.example.test", "acme.test", "tsig.test", "policy.test"];

interface Stack {
  named: Named;
  pebble: Pebble;
  keyPair: CryptoKeyPair;
  /** Work dir: config and account (with the journal). */
  dir: string;
}

function dnsConfig(s: Stack, mgmtPort: number): ConfigSpec {
  const dns01 = (more: Options): Options => ({
    type: "dns01-dnsUpdate",
    "dns-server": s.named.address,
    ...more,
  });
  return testConfig({
    comment: "tests/integration/dns01_test.ts",
    ca: s.pebble,
    accountDir: `${s.dir}/account`,
    mgmtPort,
    httpPort: null,
    verifications: {
      dns: dns01({ timeout: `${DNS_TIMEOUT_MS}ms`, ttl: 30 }),
      "dns-tsig": dns01({ transport: "udp", timeout: `${DNS_TIMEOUT_MS}ms`, "tsig-key-file": s.named.tsigKeyFile }),
      "dns-wrong-key": dns01({
        timeout: `${DNS_TIMEOUT_MS}ms`,
        "tsig-key-name": "acmems-key",
        "tsig-algorithm": "hmac-sha256",
        "tsig-secret": WRONG_SECRET,
      }),
      http: http01(s.pebble.httpPort),
    },
    auth: {
      "wrong-key": ipAuth("wrong.policy.test", "127.0.0.1", { verification: "dns-wrong-key" }),
      "unsigned-into-tsig-zone": ipAuth("unsigned.tsig.test", "127.0.0.1", { verification: "dns" }),
      tsig: ipAuth(["tsig.test", "*.tsig.test", "*.policy.test"], "127.0.0.1", { verification: "dns-tsig" }),
      "dns-hmac": { hmac_type: "sha256", hmac_key: HMAC_KEY, domain: "*.example.test", verification: "dns" },
      http: ipAuth("*.example.test", "127.0.0.1", { verification: "http" }),
    },
  });
}

async function startApp(
  s: Stack,
  solvers?: (config: Config, log: ReturnType<typeof memoryLogger>) => Map<string, ChallengeSolver>,
): Promise<AppStack> {
  return await startAppStack({
    configFile: `${s.dir}/acmems.ini`,
    config: dnsConfig(s, await freePort()),
    keyPair: s.keyPair,
    caCerts: [s.pebble.caPem],
    solvers,
  });
}

interface Signed {
  status: number;
  body: string;
  retryAfter: string | null;
}

async function hmacHeader(body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(HMAC_KEY),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body)));
  return `hmac name=sha256, hash=${Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** POST /sign over HTTP; `hmac` adds the Authentication header the dns-hmac block requires. */
async function sign(url: string, csr: TestCsr, opts: { hmac?: boolean } = {}): Promise<Signed> {
  const headers: Record<string, string> = {};
  if (opts.hmac) headers["Authentication"] = await hmacHeader(csr.csrPem);
  const res = await fetch(`${url}/sign`, { method: "POST", body: csr.csrPem, headers });
  return { status: res.status, body: await res.text(), retryAfter: res.headers.get("retry-after") };
}

/** The DNS names of the leaf certificate of a chain. */
function leafNames(chain: string): string[] {
  const leaf = new x509.X509Certificate(chain.split(/\n\n/)[0]);
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  return (san?.names.items ?? []).map((n) => n.value).sort();
}

function assertIssued(signed: Signed, names: string[]): void {
  assertEquals(signed.status, 200, `expected a certificate, got ${signed.status}: ${signed.body}`);
  assertEquals(leafNames(signed.body), [...names].sort());
}

/** Every TXT record of every test zone (zone transfer), except the fixture's own probe records. */
async function txtRecords(named: Named): Promise<string[]> {
  const found: string[] = [];
  for (const zone of ZONES) {
    const r = await runChecked("dig", [
      `@127.0.0.1`,
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

async function journalRecords(s: Stack): Promise<unknown[]> {
  try {
    return JSON.parse(await Deno.readTextFile(`${s.dir}/account/${JOURNAL_FILE}`)).records;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** Nothing left behind: no TXT in any zone, nothing in the journal. */
async function assertClean(s: Stack): Promise<void> {
  assertEquals(await txtRecords(s.named), [], "TXT records left in the zones");
  assertEquals(await journalRecords(s), [], "records left in the cleanup journal");
}

function eventsNamed(running: AppStack, event: string): Record<string, unknown>[] {
  return running.events().filter((e) => e.event === event);
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The "dns" solver with quick retries, halting bind9 right after its first record is in place: the next present()
 * of the same order then finds the server gone.
 */
function haltingSolver(s: Stack, onHalt: () => void) {
  return (config: Config, log: ReturnType<typeof memoryLogger>) => {
    const v = config.verifications.get("dns");
    assert(v?.type === "dns01-dnsUpdate");
    const real = new DnsUpdateSolver(v, {
      journal: DnsJournal.inDirectory(config.account.dir, { log }),
      log,
      retryInitialMs: 250,
      retryMaxMs: 1_000,
    });
    let halted = false;
    const solver: ChallengeSolver = {
      challengeType: "dns-01",
      present: async (task) => {
        await real.present(task);
        if (halted) return;
        halted = true;
        await s.named.halt();
        onHalt();
      },
      cleanup: (task) => real.cleanup(task),
      start: () => real.start(),
      close: () => real.close(),
    };
    return new Map([["dns", solver]]);
  };
}

Deno.test("dns-01 via RFC 2136: bind9 + pebble 2.10 + acmems /sign", async (t) => {
  const { work: dir, named, pebble, cleanup } = await startStack({
    prefix: "acmems-dns01-test-",
    named: {
      recursion: true, // pebble's VA must follow the CNAME delegation, like a CA's resolver
      extraZones: [
        { name: "sub.example.test", allowUpdate: ["127.0.0.1", "::1"] },
        { name: "acme.test", allowUpdate: ["127.0.0.1", "::1"] },
        { name: "policy.test", updatePolicy: ["grant acmems-key zonesub TXT"] },
      ],
      records: [
        "sub IN NS ns.example.test.", // the parent's delegation of sub.example.test (served here too)
        "_acme-challenge.cname IN CNAME d1.acme.test.",
      ],
    },
    pebble: { httpPort: await freePort() },
  });
  try {
    const s: Stack = { named, pebble, keyPair: await generateKeyPair("ec-p256"), dir };
    const running = await startApp(s);
    try {
      await t.step("single name (HMAC-authorized [auth] on the dns verification)", async () => {
        const csr = await makeCsr({ names: ["www.example.test"] });
        assertIssued(await sign(running.url, csr, { hmac: true }), ["www.example.test"]);
        const added = eventsNamed(running, "dns-01 TXT record added").filter((e) =>
          e.name === "_acme-challenge.www.example.test"
        );
        assertEquals(added.map((e) => [e.zone, e.server]), [["example.test", named.address]]);
        await assertClean(s);
      });

      await t.step("same server: a block on http01 serves the same names without HMAC", async () => {
        const before = eventsNamed(running, "dns-01 TXT record added").length;
        const csr = await makeCsr({ names: ["plain.example.test"] });
        assertIssued(await sign(running.url, csr), ["plain.example.test"]);
        assertEquals(eventsNamed(running, "dns-01 TXT record added").length, before, "no DNS update for http-01");
        await assertClean(s);
      });

      await t.step("wildcard plus base name in one CSR: two values at one owner, both removed", async () => {
        const names = ["wild.example.test", "*.wild.example.test"];
        const csr = await makeCsr({ names });
        assertIssued(await sign(running.url, csr, { hmac: true }), names);
        const owner = "_acme-challenge.wild.example.test";
        const added = eventsNamed(running, "dns-01 TXT record added").filter((e) => e.name === owner);
        assertEquals(added.length, 2);
        assert(added[0].value !== added[1].value, "two different values");
        const removed = eventsNamed(running, "dns-01 TXT record removed").filter((e) => e.name === owner);
        assertEquals(removed.map((e) => e.value).sort(), added.map((e) => e.value).sort(), "each deleted by value");
        await assertClean(s);
      });

      await t.step("TSIG zone with the right key (tsig-keygen file, UDP): wildcard via curl", async () => {
        const names = ["tsig.test", "*.tsig.test"];
        const csr = await makeCsr({ names });
        const r = await run("curl", [
          "--silent",
          "--show-error",
          "--data-binary",
          `@${csr.csrFile}`,
          "--write-out",
          "\n%{http_code}",
          `${running.url}/sign`,
        ]);
        assertEquals(r.code, 0, r.stderr);
        const status = Number(r.stdout.trim().split("\n").at(-1));
        const body = r.stdout.slice(0, r.stdout.trimEnd().lastIndexOf("\n") + 1);
        assertIssued({ status, body, retryAfter: null }, names);
        await assertClean(s);
      });

      await t.step("update-policy zone (grant acmems-key zonesub TXT) with the right key", async () => {
        const csr = await makeCsr({ names: ["www.policy.test"] });
        assertIssued(await sign(running.url, csr), ["www.policy.test"]);
        await assertClean(s);
      });

      await t.step("wrong TSIG key: 421 with a clear one-line reason, no secret, nothing added", async () => {
        const csr = await makeCsr({ names: ["wrong.policy.test"] });
        const signed = await sign(running.url, csr);
        assertEquals(signed.status, 421, signed.body);
        assertStringIncludes(signed.body, "TSIG key rejected by the server");
        assertEquals(signed.body.trim().split("\n").length, 1, "one line");
        for (const text of [signed.body, ...running.lines()]) {
          assert(!text.includes(WRONG_SECRET) && !text.includes(named.tsig.secret), "a TSIG secret leaked");
        }
        assertEquals(await txtRecords(named), [], "nothing added");
        // bind9's BADSIG answer is unsigned (RFC 8945), so it could be forged: the entry stays journaled after one
        // deletion (refused too) until the key is fixed. Here the operator deletes it by hand.
        const kept = "dns-01 TXT record deletion failed; it stays journaled for close() and the next start";
        await eventually("one deletion tried", () => Promise.resolve(eventsNamed(running, kept).length === 1));
        const journal = DnsJournal.inDirectory(`${s.dir}/account`);
        assertEquals(journal.entries().map((e) => [e.verification, e.name]), [
          ["dns-wrong-key", "_acme-challenge.wrong.policy.test"],
        ]);
        for (const e of journal.entries()) await journal.strike(e.id);
        await assertClean(s);
      });

      await t.step("no key for a TSIG-only zone: 421 naming allow-update/update-policy", async () => {
        const csr = await makeCsr({ names: ["unsigned.tsig.test"] });
        const signed = await sign(running.url, csr);
        assertEquals(signed.status, 421, signed.body);
        assertStringIncludes(
          signed.body,
          "the server refused the update for zone tsig.test: check allow-update/update-policy",
        );
        await assertClean(s);
      });

      await t.step("zone discovery walks up two labels into the sub-delegated zone", async () => {
        const csr = await makeCsr({ names: ["a.b.sub.example.test"] });
        assertIssued(await sign(running.url, csr, { hmac: true }), ["a.b.sub.example.test"]);
        const found = eventsNamed(running, "dns-01 zone discovered").find((e) =>
          e.name === "_acme-challenge.a.b.sub.example.test"
        );
        assertEquals(found?.zone, "sub.example.test");
        await assertClean(s);
      });

      await t.step("CNAME delegation: the record goes to the CNAME target in another zone", async () => {
        const csr = await makeCsr({ names: ["cname.example.test"] });
        assertIssued(await sign(running.url, csr, { hmac: true }), ["cname.example.test"]);
        const added = eventsNamed(running, "dns-01 TXT record added").filter((e) =>
          e.cnameFrom === "_acme-challenge.cname.example.test"
        );
        assertEquals(added.map((e) => [e.name, e.zone]), [["d1.acme.test", "acme.test"]]);
        assertEquals(await named.dig("_acme-challenge.cname.example.test", "CNAME"), ["d1.acme.test."], "untouched");
        await assertClean(s);
      });
    } finally {
      await running.stop();
    }

    await t.step("bind9 stopped mid-issuance: 503 within the timeout; the retry removes the record", async () => {
      let haltedAt = 0;
      const outage = await startApp(s, haltingSolver(s, () => (haltedAt = Date.now())));
      try {
        const names = ["outage.example.test", "*.outage.example.test"];
        const signed = await sign(outage.url, await makeCsr({ names }), { hmac: true });
        const afterHalt = Date.now() - haltedAt;
        assertEquals(signed.status, 503, signed.body);
        assert(signed.retryAfter !== null && Number(signed.retryAfter) > 0, "Retry-After");
        assertStringIncludes(signed.body, "no DNS server answered");
        // Within `timeout` (a refused connection fails at once); twice the bound leaves room for a slow machine.
        assert(afterHalt < 2 * DNS_TIMEOUT_MS, `503 came ${afterHalt} ms after bind9 stopped`);
        assertEquals((await journalRecords(s)).length, 1, "the record added before the outage is journaled");

        await named.restart();
        await eventually("the retry deletes the record", async () => (await txtRecords(named)).length === 0);
        await eventually("struck off the journal", async () => (await journalRecords(s)).length === 0);
        const removed = eventsNamed(outage, "dns-01 TXT record removed");
        assert(removed.some((e) => Number(e.afterAttempts) >= 1), "removed by a retry");
      } finally {
        await outage.stop();
      }
      await assertClean(s);
    });

    await t.step(
      "bind9 stopped, acmems restarted before it is back: the journal replay removes the record",
      async () => {
        const first = await startApp(s, haltingSolver(s, () => {}));
        try {
          const names = ["replay.example.test", "*.replay.example.test"];
          const signed = await sign(first.url, await makeCsr({ names }), { hmac: true });
          assertEquals(signed.status, 503, signed.body);
        } finally {
          await first.stop(); // close() tries once more, bind9 is still down: the entry stays
        }
        assertEquals((await journalRecords(s)).length, 1);
        await named.restart();
        assertEquals((await txtRecords(named)).length, 1, "bind9 kept the record across its restart");

        const second = await startApp(s);
        try {
          await eventually("the replay deletes the record", async () => (await txtRecords(named)).length === 0);
          await eventually("struck off the journal", async () => (await journalRecords(s)).length === 0);
          assert(second.lines().some((l) => l.includes("journal replay")), "replay logged");
        } finally {
          await second.stop();
        }
        await assertClean(s);
      },
    );
  } finally {
    await cleanup.run();
  }
});
