/**
 * The storage contract (the ports in src/storage/port.ts), one suite run against every storage that keeps data:
 * `file` and `postgres` (a throwaway PostgreSQL 15 started by tests/support/postgres.ts; it is never skipped).
 *
 * Each step opens fresh storage "instances" on one fresh store (file: two FileStorage objects on one directory,
 * whose OS locks conflict like two processes'; postgres: several PostgresStorage pools on one new schema), so the
 * steps check what one instance sees of another's claims, writes, challenges and notifications. Backends differ
 * only where the contract lets them: leases (postgres) versus OS locks (file), recorded order URLs, notifications
 * and `claimDue`.
 */
import { memoryLogger } from "../../../src/ops/log.ts";
import { FileStorage } from "../../../src/storage/file.ts";
import {
  type Change,
  type Claim,
  type Entry,
  isHeld,
  type Storage,
  StorageUnavailableError,
} from "../../../src/storage/mod.ts";
import { PostgresStorage } from "../../../src/storage/postgres/mod.ts";
import { SCHEMA_VERSION } from "../../../src/storage/postgres/migrations.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../../support/assert.ts";
import { testEntry } from "../../support/entry.ts";
import { type Postgres, startPostgres } from "../../support/postgres.ts";

const DAY_MS = 86_400_000;
const APP = "acmems-contract";
const CRASH_HOLDER = new URL("../../support/storage_crash_holder.ts", import.meta.url).pathname;

function keyOf(n: number): string {
  return n.toString(16).padStart(64, "0");
}

const KEY = keyOf(0xabc);

function entry(chain: string, key = KEY, overrides: Partial<Entry> = {}): Entry {
  return testEntry(chain, key, overrides);
}

/** What a crash holder subprocess needs to open the same store. */
type HolderSpec = { kind: "file"; directory: string } | {
  kind: "postgres";
  url: string;
  schema: string;
  leaseMs: number;
};

interface Opened {
  storages: Storage[];
  spec: HolderSpec;
  /** Corrupts the stored entry of `key` (postgres: invalid JSON shape; file: not JSON). */
  corrupt(key: string): Promise<void>;
  close(): Promise<void>;
}

interface Backend {
  name: string;
  /** Claims end by a lease on the store's clock (else: when the holder's process dies). */
  leases: boolean;
  /** A successor sees the order URL a dead holder recorded. */
  resumesOrders: boolean;
  /** `changes` reports other instances' writes. */
  notifies: boolean;
  /** Opens `count` instances on one fresh store. */
  open(count: number): Promise<Opened>;
}

function fileBackend(): Backend {
  return {
    name: "file",
    leases: false,
    resumesOrders: false,
    notifies: false,
    async open(count) {
      const dir = await Deno.makeTempDir({ prefix: "acmems-contract-" });
      const storages = Array.from({ length: count }, () =>
        new FileStorage({
          name: "file",
          directory: `${dir}/cache`,
          renewWithinDays: 14,
          renewActiveDays: 30,
          log: memoryLogger(),
          pollMs: 20,
        }));
      for (const s of storages) await s.init();
      return {
        storages,
        spec: { kind: "file", directory: `${dir}/cache` },
        corrupt: (key) => Deno.writeTextFile(`${dir}/cache/${key}.json`, "{torn"),
        close: async () => {
          for (const s of storages) await s.close();
          await Deno.remove(dir, { recursive: true });
        },
      };
    },
  };
}

const LEASE_MS = 1_000;

