/** LeaseKeeper: extends a leased claim while an order runs and stops the work when the claim is lost. */
import { ClaimLostError } from "../../../src/storage/errors.ts";
import { LeaseKeeper } from "../../../src/storage/lease.ts";
import type { Claim, ClaimStore } from "../../../src/storage/mod.ts";
import { assert, assertEquals, assertThrows } from "../../support/assert.ts";

/** Only `extend` matters to the keeper (it asks for no more of the claim store). */
function storage(extend: (claim: Claim, leaseMs: number) => Promise<boolean>): Pick<ClaimStore, "extend"> {
  return { extend };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("lease keeper: successful extends move the deadline and keep the claim", async () => {
  let extends_ = 0;
  const claim: Claim = { key: "k", fence: 1, deadline: performance.now() + 240 };
  const keeper = new LeaseKeeper(
    storage((c, leaseMs) => {
      extends_++;
      c.deadline = performance.now() + leaseMs - 60;
      return Promise.resolve(true);
    }),
    claim,
    300,
  );
  await sleep(700);
  keeper.check();
  assert(!keeper.signal.aborted);
  assert(extends_ >= 3, `extended ${extends_} times`);
  await keeper.stop();
});

Deno.test("lease keeper: an extend that finds the claim taken over aborts at once", async () => {
  const claim: Claim = { key: "k", fence: 1, deadline: performance.now() + 10_000 };
  const keeper = new LeaseKeeper(storage(() => Promise.resolve(false)), claim, 150);
  await sleep(120);
  assert(keeper.signal.aborted);
  assert(keeper.signal.reason instanceof ClaimLostError);
  assertEquals((keeper.signal.reason as ClaimLostError).reason, "taken-over");
  assertThrows(() => keeper.check(), /took over/);
  await keeper.stop();
});

Deno.test("lease keeper: extends that fail (storage unreachable) end the claim at its deadline", async () => {
  const claim: Claim = { key: "k", fence: 1, deadline: performance.now() + 200 };
  let calls = 0;
  const keeper = new LeaseKeeper(
    storage(() => {
      calls++;
      return Promise.reject(new Error("unreachable"));
    }),
    claim,
    250,
  );
  keeper.check();
  await sleep(260);
  assert(keeper.signal.aborted, "aborted at the deadline");
  assertEquals((keeper.signal.reason as ClaimLostError).reason, "deadline");
  assertThrows(() => keeper.check(), /lease/);
  assert(calls >= 1);
  await keeper.stop();
});

Deno.test("lease keeper: claims without a deadline (OS locks) need no timers and never abort", async () => {
  const keeper = new LeaseKeeper(
    storage(() => Promise.reject(new Error("never called"))),
    { key: "k", fence: 1, deadline: Infinity },
    10,
  );
  await sleep(30);
  keeper.check();
  assert(!keeper.signal.aborted);
  await keeper.stop();
});
