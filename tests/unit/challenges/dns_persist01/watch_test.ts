/** The persistUntil watch: what the solver saw, looked up again when stale or unknown, and the metric. */
import { assertEquals, assertStringIncludes } from "../../../support/assert.ts";
import { type PersistSeen, PersistWatch } from "../../../../src/challenges/dns_persist01/watch.ts";
import { AcmemsMetrics } from "../../../../src/ops/metrics.ts";

const ACCOUNT = "https://ca.test/acme/acct/42";
const NOW = new Date(1_800_000_000_000);
const NOW_S = 1_800_000_000;

function watchWith(values: Record<string, string[]>, seen: PersistSeen[] = []) {
  const asked: string[] = [];
  const watch = new PersistWatch({
    lookups: new Map([["p", (owner: string) => {
      asked.push(owner);
      if (!(owner in values)) return Promise.reject(new Error("SERVFAIL"));
      return Promise.resolve(values[owner]);
    }]]),
    accountUrl: () => ACCOUNT,
    onSeen: (s) => seen.push(s),
  });
  return { watch, asked, seen };
}

Deno.test("ending: a noted record is not looked up again; one ending in time is reported", async () => {
  const { watch, asked } = watchWith({});
  watch.note("p", "_validation-persist.example.org", NOW_S + 3 * 86400, NOW.getTime());
  const ending = await watch.ending("p", ["*.example.org", "example.org"], NOW_S + 7 * 86400, NOW);
  assertEquals(ending.map((s) => [s.owner, s.persistUntil]), [["_validation-persist.example.org", NOW_S + 259200]]);
  assertEquals(await watch.ending("p", ["example.org"], NOW_S + 86400, NOW), []);
  assertEquals(asked, []);
  assertEquals(await watch.ending("http", ["example.org"], NOW_S + 7 * 86400, NOW), [], "not a persist block");
});

Deno.test("ending: an unknown record is looked up (our account's, latest persistUntil; none = never ends)", async () => {
  const { watch, asked, seen } = watchWith({
    "_validation-persist.a.test": [
      `ca.test; accounturi=${ACCOUNT}; persistUntil=${NOW_S + 100}`,
      `other.test; accounturi=${ACCOUNT}; persistUntil=${NOW_S + 200}`,
      `ca.test; accounturi=https://ca.test/acme/acct/7; persistUntil=${NOW_S + 1}`,
    ],
    "_validation-persist.b.test": [
      `ca.test; accounturi=${ACCOUNT}; persistUntil=${NOW_S + 100}`,
      `ca.test; accounturi=${ACCOUNT}`,
    ],
    "_validation-persist.c.test": [],
  });
  const ending = await watch.ending("p", ["a.test", "b.test", "c.test", "down.test"], NOW_S + 1000, NOW);
  assertEquals(ending.map((s) => [s.owner, s.persistUntil]), [["_validation-persist.a.test", NOW_S + 200]]);
  assertEquals(asked.length, 4);
  assertEquals(seen.map((s) => [s.owner, s.persistUntil]), [
    ["_validation-persist.a.test", NOW_S + 200],
    ["_validation-persist.b.test", undefined],
  ]);
});

Deno.test("metric: acmems_dns_persist_until_seconds per record, +Inf without persistUntil", () => {
  const metrics = new AcmemsMetrics();
  metrics.notePersistRecord("p", "_validation-persist.a.test", 1900000000);
  metrics.notePersistRecord("p", "_validation-persist.b.test", undefined);
  const text = metrics.registry.render();
  assertStringIncludes(
    text,
    'acmems_dns_persist_until_seconds{verification="p",owner="_validation-persist.a.test"} 1900000000',
  );
  assertStringIncludes(
    text,
    'acmems_dns_persist_until_seconds{verification="p",owner="_validation-persist.b.test"} +Inf',
  );
});
