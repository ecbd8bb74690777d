/** The ledger's rules over a memory store with a moving clock: windows, scopes, renewals, pauses, budget. */
import { RateLimitLedger } from "../../../src/ca/ledger.ts";
import { memoryLedgerStore } from "../../../src/ca/ledger_book.ts";
import type { Admission, CaLimits } from "../../../src/ca/ledger_port.ts";
import type { LedgerStore } from "../../../src/ca/ledger_store.ts";
import { parseRateLimit } from "../../../src/ca/limits.ts";
import { unpauseUrlOf } from "../../../src/ca/unpause.ts";
import { AcmemsMetrics } from "../../../src/ops/metrics.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";

function limit(text: string) {
  const parsed = parseRateLimit(text);
  if ("error" in parsed) throw new Error(parsed.error);
  return parsed.value;
}

const T0 = Date.parse("2026-12-07T10:00:00Z");

function setup(
  cas: Record<string, CaLimits>,
  blocks: Record<string, { limitOrders?: string; limitOrdersPerClient?: string }> = {},
  store: LedgerStore = memoryLedgerStore(8 * 86_400_000),
) {
  const clock = { ms: T0 };
  const ledger = new RateLimitLedger({
    store,
    cas: new Map(Object.entries(cas)),
    blocks: new Map(
      Object.entries(blocks).map(([name, b]) => [name, {
        ...(b.limitOrders ? { limitOrders: limit(b.limitOrders) } : {}),
        ...(b.limitOrdersPerClient ? { limitOrdersPerClient: limit(b.limitOrdersPerClient) } : {}),
      }]),
    ),
    now: () => new Date(clock.ms),
  });
  return { ledger, clock, store };
}

function refused(admission: Admission): Extract<Admission, { ok: false }> {
  assert(!admission.ok, "expected a refusal");
  return admission;
}

Deno.test("ledger: limit-orders = 2/1h admits two orders, refuses the third until the oldest leaves the window", async () => {
  const { ledger, clock } = setup({ a: { off: false, orders: limit("2/1h") } });
  assert((await ledger.admit({ ca: "a", names: ["one.example.org"] })).ok);
  clock.ms += 600_000;
  assert((await ledger.admit({ ca: "a", names: ["two.example.org"] })).ok);
  clock.ms += 600_000;
  const third = refused(await ledger.admit({ ca: "a", names: ["three.example.org"] }));
  assertEquals(third.scope, "ca");
  assertEquals(third.limit, 'limit-orders = 2/1h (CA "a")');
  // The first order (at T0) leaves the window at T0 + 1h: 40 minutes from now.
  assertEquals(third.retryAfterSeconds, 2400);
  assertMatch(third.detail, /limit-orders = 2\/1h \(CA "a"\).*2 new orders.*1h.*2026-12-07T11:00:00Z/);
  clock.ms = T0 + 3_600_000;
  assert((await ledger.admit({ ca: "a", names: ["three.example.org"] })).ok, "the oldest left the window");
  refused(await ledger.admit({ ca: "a", names: ["four.example.org"] }));
});

Deno.test("ledger: registered domain per Public Suffix List, exact set, IP addresses per address", async () => {
  const { ledger } = setup({ a: { off: false, registeredDomain: limit("2/7d"), exactSet: limit("1/7d") } });
  assert((await ledger.admit({ ca: "a", names: ["www.example.co.uk"] })).ok);
  // Same exact set (order and case do not matter): refused by the exact-set limit.
  const again = refused(await ledger.admit({ ca: "a", names: ["WWW.example.co.uk"] }));
  assertEquals(again.limit, 'limit-exact-set = 1/7d (CA "a")');
  assert((await ledger.admit({ ca: "a", names: ["mail.example.co.uk", "example.co.uk"] })).ok);
  const third = refused(await ledger.admit({ ca: "a", names: ["shop.example.co.uk"] }));
  assertEquals(third.limit, 'limit-registered-domain = 2/7d (CA "a")');
  assertMatch(third.detail, /registered domain example\.co\.uk/);
  // Another registered domain under the same public suffix has its own budget; so has each IP address.
  assert((await ledger.admit({ ca: "a", names: ["www.other.co.uk"] })).ok);
  assert((await ledger.admit({ ca: "a", names: ["192.0.2.1"] })).ok);
  assert((await ledger.admit({ ca: "a", names: ["192.0.2.2"] })).ok);
});

