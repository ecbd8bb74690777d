/**
 * The dns-01 cleanup journal: written before a record is added, struck off after it is deleted, read back after a
 * crash (a new instance on the same file, the old one dropped without any shutdown).
 */
import { assert, assertEquals, assertRejects } from "../../../support/assert.ts";
import { DnsJournal, JOURNAL_FILE, JournalError } from "../../../../src/challenges/dns01/journal.ts";
import { memoryLogger } from "../../../../src/ops/log.ts";

const ADDED = "2026-01-02T03:04:05.000Z";

function record(name: string, value: string, verification = "dns") {
  return { verification, name, value, zone: "example.test", addedAt: ADDED };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-journal-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function onDisk(dir: string) {
  return JSON.parse(await Deno.readTextFile(`${dir}/${JOURNAL_FILE}`));
}

Deno.test("dns journal: add is on disk (0600) when it returns; strike removes exactly that entry", async () => {
  await withDir(async (dir) => {
    const journal = DnsJournal.inDirectory(dir);
    const a = await journal.add(record("_acme-challenge.a.example.test", "va"));
    const b = await journal.add({ ...record("_acme-challenge.b.example.test", "vb"), owner: "_acme-challenge.b.x" });
    const file = await onDisk(dir);
    assertEquals(file.version, 1);
    assertEquals(file.records.map((r: { name: string; value: string; attempts: number }) => [r.value, r.attempts]), [
      ["va", 0],
      ["vb", 0],
    ]);
    assertEquals(file.records[1].owner, "_acme-challenge.b.x");
    assertEquals((await Deno.stat(`${dir}/${JOURNAL_FILE}`)).mode! & 0o777, 0o600);

    await journal.strike(a.id);
    assertEquals((await onDisk(dir)).records.map((r: { id: string }) => r.id), [b.id]);
    await journal.strike(a.id); // unknown now: ignored
    assertEquals(journal.entries().map((e) => e.id), [b.id]);
  });
});

Deno.test("dns journal: after a simulated crash a new instance reads every entry not struck off", async () => {
  await withDir(async (dir) => {
    const before = new DnsJournal(`${dir}/${JOURNAL_FILE}`);
    const kept = await before.add(record("_acme-challenge.a.example.test", "va"));
    const gone = await before.add(record("_acme-challenge.b.example.test", "vb"));
    const other = await before.add(record("_acme-challenge.c.example.test", "vc", "other"));
    await before.strike(gone.id);
    await before.note(kept.id, { attempts: 3, lastError: "timed out", lastAttemptAt: ADDED });
    // "Crash": `before` is dropped without any close; a fresh process opens the file.
    const after = new DnsJournal(`${dir}/${JOURNAL_FILE}`);
    await after.load();
    assertEquals(after.entries("dns").map((e) => [e.id, e.name, e.value, e.attempts, e.lastError]), [
      [kept.id, "_acme-challenge.a.example.test", "va", 3, "timed out"],
    ]);
    assertEquals(after.entries("other").map((e) => e.id), [other.id]);
    assertEquals(after.entries().length, 2);
  });
});

Deno.test("dns journal: concurrent changes are serialized; the file holds the final state", async () => {
  await withDir(async (dir) => {
    const journal = DnsJournal.inDirectory(dir);
    const added = await Promise.all(
      Array.from({ length: 20 }, (_, i) => journal.add(record(`_acme-challenge.n${i}.example.test`, `v${i}`))),
    );
    await Promise.all(added.filter((_, i) => i % 2 === 0).map((e) => journal.strike(e.id)));
    const values = (await onDisk(dir)).records.map((r: { value: string }) => r.value).sort();
    assertEquals(values, added.filter((_, i) => i % 2 === 1).map((e) => e.value).sort());
    const leftovers = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== JOURNAL_FILE);
    assertEquals(leftovers, [], "no temporary files left");
  });
});

Deno.test("dns journal: a missing directory is created; a missing file is an empty journal", async () => {
  await withDir(async (dir) => {
    const journal = DnsJournal.inDirectory(`${dir}/account/nested`);
    await journal.load();
    assertEquals(journal.entries(), []);
    await journal.add(record("_acme-challenge.a.example.test", "va"));
    assertEquals((await Deno.stat(`${dir}/account/nested/${JOURNAL_FILE}`)).isFile, true);
  });
});

