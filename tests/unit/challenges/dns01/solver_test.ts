/**
 * The dns01-dnsUpdate solver over an in-memory DNS server (fake_dns.ts): record placement (discovery, delegation,
 * wildcard pairs), error answers (421/503), the cleanup journal with retries, replay, the 24 h alarm and close().
 * The same behaviours against real bind9 + pebble are in tests/integration/dns01_test.ts.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../../support/assert.ts";
import {
  type DnsUpdateFailure,
  DnsUpdateSolver,
  type DnsUpdateSolverOptions,
} from "../../../../src/challenges/dns01/solver.ts";
import { DnsJournal, JOURNAL_FILE } from "../../../../src/challenges/dns01/journal.ts";
import { ChallengeError, type ChallengeTask } from "../../../../src/challenges/solver.ts";
import type { DnsUpdateVerification } from "../../../../src/config/types.ts";
import { dns01TxtValue } from "../../../../src/acme/mod.ts";
import { memoryLogger } from "../../../../src/ops/log.ts";
import type { Exchange } from "../../../../src/challenges/dns01/dns/client.ts";
import { extractTsig } from "../../../../src/challenges/dns01/dns/tsig.ts";
import { readHeader } from "../../../../src/challenges/dns01/dns/wire.ts";
import { FakeDns, server, tsigErrorAnswer } from "./fake_dns.ts";

const PRIMARY = server(53);
const SECONDARY = server(53, "127.0.0.2");
const SECRET = btoa("a test secret that must never be printed");

function verification(over: Partial<DnsUpdateVerification> = {}): DnsUpdateVerification {
  return {
    type: "dns01-dnsUpdate",
    name: "dns",
    servers: [PRIMARY],
    ttl: 60,
    timeoutMs: 300,
    transport: "tcp",
    source: { file: "test.ini", line: 1 },
    ...over,
  };
}

function task(identifier: string, wildcard = false, token = crypto.randomUUID()): ChallengeTask {
  return { identifier, wildcard, token, keyAuthorization: `${token}.thumbprint` };
}

interface Setup {
  dns: FakeDns;
  solver: DnsUpdateSolver;
  journal: DnsJournal;
  log: ReturnType<typeof memoryLogger>;
  dir: string;
}

async function withSolver(
  dns: FakeDns,
  over: Partial<DnsUpdateVerification>,
  fn: (s: Setup) => Promise<void>,
  opts: Partial<DnsUpdateSolverOptions> & { dir?: string } = {},
): Promise<void> {
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "acmems-dns-solver-" });
  const log = memoryLogger("debug", [SECRET]);
  // A fresh instance, as a new process would have (DnsJournal.inDirectory shares one per file in a process).
  const journal = opts.journal ?? new DnsJournal(`${dir}/${JOURNAL_FILE}`, { log });
  const solver = new DnsUpdateSolver(verification(over), {
    journal,
    log,
    exchange: dns.exchange,
    retryInitialMs: 20,
    retryMaxMs: 80,
    ...opts,
  });
  try {
    await solver.start();
    await fn({ dns, solver, journal, log, dir });
  } finally {
    await solver.close();
    if (!opts.dir) await Deno.remove(dir, { recursive: true });
  }
}

async function eventually(what: string, check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function challengeError(fn: () => Promise<unknown>): Promise<ChallengeError> {
  const error = await assertRejects(fn);
  assert(error instanceof ChallengeError, `expected a ChallengeError, got ${error}`);
  return error;
}

Deno.test("dns solver: present writes the digest at _acme-challenge in the discovered zone; cleanup removes it", async () => {
  const dns = new FakeDns({ zones: ["example.test", "sub.example.test"] });
  await withSolver(dns, {}, async ({ solver, journal }) => {
    const t = task("a.b.sub.example.test");
    await solver.present(t);
    const owner = "_acme-challenge.a.b.sub.example.test";
    assertEquals(dns.values(owner), [await dns01TxtValue(t.keyAuthorization)]);
    assertEquals(journal.entries().map((e) => [e.name, e.zone]), [[owner, "sub.example.test"]]);
    // Walked up label by label: the owner, a.b..., b..., then the zone apex.
    assertEquals(dns.log.filter((m) => m.opcode === 0 && m.qname !== owner).map((m) => m.qname), [
      "a.b.sub.example.test",
      "b.sub.example.test",
      "sub.example.test",
    ]);
    await solver.cleanup(t);
    assertEquals(dns.leftovers(), []);
    assertEquals(journal.entries(), []);
  });
});

Deno.test("dns solver: the zone is discovered once per name; zone = skips discovery", async () => {
  const dns = new FakeDns({ zones: ["example.test"] });
  await withSolver(dns, {}, async ({ solver }) => {
    for (let i = 0; i < 2; i++) {
      const t = task("www.example.test");
      await solver.present(t);
      await solver.cleanup(t);
    }
    const soaLookups = dns.log.filter((m) => m.opcode === 0 && m.qname === "example.test").length;
    assertEquals(soaLookups, 1, "cached for the process lifetime");
  });
  const configured = new FakeDns({ zones: ["example.test"] });
  await withSolver(configured, { zone: "example.test" }, async ({ solver }) => {
    const t = task("www.example.test");
    await solver.present(t);
    await solver.cleanup(t);
    const lookups = configured.log.filter((m) => m.opcode === 0 && m.qname === "example.test");
    assertEquals(lookups.length, 0, "no SOA lookup");
  });
});

Deno.test("dns solver: a name and its wildcard get two values at one owner, each deleted by value", async () => {
  const dns = new FakeDns({ zones: ["example.test"] });
  await withSolver(dns, {}, async ({ solver }) => {
    const base = task("example.test");
    const wild = task("example.test", true);
    await solver.present(base);
    await solver.present(wild);
    const owner = "_acme-challenge.example.test";
    assertEquals(dns.values(owner).length, 2);
    await solver.cleanup(wild);
    assertEquals(dns.values(owner), [await dns01TxtValue(base.keyAuthorization)], "the other value stays");
    await solver.cleanup(base);
    assertEquals(dns.leftovers(), []);
  });
});

Deno.test("dns solver: a CNAME at _acme-challenge moves the record to its target (and into its zone)", async () => {
  const dns = new FakeDns({
    zones: ["example.test", "acme.example.net"],
    cnames: { "_acme-challenge.www.example.test": "d1.acme.example.net", "d1.acme.example.net": "d2.acme.example.net" },
  });
  await withSolver(dns, {}, async ({ solver, journal, log }) => {
    const t = task("www.example.test");
    await solver.present(t);
    assertEquals(dns.values("d2.acme.example.net").length, 1);
    assertEquals(dns.values("_acme-challenge.www.example.test"), []);
    const [entry] = journal.entries();
    assertEquals([entry.name, entry.zone, entry.owner], [
      "d2.acme.example.net",
      "acme.example.net",
      "_acme-challenge.www.example.test",
    ]);
    assert(log.lines.some((l) => l.includes('"cnameFrom":"_acme-challenge.www.example.test"')), "logged");
    await solver.cleanup(t);
    assertEquals(dns.leftovers(), []);
  });
  const loop = new FakeDns({ zones: ["example.test"], cnames: { "_acme-challenge.x.example.test": "y.example.test" } });
  loop.cnames.set("y.example.test", "_acme-challenge.x.example.test");
  await withSolver(loop, {}, async ({ solver }) => {
    const e = await challengeError(() => solver.present(task("x.example.test")));
    assertEquals(e.kind, "names-refused");
    assertStringIncludes(e.message, "loops back");
  });
});

Deno.test("dns solver: REFUSED, NOTZONE and an unknown zone answer 421 with what to fix; nothing stays", async () => {
  const dns = new FakeDns({ zones: ["example.test"] });
  await withSolver(dns, {}, async ({ solver, journal }) => {
    dns.updateRcode = 5;
    let e = await challengeError(() => solver.present(task("www.example.test")));
    assertEquals(e.kind, "names-refused");
    assertStringIncludes(
      e.message,
      "the server refused the update for zone example.test: check allow-update/update-policy",
    );
    dns.updateRcode = 10;
    e = await challengeError(() => solver.present(task("www.example.test")));
    assertEquals(e.kind, "names-refused");
    assertStringIncludes(e.message, "example.test is not a zone on this server");
    dns.updateRcode = undefined;
    e = await challengeError(() => solver.present(task("www.other.test")));
    assertEquals(e.kind, "names-refused");
    assertStringIncludes(e.message, "No zone on DNS server 127.0.0.1:53 holds _acme-challenge.www.other.test");
    assertEquals(journal.entries(), [], "refused adds are struck off the journal");
    assertEquals(dns.leftovers(), []);
  });
  const wrongZone = new FakeDns({ zones: ["example.test"] });
  await withSolver(wrongZone, { zone: "www.example.test" }, async ({ solver }) => {
    // NOTAUTH: no key is configured, so the server may want one, or it is not authoritative for the zone.
    const e = await challengeError(() => solver.present(task("www.example.test")));
    assertEquals(e.kind, "names-refused");
    assert(e.message.startsWith("TSIG key rejected by the server for zone www.example.test"), e.message);
    assertStringIncludes(e.message, "no TSIG key is configured");
    assertStringIncludes(e.message, "fix zone =");
  });
});

Deno.test("dns solver: REFUSED, NOTAUTH and NOTZONE with and without TSIG: the issue's wording, 421, each reported", async () => {
  const key = { name: "acmems-key", algorithm: "hmac-sha256" as const, secret: SECRET };
  const tsig = { ...key, source: { file: "test.ini", line: 3 } };
  const rcodes = [
    {
      rcode: 5,
      name: "REFUSED",
      check: (m: string) =>
        assertStringIncludes(m, "the server refused the update for zone tsig.test: check allow-update/update-policy"),
    },
    {
      rcode: 9,
      name: "NOTAUTH",
      check: (m: string) => assert(m.startsWith("TSIG key rejected by the server"), m),
    },
    {
      rcode: 10,
      name: "NOTZONE",
      check: (m: string) => assertStringIncludes(m, "tsig.test is not a zone on this server"),
    },
  ];
  const setups = [
    { label: "no key", serverKey: undefined, over: {}, unsigned: false, mentions: "no TSIG key is configured" },
    { label: "signed answer", serverKey: key, over: { tsig }, unsigned: false, mentions: "acmems-key" },
    { label: "unsigned answer to a signed update", serverKey: key, over: { tsig }, unsigned: true, mentions: "" },
  ];
  for (const setup of setups) {
    for (const { rcode, name, check } of rcodes) {
      const what = `${name}, ${setup.label}`;
      const dns = new FakeDns({ zones: ["tsig.test"], key: setup.serverKey });
      dns.updateRcode = rcode;
      dns.unsignedUpdateAnswers = setup.unsigned;
      const failures: DnsUpdateFailure[] = [];
      await withSolver(dns, { ...setup.over, zone: "tsig.test" }, async ({ solver, journal, log }) => {
        const e = await challengeError(() => solver.present(task("www.tsig.test")));
        assertEquals(e.kind, "names-refused", what);
        check(e.message);
        if (name === "REFUSED" || name === "NOTAUTH") assertStringIncludes(e.message, setup.mentions, what);
        if (setup.unsigned) assertStringIncludes(e.message, "not signed", what);
        assert(!e.message.includes(SECRET) && !log.lines.join("\n").includes(SECRET), `${what}: secret leaked`);
        assertEquals(dns.leftovers(), [], what);
        if (setup.unsigned) {
          // The unsigned answer may be forged: the entry stays and one deletion is tried (refused the same way).
          await eventually(`${what}: one deletion tried`, () => failures.length === 2);
          assertEquals(journal.entries().length, 1, `${what}: kept in the journal`);
        } else {
          assertEquals(journal.entries(), [], `${what}: struck off the journal`);
        }
        assertEquals(failures.map((f) => [f.verification, f.zone, f.operation, f.reason]), [
          ["dns", "tsig.test", "add", name],
          ...(setup.unsigned ? [["dns", "tsig.test", "delete", name]] : []),
        ], what);
      }, { onUpdateFailure: (f) => failures.push(f) });
    }
  }
  // A rejected key (the server's TSIG error BADSIG in a NOTAUTH answer) begins the same way.
  const dns = new FakeDns({ zones: ["tsig.test"], key });
  const failures: DnsUpdateFailure[] = [];
  const wrong = { ...tsig, secret: btoa("not the server's secret") };
  await withSolver(dns, { tsig: wrong, zone: "tsig.test" }, async ({ solver, journal }) => {
    const e = await challengeError(() => solver.present(task("www.tsig.test")));
    assertEquals(e.kind, "names-refused");
    assert(e.message.startsWith("TSIG key rejected by the server (BADSIG"), e.message);
    // The lookups are unsigned, so the UPDATE is what the server rejects. Its BADSIG answer is unsigned (RFC 8945):
    // the entry stays journaled and one deletion is tried, not retried with backoff (retryInitialMs is 20 ms here).
    await eventually("one deletion tried", () => failures.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assertEquals(failures.map((f) => [f.operation, f.name, f.zone, f.reason]), [
      ["add", "_acme-challenge.www.tsig.test", "tsig.test", "NOTAUTH"],
      ["delete", "_acme-challenge.www.tsig.test", "tsig.test", "NOTAUTH"],
    ]);
    assertEquals(journal.entries().length, 1);
  }, { onUpdateFailure: (f) => failures.push(f) });
});

Deno.test("dns solver: a name too long for DNS is a 421, not a crash", async () => {
  const dns = new FakeDns({ zones: ["example.test"] });
  await withSolver(dns, {}, async ({ solver }) => {
    const long = `${"a".repeat(60)}.${"b".repeat(60)}.${"c".repeat(60)}.${"d".repeat(50)}.example.test`;
    const e = await challengeError(() => solver.present(task(long)));
    assertEquals(e.kind, "names-refused");
    assertStringIncludes(e.message, "longer than 253 characters");
  });
});

Deno.test("dns solver: TSIG with the right key works; a wrong key is a 421 without the secret", async () => {
  const key = { name: "acmems-key", algorithm: "hmac-sha256" as const, secret: SECRET };
  const dns = new FakeDns({ zones: ["tsig.test"], key });
  const tsig = { ...key, source: { file: "test.ini", line: 3 } };
  await withSolver(dns, { tsig }, async ({ solver }) => {
    const t = task("www.tsig.test");
    await solver.present(t);
    assertEquals(dns.values("_acme-challenge.www.tsig.test").length, 1);
    await solver.cleanup(t);
    assertEquals(dns.leftovers(), []);
  });
  const wrong = { ...tsig, secret: btoa("not the server's secret") };
  await withSolver(dns, { tsig: wrong, zone: "tsig.test" }, async ({ solver, journal, log }) => {
    const e = await challengeError(() => solver.present(task("www.tsig.test")));
    assertEquals(e.kind, "names-refused");
    assert(e.message.startsWith("TSIG key rejected by the server (BADSIG"), e.message);
    assert(!e.message.includes(wrong.secret) && !log.lines.join("\n").includes(wrong.secret), "secret leaked");
    assertEquals(journal.entries().length, 1, "an unsigned BADSIG may be forged: the entry stays");
    assertEquals(dns.leftovers(), []);
  });
  await withSolver(dns, { zone: "tsig.test" }, async ({ solver }) => {
    const e = await challengeError(() => solver.present(task("www.tsig.test")));
    assertStringIncludes(e.message, "no TSIG key is configured");
  });
});

Deno.test("dns solver: answers with a bad MAC or a skewed clock are refused", async () => {
  const key = { name: "acmems-key", algorithm: "hmac-sha512" as const, secret: SECRET };
  const tsig = { ...key, source: { file: "test.ini", line: 3 } };
  const dns = new FakeDns({ zones: ["tsig.test"], key });
  await withSolver(dns, { tsig, zone: "tsig.test" }, async ({ solver, journal }) => {
    dns.corruptUpdateMac = true;
    let e = await challengeError(() => solver.present(task("www.tsig.test")));
    assertEquals(e.kind, "names-refused");
    assertStringIncludes(e.message, "TSIG signature does not verify");
    // The server may have applied the update: its deletion is pending, not forgotten.
    assertEquals(journal.entries().length, 1);
    dns.corruptUpdateMac = false;
    await eventually("the unverified add is deleted", () => journal.entries().length === 0);
    assertEquals(dns.leftovers(), []);
    dns.clockSkew = 1000;
    e = await challengeError(() => solver.present(task("www.tsig.test")));
    assertStringIncludes(e.message, "fix the clocks");
    dns.clockSkew = 0;
    await eventually("nothing left", () => journal.entries().length === 0);
  });
});

Deno.test("dns solver: lookups go unsigned, only UPDATEs are signed (a server refusing signed queries works)", async () => {
  const key = { name: "acmems-key", algorithm: "hmac-sha256" as const, secret: SECRET };
  const tsig = { ...key, source: { file: "test.ini", line: 3 } };
  // Knot DNS answers a signed query NOTAUTH/BADKEY in a zone whose ACL does not name the key: here, every zone.
  const dns = new FakeDns({
    zones: ["zone-a.test", "zone-b.test"],
    cnames: { "_acme-challenge.www.zone-a.test": "d1.zone-b.test" },
    key,
  });
  dns.refuseSignedQueries = true;
  await withSolver(dns, { tsig }, async ({ solver, journal }) => {
    const t = task("www.zone-a.test");
    await solver.present(t);
    assertEquals(dns.values("d1.zone-b.test"), [await dns01TxtValue(t.keyAuthorization)]);
    assertEquals(journal.entries().map((e) => [e.name, e.zone]), [["d1.zone-b.test", "zone-b.test"]]);
    await solver.cleanup(t);
    assertEquals(dns.leftovers(), []);
    const byOpcode = (op: number) => [...new Set(dns.log.filter((m) => m.opcode === op).map((m) => m.signed))];
    assertEquals(byOpcode(0), [false], "CNAME, SOA and TXT lookups unsigned");
    assertEquals(byOpcode(5), [true], "UPDATEs signed");
  });
});

Deno.test("dns solver: a NOTAUTH or REFUSED to an unsigned lookup is not worded as a rejected key", async () => {
  const key = { name: "acmems-key", algorithm: "hmac-sha256" as const, secret: SECRET };
  const dns = new FakeDns({ zones: ["tsig.test"], key });
  const notauth: Exchange = async (srv, message, opts) => {
    const answer = await dns.exchange(srv, message, opts);
    if (readHeader(message).opcode !== 0) return answer;
    const out = answer.slice();
    out[3] = (out[3] & 0xf0) | 9; // NOTAUTH, no TSIG: what the server said to this host
    return out;
  };
  await withSolver(dns, { tsig: { ...key, source: { file: "test.ini", line: 3 } } }, async ({ solver }) => {
    const e = await challengeError(() => solver.present(task("www.tsig.test")));
    assertEquals(e.kind, "names-refused");
    assert(!e.message.includes("TSIG key rejected"), e.message);
    assertStringIncludes(e.message, "NOTAUTH to an unsigned query");
    assertStringIncludes(e.message, "not a TSIG matter");
  }, { exchange: notauth });
});

/** `answer` without its TSIG record and with `rcode`, plus an unsigned TSIG error if given: a forged answer. */
function forged(answer: Uint8Array, request: Uint8Array, rcode: number, tsigError?: number): Uint8Array {
  const bare = (extractTsig(answer)?.unsigned ?? answer).slice();
  bare[3] = (bare[3] & 0xf0) | rcode;
  return tsigError === undefined ? bare : tsigErrorAnswer(bare, request, tsigError);
}