function postgresBackend(pg: Postgres): Backend {
  let schemas = 0;
  return {
    name: "postgres",
    leases: true,
    resumesOrders: true,
    notifies: true,
    async open(count) {
      const schema = `contract_${++schemas}`;
      const storages = Array.from({ length: count }, (_, i) =>
        new PostgresStorage({
          name: `pg${i}`,
          url: pg.url,
          poolSize: 3,
          leaseMs: LEASE_MS,
          schema,
          renewWithinDays: 14,
          renewActiveDays: 30,
          log: memoryLogger(),
          applicationName: APP,
          pollMs: 100,
          queryTimeoutMs: 3_000,
        }));
      await Promise.all(storages.map((s) => s.start()));
      return {
        storages,
        spec: { kind: "postgres", url: pg.url, schema, leaseMs: LEASE_MS },
        corrupt: async (key) => {
          await pg.query(`update ${schema}.entries set entry = '{"version": 2}' where cache_key = '${key}'`);
        },
        close: async () => {
          for (const s of storages) await s.close();
        },
      };
    },
  };
}

async function claimOf(storage: Storage, key = KEY, owner = "test"): Promise<Claim> {
  const claim = await storage.claim(key, owner, storage.leaseMs ?? 60_000);
  assert(!isHeld(claim), `expected to get the claim of ${key.slice(-4)}, held by ${isHeld(claim) && claim.heldBy}`);
  return claim;
}

async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs the crash holder subprocess: it claims, records `orderUrl` and dies by SIGKILL. Returns its fence. */
async function crashHolder(spec: HolderSpec, key: string, orderUrl: string): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CRASH_HOLDER, JSON.stringify({ ...spec, key, orderUrl })],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assertEquals(out.signal, "SIGKILL", `crash holder: ${text} ${new TextDecoder().decode(out.stderr)}`);
  const match = text.match(/claimed (\d+)/);
  assert(match, `crash holder output: ${text}`);
  return Number(match[1]);
}