Deno.test("ledger: ARI renewals (replaces) are counted but never refused", async () => {
  const { ledger } = setup({ a: { off: false, orders: limit("1/1h"), exactSet: limit("1/7d") } }, {
    office: { limitOrders: "1/1d" },
  });
  assert((await ledger.admit({ ca: "a", names: ["x.example.org"], block: "office", client: "192.0.2.9" })).ok);
  for (let i = 0; i < 3; i++) {
    const renewal = await ledger.admit({
      ca: "a",
      names: ["x.example.org"],
      replaces: "cert-id",
      block: "office",
      client: "192.0.2.9",
    });
    assert(renewal.ok, "a renewal passes a full ledger");
  }
  const budget = await ledger.budget();
  const orders = budget.find((l) => l.owner === "a" && l.limit === "orders")!;
  assertEquals(orders.remaining, 0, "renewals were counted");
});

Deno.test("ledger: a block budget is refused with scope block, another block still passes", async () => {
  const { ledger } = setup({ a: { off: false } }, { office: { limitOrders: "1/1d" }, lab: { limitOrders: "1/1d" } });
  assert((await ledger.admit({ ca: "a", names: ["a.example.org"], block: "office", client: "192.0.2.1" })).ok);
  const second = refused(
    await ledger.admit({ ca: "a", names: ["b.example.org"], block: "office", client: "192.0.2.2" }),
  );
  assertEquals(second.scope, "block");
  assertEquals(second.limit, 'limit-orders = 1/1d ([auth "office"])');
  assertEquals(second.retryAfterSeconds, 86_400);
  assert((await ledger.admit({ ca: "a", names: ["c.example.org"], block: "lab", client: "192.0.2.3" })).ok);
  // A background renewal carries no block: never refused by a block budget.
  assert((await ledger.admit({ ca: "a", names: ["d.example.org"] })).ok);
});

Deno.test("ledger: limit-orders-per-client counts each client address of a block", async () => {
  const { ledger } = setup({ a: { off: false } }, { office: { limitOrdersPerClient: "1/1d" } });
  assert((await ledger.admit({ ca: "a", names: ["a.example.org"], block: "office", client: "192.0.2.1" })).ok);
  const again = refused(
    await ledger.admit({ ca: "a", names: ["b.example.org"], block: "office", client: "192.0.2.1" }),
  );
  assertEquals(again.limit, 'limit-orders-per-client = 1/1d ([auth "office"], client 192.0.2.1)');
  assert((await ledger.admit({ ca: "a", names: ["b.example.org"], block: "office", client: "192.0.2.2" })).ok);
});

Deno.test("ledger: a block refusal wins over a CA refusal; a CA refusal counts nothing (all or nothing)", async () => {
  const { ledger } = setup({ a: { off: false, orders: limit("1/1h") }, b: { off: false } }, {
    office: { limitOrders: "2/1d" },
  });
  assert((await ledger.admit({ ca: "a", names: ["a.example.org"], block: "office", client: "192.0.2.1" })).ok);
  const atA = refused(await ledger.admit({ ca: "a", names: ["b.example.org"], block: "office", client: "192.0.2.1" }));
  assertEquals(atA.scope, "ca", "CA a is full: try the next CA");
  // The refusal at a did not spend the block's second slot: b admits it.
  assert((await ledger.admit({ ca: "b", names: ["b.example.org"], block: "office", client: "192.0.2.1" })).ok);
  const spent = refused(
    await ledger.admit({ ca: "a", names: ["c.example.org"], block: "office", client: "192.0.2.1" }),
  );
  assertEquals(spent.scope, "block");
});

Deno.test("ledger: cancel gives the slots back (once)", async () => {
  const { ledger } = setup({ a: { off: false, orders: limit("1/1h") } });
  const first = await ledger.admit({ ca: "a", names: ["a.example.org"] });
  assert(first.ok);
  refused(await ledger.admit({ ca: "a", names: ["b.example.org"] }));
  await first.ticket.cancel();
  await first.ticket.cancel();
  const second = await ledger.admit({ ca: "a", names: ["b.example.org"] });
  assert(second.ok, "the cancelled slot is free again");
  refused(await ledger.admit({ ca: "a", names: ["c.example.org"] }));
});

Deno.test("ledger: rate-limits = off keeps no limit; a CA without limits admits everything", async () => {
  const { ledger } = setup({ a: { off: true, orders: limit("1/1h") }, b: { off: false } });
  for (let i = 0; i < 5; i++) {
    assert((await ledger.admit({ ca: "a", names: [`n${i}.example.org`] })).ok);
    assert((await ledger.admit({ ca: "b", names: [`n${i}.example.org`] })).ok);
    assert((await ledger.admit({ ca: "unknown", names: [`n${i}.example.org`] })).ok);
  }
  assertEquals(await ledger.budget(), []);
});

