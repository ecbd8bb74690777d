/** `expiring` also fires when a dns-persist-01 record a cached certificate needs ends within expiring-days. */
import { assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { ExpiringCheck, type PersistRecords } from "../../../src/renewal/expiring.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import type { NotifyEvent } from "../../../src/config/types.ts";
import { testEntry } from "../../support/entry.ts";

const DAY_MS = 86_400_000;

Deno.test("expiring: a record ending within expiring-days, once a day", async () => {
  const now = new Date();
  const asked: [string, readonly string[], number][] = [];
  const persist: PersistRecords = {
    ending: (verification, names, until) => {
      asked.push([verification, names, until]);
      const persistUntil = Math.floor(now.getTime() / 1000) + 3 * 86400;
      return Promise.resolve(
        persistUntil <= until ? [{ owner: "_validation-persist.example.test", persistUntil }] : [],
      );
    },
  };
  const events: [NotifyEvent, { names: string[]; message: string }][] = [];
  const check = new ExpiringCheck({
    owner: "test",
    log: memoryLogger(),
    expiringDays: 7,
    persist,
    onEvent: (event, details) => events.push([event, details]),
  });
  // A fresh certificate (90 days left): only the record can be expiring; the storage is never touched.
  const entry = testEntry("", "k", { names: ["*.example.test"], verification: "p" });
  await check.check(null as never, "k", entry, now);
  assertEquals(asked, [["p", ["*.example.test"], Math.floor((now.getTime() + 7 * DAY_MS) / 1000)]]);
  assertEquals(events.length, 1);
  assertEquals(events[0][0], "expiring");
  assertEquals(
    (events[0][1] as { notAfter?: string }).notAfter,
    new Date((Math.floor(now.getTime() / 1000) + 3 * 86400) * 1000).toISOString(),
    "notAfter is the record's end",
  );
  assertStringIncludes(events[0][1].message, "The dns-persist-01 record _validation-persist.example.test needed by");
  assertStringIncludes(events[0][1].message, "publish it again with a later persistUntil");
  await check.check(null as never, "k", entry, new Date(now.getTime() + 3_600_000));
  assertEquals(events.length, 1, "not again within the day");
  await check.check(null as never, "k", entry, new Date(now.getTime() + DAY_MS + 1000));
  assertEquals(events.length, 2, "again the next day");

  const calm = new ExpiringCheck({
    owner: "t",
    log: memoryLogger(),
    expiringDays: 1,
    persist,
    onEvent: () => events.push(["expiring", { names: [], message: "" }]),
  });
  await calm.check(null as never, "k", entry, now);
  assertEquals(events.length, 2, "3 days left is not within 1 day");
});