async function runContract(t: Deno.TestContext, backend: Backend): Promise<void> {
  const step = (name: string, count: number, fn: (s: Storage[], opened: Opened) => Promise<void>) =>
    t.step(`${backend.name}: ${name}`, async () => {
      const opened = await backend.open(count);
      try {
        await fn(opened.storages, opened);
      } finally {
        await opened.close();
      }
    });

  await step("missing entry is null; put/get round trip; keys(); another instance reads it", 2, async ([a, b]) => {
    assertEquals(await a.get(KEY), null);
    const claim = await claimOf(a);
    assert(await a.put(claim, entry("chain-1")));
    await a.release(claim);
    assertEquals((await a.get(KEY))?.chain, "chain-1");
    assertEquals((await b.get(KEY))?.chain, "chain-1");
    assertEquals(await b.keys(), [KEY]);
    // A claim without a put leaves no entry behind.
    const other = await claimOf(b, keyOf(2));
    await b.release(other);
    assertEquals(await a.get(keyOf(2)), null);
    assertEquals(await a.keys(), [KEY]);
  });

  await step("claim/put/release state machine: held, fences increase, stale writes are refused", 2, async ([a, b]) => {
    const first = await claimOf(a, KEY, "a");
    assertEquals(typeof first.fence, "number");
    const held = await b.claim(KEY, "b", b.leaseMs ?? 60_000);
    assert(isHeld(held), "a second instance finds the claim held");
    assertEquals(typeof held.heldBy, "string");
    assert(await a.extend(first, a.leaseMs ?? 60_000), "the holder can extend");
    assert(await a.noteOrder(first, "https://ca.test/order/1"));
    await a.release(first);
    await a.release(first); // idempotent

    const second = await claimOf(b, KEY, "b");
    assert(second.fence > first.fence, `fence ${second.fence} after ${first.fence}`);
    assertEquals(await a.put(first, entry("stale")), false, "a released claim cannot write");
    assertEquals(await a.noteOrder(first, "https://ca.test/order/stale"), false);
    await a.release(first); // a stale release does not free the current holder
    assert(isHeld(await a.claim(KEY, "a", a.leaseMs ?? 60_000)), "still held by b");
    assert(await b.put(second, entry("fresh")));
    await b.release(second);
    assertEquals((await a.get(KEY))?.chain, "fresh");

    const fences = [first.fence, second.fence];
    for (let i = 0; i < 3; i++) {
      const c = await claimOf(i % 2 ? a : b);
      fences.push(c.fence);
      await (i % 2 ? a : b).release(c);
    }
    for (let i = 1; i < fences.length; i++) assert(fences[i] > fences[i - 1], `fences ${fences}`);
  });

  await step("waitForRelease returns once the holder releases, or when the signal aborts", 2, async ([a, b]) => {
    const claim = await claimOf(a);
    let released = false;
    const waiting = b.waitForRelease(KEY, new AbortController().signal).then(() => assert(released));
    await new Promise((r) => setTimeout(r, 100));
    released = true;
    const at = performance.now();
    await a.release(claim);
    await waiting;
    assert(performance.now() - at < 1_000, "woken promptly");

    const again = await claimOf(a);
    const controller = new AbortController();
    const aborted = b.waitForRelease(KEY, controller.signal);
    controller.abort();
    await aborted;
    await a.release(again);
  });

  await step("a holder that dies (SIGKILL) leaves the last entry; its claim ends", 2, async ([a, b], opened) => {
    const claim = await claimOf(a);
    assert(await a.put(claim, entry("before-crash")));
    await a.release(claim);
    const orderUrl = "https://ca.test/order/dead";
    const died = await crashHolder(opened.spec, KEY, orderUrl);
    assert(died > claim.fence);
    if (backend.leases) {
      // Held until the lease runs out on the database clock, then taken over with the next fence.
      assert(isHeld(await b.claim(KEY, "b", b.leaseMs!)), "held while the dead holder's lease runs");
      const started = performance.now();
      await b.waitForRelease(KEY, AbortSignal.timeout(5_000));
      assert(performance.now() - started < LEASE_MS + 500, "waitForRelease ends with the lease");
    }
    const next = await claimOf(b);
    assert(next.fence > died, `fence ${next.fence} after the dead holder's ${died}`);
    if (backend.resumesOrders) assertEquals(next.orderUrl, orderUrl, "the successor sees the recorded order");
    assertEquals((await b.get(KEY))?.chain, "before-crash", "the entry is the last complete one");
    assert(await b.put(next, entry("after-crash")));
    await b.release(next);
    assertEquals((await a.get(KEY))?.chain, "after-crash");
    // The order URL belongs to the unfinished order only.
    const later = await claimOf(a);
    assertEquals(later.orderUrl, undefined);
    await a.release(later);
  });

  if (backend.leases) {
    await step("lease: local deadline before expiry; takeover fences the old holder out", 2, async ([a, b]) => {
      const sent = performance.now();
      const old = await claimOf(a, KEY, "a");
      assert(old.deadline > sent && old.deadline < sent + LEASE_MS, `deadline ${old.deadline - sent} ms`);
      assert(await a.noteOrder(old, "https://ca.test/order/slow"));
      assert(isHeld(await b.claim(KEY, "b", LEASE_MS)));
      await new Promise((r) => setTimeout(r, LEASE_MS + 100));
      const taken = await claimOf(b, KEY, "b");
      assertEquals(taken.fence, old.fence + 1);
      assertEquals(taken.orderUrl, "https://ca.test/order/slow");
      assertEquals(await a.extend(old, LEASE_MS), false, "extend after takeover: lost");
      assertEquals(await a.put(old, entry("late")), false, "the late write is fenced out");
      assertEquals(await a.noteOrder(old, "https://ca.test/order/late"), false);
      await a.remove(old);
      await a.release(old);
      assert(await b.put(taken, entry("winner")));
      await b.release(taken);
      assertEquals((await a.get(KEY))?.chain, "winner");

      // extend moves the deadline.
      const c = await claimOf(a);
      const before = c.deadline;
      await new Promise((r) => setTimeout(r, 50));
      assert(await a.extend(c, LEASE_MS));
      assert(c.deadline > before, "extend moved the deadline");
      await a.release(c);
    });
  }

  await step("remove is fence-checked; touch records the last fetch; corrupt entries read as a miss", 2, async (
    [a, b],
    opened,
  ) => {
    const claim = await claimOf(a);
    assert(await a.put(claim, entry("to-remove")));
    await a.release(claim);
    const later = new Date(Date.now() + DAY_MS);
    await b.touch(KEY, later);
    const seen = Date.parse((await a.get(KEY))!.lastFetchedAt);
    assert(Math.abs(seen - later.getTime()) < 1000, `lastFetchedAt ${new Date(seen).toISOString()}`);

    const c = await claimOf(a);
    await b.remove({ ...c, fence: c.fence - 1 }); // stale: nothing happens
    assertEquals((await a.get(KEY))?.chain, "to-remove");
    await a.remove(c);
    await a.release(c);
    assertEquals(await b.get(KEY), null);
    assertEquals(await b.keys(), []);

    const k = keyOf(7);
    const d = await claimOf(a, k);
    assert(await a.put(d, entry("x", k)));
    await a.release(d);
    await opened.corrupt(k);
    assertEquals(await b.get(k), null);
  });

  await step("challenges: written by one instance, answered by another, deleted everywhere", 2, async ([a, b]) => {
    const challenge = {
      token: "tok_1-A",
      keyAuthorization: "tok_1-A.thumb",
      host: "www.example.test",
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    };
    await a.putChallenge(challenge);
    assertEquals(await b.getChallenge("tok_1-A"), challenge);
    assertEquals(await b.getChallenge("../../etc/passwd"), null);
    assertEquals(await b.getChallenge("unknown"), null);
    await a.deleteChallenge("tok_1-A");
    await eventually(async () => (await b.getChallenge("tok_1-A")) === null, "deleted on the other instance");
    assertEquals(await a.getChallenge("tok_1-A"), null);
  });

  await step("compromised keys: recorded once by one instance, listed by another", 2, async ([a, b]) => {
    assertEquals(await b.compromisedKeys(), []);
    await a.recordCompromisedKey(keyOf(1), new Date());
    await a.recordCompromisedKey(keyOf(1), new Date());
    await b.recordCompromisedKey(keyOf(2), new Date());
    assertEquals((await a.compromisedKeys()).sort(), [keyOf(1), keyOf(2)]);
    assertEquals((await b.compromisedKeys()).sort(), [keyOf(1), keyOf(2)]);
  });

  await step("change feed: hints about other instances' writes; ends when aborted", 2, async ([a, b]) => {
    const controller = new AbortController();
    const seen: Change[] = [];
    const reading = (async () => {
      for await (const change of b.changes(controller.signal)) seen.push(change);
    })();
    const claim = await claimOf(a);
    assert(await a.put(claim, entry("notified")));
    await a.release(claim);
    await a.putChallenge({
      token: "tok_2",
      keyAuthorization: "tok_2.thumb",
      host: "a.example.test",
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    });
    if (backend.notifies) {
      await eventually(() => seen.some((c) => c.kind === "entry" && c.key === KEY), "an entry change");
      await eventually(() => seen.some((c) => c.kind === "challenge" && c.key === "tok_2"), "a challenge change");
    }
    controller.abort();
    await reading;
  });
}

