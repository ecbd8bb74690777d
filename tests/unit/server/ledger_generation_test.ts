/**
 * The ledger of a generation (src/server/generation.ts `buildLedger`): it lives in the [mgmt] default storage's
 * medium, and a reload keeps a memory or file store (the counts survive it) while the medium stays the same.
 */
import { buildLedger, type Generation } from "../../../src/server/generation.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { createStorages } from "../../../src/storage/factory.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import { load } from "../config/helpers.ts";

function config(storage: string) {
  const result = load(`[account]
dir = /acct
acme-server = https://ca.example/dir
limit-orders = 1/1h
[mgmt]
default-storage = main
[storage "main"]
${storage}
[auth "a"]
all = yes
domain = *.example.org
`);
  assert(result.ok, JSON.stringify(result.errors));
  return result.config!;
}

Deno.test("buildLedger: memory for a none storage, kept (with its counts) across a reload", async () => {
  const log = memoryLogger();
  const first = config("type = none");
  const one = buildLedger(first, createStorages(first, log), undefined, log);
  assertEquals(one.ledgerMedium.medium, "memory");
  assert((await one.ledger.admit({ ca: "default", names: ["a.example.org"] })).ok);
  const previous = { ledgerMedium: one.ledgerMedium } as Generation;
  const two = buildLedger(first, createStorages(first, log), previous, log);
  assertEquals(two.ledgerMedium, one.ledgerMedium);
  assert(!(await two.ledger.admit({ ca: "default", names: ["b.example.org"] })).ok, "the reload kept the count");
});

Deno.test("buildLedger: a file storage keeps the ledger in <directory>/ledger", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-ledger-gen-" });
  try {
    const log = memoryLogger();
    const c = config(`type = file\ndirectory = ${dir}`);
    const built = buildLedger(c, createStorages(c, log), undefined, log);
    assertEquals(built.ledgerMedium.medium, `file:${dir}/ledger`);
    assert((await built.ledger.admit({ ca: "default", names: ["a.example.org"] })).ok);
    assertEquals([...Deno.readDirSync(`${dir}/ledger`)].map((e) => e.name), ["ca%3Adefault.json"]);
    // A new process (no previous generation) reads the same files.
    const again = buildLedger(c, createStorages(c, log), undefined, log);
    assert(!(await again.ledger.admit({ ca: "default", names: ["b.example.org"] })).ok);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
