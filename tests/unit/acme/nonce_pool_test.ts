import { assertEquals, assertThrows } from "../../support/assert.ts";
import { NoncePool } from "../../../src/acme/nonce_pool.ts";

Deno.test("NoncePool hands out each nonce once, newest first", () => {
  const pool = new NoncePool();
  assertEquals(pool.take(), undefined);
  for (const n of ["a1", "b2", "c3"]) assertEquals(pool.add(n), true);
  assertEquals(pool.size, 3);
  assertEquals([pool.take(), pool.take(), pool.take(), pool.take()], ["c3", "b2", "a1", undefined]);
});

Deno.test("NoncePool ignores missing and non-base64url nonces", () => {
  const pool = new NoncePool();
  for (const bad of [null, undefined, "", "has space", "pad=", "a/b"]) assertEquals(pool.add(bad), false, String(bad));
  assertEquals(pool.size, 0);
});

Deno.test("NoncePool drops the oldest beyond its capacity", () => {
  const pool = new NoncePool(2);
  pool.add("n1");
  pool.add("n2");
  pool.add("n3");
  assertEquals([pool.size, pool.take(), pool.take(), pool.take()], [2, "n3", "n2", undefined]);
  pool.add("n4");
  pool.clear();
  assertEquals(pool.size, 0);
  assertThrows(() => new NoncePool(0), /capacity 0 < 1/);
});
