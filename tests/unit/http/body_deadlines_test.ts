/** One shared timer for body-read deadlines (src/http/body_deadlines.ts). */
import { assert, assertEquals } from "../../support/assert.ts";
import { BodyDeadlines } from "../../../src/http/body_deadlines.ts";

/** Waits until `condition` holds (ticks run on a real 10 ms interval; a loaded machine may delay them). */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

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
  await until(() => expired.length > 0, "a expires");
  assertEquals(expired, ["a"], "a expired, b was released, c is not due");
  assertEquals(deadlines.size, 1);
  releaseA(); // releasing after expiry is harmless
  clock = 600;
  await until(() => expired.length > 1, "c expires");
  assertEquals(expired, ["a", "c"]);
  assertEquals(deadlines.size, 0);
  await until(() => !deadlines.running, "the idle timer stops");
  // A new read starts it again.
  const release = deadlines.watch(1000, () => expired.push("d"));
  assert(deadlines.running);
  release();
  await until(() => !deadlines.running, "the idle timer stops again");
  assertEquals(expired, ["a", "c"]);
});

Deno.test("body deadlines: a pending read keeps the process alive until its deadline (a late body is refused)", async () => {
  // Nothing else is pending in this test: without a running timer the event loop would end first.
  const deadlines = new BodyDeadlines(10);
  const fired = await new Promise<boolean>((resolve) => deadlines.watch(30, () => resolve(true)));
  assert(fired);
  await until(() => !deadlines.running, "the idle timer stops");
});

Deno.test("body deadlines: close stops the timer and forgets the reads", () => {
  const deadlines = new BodyDeadlines(10);
  let told = false;
  deadlines.watch(0, () => told = true);
  deadlines.close();
  assert(!deadlines.running);
  assertEquals([deadlines.size, told], [0, false]);
});

Deno.test("body deadlines: reads released in any order, and a callback that releases another read", async () => {
  let clock = 0;
  const deadlines = new BodyDeadlines(10, () => clock);
  const told: string[] = [];
  const releases = new Map<string, () => void>();
  for (const name of ["a", "b", "c", "d", "e"]) {
    releases.set(name, deadlines.watch(name === "e" ? 500 : 50, () => told.push(name)));
  }
  // Released from the middle, the end and the start: the others stay watched.
  releases.get("c")!();
  releases.get("e")!();
  releases.get("a")!();
  releases.get("a")!(); // twice is harmless
  assertEquals(deadlines.size, 2);
  // b's callback releases d, which is due in the same tick and comes after b in the list: d is not told.
  deadlines.close();
  let releaseD = () => {};
  deadlines.watch(50, () => (told.push("b"), releaseD()));
  releaseD = deadlines.watch(50, () => told.push("d"));
  deadlines.watch(50, () => told.push("f"));
  assertEquals(deadlines.size, 3);
  clock = 60;
  await until(() => deadlines.size === 0, "all due reads handled");
  assertEquals(told, ["b", "f"]);
  deadlines.close();
});
