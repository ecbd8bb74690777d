import { freePort, freePorts } from "../../support/ports.ts";
import { assertEquals } from "../../support/assert.ts";

Deno.test("freePorts never hands out a port twice in one process (a peer started later cannot get the test's port)", async () => {
  const seen: number[] = [];
  for (let i = 0; i < 150; i++) seen.push(await freePort());
  seen.push(...await freePorts(50));
  assertEquals(new Set(seen).size, seen.length, "every port handed out once");
});
