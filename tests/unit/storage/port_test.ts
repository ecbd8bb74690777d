/** What every storage kind shares: the claim narrowing, the idle change feed, the errors and their old homes. */
import * as errors from "../../../src/storage/errors.ts";
import {
  ClaimLostError,
  idleChanges,
  isEntry,
  isHeld,
  PostgresStorageError,
  StorageError,
  StorageUnavailableError,
} from "../../../src/storage/mod.ts";
import { testEntry } from "../../support/entry.ts";
import { assert, assertEquals } from "../../support/assert.ts";

Deno.test("isHeld tells a held key from a granted claim", () => {
  assert(isHeld({ held: true, heldBy: "another acmems process" }));
  assert(!isHeld({ key: "a".repeat(64), fence: 1, deadline: Infinity }));
});

Deno.test("isEntry accepts a stored entry and refuses torn or foreign JSON", () => {
  const entry = testEntry("chain", "a".repeat(64));
  assert(isEntry(entry));
  assert(!isEntry(null));
  assert(!isEntry({ ...entry, version: 2 }));
  assert(!isEntry({ ...entry, notAfter: "not a date" }));
  const { chain: _chain, ...torn } = entry;
  assert(!isEntry(torn));
});

Deno.test("idleChanges reports nothing and ends when the signal aborts (at once when it already has)", async () => {
  const controller = new AbortController();
  const seen: unknown[] = [];
  const reading = (async () => {
    for await (const change of idleChanges(controller.signal)) seen.push(change);
  })();
  await new Promise((r) => setTimeout(r, 20));
  controller.abort();
  await reading;
  assertEquals(seen, []);
  for await (const change of idleChanges(AbortSignal.abort())) seen.push(change);
  assertEquals(seen, []);
});

Deno.test("storage errors live in one file, re-exported by the folder's entry", () => {
  assert(errors.StorageError === StorageError);
  assert(errors.ClaimLostError === ClaimLostError);
  assert(errors.PostgresStorageError === PostgresStorageError);
  const unavailable = new StorageUnavailableError("down");
  assertEquals([unavailable.name, unavailable.retryAfterSeconds], ["StorageUnavailableError", 10]);
  assertEquals(new StorageError("x").name, "StorageError");
  assertEquals(new PostgresStorageError("x").name, "PostgresStorageError");
  assertEquals(new ClaimLostError("x", "deadline").reason, "deadline");
});
