import { assertEquals } from "../../support/assert.ts";
import { sameBytes } from "../../../src/lib/bytes.ts";

Deno.test("sameBytes compares every byte, word-aligned or not", () => {
  for (let length = 0; length <= 13; length++) {
    const a = Uint8Array.from({ length }, (_, i) => (i * 37 + 11) & 0xff);
    // The same bytes at each offset 0–3 of a larger buffer: aligned and unaligned views.
    for (let offset = 0; offset < 4; offset++) {
      const buffer = new Uint8Array(length + 8);
      buffer.set(a, offset);
      const b = buffer.subarray(offset, offset + length);
      assertEquals(sameBytes(a, b), true, `length ${length}, offset ${offset}`);
      for (let i = 0; i < length; i++) {
        b[i] ^= 0x80;
        assertEquals(sameBytes(a, b), false, `length ${length}, offset ${offset}, byte ${i} differs`);
        b[i] ^= 0x80;
      }
    }
    assertEquals(sameBytes(a, new Uint8Array(length + 1)), false, "lengths differ");
  }
});
