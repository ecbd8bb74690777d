/**
 * The sweep and the PostgreSQL `claimDue` decide by the one renewal plan (src/renewal/plan.ts): entries at the
 * boundaries of every rule (due by days, by two thirds, by ARI; backoff; activity; another CA; expired) are
 * renewed, removed and refreshed exactly as `planRenewal` says — through the sweep on a file storage, through
 * `claimDue` on a real PostgreSQL, and through the sweep on that PostgreSQL (where `claimDue` hands out renewals).
 * Beside them, a due entry for a name the config does not admit (src/renewal/admission.ts) is renewed by neither
 * sweep, and the claim `claimDue` took on it is released at once.
 */
import type { Flights } from "../../../src/issuance/flights.ts";
import type { AriTracker } from "../../../src/issuance/ari.ts";
import type { FailureClassifier } from "../../../src/issuance/classify.ts";
import type { Coordinator } from "../../../src/issuance/coordinator.ts";
import { KeptResults } from "../../../src/issuance/results.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import type { ExpiringCheck } from "../../../src/renewal/expiring.ts";
import { type PlanInput, planRenewal } from "../../../src/renewal/plan.ts";
import { RenewalSweep } from "../../../src/renewal/sweep.ts";
import { FileStorage } from "../../../src/storage/file.ts";
import { type Claim, type Entry, isHeld, type Storage } from "../../../src/storage/mod.ts";
import { PostgresStorage } from "../../../src/storage/postgres/mod.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import { testEntry } from "../../support/entry.ts";
import { startPostgres } from "../../support/postgres.ts";
import { localAuth } from "../issuance/_request.ts";

const DAY = 86_400_000;
const HOUR = 3_600_000;
const DIR = "https://ca.test/dir";
// Ten minutes ahead of the real clock: entries are written (due times computed) before this `now`.
const NOW = new Date(Date.now() + 600_000);
const input: PlanInput = { now: NOW, directoryUrl: DIR, renewWithinDays: 14, renewActiveDays: 30 };
const iso = (ms: number) => new Date(NOW.getTime() + ms).toISOString();
/** A fresh ARI answer (no refresh due). */
const fresh = { certId: "aki.serial", retryAfter: iso(DAY), fetchedAt: iso(-HOUR) };

/** A 90-day certificate ending `notAfterIn` from now, fetched an hour ago, with a fresh ARI answer. */
function cert(notAfterIn: number, extra: Partial<Entry> = {}): Partial<Entry> {
  return {
    notBefore: iso(notAfterIn - 90 * DAY),
    issuedAt: iso(notAfterIn - 90 * DAY),
    notAfter: iso(notAfterIn),
    lastFetchedAt: iso(-HOUR),
    ari: fresh,
    ...extra,
  };
}

/** name → (entry fields, what the plan says with ARI checked, what it says first). */
const CASES: [string, Partial<Entry>, string, string?][] = [
  ["due by days, exactly now", cert(14 * DAY), "renew"],
  ["due by days in a minute", cert(14 * DAY + 60_000), "skip:not-due"],
  ["due by two thirds, exactly now", { ...cert(2 * DAY), notBefore: iso(-4 * DAY), issuedAt: iso(-4 * DAY) }, "renew"],
  [
    "due by two thirds in a day",
    { ...cert(3 * DAY), notBefore: iso(-3 * DAY), issuedAt: iso(-3 * DAY) },
    "skip:not-due",
  ],
  [
    "due by the ARI point",
    cert(60 * DAY, { ari: { ...fresh, window: { start: iso(-DAY), end: iso(DAY) }, chosen: iso(-HOUR) } }),
    "renew",
  ],
  [
    "ARI point in an hour",
    cert(60 * DAY, { ari: { ...fresh, window: { start: iso(-DAY), end: iso(DAY) }, chosen: iso(HOUR) } }),
    "skip:not-due",
  ],
  [
    "ARI window passed",
    cert(60 * DAY, { ari: { ...fresh, window: { start: iso(-2 * DAY), end: iso(-HOUR) } } }),
    "renew",
  ],
  [
    "backing off for a minute",
    cert(10 * DAY, { renewal: { failures: 1, nextAttemptAt: iso(60_000) } }),
    "skip:backing-off",
  ],
  ["backoff ends exactly now", cert(10 * DAY, { renewal: { failures: 2, nextAttemptAt: iso(0) } }), "renew"],
  ["fetched exactly 30 days ago", cert(10 * DAY, { lastFetchedAt: iso(-30 * DAY) }), "renew"],
  ["fetched 30 days and a minute ago", cert(10 * DAY, { lastFetchedAt: iso(-30 * DAY - 60_000) }), "skip:inactive"],
  ["another CA's, due", cert(10 * DAY, { directoryUrl: "https://other.ca/dir" }), "skip:other-ca"],
  ["expired 8 days ago, inactive", cert(-8 * DAY, { lastFetchedAt: iso(-60 * DAY) }), "remove"],
  ["expired 6 days ago, inactive", cert(-6 * DAY, { lastFetchedAt: iso(-60 * DAY) }), "skip:inactive"],
  ["expired yesterday, fetched lately", cert(-DAY), "renew"],
  ["due, stale ARI answer", cert(10 * DAY, { ari: { ...fresh, retryAfter: iso(-1) } }), "renew", "refresh-ari"],
];

