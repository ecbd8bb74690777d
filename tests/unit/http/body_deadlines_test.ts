/** One shared timer for body-read deadlines (src/http/body_deadlines.ts). */
import { assert, assertEquals } from "../../support/assert.ts";
import { BodyDeadlines } from "../../../src/http/body_deadlines.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("body deadlines: an expired read is told once, a released one never; the timer stops when idle", async () => {
  let clock = 0;
  const deadlines = new BodyDeadlines(10, () => clock);
  const expired: string[] = [];
  const releaseA = deadlines.watch(50, () => expired.push("a"));
  const releaseB = deadlines.watch(50, () => expired.push("b"));
  deadlines.watch(500, () => expired.push("c"));
  assertEquals(deadlines.size, 3);
  assert(deadlines.running);
  releaseB();
  clock = 60;
  await sleep(40);
  assertEquals(expired, ["a"], "a expired, b was released, c is not due");
  releaseA(); // releasing after expiry is harmless
  clock = 600;
  await sleep(40);
  assertEquals(expired, ["a", "c"]);
  assertEquals(deadlines.size, 0);
  await sleep(60);
  assert(!deadlines.running, "two idle ticks stop the timer");
  // A new read starts it again.
  const release = deadlines.watch(1000, () => expired.push("d"));
  assert(deadlines.running);
  release();
  await sleep(60);
  assert(!deadlines.running);
  assertEquals(expired, ["a", "c"]);
});

Deno.test("body deadlines: a pending read keeps the process alive until its deadline (a late body is refused)", async () => {
  // Nothing else is pending in this test: without a referenced timer the event loop would end first.
  const deadlines = new BodyDeadlines(10);
  const fired = await new Promise<boolean>((resolve) => deadlines.watch(30, () => resolve(true)));
  assert(fired);
  await sleep(50);
  assert(!deadlines.running);
});
