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

Deno.test("InflightSlots: a client back at 0 keeps its entry, up to 64 such clients; the table stays bounded", () => {
  const slots = new InflightSlots();
  const take = (client: string) => {
    const slot = slots.take(client, 1000, 2);
    if (!slot.ok) throw new Error(`${client} refused: ${slot.cap}`);
    return slot.release;
  };
  // A busy client: its count goes 1 → 0 → 1; the entry stays, and its count is right each time.
  for (let i = 0; i < 5; i++) {
    const release = take("busy");
    assertEquals([slots.of("busy"), slots.total], [1, 1]);
    release();
    assertEquals([slots.of("busy"), slots.total, slots.clients], [0, 0, 1]);
  }
  // Many clients, each once: at most 64 idle entries are kept, the rest are deleted.
  for (let i = 0; i < 200; i++) take(`client-${i}`)();
  assertEquals([slots.total, slots.clients], [0, 64]);
  // Clients holding slots are always in the table, beyond the 64 idle ones.
  const held = Array.from({ length: 100 }, (_, i) => take(`holder-${i}`));
  assertEquals([slots.total, slots.clients, slots.of("holder-7")], [100, 164, 1]);
  // An idle entry taken again is no longer idle: its client's count and the per-client cap still hold.
  const again = take("client-0");
  assertEquals([slots.of("client-0"), slots.take("client-0", 1000, 1).ok], [1, false]);
  again();
  for (const release of held) release();
  assertEquals([slots.total, slots.clients], [0, 64]);
  assertEquals(slots.of("holder-99"), 0);
});
