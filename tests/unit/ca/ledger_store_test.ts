/**
 * The ledger store contract (src/ca/ledger_store.ts) on every medium: memory, files (one JSON file per owner, kept
 * across a restart) and PostgreSQL (a throwaway PostgreSQL 15, never skipped: shared by two instances, atomic
 * under concurrent takes).
 */
import { RateLimitLedger } from "../../../src/ca/ledger.ts";
import { memoryLedgerStore } from "../../../src/ca/ledger_book.ts";
import type { LedgerCheck, LedgerStore } from "../../../src/ca/ledger_store.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { fileLedgerStore, ledgerFileName } from "../../../src/storage/ledger_file.ts";
import { PostgresStorage } from "../../../src/storage/postgres/mod.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import { startPostgres } from "../../support/postgres.ts";

const RETAIN = 8 * 86_400_000;
const T0 = Date.parse("2026-12-07T10:00:00Z");

function check(key: string, max: number, overrides: Partial<LedgerCheck> = {}): LedgerCheck {
  return { owner: "ca:a", key, windowMs: 3_600_000, max, enforce: true, record: true, ...overrides };
}

/** The contract steps on one store; `reopen` gives a fresh store on the same medium (a restart). */
async function contract(open: () => LedgerStore, reopen: () => LedgerStore): Promise<void> {
  const store = open();
  // take: counts, then refuses the full one without recording anything.
  const first = await store.take([check("orders", 2), check("set|a", 5)], T0);
  assert(first.ok);
  assertEquals(first.events.length, 2);
  assert((await store.take([check("orders", 2)], T0 + 1000)).ok);
  const full = await store.take([check("set|a", 5), check("orders", 2)], T0 + 2000);
  assert(!full.ok);
  assertEquals(full.full, [{ index: 1, freeAt: T0 + 3_600_000, count: 2 }]);
  assertEquals((await store.count("ca:a", "set|", 3_600_000, T0 + 2000)).get("set|a"), 1, "nothing recorded");
  // Not enforced: counted even when full. Not recorded: checked only.
  assert((await store.take([check("orders", 2, { enforce: false })], T0 + 3000)).ok);
  assertEquals((await store.count("ca:a", "orders", 3_600_000, T0 + 3000)).get("orders"), 3);
  assert((await store.take([check("fa|x", 1, { record: false })], T0 + 3000)).ok);
  assertEquals((await store.count("ca:a", "fa|", 3_600_000, T0 + 3000)).size, 0);
  await store.record("ca:a", "fa|x", T0 + 3000);
  assert(!(await store.take([check("fa|x", 1, { record: false })], T0 + 4000)).ok);
  // release gives back exactly the events of a take.
  await store.release(first.events);
  assertEquals((await store.count("ca:a", "orders", 3_600_000, T0 + 4000)).get("orders"), 2);
  // The window slides: the event at T0 + 1000 leaves at T0 + 1000 + 1h.
  assertEquals((await store.count("ca:a", "orders", 3_600_000, T0 + 1000 + 3_600_000)).get("orders"), 1);
  // Pauses: the later one wins; ended ones are not reported.
  await store.pause("ca:a", "name|x", { until: T0 + 60_000, detail: "slow down", unpauseUrl: "https://u.example/" });
  await store.pause("ca:a", "name|x", { until: T0 + 30_000, detail: "earlier" });
  const pauses = await store.pauses("ca:a", ["name|x", "name|y"], T0 + 4000);
  assertEquals([...pauses], [["name|x", {
    until: T0 + 60_000,
    detail: "slow down",
    unpauseUrl: "https://u.example/",
  }]]);
  assertEquals((await store.pauses("ca:a", ["name|x"], T0 + 60_000)).size, 0);
  // Another owner is another budget.
  assert((await store.take([check("orders", 1, { owner: "block:office" })], T0 + 5000)).ok);
  assert(!(await store.take([check("orders", 1, { owner: "block:office" })], T0 + 5000)).ok);
  await store.close?.();

  // A restart keeps everything.
  const again = reopen();
  assertEquals((await again.count("ca:a", "orders", 3_600_000, T0 + 6000)).get("orders"), 2);
  assert(!(await again.take([check("orders", 2)], T0 + 6000)).ok);
  assertEquals((await again.pauses("ca:a", ["name|x"], T0 + 6000)).get("name|x")?.detail, "slow down");
  assert(!(await again.take([check("orders", 1, { owner: "block:office" })], T0 + 6000)).ok);
  await again.close?.();
}

Deno.test("ledger store: memory", async () => {
  const store = memoryLedgerStore(RETAIN);
  // Memory: "reopen" is the same store (nothing survives a restart, a reload keeps the store).
  await contract(() => store, () => store);
});

Deno.test("ledger store: files, one per owner, kept across a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-ledger-" });
  try {
    await contract(() => fileLedgerStore(dir, RETAIN), () => fileLedgerStore(dir, RETAIN));
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(files, [ledgerFileName("block:office"), ledgerFileName("ca:a")].sort());
    assertEquals(ledgerFileName("ca:a/../x"), "ca%3Aa%2F%2E%2E%2Fx.json");
    assertEquals((Deno.statSync(`${dir}/${ledgerFileName("ca:a")}`).mode ?? 0) & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ledger store: files prune events older than the retention and set a broken file aside", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-ledger-" });
  try {
    const store = fileLedgerStore(dir, 3_600_000);
    await store.record("ca:a", "fa|x", T0);
    await store.record("ca:a", "fa|x", T0 + 2 * 3_600_000);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/${ledgerFileName("ca:a")}`));
    assertEquals(json.events["fa|x"].length, 1, "the old event was pruned");
    await Deno.writeTextFile(`${dir}/${ledgerFileName("block:b")}`, "{not json");
    const broken: string[] = [];
    const next = fileLedgerStore(dir, 3_600_000, (path) => broken.push(path));
    assert((await next.take([check("orders", 1, { owner: "block:b" })], T0)).ok);
    assertEquals(broken.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ledger store: postgres, shared by instances, atomic under concurrent takes", async () => {
  const pg = await startPostgres();
  const storages: PostgresStorage[] = [];
  const storage = (schema: string) => {
    const s = new PostgresStorage({
      name: `pg${storages.length}`,
      url: pg.url,
      poolSize: 4,
      leaseMs: 30_000,
      schema,
      renewWithinDays: 14,
      renewActiveDays: 30,
      log: memoryLogger(),
    });
    storages.push(s);
    return s;
  };
  try {
    await contract(() => storage("ledger_a").ledgerStore(RETAIN), () => storage("ledger_a").ledgerStore(RETAIN));

    // Two instances, 40 concurrent admissions against limit-orders = 5/1h: exactly 5 admitted in total.
    const ledgers = [storage("ledger_b"), storage("ledger_b")].map((s) =>
      new RateLimitLedger({
        store: s.ledgerStore(RETAIN),
        cas: new Map([["a", { off: false, orders: { count: 5, windowSeconds: 3600, text: "5/1h" } }]]),
        blocks: new Map(),
        now: () => new Date(T0),
      })
    );
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => ledgers[i % 2].admit({ ca: "a", names: [`n${i}.example.org`] })),
    );
    assertEquals(results.filter((r) => r.ok).length, 5);
    const budget = await ledgers[1].budget();
    assertEquals(budget.find((l) => l.limit === "orders")?.remaining, 0);
  } finally {
    for (const s of storages) await s.close();
    await pg.stop();
  }
});