Deno.test("dns solver: a forged unsigned error answer to a signed UPDATE keeps the entry; one deletion removes the TXT", async () => {
  const key = { name: "acmems-key", algorithm: "hmac-sha256" as const, secret: SECRET };
  const tsig = { ...key, source: { file: "test.ini", line: 3 } };
  const forgeries = [
    { label: "BADSIG", rcode: 9, tsigError: 16, message: "TSIG key rejected by the server (BADSIG" },
    { label: "BADKEY", rcode: 9, tsigError: 17, message: "TSIG key rejected by the server (BADKEY" },
    { label: "bare NOTAUTH", rcode: 9, tsigError: undefined, message: "TSIG key rejected by the server for zone" },
    { label: "bare REFUSED", rcode: 5, tsigError: undefined, message: "the server refused the update" },
  ];
  for (const f of forgeries) {
    const dns = new FakeDns({ zones: ["tsig.test"], key });
    let forgedAnswers = 0;
    // The server applies the add and answers it signed; an attacker on the path answers first, unsigned.
    const exchange: Exchange = async (srv, message, opts) => {
      const answer = await dns.exchange(srv, message, opts);
      if (readHeader(message).opcode !== 5 || forgedAnswers > 0) return answer;
      forgedAnswers++;
      return forged(answer, message, f.rcode, f.tsigError);
    };
    await withSolver(dns, { tsig, zone: "tsig.test" }, async ({ solver, journal, log }) => {
      const e = await challengeError(() => solver.present(task("www.tsig.test")));
      assertEquals(e.kind, "names-refused", f.label);
      assert(e.message.startsWith(f.message) || e.message.includes(f.message), `${f.label}: ${e.message}`);
      assertEquals(forgedAnswers, 1);
      await eventually(`${f.label}: the one deletion removes the record`, () => dns.leftovers().length === 0);
      await eventually(`${f.label}: then struck off`, () => journal.entries().length === 0);
      assert(log.lines.some((l) => l.includes("answered with an unsigned error")), `${f.label}: logged`);
      assertEquals(dns.log.filter((m) => m.opcode === 5).length, 2, `${f.label}: the add and one deletion`);
    }, { exchange });
  }
});

