/**
 * Failover between CAs (issue 15, item 2): the pure rules, and the issuance service with two fake CAs, a file cache
 * and a fake rate-limit ledger.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../../support/assert.ts";
import { badCsr, FakeCa, type FakeCaOptions, rateLimited, serverDown } from "../../support/fake_ca.ts";
import { AcmeProblem } from "../../../src/acme/mod.ts";
import { CaUnavailableError } from "../../../src/account/session.ts";
import {
  accountWideLimit,
  FailoverFailure,
  failoverReason,
  finalFailure,
  unpauseUrlOf,
} from "../../../src/ca/failover.ts";
import type { Admission, Ledger, OrderIntent } from "../../../src/ca/ledger_port.ts";
import type { CaEndpoint } from "../../../src/ca/registry.ts";
import { ValidationFailed } from "../../../src/challenges/resolver.ts";
import { OrderInvalid } from "../../../src/issuance/order.ts";
import { Http01Responder } from "../../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../../src/challenges/http01/solver.ts";
import type { AuthBlock } from "../../../src/config/types.ts";
import { IssueFailure } from "../../../src/issuance/failure.ts";
import { IssuanceService, type IssueRequest } from "../../../src/issuance/service.ts";
import type { IssueEventDetails } from "../../../src/issuance/request.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { AcmemsMetrics } from "../../../src/ops/metrics.ts";
import { FileStorage } from "../../../src/storage/file.ts";
import { isHeld } from "../../../src/storage/mod.ts";
import { requestFor } from "../issuance/_request.ts";

const problem = (type: string, status: number, detail = `${type} says no`) =>
  new AcmeProblem({ type: `urn:ietf:params:acme:error:${type}`, detail, status });

Deno.test("failoverReason: unavailable, 429, caa, rejectedIdentifier go on; validation and a refused CSR do not", () => {
  const cases: [unknown, string | null][] = [
    [new CaUnavailableError("not ready"), "unavailable"],
    [serverDown(), "unavailable"],
    [problem("serverInternal", 500), "unavailable"],
    [problem("malformed", 503), "unavailable"],
    [rateLimited(60), "rate-limit"],
    [new IssueFailure("rate-limited", "ledger", 30), "rate-limit"],
    [problem("caa", 403), "caa"],
    [problem("rejectedIdentifier", 400), "rejected-identifier"],
    [problem("unsupportedIdentifier", 400), "unsupported-identifier"],
    [new ValidationFailed("www.example.test", "connection refused"), null],
    [new ValidationFailed("www.example.test", "no", { type: "urn:ietf:params:acme:error:connection" }), null],
    // A validation or an order this CA refuses for its own reasons (CAA names other CAs): the next CA may issue.
    [new ValidationFailed("www.example.test", "CAA forbids", { type: "urn:ietf:params:acme:error:caa" }), "caa"],
    [new OrderInvalid("no", { type: "urn:ietf:params:acme:error:caa" }), "caa"],
    [new OrderInvalid("no", { type: "urn:ietf:params:acme:error:rejectedIdentifier" }), "rejected-identifier"],
    [new OrderInvalid("no", { type: "urn:ietf:params:acme:error:badCSR" }), null],
    [new OrderInvalid("no"), null],
    [
      new OrderInvalid("no", {
        type: "urn:ietf:params:acme:error:compound",
        subproblems: [{ type: "urn:ietf:params:acme:error:caa" }, { type: "urn:ietf:params:acme:error:caa" }],
      }),
      "caa",
    ],
    [
      new OrderInvalid("no", {
        type: "urn:ietf:params:acme:error:compound",
        subproblems: [{ type: "urn:ietf:params:acme:error:caa" }, { type: "urn:ietf:params:acme:error:dns" }],
      }),
      null,
    ],
    [problem("unauthorized", 403), null],
    [problem("dns", 400), null],
    [badCsr(), null],
    [problem("badPublicKey", 400), null],
    [new IssueFailure("names-refused", "no"), null],
    [new Error("bug"), null],
  ];
  for (const [error, reason] of cases) assertEquals(failoverReason(error), reason, String(error));
});

Deno.test("unpauseUrlOf: the https URL with unpause in a Let's Encrypt problem detail", () => {
  assertEquals(
    unpauseUrlOf(
      "Your account is temporarily prevented from requesting certificates for www.example.org and possibly " +
        "others. Please visit: https://portal.letsencrypt.org/sfe/v1/unpause?jwt=abc.def.ghi.",
    ),
    "https://portal.letsencrypt.org/sfe/v1/unpause?jwt=abc.def.ghi",
  );
  assertEquals(unpauseUrlOf("too many certificates, see https://letsencrypt.org/docs/rate-limits/"), undefined);
});

Deno.test("finalFailure: all rate-limited → the smallest Retry-After; otherwise the last", () => {
  const a = new IssueFailure("rate-limited", "a", 900);
  const b = new IssueFailure("rate-limited", "b", 60);
  assertEquals(finalFailure([a, b]).retryAfterSeconds, 60);
  const c = new IssueFailure("unavailable", "c", 10);
  assertEquals(finalFailure([b, c]), c);
});

/** A ledger that records what it is told and answers as the test says. */
class FakeLedger implements Ledger {
  admitted: OrderIntent[] = [];
  cancelled: string[] = [];
  rateLimited: { ca: string; names: readonly string[]; seconds: number; unpauseUrl?: string }[] = [];
  failedAuthorizations: [string, string][] = [];
  constructor(
    readonly refuse: (intent: OrderIntent) => Exclude<Admission, { ok: true }> | undefined = () => undefined,
  ) {}
  admit(intent: OrderIntent): Promise<Admission> {
    const refusal = this.refuse(intent);
    if (refusal) return Promise.resolve(refusal);
    this.admitted.push(intent);
    return Promise.resolve({
      ok: true,
      ticket: { cancel: () => Promise.resolve(void this.cancelled.push(intent.ca)) },
    });
  }
  noteFailedAuthorization(ca: string, name: string): Promise<void> {
    this.failedAuthorizations.push([ca, name]);
    return Promise.resolve();
  }
  noteRateLimited(ca: string, names: readonly string[], seconds: number, _d: string, unpauseUrl?: string) {
    this.rateLimited.push({ ca, names, seconds, unpauseUrl });
    return Promise.resolve();
  }
  budget() {
    return Promise.resolve([]);
  }
}

