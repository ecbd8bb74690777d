/** The poll pace: ~50 ms first, ×1.5 after, capped at 3 s, Retry-After honoured, never past the deadline. */
import { assertEquals } from "../../support/assert.ts";
import { DEFAULT_POLL_PACE, fallbackDelay, pollDelay } from "../../../src/acme/poll_schedule.ts";

Deno.test("poll pace: 50 ms first, then ×1.5, capped at 3 s", () => {
  const delays = Array.from({ length: 14 }, (_, attempt) => fallbackDelay(attempt));
  assertEquals(delays, [50, 75, 113, 169, 253, 380, 570, 854, 1281, 1922, 2883, 3000, 3000, 3000]);
  assertEquals(DEFAULT_POLL_PACE, { firstMs: 50, factor: 1.5, maxMs: 3000 });
});

Deno.test("poll pace: no first wait of half a second or more (the old coin flip)", () => {
  for (let i = 0; i < 100; i++) assertEquals(pollDelay(0, undefined, 60_000), 50);
});

Deno.test("poll pace: the CA's Retry-After wins, but never below the first interval", () => {
  assertEquals(pollDelay(0, 2_000, 60_000), 2_000);
  assertEquals(pollDelay(5, 7_000, 60_000), 7_000);
  assertEquals(pollDelay(3, 0, 60_000), 50);
});

Deno.test("poll pace: never beyond the deadline", () => {
  assertEquals(pollDelay(0, 3_600_000, 700), 700);
  assertEquals(pollDelay(20, undefined, 120), 120);
  assertEquals(pollDelay(1, undefined, -5), 0);
});
