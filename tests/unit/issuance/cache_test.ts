/** The issuance service's cache behaviour against a fake CA and a real file storage. */
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import { AcmeProblem } from "../../../src/acme/mod.ts";
import { makeDue, setup, soon } from "./_file_stack.ts";

Deno.test("issuance cache: miss then hit with identical bytes and one order", async () => {
  await setup({}, async ({ issuer, request, fake }) => {
    const first = await issuer.issue(request, soon());
    const second = await issuer.issue(request, soon());
    assertEquals([first.cache, second.cache], ["miss", "hit"]);
    assertEquals(second.chain, first.chain);
    assertEquals(fake.orders, 1);
    assert(first.renewAfter && first.renewAfter.getTime() > Date.now() + 70 * 86_400_000);
  });
});

Deno.test("issuance cache: the entry records the auth block that admitted the request; a renewal keeps it", async () => {
  await setup({}, async (ctx) => {
    await ctx.issuer.issue({ ...ctx.request, block: "local" }, soon());
    const key = await ctx.issuer.keyFor(ctx.request);
    assertEquals((await ctx.storage.get(key))?.block, "local");
    await makeDue(ctx, Date.now() + 2 * 86_400_000);
    assertEquals((await ctx.issuer.sweep()).renewed, 1);
    const renewed = (await ctx.storage.get(key))!;
    assertEquals([renewed.block, ctx.fake.orders], ["local", 2]);
  });
});

Deno.test("issuance cache: 20 identical concurrent requests make one order", async () => {
  await setup({ finalizeDelayMs: 100 }, async ({ issuer, request, fake }) => {
    const results = await Promise.all(Array.from({ length: 20 }, () => issuer.issue(request, soon())));
    assertEquals(fake.orders, 1);
    assert(results.every((r) => r.chain === results[0].chain));
  });
});

Deno.test("issuance cache: a due certificate is renewed with replaces = its ARI id", async () => {
  await setup({}, async (ctx) => {
    const first = await ctx.issuer.issue(ctx.request, soon());
    await makeDue(ctx, Date.now() + 2 * 86_400_000);
    const renewed = await ctx.issuer.issue(ctx.request, soon());
    assertEquals(renewed.cache, "miss");
    assert(renewed.chain !== first.chain);
    assertEquals(ctx.orders, [undefined, "old-aki.old-serial"]);
  });
});

Deno.test("issuance cache: a due but valid certificate is served stale when the CA is down", async () => {
  await setup({}, async (ctx) => {
    const first = await ctx.issuer.issue(ctx.request, soon());
    await makeDue(ctx, Date.now() + 2 * 86_400_000);
    ctx.setDown(true);
    const stale = await ctx.issuer.issue(ctx.request, soon());
    assertEquals(stale.cache, "stale");
    assertEquals(stale.chain, first.chain);
    // An expired one is not served.
    await makeDue(ctx, Date.now() + 60_000);
    await assertRejects(() => ctx.issuer.issue(ctx.request, soon()), /could not be reached/);
  });
});

Deno.test("issuance cache: a renewal started by /sign that fails is served stale and backs off like the sweep's", async () => {
  await setup({}, async (ctx) => {
    const first = await ctx.issuer.issue(ctx.request, soon());
    await makeDue(ctx, Date.now() + 2 * 86_400_000);
    ctx.fake.opts.failValidation = { "www.example.test": "the name did not resolve" };
    const stale = await ctx.issuer.issue(ctx.request, soon());
    assertEquals(stale.cache, "stale");
    assertEquals(stale.chain, first.chain);
    await ctx.issuer.drain();
    const entry = (await ctx.storage.get(await ctx.issuer.keyFor(ctx.request)))!;
    assertEquals(entry.renewal?.failures, 1);
    const next = Date.parse(entry.renewal!.nextAttemptAt!);
    assert(
      next > Date.now() + 50_000 && next <= Date.now() + 60_000,
      `backoff ~1 min: ${entry.renewal!.nextAttemptAt}`,
    );
    // Within the backoff, /sign does not order again.
    const orders = ctx.fake.orders;
    assertEquals((await ctx.issuer.issue(ctx.request, soon())).cache, "stale");
    assertEquals(ctx.fake.orders, orders);
  });
});

Deno.test("issuance cache: a CA failing on the replaces hint (HTTP 500) gets the renewal ordered without it", async () => {
  await setup({}, async (ctx) => {
    const first = await ctx.issuer.issue(ctx.request, soon());
    await makeDue(ctx, Date.now() + 2 * 86_400_000);
    ctx.fake.opts.newOrderError = (opts) =>
      opts.replaces
        ? new AcmeProblem({
          type: "urn:ietf:params:acme:error:serverInternal",
          detail: "could not find an order for the given certificate",
          status: 500,
        })
        : undefined;
    const renewed = await ctx.issuer.issue(ctx.request, soon());
    assertEquals(renewed.cache, "miss");
    assert(renewed.chain !== first.chain);
    assertEquals(ctx.orders, [undefined, "old-aki.old-serial", undefined], "with the hint, then without");
  });
});
