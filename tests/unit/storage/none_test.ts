/** `none` is a null cache: nothing kept, every claim granted, every write discarded as a success. */
import { assert, assertEquals } from "../../support/assert.ts";
import { NoneStorage } from "../../../src/storage/none.ts";
import { type Claim, isHeld } from "../../../src/storage/mod.ts";
import { testEntry } from "../../support/entry.ts";

const KEY = "a".repeat(64);

Deno.test("none storage: always a miss; claims always granted; writes discarded", async () => {
  const storage = new NoneStorage("none");
  const first = await storage.claim(KEY, "a", 1000);
  assert(!isHeld(first));
  const second = await storage.claim(KEY, "b", 1000);
  assert(!isHeld(second), "nobody holds anything: the in-process single flight keeps one order per key");
  assert((second as Claim).fence > (first as Claim).fence);
  assertEquals((first as Claim).deadline, Infinity);
  assert(await storage.noteOrder(first as Claim, "https://ca.test/order/1"));
  assert(await storage.extend(first as Claim, 1000));
  assert(await storage.put(first as Claim, testEntry("x", KEY)));
  assertEquals(await storage.get(KEY), null);
  assertEquals(await storage.peek(KEY), null);
  assertEquals(await storage.keys(), []);
  await storage.touch();
  await storage.remove(first as Claim);
  await storage.release(first as Claim);
  await storage.waitForRelease(KEY, new AbortController().signal);
  await storage.close();
});

Deno.test("none storage: challenges live in memory", async () => {
  const storage = new NoneStorage("none");
  const challenge = { token: "t", keyAuthorization: "t.k", host: "a.test", expiresAt: new Date().toISOString() };
  await storage.putChallenge(challenge);
  assertEquals(await storage.getChallenge("t"), challenge);
  await storage.deleteChallenge("t");
  assertEquals(await storage.getChallenge("t"), null);
});
