/**
 * Background renewal re-authorizes every stored entry against the CURRENT config (src/renewal/admission.ts) before
 * it orders: a planted entry for a name no block admits, and an entry whose block a reload removed, are not renewed
 * (no order at the CA) and are logged once; an entry still admitted is renewed as before. Built as the server builds
 * it (src/server/generation.ts, a reload is a new generation of a new config), on a real file storage, in front of
 * the fake CA.
 */
import { decodePem } from "../../../src/acme/mod.ts";
import type { AccountSession } from "../../../src/account/session.ts";
import { Http01Responder } from "../../../src/challenges/http01/responder.ts";
import type { Config } from "../../../src/config/types.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { AcmemsMetrics } from "../../../src/ops/metrics.ts";
import { buildGeneration, type Generation, retireGeneration } from "../../../src/server/generation.ts";
import { prepareStorages } from "../../../src/storage/factory.ts";
import { cacheKey, type Entry, isHeld, type Storage } from "../../../src/storage/mod.ts";
import { assert, assertEquals } from "../../support/assert.ts";
import { makeCsr } from "../../support/csr.ts";
import { testEntry } from "../../support/entry.ts";
import { FakeCa } from "../../support/fake_ca.ts";
import { load } from "../config/helpers.ts";

const DAY = 86_400_000;
const CA = "https://fake.ca/dir";
const REFUSED = "stored certificate not renewed: the current config does not admit it";

/** A config with one file storage in `dir`, an http01 verification and `auth` (INI text of the auth blocks). */
function configOf(dir: string, auth: string): Config {
  const result = load(`[account]
dir = ${dir}/account
acme-server = ${CA}
accept-terms-of-service = yes
[verification "http"]
type = http01
listener = 127.0.0.1:5002
[storage "file"]
type = file
directory = ${dir}/cache
[mgmt]
default-storage = file
${auth}`);
  assert(result.ok && result.config, JSON.stringify(result.errors));
  return result.config;
}

const LOCAL = `[auth "local"]
ip = 127.0.0.1
domain = *.example.test
`;
/** Admits the same names for another client (the block `local` was replaced). */
const PARTNERS = `[auth "partners"]
ip = 10.9.9.9
domain = *.example.test
`;

interface Ctx {
  dir: string;
  fake: FakeCa;
  log: ReturnType<typeof memoryLogger>;
  build(auth: string): Promise<Generation>;
}