Deno.test("ledger: failed authorizations per name refuse that name only", async () => {
  const { ledger, clock } = setup({ a: { off: false, failedAuthorizations: limit("2/1h") } });
  await ledger.noteFailedAuthorization("a", "bad.example.org");
  clock.ms += 1000;
  await ledger.noteFailedAuthorization("a", "BAD.example.org");
  const refusal = refused(await ledger.admit({ ca: "a", names: ["bad.example.org", "good.example.org"] }));
  assertEquals(refusal.limit, 'limit-failed-authorizations = 2/1h (CA "a")');
  assertEquals(refusal.retryAfterSeconds, 3599);
  assert((await ledger.admit({ ca: "a", names: ["good.example.org"] })).ok);
  // A renewal is not refused by it.
  assert((await ledger.admit({ ca: "a", names: ["bad.example.org"], replaces: "id" })).ok);
});

Deno.test("ledger: the CA's 429 pauses those names (or the whole CA) with its unpause URL", async () => {
  const { ledger, clock } = setup({ a: { off: false }, b: { off: false } });
  const url = "https://portal.example/sfe/v1/unpause?jwt=abc";
  await ledger.noteRateLimited("a", ["x.example.org"], 120, "too many failed authorizations", url);
  const paused = refused(await ledger.admit({ ca: "a", names: ["x.example.org", "y.example.org"] }));
  assertEquals(paused.scope, "ca");
  assertEquals(paused.retryAfterSeconds, 120);
  assertEquals(paused.unpauseUrl, url);
  assertMatch(paused.detail, /too many failed authorizations.*unpause: https:\/\/portal\.example/);
  assert((await ledger.admit({ ca: "a", names: ["y.example.org"] })).ok, "other names are not paused");
  assert((await ledger.admit({ ca: "b", names: ["x.example.org"] })).ok, "other CAs are not paused");
  await ledger.noteRateLimited("b", [], 60, "slow down");
  refused(await ledger.admit({ ca: "b", names: ["z.example.org"] }));
  clock.ms += 121_000;
  assert((await ledger.admit({ ca: "a", names: ["x.example.org"] })).ok, "the pause ended");
  assert((await ledger.admit({ ca: "b", names: ["z.example.org"] })).ok);
});

Deno.test("ledger: budget lines per CA and limit, and the /metrics gauges", async () => {
  const { ledger } = setup({ a: { off: false, orders: limit("3/1h"), registeredDomain: limit("5/7d") } }, {
    office: { limitOrders: "4/1d", limitOrdersPerClient: "2/1d" },
  });
  assert((await ledger.admit({ ca: "a", names: ["a.example.org"], block: "office", client: "192.0.2.1" })).ok);
  assert((await ledger.admit({ ca: "a", names: ["b.example.org"], block: "office", client: "192.0.2.1" })).ok);
  assert((await ledger.admit({ ca: "a", names: ["c.example.net"] })).ok);
  const budget = await ledger.budget();
  const line = (owner: string, l: string, key = "") =>
    budget.find((b) => b.owner === owner && b.limit === l && b.key === key);
  assertEquals(line("a", "orders")?.remaining, 0);
  assertEquals(line("a", "registered-domain", "example.org")?.remaining, 3);
  assertEquals(line("a", "registered-domain", "example.net")?.remaining, 4);
  assertEquals(line("block:office", "block-orders")?.remaining, 2);
  assertEquals(line("block:office", "block-client-orders", "192.0.2.1")?.remaining, 0);
  const metrics = new AcmemsMetrics();
  metrics.budgetSource = () => ledger.budget();
  await metrics.registry.refresh();
  const text = metrics.registry.render();
  assert(text.includes('acmems_rate_limit_remaining{ca="a",limit="orders"} 0'), text);
  assert(text.includes('acmems_rate_limit_remaining{ca="a",limit="registered-domain"} 3'), text);
  assert(text.includes('acmems_rate_limit_remaining{block="office",limit="block-orders"} 2'), text);
  assert(text.includes('acmems_rate_limit_remaining{block="office",limit="block-client-orders"} 0'), text);
  assert(text.includes('acmems_rate_limit_max{ca="a",limit="orders"} 3'), text);
});

Deno.test("unpauseUrlOf: finds the unpause URL in a CA's problem detail", () => {
  assertEquals(
    unpauseUrlOf(
      "Your account is temporarily prevented from requesting certificates for x.example.org. Please visit: " +
        "https://portal.letsencrypt.org/sfe/v1/unpause?jwt=eyJ.abc.def.",
    ),
    "https://portal.letsencrypt.org/sfe/v1/unpause?jwt=eyJ.abc.def",
  );
  assertEquals(unpauseUrlOf("too many new orders recently"), undefined);
});