const keyOf = (i: number) => (0x500 + i).toString(16).padStart(64, "0");
const KEYS = CASES.map((_, i) => keyOf(i));
const entries = CASES.map(([, fields], i) => testEntry(`chain-${i}`, KEYS[i], fields));
/** Due (the plan says renew), but for a name no auth block admits. */
const outside = testEntry("chain-outside", keyOf(98), cert(10 * DAY, { names: ["www.example.net"], block: "local" }));
const nameOf = (key: string) => key === outside.key ? "outside" : CASES[KEYS.indexOf(key)][0];

const label = (p: ReturnType<typeof planRenewal>) => p.action === "skip" ? `skip:${p.reason}` : p.action;
/** Names of the cases the plan (ARI checked) says `action` for. */
const planned = (action: string) =>
  CASES.filter((_, i) => planRenewal(entries[i], { ...input, ariChecked: true }).action === action).map((c) => c[0]);

Deno.test("plan agreement: the plan says what the table says", () => {
  for (const [i, [name, , checked, first]] of CASES.entries()) {
    assertEquals(label(planRenewal(entries[i], { ...input, ariChecked: true })), checked, name);
    assertEquals(label(planRenewal(entries[i], input)), first ?? checked, `${name} (first plan)`);
  }
});

async function write(storage: Storage, entry: Entry): Promise<void> {
  const claim = await storage.claim(entry.key, "writer", storage.leaseMs ?? 60_000);
  assert(!isHeld(claim));
  assert(await storage.put(claim, entry));
  await storage.release(claim);
}

/** A sweep whose collaborators only record what it does: renewals, ARI refreshes. */
function recordingSweep(storage: Storage) {
  const renewed: string[] = [];
  const refreshed: string[] = [];
  const coordinator = { running: () => undefined } as unknown as Coordinator;
  const flights = {
    directoryUrls: [DIR],
    endpointFor: (url: string) => url === DIR ? {} : undefined,
    anyAvailable: () => true,
    running: () => undefined,
    choices: () => Promise.resolve([]),
    start: async (_r: unknown, s: Storage, _c: unknown, _e: unknown, renewing: { key: string; claim?: Claim }) => {
      renewed.push(nameOf(renewing.key));
      if (renewing.claim) await s.release(renewing.claim);
      return { entry: entries[KEYS.indexOf(renewing.key)], ordered: true };
    },
  } as unknown as Flights;
  const ari = { refresh: (_s: Storage, key: string) => void refreshed.push(nameOf(key)) } as unknown as AriTracker;
  const sweep = new RenewalSweep({
    flights,
    directoryUrl: DIR,
    storages: new Map([[storage.name, storage]]),
    owner: "sweeper",
    auth: localAuth(storage.name),
    log: memoryLogger(),
    now: () => NOW,
    coordinator,
    ari,
    expiring: { check: () => Promise.resolve() } as unknown as ExpiringCheck,
    classifier: {} as FailureClassifier,
    kept: new KeptResults(() => NOW),
  });
  return { sweep, renewed, refreshed };
}