Deno.test("dns solver: servers are tried in order; none answering is a 503 with Retry-After", async () => {
  const dns = new FakeDns({ zones: ["example.test"] });
  await withSolver(dns, { servers: [PRIMARY, SECONDARY] }, async ({ solver, journal }) => {
    dns.down.add(PRIMARY.display);
    const t = task("www.example.test");
    await solver.present(t);
    assert(dns.log.every((m) => m.server === SECONDARY.display), "the second server did everything");
    await solver.cleanup(t);
    dns.down.add(SECONDARY.display);
    const e = await challengeError(() => solver.present(task("www.example.test")));
    assertEquals([e.kind, e.retryAfterSeconds], ["unavailable", 30]);
    assertStringIncludes(e.message, "127.0.0.1:53: connection refused");
    assertStringIncludes(e.message, "127.0.0.2:53: connection refused");
    assertEquals(journal.entries(), []);
  }, { retryAfterSeconds: 30 });
});

Deno.test("dns solver: a record the server never serves is a 503 after the timeout, and is deleted", async () => {
  const dns = new FakeDns({ zones: ["example.test"] });
  dns.hideTxt = true;
  await withSolver(dns, { timeoutMs: 200 }, async ({ solver, journal }) => {
    const started = Date.now();
    const e = await challengeError(() => solver.present(task("www.example.test")));
    assertEquals(e.kind, "unavailable");
    assertStringIncludes(e.message, "was not served there within 200 ms");
    assert(Date.now() - started < 2_000, "bounded by the timeout");
    await eventually("deleted", () => dns.leftovers().length === 0 && journal.entries().length === 0);
  });
});