async function withServer(fn: (ctx: Ctx) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-reauth-" });
  const fake = new FakeCa();
  const log = memoryLogger("debug");
  const session = { client: () => fake.asClient(), accountLost: () => {} } as unknown as AccountSession;
  const deps = { log, metrics: new AcmemsMetrics(), session, responders: new Map([["http", new Http01Responder()]]) };
  const generations: Generation[] = [];
  const build = async (auth: string) => {
    const previous = generations.at(-1);
    const next = buildGeneration(configOf(dir, auth), previous, deps);
    await prepareStorages(next.storages.values());
    generations.push(next);
    if (previous) await retireGeneration(previous, next);
    return next;
  };
  try {
    await fn({ dir, fake, log, build });
  } finally {
    const last = generations.at(-1);
    if (last) {
      await last.issuer.drain();
      await last.notifiers.drain();
      for (const storage of last.storages.values()) await storage.close();
    }
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes a due entry (renew-within 14 days: it ends in 5) for a real CSR of `names` into `storage`. */
async function plant(storage: Storage, names: string[], fields: Partial<Entry> = {}): Promise<Entry> {
  const csr = await makeCsr({ names });
  const key = await cacheKey(CA, undefined, decodePem(csr.csrPem, ["CERTIFICATE REQUEST"]).der);
  const now = Date.now();
  const entry = testEntry("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", key, {
    directoryUrl: CA,
    csr: csr.csrPem,
    names,
    verification: "http",
    notBefore: new Date(now - 85 * DAY).toISOString(),
    issuedAt: new Date(now - 85 * DAY).toISOString(),
    notAfter: new Date(now + 5 * DAY).toISOString(),
    // A fresh ARI answer without a window: due by renew-within, no ARI lookup first.
    ari: {
      certId: "aki.serial",
      retryAfter: new Date(now + DAY).toISOString(),
      fetchedAt: new Date(now).toISOString(),
    },
    ...fields,
  });
  const claim = await storage.claim(key, "planter", 5_000);
  assert(!isHeld(claim));
  assert(await storage.put(claim, entry));
  await storage.release(claim);
  return entry;
}

const refusals = (ctx: Ctx) => ctx.log.lines.filter((line) => line.includes(REFUSED));
const fileOf = (generation: Generation) => generation.storages.get("file")!;

Deno.test("reauthorize: a planted entry for a name outside policy is not renewed, and is logged once", async () => {
  await withServer(async (ctx) => {
    const generation = await ctx.build(LOCAL);
    const planted = await plant(fileOf(generation), ["evil.example.net"], { block: "local" });
    const first = await generation.issuer.sweep();
    const second = await generation.issuer.sweep();
    assertEquals(ctx.fake.orders, 0, "no order at the CA for a name the config does not admit");
    assertEquals([first.renewed, first.failed, second.renewed, second.failed], [0, 0, 0, 0]);
    const logged = refusals(ctx);
    assertEquals(logged.length, 1, `logged once over two sweeps:\n${ctx.log.lines.join("\n")}`);
    assert(logged[0].includes("evil.example.net"), logged[0]);
    assert(!ctx.log.lines.some((l) => l.includes("background renewal failed")), "not a renewal failure");
    // Left to expire (README "Caching and renewal"): the entry stays as it was.
    assertEquals((await fileOf(generation).get(planted.key))?.chain, planted.chain);
  });
});

Deno.test("reauthorize: an entry without a block (older versions) for a name outside policy is not renewed", async () => {
  await withServer(async (ctx) => {
    const generation = await ctx.build(LOCAL);
    await plant(fileOf(generation), ["www.example.net"]);
    // Admitted names under a verification no block uses: refused too.
    await plant(fileOf(generation), ["mail.example.test"], { verification: "dns" });
    await generation.issuer.sweep();
    assertEquals(ctx.fake.orders, 0);
    assertEquals(refusals(ctx).length, 2, ctx.log.lines.join("\n"));
  });
});

Deno.test("reauthorize: an entry whose block a reload removed is not renewed; one still admitted is", async () => {
  await withServer(async (ctx) => {
    const before = await ctx.build(LOCAL);
    const recorded = await plant(fileOf(before), ["www.example.test"], { block: "local" });
    const legacy = await plant(fileOf(before), ["api.example.test"]);
    // The reload replaces the block `local` by `partners`, which admits the same names for another client.
    const after = await ctx.build(PARTNERS);
    const stats = await after.issuer.sweep();
    assertEquals(stats.renewed, 1, ctx.log.lines.join("\n"));
    assertEquals(ctx.fake.orders, 1, "only the entry without a recorded block was ordered");
    const storage = fileOf(after);
    assertEquals(
      (await storage.get(recorded.key))?.chain,
      recorded.chain,
      "the removed block's entry is left as it was",
    );
    const renewed = (await storage.get(legacy.key))!;
    assert(renewed.chain !== legacy.chain, "the entry still admitted was renewed");
    assertEquals(renewed.block, "partners", "the renewal records the block that admits it now");
    const logged = refusals(ctx);
    assertEquals(logged.length, 1, ctx.log.lines.join("\n"));
    assert(logged[0].includes('"local"'), logged[0]);
    await after.issuer.sweep();
    assertEquals([ctx.fake.orders, refusals(ctx).length], [1, 1], "still refused, not logged again");
  });
});

Deno.test("reauthorize: an entry still admitted by its recorded block is renewed as before", async () => {
  await withServer(async (ctx) => {
    const generation = await ctx.build(LOCAL + PARTNERS);
    const entry = await plant(fileOf(generation), ["www.example.test"], { block: "partners" });
    const stats = await generation.issuer.sweep();
    assertEquals([stats.renewed, stats.failed, ctx.fake.orders], [1, 0, 1], ctx.log.lines.join("\n"));
    const renewed = (await fileOf(generation).get(entry.key))!;
    assert(renewed.chain !== entry.chain);
    assertEquals(renewed.block, "partners");
    assertEquals(refusals(ctx), []);
  });
});