/** Runs one sweep over `storage` holding every case and checks it did what the plan says. */
async function sweepAgrees(storage: Storage): Promise<void> {
  for (const entry of entries) await write(storage, entry);
  await write(storage, outside);
  assertEquals(planRenewal(outside, { ...input, ariChecked: true }).action, "renew");
  const { sweep, renewed, refreshed } = recordingSweep(storage);
  const stats = await sweep.sweep();
  assertEquals(renewed.sort(), planned("renew").sort(), "renewed what the plan says renew for, and admitted");
  assertEquals(stats.renewed, renewed.length);
  assertEquals(stats.refused, 1, "the entry outside the config was refused");
  // Not held: claimed (by claimDue) and refused, it was released at once.
  const claim = await storage.claim(outside.key, "other", 5_000);
  assert(!isHeld(claim), "the refused entry was left claimed");
  await storage.release(claim);
  assertEquals((await storage.get(outside.key))?.chain, outside.chain, "left as it was");
  assertEquals(refreshed, CASES.filter((c) => c[3] === "refresh-ari").map((c) => c[0]), "ARI refreshed");
  const left = new Set(await storage.keys());
  const removed = KEYS.filter((k) => !left.has(k)).map(nameOf);
  assertEquals(removed, planned("remove"), "removed what the plan says remove for");
  assertEquals(stats.removed, removed.length);
}

Deno.test("plan agreement: the sweep over a file storage carries out the plan", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-plan-" });
  const storage = new FileStorage({
    name: "file",
    directory: dir,
    renewWithinDays: 14,
    renewActiveDays: 30,
    log: memoryLogger(),
  });
  try {
    await storage.init();
    await sweepAgrees(storage);
  } finally {
    await storage.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("plan agreement: postgres claimDue claims exactly what the plan says renew for", async (t) => {
  const pg = await startPostgres();
  let schemas = 0;
  const open = (renewWithinDays = 14) =>
    new PostgresStorage({
      name: "pg",
      url: pg.url,
      poolSize: 2,
      leaseMs: 5_000,
      schema: `plan_${schemas}`,
      renewWithinDays,
      renewActiveDays: 30,
      log: memoryLogger(),
      applicationName: "acmems-plan",
      pollMs: 100,
      queryTimeoutMs: 5_000,
    });
  try {
    await t.step("claimDue", async () => {
      schemas++;
      const a = open(), b = open();
      try {
        await Promise.all([a.start(), b.start()]);
        for (const entry of entries) await write(a, entry);
        const claimed = await a.claimDue("a", 5_000, NOW, 100, { directoryUrl: DIR });
        assertEquals(claimed.map((c) => nameOf(c.claim.key)).sort(), planned("renew").sort());
        for (const { claim, entry } of claimed) assertEquals(entry.key, claim.key);
        assertEquals(await b.claimDue("b", 5_000, NOW, 100, { directoryUrl: DIR }), [], "nothing left for b");
        // Every row the plan turned down was left unclaimed: another instance takes its claim at once.
        const taken = new Set(claimed.map((c) => c.claim.key));
        for (const key of KEYS.filter((k) => !taken.has(k))) {
          const claim = await b.claim(key, "b", 5_000);
          assert(!isHeld(claim), `${nameOf(key)} was left claimed`);
          await b.release(claim);
        }
        // Excluded keys are left alone; one at a time, each due entry once.
        for (const { claim } of claimed) await a.release(claim);
        const one = await b.claimDue("b", 5_000, NOW, 1, { directoryUrl: DIR, exclude: [...taken].slice(1) });
        assertEquals(one.map((c) => c.claim.key), [[...taken][0]]);
        await b.release(one[0].claim);
      } finally {
        await a.close();
        await b.close();
      }
    });

    await t.step("claimDue applies a changed renew-within at once", async () => {
      schemas++;
      const a = open(14);
      const later = open(30);
      try {
        await Promise.all([a.start(), later.start()]);
        const entry = testEntry("chain-rw", keyOf(99), cert(20 * DAY));
        await write(a, entry); // due_at written with renew-within 14: in 6 days
        assertEquals(await a.claimDue("a", 5_000, NOW, 10, { directoryUrl: DIR }), []);
        const claimed = await later.claimDue("later", 5_000, NOW, 10, { directoryUrl: DIR });
        assertEquals(claimed.map((c) => c.claim.key), [entry.key]);
        await later.release(claimed[0].claim);
      } finally {
        await a.close();
        await later.close();
      }
    });

    await t.step("the sweep over postgres carries out the plan (renewals through claimDue)", async () => {
      schemas++;
      const a = open();
      try {
        await a.start();
        await sweepAgrees(a);
      } finally {
        await a.close();
      }
    });
  } finally {
    await pg.stop();
  }
});
