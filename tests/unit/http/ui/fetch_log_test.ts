/** The in-memory record of who fetched which certificate (src/http/ui/fetch_log.ts): per storage and key, bounded. */
import { assertEquals } from "../../../support/assert.ts";
import { FetchLog } from "../../../../src/http/ui/fetch_log.ts";

Deno.test("fetch log: the last fetch per storage and key; the oldest records go first past the limit", () => {
  const log = new FetchLog(2);
  log.note("cache", "k1", { atMs: Date.parse("2027-01-01T00:00:00.000Z"), block: "a", client: "192.0.2.1" });
  log.note("other", "k1", { atMs: Date.parse("2027-01-01T00:00:01.000Z"), block: "b", client: "192.0.2.2" });
  assertEquals(log.get("cache", "k1")?.client, "192.0.2.1");
  assertEquals(log.get("other", "k1")?.block, "b");
  // A newer fetch replaces the record and makes it the youngest.
  log.note("cache", "k1", { atMs: Date.parse("2027-01-01T00:00:02.000Z"), block: "a", client: "192.0.2.9" });
  log.note("cache", "k2", { atMs: Date.parse("2027-01-01T00:00:03.000Z"), block: null, client: null });
  assertEquals(log.get("other", "k1"), undefined);
  assertEquals(log.get("cache", "k1")?.client, "192.0.2.9");
  assertEquals(log.get("cache", "k2"), { atMs: Date.parse("2027-01-01T00:00:03.000Z"), block: null, client: null });
});

Deno.test("fetch log: the same key noted again in a row keeps the newest record and the eviction order", () => {
  const log = new FetchLog(2);
  const at = (s: number) => ({ atMs: s * 1000, block: "a", client: `192.0.2.${s}` });
  log.note("cache", "k1", at(1));
  log.note("cache", "k1", at(2)); // the same key again: replaced in place
  assertEquals(log.get("cache", "k1"), at(2));
  log.note("cache", "k2", at(3));
  log.note("cache", "k2", at(4));
  log.note("cache", "k1", at(5)); // k1 becomes the youngest again
  log.note("cache", "k1", at(6));
  log.note("cache", "k3", at(7)); // past the limit: k2, now the oldest, goes
  assertEquals(log.get("cache", "k2"), undefined);
  assertEquals(log.get("cache", "k1"), at(6));
  assertEquals(log.get("cache", "k3"), at(7));
  // The same key in another storage is another record.
  log.note("other", "k3", at(8));
  assertEquals(log.get("cache", "k3"), at(7));
  assertEquals(log.get("other", "k3"), at(8));
  assertEquals(log.get("cache", "k1"), undefined);
});
