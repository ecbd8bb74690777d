/** The issuance service on a real file storage against a fake CA: the setup shared by the cache and sweep tests. */
import { assert } from "../../support/assert.ts";
import { FakeCa, type FakeCaOptions, serverDown } from "../../support/fake_ca.ts";
import { Http01Responder } from "../../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../../src/challenges/http01/solver.ts";
import { IssuanceService, type IssueRequest } from "../../../src/issuance/service.ts";
import { localAuth, requestFor } from "./_request.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { FileStorage } from "../../../src/storage/file.ts";
import { isHeld } from "../../../src/storage/mod.ts";

export async function setup(ca: FakeCaOptions = {}, fn: (ctx: Ctx) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "acmems-issuer-" });
  const log = memoryLogger();
  // peekNow's stat window (STAT_REUSE_MS) runs on this clock: `passTime` moves it.
  let monotonic = 0;
  const storage = new FileStorage({
    name: "file",
    directory: dir,
    renewWithinDays: 14,
    renewActiveDays: 30,
    log,
    monotonicMs: () => monotonic,
  });
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
    auth: localAuth("file"),
    log,
    onOrder: (_names, replaces) => orders.push(replaces),
  });
  const request = await requestFor("www.example.test", "file");
  try {
    await fn({
      issuer,
      storage,
      fake,
      request,
      orders,
      setDown: (v) => (down = v),
      passTime: (ms) => (monotonic += ms),
    });
  } finally {
    await issuer.drain();
    await storage.close();
    await Deno.remove(dir, { recursive: true });
  }
}

export interface Ctx {
  issuer: IssuanceService;
  storage: FileStorage;
  fake: FakeCa;
  request: IssueRequest;
  orders: (string | undefined)[];
  setDown(down: boolean): void;
  /** Moves the storage's monotonic clock (its peekNow stat window) on by `ms`. */
  passTime(ms: number): void;
}

export const soon = () => Date.now() + 5000;

/** Makes the stored entry due (notAfter within renew-within) and gives it an ARI id. */
export async function makeDue(ctx: Ctx, notAfterMs: number) {
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