Deno.test("storage contract: file", async (t) => {
  await runContract(t, fileBackend());
});

Deno.test("storage contract: postgres", async (t) => {
  const pg = await startPostgres();
  try {
    const backend = postgresBackend(pg);
    await runContract(t, backend);

    await t.step("postgres: claimDue hands each due entry to exactly one of three instances", async () => {
      const opened = await backend.open(3);
      try {
        const [a, b, c] = opened.storages as PostgresStorage[];
        const now = new Date();
        const old = new Date(now.getTime() - 80 * DAY_MS).toISOString();
        const soon = new Date(now.getTime() + 5 * DAY_MS).toISOString();
        const due = Array.from({ length: 12 }, (_, i) => keyOf(100 + i));
        const writes: [string, Partial<Entry>][] = [
          ...due.map((k): [string, Partial<Entry>] => [k, { notBefore: old, notAfter: soon }]),
          [keyOf(200), {}], // not due
          [keyOf(201), { notBefore: old, notAfter: soon, lastFetchedAt: old }], // not fetched lately
          [keyOf(202), {
            notBefore: old,
            notAfter: soon,
            renewal: { failures: 1, nextAttemptAt: new Date(now.getTime() + 3_600_000).toISOString() },
          }], // backing off
        ];
        for (const [k, overrides] of writes) {
          const claim = await claimOf(a, k);
          assert(await a.put(claim, entry(`chain-${k.slice(-3)}`, k, overrides)));
          await a.release(claim);
        }
        const got = new Map<string, string>();
        await Promise.all([a, b, c].map(async (s, i) => {
          while (true) {
            const batch = await s.claimDue(`i${i}`, 5_000, now, 2);
            if (batch.length === 0) return;
            await new Promise((r) => setTimeout(r, 20)); // the renewal's work
            for (const { claim, entry } of batch) {
              assert(!got.has(claim.key), `${claim.key.slice(-3)} handed out twice`);
              got.set(claim.key, `i${i}`);
              assertEquals(entry.key, claim.key);
              // Renewed: not due any more.
              assert(await s.put(claim, { ...entry, notBefore: now.toISOString() }));
              await s.release(claim);
            }
          }
        }));
        assertEquals([...got.keys()].sort(), due.sort());
        assert(new Set(got.values()).size >= 2, `work was split: ${[...new Set(got.values())]}`);
      } finally {
        await opened.close();
      }
    });

    await t.step("postgres: prune deletes old claims without a certificate, nothing else", async () => {
      const opened = await backend.open(1);
      try {
        const [a] = opened.storages as PostgresStorage[];
        const failed = keyOf(300); // an order that failed: a claim row without an entry
        const cached = keyOf(301);
        const held = keyOf(302);
        await a.release(await claimOf(a, failed));
        const claim = await claimOf(a, cached);
        assert(await a.put(claim, entry("chain-301", cached)));
        await a.release(claim);
        const holding = await claimOf(a, held);
        assertEquals(await a.prune(), 0, "young rows are kept");
        await new Promise((r) => setTimeout(r, 50));
        assertEquals(await a.prune(10), 1, "only the released claim without a certificate goes");
        assert(await a.get(cached), "the cached entry stays");
        assert(await a.put(holding, entry("chain-302", held)), "a held claim keeps its fence");
        await a.release(holding);
        // A new claim after the prune starts afresh and works.
        const again = await claimOf(a, failed);
        assert(await a.put(again, entry("chain-300", failed)));
        await a.release(again);
        assertEquals((await a.get(failed))?.chain, "chain-300");
      } finally {
        await opened.close();
      }
    });

    await t.step("postgres: migrations are versioned, run once under concurrency, refuse a newer schema", async () => {
      const make = (schema: string) =>
        new PostgresStorage({
          name: "m",
          url: pg.url,
          poolSize: 2,
          leaseMs: LEASE_MS,
          schema,
          renewWithinDays: 14,
          renewActiveDays: 30,
          log: memoryLogger(),
          applicationName: APP,
        });
      const fresh = Array.from({ length: 4 }, () => make("migrations_race"));
      try {
        await Promise.all(fresh.map((s) => s.start()));
        for (const s of fresh) assertEquals(await s.problem(), "");
        const rows = await pg.query("select version from migrations_race.schema_migrations order by version");
        assertEquals(rows.map((r) => Number(r.version)), Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
        await pg.query(`insert into migrations_race.schema_migrations (version, name) values (99, 'future')`);
        const newer = make("migrations_race");
        try {
          await newer.start();
          assertMatch(await newer.problem(), /version 99, newer than this acmems knows/);
          await assertRejects(() => newer.claim(KEY, "x", LEASE_MS), /newer than this acmems/);
        } finally {
          await newer.close();
        }
      } finally {
        for (const s of fresh) await s.close();
      }
    });

    await t.step(
      "postgres: database down: 503-type errors, stale reads from memory, /ready reason, recovery",
      async () => {
        const opened = await backend.open(2);
        try {
          const [a, b] = opened.storages as PostgresStorage[];
          const claim = await claimOf(a);
          assert(await a.put(claim, entry("remembered")));
          await a.release(claim);
          assertEquals((await b.get(KEY))?.chain, "remembered");
          await b.putChallenge({
            token: "tok_down",
            keyAuthorization: "tok_down.t",
            host: "d.example.test",
            expiresAt: new Date(Date.now() + 60_000).toISOString(),
          });
          await eventually(async () => (await a.getChallenge("tok_down")) !== null, "challenge known to a");
          assertEquals(await b.problem(), "");

          await pg.kill("fast");
          // a notices the outage too: its LISTEN connection closed (or one of its poll's statements failed).
          await eventually(() => !a.listening, "a's LISTEN ended with the database", 3_000);
          const down = await assertRejects(() => b.claim(KEY, "b", LEASE_MS), /is unreachable/);
          assert(down instanceof StorageUnavailableError, `${down.name}: ${down.message}`);
          assertEquals((await b.get(KEY))?.chain, "remembered", "stale-if-error: the entry b read before");
          assertEquals(await b.get(keyOf(3)), null, "a miss is a miss");
          assertMatch(await b.problem(), /storage "pg1": database unreachable/);
          assertEquals((await a.getChallenge("tok_down"))?.keyAuthorization, "tok_down.t", "from memory");

          // An instance that starts during the outage starts anyway and catches up when the database is back.
          const late = new PostgresStorage({
            name: "late",
            url: opened.spec.kind === "postgres" ? opened.spec.url : "",
            poolSize: 2,
            leaseMs: LEASE_MS,
            schema: opened.spec.kind === "postgres" ? opened.spec.schema : "",
            renewWithinDays: 14,
            renewActiveDays: 30,
            log: memoryLogger(),
            applicationName: APP,
            pollMs: 100,
          });
          try {
            await late.start();
            assertMatch(await late.problem(), /database unreachable/);
            assert(!late.listening);

            await pg.restart();
            await eventually(async () => (await b.problem()) === "", "b sees the database again", 10_000);
            await eventually(() => a.listening && b.listening && late.listening, "LISTEN re-established", 10_000);
            assertEquals((await late.getChallenge("tok_down"))?.host, "d.example.test");
          } finally {
            await late.close();
          }
          const after = await claimOf(b);
          assert(after.fence > claim.fence);
          // Notifications flow again after the restart.
          const controller = new AbortController();
          const seen: Change[] = [];
          const reading = (async () => {
            for await (const change of a.changes(controller.signal)) seen.push(change);
          })();
          assert(await b.put(after, entry("after-restart")));
          await b.release(after);
          await eventually(() => seen.some((c) => c.key === KEY), "a notification after the restart", 10_000);
          controller.abort();
          await reading;
        } finally {
          await opened.close();
        }
      },
    );

    // Backends exit a moment after their client hung up: wait for that, not for a leak.
    await eventually(async () => (await pg.connections(APP)) === 0, "every contract connection closed", 3_000).catch(
      async (e) => {
        console.log(
          await pg.query(
            `select pid, state, query, backend_start, state_change from pg_stat_activity where application_name = '${APP}'`,
          ),
        );
        throw e;
      },
    );
  } finally {
    await pg.stop();
  }
});
