/** The issuance service with caching off (`none` storage) and its failure notifications, against a fake CA. */
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import { badCsr, FakeCa, type FakeCaOptions, serverDown } from "../../support/fake_ca.ts";
import { AcmeProblem } from "../../../src/acme/mod.ts";
import { Http01Responder } from "../../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../../src/challenges/http01/solver.ts";
import { IssuanceService } from "../../../src/issuance/service.ts";
import { IssueFailure } from "../../../src/issuance/failure.ts";
import type { FailureKind } from "../../../src/issuance/failure.ts";
import { requestFor } from "./_request.ts";
import { memoryLogger } from "../../../src/ops/log.ts";

const request = await requestFor("none.example.test", null);

interface Ctx {
  issuer: IssuanceService;
  fake: FakeCa;
  events: { event: string; kind?: FailureKind; errorId?: string }[];
  setDown(down: boolean): void;
}

async function setup(ca: FakeCaOptions, fn: (ctx: Ctx) => Promise<void>) {
  const fake = new FakeCa(ca);
  const events: Ctx["events"] = [];
  let down = false;
  const issuer = new IssuanceService({
    client: () => {
      if (down) throw serverDown();
      return fake.asClient();
    },
    directoryUrl: "https://fake.ca/dir",
    solvers: new Map([["http", new Http01Solver(new Http01Responder())]]),
    log: memoryLogger(),
    onEvent: (event, details) => events.push({ event, kind: details.kind, errorId: details.errorId }),
  });
  try {
    await fn({ issuer, fake, events, setDown: (v) => (down = v) });
  } finally {
    await issuer.drain();
  }
}

const soon = () => Date.now() + 5000;

Deno.test("none storage: every request orders (no cache hits)", async () => {
  await setup({}, async ({ issuer, fake }) => {
    const first = await issuer.issue(request, soon());
    const second = await issuer.issue(request, soon());
    assertEquals([first.cache, second.cache], ["miss", "miss"]);
    assertEquals(fake.orders, 2);
    assert(first.chain !== second.chain, "a fresh certificate each time");
  });
});

Deno.test("none storage: the order that outlived its client's sign-timeout is handed to the retry, once", async () => {
  await setup({ finalizeDelayMs: 400 }, async ({ issuer, fake }) => {
    const timedOut = await assertRejects(() => issuer.issue(request, Date.now() + 50));
    assert(timedOut instanceof IssueFailure && timedOut.kind === "unavailable", String(timedOut));
    await issuer.drain();
    const retry = await issuer.issue(request, soon());
    assertEquals([retry.cache, fake.orders], ["miss", 1]);
    const next = await issuer.issue(request, soon());
    assertEquals([next.cache, fake.orders], ["miss", 2]);
    assert(next.chain !== retry.chain);
  });
});

Deno.test("issue-failed is sent when the CA is unavailable (fast 503), not only after an order failed", async () => {
  await setup({}, async ({ issuer, events, setDown }) => {
    setDown(true);
    const e = await assertRejects(() => issuer.issue(request, soon()));
    assert(e instanceof IssueFailure && e.kind === "unavailable", String(e));
    assertEquals(events.map((x) => [x.event, x.kind]), [["issue-failed", "unavailable"]]);
  });
});

Deno.test("issue-failed is sent when an order fails after its client's sign-timeout", async () => {
  await setup(
    { finalizeDelayMs: 300, finalizeError: () => new Error("the CA broke down") },
    async ({ issuer, events }) => {
      const e = await assertRejects(() => issuer.issue(request, Date.now() + 50));
      assert(e instanceof IssueFailure && e.kind === "unavailable", String(e));
      assertEquals(events.length, 0, "the timeout itself is not an issuance failure");
      await issuer.drain();
      await new Promise((resolve) => setTimeout(resolve, 10));
      assertEquals(events.map((x) => x.event), ["issue-failed"]);
    },
  );
});

Deno.test("issue-failed: at most once per names and kind every 10 minutes (every cron call fails alike)", async () => {
  await setup({}, async ({ issuer, events, setDown }) => {
    setDown(true);
    for (let i = 0; i < 5; i++) await assertRejects(() => issuer.issue(request, soon()));
    assertEquals(events.length, 1);
  });
});

Deno.test("the CA refusing the names (names-refused, 421) or the CSR (refused, 403) is the client's fault, not internal", async () => {
  const rejected = () =>
    new AcmeProblem({
      type: "urn:ietf:params:acme:error:rejectedIdentifier",
      detail: "Domain name is on a blocklist",
      status: 400,
    });
  await setup({ newOrderError: rejected }, async ({ issuer }) => {
    const e = await assertRejects(() => issuer.issue(request, soon()));
    assert(e instanceof IssueFailure && e.kind === "names-refused" && /blocklist/.test(e.message), String(e));
  });
  await setup({ finalizeError: badCsr }, async ({ issuer }) => {
    const e = await assertRejects(() => issuer.issue(request, soon()));
    assert(e instanceof IssueFailure && e.kind === "refused" && /CSR is unacceptable/.test(e.message), String(e));
  });
});