Deno.test("dns solver: a failed deletion stays journaled and is retried with backoff until it succeeds", async () => {
  const dns = new FakeDns({ zones: ["example.test"] });
  const failures: DnsUpdateFailure[] = [];
  await withSolver(dns, {}, async ({ solver, journal, log }) => {
    const t = task("www.example.test");
    await solver.present(t);
    dns.down.add(PRIMARY.display);
    await solver.cleanup(t); // never throws
    assertEquals(journal.entries().map((e) => e.attempts), [1]);
    await eventually("two more failed attempts", () => (journal.entries()[0]?.attempts ?? 0) >= 3);
    dns.down.delete(PRIMARY.display);
    const removed = (l: string) => l.includes('"event":"dns-01 TXT record removed"') && l.includes('"afterAttempts"');
    await eventually("deleted by a retry", () => log.lines.some(removed));
    assertEquals([dns.leftovers(), journal.entries()], [[], []]);
    assert(log.lines.some((l) => l.includes("deletion failed, will retry")));
    // Every failed deletion, the first and each retry, is reported where it happens.
    assert(failures.length >= 3, `${failures.length} failures reported`);
    assert(failures.every((f) => f.operation === "delete" && f.reason === "unreachable" && f.zone === "example.test"));
    // Routine steps are debug lines; the removal that recovered from the failures is the one info line.
    const level = (event: string) =>
      log.lines.filter((l) => l.includes(`"event":"${event}"`)).map((l) => JSON.parse(l).level);
    assertEquals(level("dns-01 TXT record added"), ["debug"]);
    assertEquals(level("dns-01 TXT record visible"), ["debug"]);
    assertEquals(level("dns-01 TXT record removed"), ["info"]);
  }, { onUpdateFailure: (f) => failures.push(f) });
});

