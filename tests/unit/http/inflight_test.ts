/**
 * InflightSlots: the global and per-client caps of /sign, and releases that give back exactly one slot.
 */
import { assertEquals } from "../../support/assert.ts";
import { InflightSlots } from "../../../src/http/inflight.ts";

Deno.test("InflightSlots: the global cap first, then the client's; a release is counted once", () => {
  const slots = new InflightSlots();
  const a1 = slots.take("a", 3, 2);
  const a2 = slots.take("a", 3, 2);
  assertEquals([a1.ok, a2.ok], [true, true]);
  assertEquals(slots.take("a", 3, 2), { ok: false, cap: "client" });
  const b1 = slots.take("b", 3, 2);
  assertEquals(b1.ok, true);
  assertEquals(slots.take("b", 3, 2), { ok: false, cap: "global" });
  assertEquals([slots.total, slots.of("a"), slots.of("b")], [3, 2, 1]);

  if (a1.ok) {
    a1.release();
    a1.release(); // a second release gives nothing back
  }
  assertEquals([slots.total, slots.of("a")], [2, 1]);
  // The caps are read on each call (a reload): a lower cap refuses new takes, held slots stay.
  assertEquals(slots.take("c", 2, 2), { ok: false, cap: "global" });
  for (const slot of [a2, b1]) if (slot.ok) slot.release();
  assertEquals([slots.total, slots.of("a"), slots.of("b")], [0, 0, 0]);
});
