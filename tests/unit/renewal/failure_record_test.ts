/**
 * What a failed renewal records for the operator page and `acmems status`: the error id (also in the log line
 * `background renewal failed`), next to the reason, the failure count and the backoff; and the row the page shows.
 */
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import { serverDown } from "../../support/fake_ca.ts";
import { certificateRow } from "../../../src/http/ui/rows.ts";
import { makeDue, setup, soon } from "../issuance/_file_stack.ts";

Deno.test("renewal failure: the entry records the error id with the reason and backoff; the row shows them", async () => {
  await setup({}, async (ctx) => {
    await ctx.issuer.issue(ctx.request, soon());
    await makeDue(ctx, Date.now() + 2 * 86_400_000);
    ctx.fake.opts.newOrderError = serverDown;
    assertEquals((await ctx.issuer.sweep()).failed, 1);
    const key = await ctx.issuer.keyFor(ctx.request);
    const entry = (await ctx.storage.get(key))!;
    assertMatch(entry.renewal?.lastErrorId ?? "", /^[0-9a-f]{8}$/);
    const row = certificateRow(
      { storage: "file", renewWithinDays: 14, renewActiveDays: 30, entry },
      new Date(),
    );
    assertEquals(row.state, "backing-off");
    assertEquals(row.lastFailure?.errorId, entry.renewal!.lastErrorId);
    assertEquals(row.lastFailure?.failures, 1);
    assert(row.lastFailure!.error.length > 0, "the reason is shown");
    assertEquals(row.backoffUntil, entry.renewal!.nextAttemptAt);
  });
});