Deno.test("dns solver: start() replays the journal of a crashed run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-dns-replay-" });
  try {
    const dns = new FakeDns({ zones: ["example.test"] });
    // First run: two records presented, then a "crash" (no cleanup, no close: the journal object is abandoned).
    const crashed = new DnsUpdateSolver(verification(), {
      journal: new DnsJournal(`${dir}/${JOURNAL_FILE}`),
      log: memoryLogger(),
      exchange: dns.exchange,
    });
    await crashed.present(task("a.example.test"));
    await crashed.present(task("b.example.test", true));
    assertEquals(dns.leftovers().length, 2);
    // A record of a verification that no longer exists is reported, not touched.
    const stray = new DnsJournal(`${dir}/${JOURNAL_FILE}`);
    await stray.add({
      verification: "gone",
      name: "_acme-challenge.z.example.test",
      value: "zz",
      zone: "example.test",
      addedAt: new Date().toISOString(),
    });
    dns.txt.set("_acme-challenge.z.example.test", ["zz"]);

    await withSolver(dns, {}, async ({ journal, log }) => {
      await eventually("replayed", () => journal.entries("dns").length === 0);
      assertEquals(dns.leftovers(), ["_acme-challenge.z.example.test=zz"]);
      assert(log.lines.some((l) => l.includes("journal replay")));
      assert(log.lines.some((l) => l.includes("no longer configured") && l.includes('"value":"zz"')));
    }, { dir, knownVerifications: new Set(["dns"]) });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dns solver: a solver dropped without close() is superseded by a new one in the same process; its records are replayed", async () => {
  const dns = new FakeDns({ zones: ["example.test"] });
  const dir = await Deno.makeTempDir({ prefix: "acmems-dns-abandoned-" });
  try {
    const journal = DnsJournal.inDirectory(dir);
    // First app: a record presented for an order, then the app is dropped (no cleanup, no close).
    const abandoned = new DnsUpdateSolver(verification(), { journal, log: memoryLogger(), exchange: dns.exchange });
    await abandoned.start();
    const t = task("a.example.test");
    await abandoned.present(t);
    assertEquals(dns.leftovers().length, 1);

    // Second app in the same process, same account directory (so the same journal) and the same settings.
    await withSolver(dns, {}, async ({ solver, journal, log }) => {
      // The entry is struck off just before the "removed" line is written: wait for both.
      const removedLines = () => log.lines.filter((l) => l.includes('"event":"dns-01 TXT record removed"'));
      await eventually("replayed", () => journal.entries().length === 0 && removedLines().length > 0);
      assertEquals(dns.leftovers(), []);
      const replay = log.lines.find((l) => l.includes("journal replay"));
      assert(replay?.includes('"fromUnclosedSolver":1'), replay);
      const removed = removedLines();
      assertEquals(removed.map((l) => JSON.parse(l).level), ["info"], "a recovery: one info line");
      assertEquals(journal.heldBy(abandoned), []);
      // The dropped solver no longer touches what it held: a late cleanup sends nothing.
      const sent = dns.log.length;
      await abandoned.cleanup(t);
      assertEquals(dns.log.length, sent);
      // The new solver works as usual.
      const next = task("b.example.test");
      await solver.present(next);
      await solver.cleanup(next);
      assertEquals(dns.leftovers(), []);
    }, { dir, journal });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dns solver: a record undeletable for 24 h is logged once at error level with name and value", async () => {
  const dns = new FakeDns({ zones: ["example.test"] });
  let now = Date.parse("2026-01-01T00:00:00Z");
  await withSolver(dns, {}, async ({ solver, log, journal }) => {
    const t = task("www.example.test");
    await solver.present(t);
    const { name, value } = journal.entries()[0];
    dns.down.add(PRIMARY.display);
    now += 23 * 3_600_000;
    await solver.cleanup(t);
    const errors = () => log.lines.filter((l) => l.includes('"level":"error"') && l.includes("after 24 h"));
    assertEquals(errors().length, 0);
    now += 2 * 3_600_000;
    await eventually("two more attempts", () => (journal.entries()[0]?.attempts ?? 0) >= 3);
    assertEquals(errors().length, 1, "once per record");
    assertStringIncludes(errors()[0], `"name":"${name}"`);
    assertStringIncludes(errors()[0], `"value":"${value}"`);
  }, { now: () => now });
});

