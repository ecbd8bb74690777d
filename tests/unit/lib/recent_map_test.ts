import { assertEquals } from "../../support/assert.ts";
import { RecentMap } from "../../../src/lib/recent_map.ts";

Deno.test("RecentMap: the noted key becomes the newest, the oldest go past the limit, a repeat stays in place", () => {
  const map = new RecentMap<string, number>();
  map.note("a", 1, 3);
  map.note("b", 2, 3);
  map.note("a", 3, 3); // a is newest again: b, a
  assertEquals([...map], [["b", 2], ["a", 3]]);
  map.note("a", 4, 3); // the key noted last: replaced where it is
  map.note("c", 5, 3);
  map.note("d", 6, 3); // past the limit: b, the oldest, goes
  assertEquals([...map], [["a", 4], ["c", 5], ["d", 6]]);
  map.note("d", 7, 3);
  map.delete("d");
  map.note("d", 8, 3); // noted last but deleted since: inserted as the newest again
  map.note("e", 9, 2);
  assertEquals([...map], [["d", 8], ["e", 9]]);
});
