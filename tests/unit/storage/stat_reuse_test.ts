/** When a cache hit may trust the last stat of its file (src/storage/stat_reuse.ts), on an injected clock. */
import { STAT_REUSE_BUSY_PEEKS, STAT_REUSE_MS, StatReuse } from "../../../src/storage/stat_reuse.ts";
import { assertEquals } from "../../support/assert.ts";

Deno.test("stat reuse: one hit at a time never reuses; under load a stat younger than the window stands", () => {
  let now = 1000;
  const reuse = new StatReuse(() => now);
  // One request at a time (each answered before the next): a fresh stat every time, however close together.
  for (let i = 0; i < 20; i++) {
    now += STAT_REUSE_MS / 2;
    assertEquals(reuse.mayReuse(now - STAT_REUSE_MS / 4), false, `sequential hit ${i}`);
    now += STAT_REUSE_MS; // the next request comes after the answer
  }
  // Under load: the first STAT_REUSE_BUSY_PEEKS hits of a burst stat, the ones after reuse a young stat.
  now += 10;
  const checkedAt = now;
  const answers = Array.from({ length: STAT_REUSE_BUSY_PEEKS + 3 }, () => reuse.mayReuse(checkedAt, now));
  assertEquals(answers.filter((a) => a).length, 3);
  assertEquals(answers.slice(0, STAT_REUSE_BUSY_PEEKS).some((a) => a), false);
  // Still busy, but the stat is as old as the window: a new one.
  assertEquals(reuse.mayReuse(checkedAt, checkedAt + STAT_REUSE_MS), false);
  // The load carries into the next window (the previous window's hits count): a young stat stands at once.
  assertEquals(reuse.mayReuse(checkedAt + STAT_REUSE_MS, checkedAt + STAT_REUSE_MS + 0.1), true);
  // After a quiet gap of two windows the count starts over.
  assertEquals(reuse.mayReuse(checkedAt + 10, checkedAt + 10), false);
});
