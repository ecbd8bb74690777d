/** The issuer's cache behaviour against a fake CA and a real file storage. */
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import { FakeCa, type FakeCaOptions, serverDown } from "../../support/fake_ca.ts";
import { Http01Responder } from "../../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../../src/challenges/http01/solver.ts";
import { IssuanceService, type IssueRequest } from "../../../src/issuance/service.ts";
import { requestFor } from "./_request.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { FileStorage } from "../../../src/storage/file.ts";
import { isHeld } from "../../../src/storage/mod.ts";
import { AcmeProblem } from "../../../src/acme/mod.ts";

async function setup(ca: FakeCaOptions = {}, fn: (ctx: Ctx) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "acmems-issuer-" });
  const log = memoryLogger();
  const storage = new FileStorage({ name: "file", directory: dir, renewWithinDays: 14, renewActiveDays: 30, log });
  const responder = new Http01Responder();
  const fake = new FakeCa(ca);
  const orders: (string | undefined)[] = [];
  let down = false;
  const issuer = new IssuanceService({
    client: () => {
      if (down) throw serverDown();
      return fake.asClient();
    },
    directoryUrl: "https://fake.ca/dir",
    solvers: new Map([["http", new Http01Solver(responder)]]),
    storages: new Map([["file", storage]]),
    log,
    onOrder: (_names, replaces) => orders.push(replaces),
  });
  const request = await requestFor("www.example.test", "file");
  try {
    await fn({ issuer, storage, fake, request, orders, setDown: (v) => (down = v) });
  } finally {
    await issuer.drain();
    await storage.close();
    await Deno.remove(dir, { recursive: true });
  }
}

interface Ctx {
  issuer: IssuanceService;
  storage: FileStorage;
  fake: FakeCa;
  request: IssueRequest;
  orders: (string | undefined)[];
  setDown(down: boolean): void;
}

const soon = () => Date.now() + 5000;

/** Makes the stored entry due (notAfter within renew-within) and gives it an ARI id. */
async function makeDue(ctx: Ctx, notAfterMs: number) {
  const key = await ctx.issuer.keyFor(ctx.request);
  const claim = await ctx.storage.claim(key, "test", 1000);
  assert(!isHeld(claim));
  const entry = (await ctx.storage.get(key))!;
  entry.notAfter = new Date(notAfterMs).toISOString();
  entry.notBefore = new Date(notAfterMs - 90 * 86_400_000).toISOString();
  entry.ari = { certId: "old-aki.old-serial" };
  assert(await ctx.storage.put(claim, entry));
  await ctx.storage.release(claim);
}

Deno.test("issuer cache: miss then hit with identical bytes and one order", async () => {
  await setup({}, async ({ issuer, request, fake }) => {
    const first = await issuer.issue(request, soon());
    const second = await issuer.issue(request, soon());
    assertEquals([first.cache, second.cache], ["miss", "hit"]);
    assertEquals(second.chain, first.chain);
    assertEquals(fake.orders, 1);
    assert(first.renewAfter && first.renewAfter.getTime() > Date.now() + 70 * 86_400_000);
  });
});

Deno.test("issuer cache: 20 identical concurrent requests make one order", async () => {
  await setup({ finalizeDelayMs: 100 }, async ({ issuer, request, fake }) => {
    const results = await Promise.all(Array.from({ length: 20 }, () => issuer.issue(request, soon())));
    assertEquals(fake.orders, 1);
    assert(results.every((r) => r.chain === results[0].chain));
  });
});

Deno.test("issuer cache: a due certificate is renewed with replaces = its ARI id", async () => {
  await setup({}, async (ctx) => {
    const first = await ctx.issuer.issue(ctx.request, soon());
    await makeDue(ctx, Date.now() + 2 * 86_400_000);
    const renewed = await ctx.issuer.issue(ctx.request, soon());
    assertEquals(renewed.cache, "miss");
    assert(renewed.chain !== first.chain);
    assertEquals(ctx.orders, [undefined, "old-aki.old-serial"]);
  });
});

Deno.test("issuer cache: a due but valid certificate is served stale when the CA is down", async () => {
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

Deno.test("issuer cache: the sweep renews due entries and backs off after failures", async () => {
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

Deno.test("issuer cache: a renewal started by /sign that fails is served stale and backs off like the sweep's", async () => {
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

Deno.test("issuer cache: a CA failing on the replaces hint (HTTP 500) gets the renewal ordered without it", async () => {
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