interface Ctx {
  issuer: IssuanceService;
  a: FakeCa;
  b: FakeCa;
  storage: FileStorage;
  ledger: FakeLedger;
  metrics: AcmemsMetrics;
  log: ReturnType<typeof memoryLogger>;
  events: IssueEventDetails[];
  request: IssueRequest;
  down: Set<string>;
  clock: { now: Date };
}

const BLOCK: AuthBlock = {
  name: "multi",
  ips: [],
  domains: ["*.example.test"],
  all: true,
  verification: "http",
  storage: "file",
  cas: ["a", "b"],
  source: { file: "acmems.ini", line: 1 },
};

async function setup(
  opts: { a?: FakeCaOptions; b?: FakeCaOptions; ledger?: FakeLedger; cas?: string[] },
  fn: (ctx: Ctx) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "acmems-failover-" });
  const log = memoryLogger();
  const storage = new FileStorage({ name: "file", directory: dir, renewWithinDays: 14, renewActiveDays: 30, log });
  const a = new FakeCa(opts.a);
  const b = new FakeCa(opts.b);
  const down = new Set<string>();
  const endpoint = (name: string, fake: FakeCa): CaEndpoint => ({
    name,
    directoryUrl: `https://${name}.ca.test/dir`,
    client: () => {
      if (down.has(name)) throw new CaUnavailableError(`cannot reach ${name}`);
      return fake.asClient();
    },
    // What the session does: unavailable (client() throws) until it reconnects.
    unreachable: () => void down.add(name),
    // What the session does after `register --rollover-key --ca NAME`: the new key is in use.
    keyRefused: () => Promise.resolve(true),
  });
  const ledger = opts.ledger ?? new FakeLedger();
  const metrics = new AcmemsMetrics();
  const events: IssueEventDetails[] = [];
  const clock = { now: new Date() };
  const cas = [endpoint("a", a), endpoint("b", b)];
  const issuer = new IssuanceService({
    client: cas[0].client,
    directoryUrl: cas[0].directoryUrl,
    cas,
    defaultCa: "a",
    ledger,
    solvers: new Map([["http", new Http01Solver(new Http01Responder())]]),
    storages: new Map([["file", storage]]),
    auth: [{ ...BLOCK, cas: opts.cas ?? BLOCK.cas }],
    log,
    metrics,
    now: () => clock.now,
    onEvent: (event, details) => event === "issue-failed" && events.push(details),
  });
  const request = { ...await requestFor("www.example.test", "file"), block: "multi", client: "192.0.2.7" };
  try {
    await fn({ issuer, a, b, storage, ledger, metrics, log, events, request, down, clock });
  } finally {
    await issuer.drain();
    await storage.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const soon = () => Date.now() + 5000;
const failoverMetric = (metrics: AcmemsMetrics) =>
  metrics.registry.render().split("\n").filter((l) => l.startsWith("acmems_ca_failover_total{"));

/** Makes the (one) stored entry due: notAfter in 5 days. */
async function makeDue(storage: FileStorage): Promise<void> {
  const [key] = await storage.keys();
  const claim = await storage.claim(key, "test", 1000);
  assert(!isHeld(claim));
  const entry = (await storage.get(key))!;
  entry.notAfter = new Date(Date.now() + 5 * 86_400_000).toISOString();
  entry.notBefore = new Date(Date.now() - 85 * 86_400_000).toISOString();
  assert(await storage.put(claim, entry));
  await storage.release(claim);
}

async function storedCas(storage: FileStorage): Promise<string[]> {
  const keys = await storage.keys();
  return (await Promise.all(keys.map((k) => storage.get(k)))).map((e) => e!.ca!).sort();
}

Deno.test("failover: A unavailable → B issues; logged, counted, the entry records B", async () => {
  await setup({}, async ({ issuer, a, b, down, storage, metrics, log, request, ledger }) => {
    down.add("a");
    const result = await issuer.issue(request, soon());
    assertEquals(result.cache, "miss");
    assertEquals([a.orders, b.orders], [0, 1]);
    assertEquals(await storedCas(storage), ["b"]);
    assertEquals(failoverMetric(metrics), ['acmems_ca_failover_total{from="a",to="b",reason="unavailable"} 1']);
    const line = log.lines.map((l) => JSON.parse(l)).find((l) => l.msg === "ca failover" || l.event === "ca failover");
    assert(line, log.lines.join("\n"));
    assertEquals([line.from, line.to, line.reason], ["a", "b", "unavailable"]);
    // The ledger was only asked about the CA that was reachable.
    assertEquals(ledger.admitted.map((i) => [i.ca, i.block, i.client]), [["b", "multi", "192.0.2.7"]]);
  });
});

Deno.test("failover: an account-wide 429 at A pauses the whole CA in the ledger (no names), then B issues", async () => {
  const tooMany = new AcmeProblem({
    type: "urn:ietf:params:acme:error:rateLimited",
    detail: "too many new orders (300) from this account in the last 3h0m0s, retry after 2026-12-07 20:00:00 UTC",
    status: 429,
    retryAfter: new Date(Date.now() + 600_000),
  });
  await setup({ a: { newOrderError: () => tooMany } }, async ({ issuer, a, b, ledger, request }) => {
    await issuer.issue(request, soon());
    assertEquals([a.orders, b.orders], [1, 1]);
    assertEquals(ledger.rateLimited.map((r) => [r.ca, r.names]), [["a", []]]);
  });
  assertEquals(
    accountWideLimit('too many certificates (50) already issued for "example.test" in the last 168h0m0s'),
    false,
  );
  assertEquals(accountWideLimit("too many new registrations (10) from this IP address"), true);
});

Deno.test("failover: A unreachable during an order is marked so; the next order skips it at once", async () => {
  await setup({ a: { newOrderError: () => serverDown() } }, async ({ issuer, a, b, request, down }) => {
    await issuer.issue(request, soon());
    assertEquals([a.orders, b.orders], [1, 1]);
    assert(down.has("a"), "A is unavailable until it reconnects");
    const other = { ...await requestFor("other.example.test", "file"), block: "multi", client: "192.0.2.7" };
    await issuer.issue(other, soon());
    assertEquals([a.orders, b.orders], [1, 2], "A was not asked again");
  });
});

Deno.test("failover: A refuses the old key's signature (a rollover) → the new key is used, A issues", async () => {
  let refusals = 0;
  const refused = () =>
    refusals++ === 0
      ? problem("malformed", 400, "JWS verification error: go-jose/go-jose: error in cryptographic primitive")
      : undefined;
  await setup({ a: { newOrderError: refused } }, async ({ issuer, a, b, request, metrics }) => {
    await issuer.issue(request, soon());
    assertEquals([refusals, b.orders], [2, 0], "A asked twice, B never");
    assert(a.orders >= 1);
    assertEquals(failoverMetric(metrics), []);
  });
});

Deno.test("a profile the client asked for (ACME front end) goes to the CAs of the chain; else each CA's own", async () => {
  const asked: (string | undefined)[] = [];
  const note = (opts: { identifiers: unknown[]; profile?: string }) => void asked.push(opts.profile);
  await setup({ a: { newOrderError: note } }, async ({ issuer, request }) => {
    await issuer.issue({ ...request, requestedProfile: "shortlived" }, soon());
    const other = { ...await requestFor("plain.example.test", "file"), block: "multi", client: "192.0.2.7" };
    await issuer.issue(other, soon());
  });
  assertEquals(asked, ["shortlived", undefined]);
});

Deno.test("failover: a 429 at A is told to the ledger (with the unpause URL), then B issues", async () => {
  const paused = new AcmeProblem({
    type: "urn:ietf:params:acme:error:rateLimited",
    detail: "paused: visit https://portal.letsencrypt.org/sfe/v1/unpause?jwt=x.y.z to unpause",
    status: 429,
    retryAfter: new Date(Date.now() + 120_000),
  });
  await setup({ a: { newOrderError: () => paused } }, async ({ issuer, a, b, ledger, request, metrics }) => {
    await issuer.issue(request, soon());
    assertEquals([a.orders, b.orders], [1, 1]);
    assertEquals(ledger.rateLimited.length, 1);
    assertEquals(ledger.rateLimited[0].ca, "a");
    assertEquals(ledger.rateLimited[0].names, ["www.example.test"]);
    assert(ledger.rateLimited[0].seconds > 60 && ledger.rateLimited[0].seconds <= 120);
    assertEquals(ledger.rateLimited[0].unpauseUrl, "https://portal.letsencrypt.org/sfe/v1/unpause?jwt=x.y.z");
    assertEquals(ledger.cancelled, ["a"], "A never created the order: its slot is given back");
    assertEquals(failoverMetric(metrics), ['acmems_ca_failover_total{from="a",to="b",reason="rate-limit"} 1']);
  });
});

for (const [type, reason] of [["caa", "caa"], ["rejectedIdentifier", "rejected-identifier"]]) {
  Deno.test(`failover: ${type} from A → B issues`, async () => {
    await setup({ a: { newOrderError: () => problem(type, 403) } }, async ({ issuer, a, b, metrics, request }) => {
      await issuer.issue(request, soon());
      assertEquals([a.orders, b.orders], [1, 1]);
      assertEquals(failoverMetric(metrics), [`acmems_ca_failover_total{from="a",to="b",reason="${reason}"} 1`]);
    });
  });
}

Deno.test("failover: a validation refused for CAA at A → B issues (the failed authorization is told to the ledger)", async () => {
  await setup(
    { a: { failValidation: { "www.example.test": "caa|CAA record for example.test prevents issuance" } } },
    async ({ issuer, a, b, ledger, request, metrics }) => {
      await issuer.issue(request, soon());
      assertEquals([a.orders, b.orders], [1, 1]);
      assertEquals(ledger.failedAuthorizations, [["a", "www.example.test"]]);
      assertEquals(failoverMetric(metrics), ['acmems_ca_failover_total{from="a",to="b",reason="caa"} 1']);
    },
  );
});

Deno.test("no failover on a validation failure: names-refused, B never asked, the ledger told", async () => {
  await setup(
    { a: { failValidation: { "www.example.test": "connection refused" } } },
    async ({ issuer, a, b, ledger, request, events, metrics }) => {
      const error = await assertRejects(() => issuer.issue(request, soon()));
      assert(error instanceof IssueFailure && error.kind === "names-refused", String(error));
      assertEquals([a.orders, b.orders], [1, 0]);
      assertEquals(ledger.failedAuthorizations, [["a", "www.example.test"]]);
      assertEquals(failoverMetric(metrics), []);
      assertEquals(events[0].cas, ["a"]);
    },
  );
});

Deno.test("no failover on a refused CSR (badCSR)", async () => {
  await setup({ a: { finalizeError: badCsr } }, async ({ issuer, a, b, request }) => {
    const error = await assertRejects(() => issuer.issue(request, soon()));
    assert(error instanceof IssueFailure && error.kind === "refused", String(error));
    assertEquals([a.orders, b.orders], [1, 0]);
  });
});

const refuseAt = (ca: string, scope: "ca" | "block", seconds = 1800) => (intent: OrderIntent) =>
  intent.ca === ca
    ? {
      ok: false as const,
      scope,
      retryAfterSeconds: seconds,
      limit: `limit-orders = 2/1h at "${ca}"`,
      detail: `Over limit-orders = 2/1h at "${ca}"`,
      unpauseUrl: scope === "ca" ? "https://portal.letsencrypt.org/sfe/v1/unpause?jwt=q" : undefined,
    }
    : undefined;

Deno.test("the ledger refuses A (scope ca) → B issues and A is never called", async () => {
  await setup({ ledger: new FakeLedger(refuseAt("a", "ca")) }, async ({ issuer, a, b, request, metrics }) => {
    await issuer.issue(request, soon());
    assertEquals([a.orders, b.orders], [0, 1]);
    assertEquals(failoverMetric(metrics), ['acmems_ca_failover_total{from="a",to="b",reason="rate-limit"} 1']);
  });
});

Deno.test("the ledger refuses the only CA → rate-limited with its Retry-After, detail and unpause URL", async () => {
  await setup(
    { ledger: new FakeLedger(refuseAt("a", "ca", 1234)), cas: ["a"] },
    async ({ issuer, a, b, request, events }) => {
      const error = await assertRejects(() => issuer.issue(request, soon()));
      assert(error instanceof IssueFailure && error.kind === "rate-limited", String(error));
      assertEquals(error.retryAfterSeconds, 1234);
      assertMatch(error.message, /Over limit-orders = 2\/1h at "a".*unpause\?jwt=q/);
      assertEquals([a.orders, b.orders], [0, 0]);
      // issue-failed carries the unpause URL as a field of its own.
      assertMatch(String(events[0].unpauseUrl), /^https:\/\/.*unpause\?jwt=q/);
    },
  );
});

Deno.test("the ledger refuses the block (scope block) → rate-limited at once, no CA called", async () => {
  await setup({ ledger: new FakeLedger(refuseAt("a", "block", 600)) }, async ({ issuer, a, b, request }) => {
    const error = await assertRejects(() => issuer.issue(request, soon()));
    assert(error instanceof IssueFailure && error.kind === "rate-limited", String(error));
    assertEquals(error.retryAfterSeconds, 600);
    assertEquals([a.orders, b.orders], [0, 0]);
  });
});

Deno.test("every CA rate-limited → rate-limited with the smallest Retry-After; issue-failed names the CAs", async () => {
  await setup(
    { a: { newOrderError: () => rateLimited(900) }, b: { newOrderError: () => rateLimited(120) } },
    async ({ issuer, request, events }) => {
      const error = await assertRejects(() => issuer.issue(request, soon()));
      assert(error instanceof FailoverFailure && error.kind === "rate-limited", String(error));
      assert(error.retryAfterSeconds! <= 121 && error.retryAfterSeconds! > 60, String(error.retryAfterSeconds));
      assertEquals(events.length, 1);
      assertEquals(events[0].cas, ["a", "b"]);
      assertEquals(events[0].caReasons?.map((r) => [r.ca, r.reason]), [["a", "rate-limit"], ["b", "rate-limit"]]);
    },
  );
});

Deno.test("every CA unavailable: 503 at once, issue-failed names each CA", async () => {
  await setup({}, async ({ issuer, a, b, down, request, events }) => {
    down.add("a");
    down.add("b");
    const error = await assertRejects(() => issuer.issue(request, soon()));
    assert(error instanceof IssueFailure && error.kind === "unavailable", String(error));
    assertEquals([a.orders, b.orders], [0, 0]);
    assertEquals(events[0].cas, ["a", "b"]);
    assertEquals(events[0].caReasons?.map((r) => r.reason), ["unavailable", "unavailable"]);
  });
});

Deno.test("A unreachable at newOrder → its ledger slot is given back (ticket.cancel), B issues", async () => {
  await setup({ a: { newOrderError: () => serverDown() } }, async ({ issuer, b, ledger, request }) => {
    await issuer.issue(request, soon());
    assertEquals(b.orders, 1);
    assertEquals(ledger.cancelled, ["a"]);
  });
});

Deno.test("one order at a time for one CSR and block across CAs (single flight)", async () => {
  await setup({ b: { finalizeDelayMs: 100 } }, async ({ issuer, a, b, down, request }) => {
    down.add("a");
    const results = await Promise.all([1, 2, 3].map(() => issuer.issue(request, soon())));
    assertEquals([a.orders, b.orders], [0, 1]);
    assertEquals(new Set(results.map((r) => r.chain)).size, 1);
  });
});

Deno.test("cache across CAs: B's certificate is served while valid; when due the renewal comes from A", async () => {
  await setup({}, async ({ issuer, a, b, down, storage, request, clock }) => {
    down.add("a");
    const first = await issuer.issue(request, soon());
    assertEquals([a.orders, b.orders], [0, 1]);
    // A is back, B's certificate is not due: served from the cache (A not asked).
    down.delete("a");
    const hit = await issuer.issue(request, soon());
    assertEquals([hit.cache, hit.chain], ["hit", first.chain]);
    assertEquals([a.orders, b.orders], [0, 1]);
    // Due (80 days later: within renew-within of its 90 days): the preferred CA renews it, B's entry is superseded.
    clock.now = new Date(Date.now() + 80 * 86_400_000);
    const renewed = await issuer.issue(request, soon());
    assertEquals(renewed.cache, "miss");
    assertEquals([a.orders, b.orders], [1, 1]);
    assertEquals(await storedCas(storage), ["a"]);
  });
});

Deno.test("cache across CAs: B's certificate due while A is still down is renewed at B (with replaces)", async () => {
  await setup({}, async ({ issuer, a, b, down, storage, request, clock }) => {
    down.add("a");
    await issuer.issue(request, soon());
    clock.now = new Date(Date.now() + 80 * 86_400_000);
    const renewed = await issuer.issue(request, soon());
    assertEquals(renewed.cache, "miss");
    assertEquals([a.orders, b.orders], [0, 2]);
    assertEquals(await storedCas(storage), ["b"]);
  });
});

Deno.test("background sweep: a due certificate from B is renewed at A once A answers", async () => {
  await setup({}, async ({ issuer, a, b, down, storage, request, ledger }) => {
    down.add("a");
    await issuer.issue(request, soon());
    down.delete("a");
    await makeDue(storage);
    const stats = await issuer.sweep();
    assertEquals(stats.renewed, 1);
    // A background renewal is not a host's request: it does not count toward the block's budget.
    const renewal = ledger.admitted.at(-1)!;
    assertEquals([renewal.ca, renewal.block, renewal.client], ["a", undefined, undefined]);
    assertEquals([a.orders, b.orders], [1, 1]);
    assertEquals(await storedCas(storage), ["a"]);
    // The sweep after that finds nothing due at either CA.
    assertEquals((await issuer.sweep()).renewed, 0);
  });
});