Deno.test("dns journal: an unparsable file is moved aside and logged, not overwritten", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/${JOURNAL_FILE}`, '{"version": 1, "records": [');
    const log = memoryLogger();
    const journal = DnsJournal.inDirectory(dir, { log });
    await journal.load();
    assertEquals(journal.entries(), []);
    const aside = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith(`${JOURNAL_FILE}.corrupt-`));
    assertEquals(aside.length, 1);
    assertEquals(await Deno.readTextFile(`${dir}/${aside[0]}`), '{"version": 1, "records": [');
    assert(log.lines.some((l) => l.includes('"level":"error"') && l.includes("moved aside")), log.lines.join("\n"));
  });
});

Deno.test("dns journal: entries missing fields are skipped with an error line", async () => {
  await withDir(async (dir) => {
    const good = { ...record("_acme-challenge.a.example.test", "va"), id: "1", attempts: 0 };
    await Deno.writeTextFile(`${dir}/${JOURNAL_FILE}`, JSON.stringify({ version: 1, records: [good, { id: "2" }] }));
    const log = memoryLogger();
    const journal = DnsJournal.inDirectory(dir, { log });
    await journal.load();
    assertEquals(journal.entries().map((e) => e.id), ["1"]);
    assert(log.lines.some((l) => l.includes("lacks fields")));
  });
});

Deno.test("dns journal: when the file cannot be written, add fails and keeps nothing in memory", async () => {
  await withDir(async (dir) => {
    // A directory where the journal file should be: every write fails, whatever the user (root too).
    await Deno.mkdir(`${dir}/${JOURNAL_FILE}`);
    await Deno.writeTextFile(`${dir}/${JOURNAL_FILE}/x`, "");
    const journal = DnsJournal.inDirectory(dir);
    const error = await assertRejects(() => journal.add(record("_acme-challenge.a.example.test", "va")));
    assert(error instanceof JournalError, String(error));
    assert(error.message.includes(`${dir}/${JOURNAL_FILE}`), error.message);
    assertEquals(journal.entries(), []);
  });
});

Deno.test("dns journal: entries are held by their solver; claim takes only unheld ones; release hands over", async () => {
  await withDir(async (dir) => {
    const journal = new DnsJournal(`${dir}/${JOURNAL_FILE}`);
    const adopted: string[][] = [];
    const holder = (name: string, accept = true) => ({
      verification: { name },
      adopt: (entries: { id: string }[]) => (accept && adopted.push(entries.map((e) => e.id)), accept),
    });
    const a = holder("dns");
    const held = await journal.add(record("_acme-challenge.a.example.test", "va"), a);
    const loose = await journal.add(record("_acme-challenge.b.example.test", "vb"));
    await journal.add(record("_acme-challenge.c.example.test", "vc", "other"));

    const b = holder("dns");
    journal.register(b);
    assertEquals(journal.claim(b).map((e) => e.id), [loose.id], "not the entry `a` holds, not another verification");
    assertEquals(journal.claim(holder("dns")), [], "claimed once");

    // `a` closes with its entry undeleted: the live solver of the same verification takes it.
    assertEquals(journal.release(a), []);
    assertEquals(adopted, [[held.id]]);
    assertEquals(journal.heldBy(b).map((e) => e.id).sort(), [held.id, loose.id].sort());

    // With nobody to take them, released entries stay for the next start.
    assertEquals(journal.release(b).map((e) => e.id).sort(), [held.id, loose.id].sort());
    assertEquals(journal.claim(holder("dns")).length, 2);
  });
});

Deno.test("dns journal: a holder never released is superseded by one with the same settings, not by other settings", async () => {
  await withDir(async (dir) => {
    const journal = new DnsJournal(`${dir}/${JOURNAL_FILE}`);
    const holder = (settings?: string) => ({ verification: { name: "dns" }, settings, adopt: () => true });
    const first = holder("ttl=60");
    assertEquals(journal.register(first), 0);
    const entry = await journal.add(record("_acme-challenge.a.example.test", "va"), first);

    // A reload's replacement has other settings: the old holder may still be using the record.
    const reloaded = holder("ttl=120");
    assertEquals(journal.register(reloaded), 0);
    assertEquals(journal.claim(reloaded), []);
    assert(journal.holds(first, entry.id));

    // Same settings as the latest holder (`reloaded`), which was never released: an in-process restart.
    const restarted = holder("ttl=120");
    assertEquals(journal.register(restarted), 0, "`reloaded` held nothing");
    const again = holder("ttl=120");
    const own = await journal.add(record("_acme-challenge.b.example.test", "vb"), restarted);
    assertEquals(journal.register(again), 1);
    assertEquals(journal.claim(again).map((e) => e.id), [own.id], "`first` is draining: its entry stays with it");
    assert(!journal.holds(restarted, own.id) && journal.holds(again, own.id));

    // Holders without settings are never superseded.
    const bare = holder();
    const kept = await journal.add(record("_acme-challenge.c.example.test", "vc"), bare);
    journal.register(bare);
    journal.register(holder());
    assert(journal.holds(bare, kept.id));
  });
});