Deno.test("dns solver: close() tries pending deletions once more and keeps the rest for the next start", async () => {
  const dns = new FakeDns({ zones: ["example.test"] });
  const dir = await Deno.makeTempDir({ prefix: "acmems-dns-close-" });
  try {
    const log = memoryLogger();
    const journal = new DnsJournal(`${dir}/${JOURNAL_FILE}`);
    const solver = new DnsUpdateSolver(verification(), {
      journal,
      log,
      exchange: dns.exchange,
      retryInitialMs: 60_000,
    });
    await solver.start();
    const a = task("a.example.test");
    const b = task("b.example.test");
    await solver.present(a);
    await solver.present(b);
    dns.down.add(PRIMARY.display);
    await solver.cleanup(a);
    await solver.cleanup(b);
    dns.down.delete(PRIMARY.display);
    await solver.close(); // the retries were a minute away: close() does them now
    assertEquals([dns.leftovers(), journal.entries()], [[], []]);

    const second = new DnsUpdateSolver(verification(), { journal, log, exchange: dns.exchange });
    await second.start();
    await second.present(task("c.example.test"));
    dns.down.add(PRIMARY.display);
    await second.close();
    assertEquals(journal.entries().length, 1, "kept for the next start");
    assert(log.lines.some((l) => l.includes("left for the next start")));
    await assertRejects(() => second.present(task("d.example.test")), /shutting down/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dns solver: after a reload the new solver leaves the old one's records alone, then adopts its leftovers", async () => {
  const dns = new FakeDns({ zones: ["example.test"] });
  const dir = await Deno.makeTempDir({ prefix: "acmems-dns-reload-" });
  try {
    const log = memoryLogger();
    // One journal per file in a process: both generations get the same instance.
    const journal = DnsJournal.inDirectory(dir, { log });
    assert(DnsJournal.inDirectory(`${dir}/.`) === journal, "shared per file");
    const options = { journal, log, exchange: dns.exchange, retryInitialMs: 20, retryMaxMs: 40 };
    const old = new DnsUpdateSolver(verification(), options);
    await old.start();
    const running = task("www.example.test");
    await old.present(running);

    // Reload with changed settings: a new solver for the same verification starts while the old order runs.
    const fresh = new DnsUpdateSolver(verification({ ttl: 120 }), options);
    await fresh.start();
    assertEquals(dns.leftovers().length, 1, "the running order's record is not replayed away");

    dns.down.add(PRIMARY.display);
    await old.cleanup(running);
    await old.close(); // cannot delete: hands the entry to the new solver
    assertEquals(journal.heldBy(fresh).length, 1);
    dns.down.delete(PRIMARY.display);
    await eventually("the new solver deletes it", () => journal.entries().length === 0);
    await fresh.close();
    assertEquals(dns.leftovers(), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
