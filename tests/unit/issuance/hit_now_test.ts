/**
 * The synchronous cache-hit answer (`IssuanceService.hitNow`, `FileStorage.peekNow`): the same answer as `issue`
 * when the hit is known without waiting, null whenever `issue` has more to find out.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { makeDue, setup, soon } from "./_file_stack.ts";
import { STAT_REUSE_BUSY_PEEKS, STAT_REUSE_MS } from "../../../src/storage/file.ts";

Deno.test("issuance hitNow: null until the entry is known, then issue's hit; a changed or due entry is issue's again", async () => {
  await setup({}, async (ctx) => {
    const { issuer, request, storage } = ctx;
    assertEquals(issuer.hitNow(request), null, "nothing cached, no key remembered");
    const first = await issuer.issue(request, soon());
    assertEquals(first.cache, "miss");
    assertEquals(issuer.hitNow(request), null, "stored by the order, never peeked: not known without a read");
    const second = await issuer.issue(request, soon());
    assertEquals(second.cache, "hit");
    const now = issuer.hitNow(request);
    assert(now, "peeked once, unchanged: known");
    assertEquals([now.cache, now.chain, now.key], ["hit", second.chain, second.key]);
    assertEquals(now.renewAfter?.getTime(), second.renewAfter?.getTime());

    // Rewritten out of band, one request at a time: the next stat tells at once, and `issue` reads it again.
    const key = await issuer.keyFor(request);
    const path = `${storage.directory}/${key}.json`;
    ctx.passTime(5 * STAT_REUSE_MS);
    await Deno.writeTextFile(path, (await Deno.readTextFile(path)) + " ");
    assertEquals(issuer.hitNow(request), null, "changed file: not known");
    assertEquals((await issuer.issue(request, soon())).cache, "hit");
    assert(issuer.hitNow(request), "read again: known");

    // Under load (many hits within STAT_REUSE_MS): the last stat stands for the window, then the stat tells.
    for (let i = 0; i <= STAT_REUSE_BUSY_PEEKS; i++) assert(issuer.hitNow(request), "busy: known");
    await Deno.writeTextFile(path, (await Deno.readTextFile(path)) + " ");
    ctx.passTime(STAT_REUSE_MS / 2);
    assert(issuer.hitNow(request), "busy, within the stat window: the last stat stands");
    ctx.passTime(STAT_REUSE_MS / 2);
    assertEquals(issuer.hitNow(request), null, "window over: changed file, not known");
    assertEquals((await issuer.issue(request, soon())).cache, "hit");

    // Due: `issue` renews it, `hitNow` leaves it alone.
    await makeDue(ctx, Date.now() + 2 * 86_400_000);
    await issuer.issue(request, soon()).catch(() => {});
    const orders = ctx.fake.orders;
    await makeDue(ctx, Date.now() + 2 * 86_400_000);
    await storage.peek(key); // known to peekNow, and due
    assertEquals(issuer.hitNow(request), null, "due: not a hit");
    assertEquals(ctx.fake.orders, orders, "hitNow never orders");
  });
});
