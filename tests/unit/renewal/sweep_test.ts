/** The background renewal sweep over a file storage, against a fake CA. */
import { assert, assertEquals } from "../../support/assert.ts";
import { serverDown } from "../../support/fake_ca.ts";
import { makeDue, setup, soon } from "../issuance/_file_stack.ts";

Deno.test("sweep: renews due entries and backs off after failures", async () => {
  await setup({}, async (ctx) => {
    await ctx.issuer.issue(ctx.request, soon());
    await makeDue(ctx, Date.now() + 2 * 86_400_000);
    ctx.fake.opts.newOrderError = serverDown;
    const failed = await ctx.issuer.sweep();
    assertEquals(failed.failed, 1);
    const key = await ctx.issuer.keyFor(ctx.request);
    const entry = (await ctx.storage.get(key))!;
    assertEquals(entry.renewal?.failures, 1);
    assert(Date.parse(entry.renewal!.nextAttemptAt!) > Date.now() + 50_000, "backs off about a minute");
    // Within the backoff the sweep does not try again.
    delete ctx.fake.opts.newOrderError;
    assertEquals((await ctx.issuer.sweep()).renewed, 0);
  });
});
