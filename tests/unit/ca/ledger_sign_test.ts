/**
 * The ledger in the /sign pipeline, in-process in front of a fake CA: the CA's own 429 pauses the names (the CA is
 * not asked again before its Retry-After) and its unpause URL reaches the 429 body, the log and the `issue-failed`
 * notification; a failed authorization counts toward `limit-failed-authorizations`.
 */
import { AcmeNetworkError, AcmeProblem } from "../../../src/acme/mod.ts";
import { RateLimitLedger } from "../../../src/ca/ledger.ts";
import { memoryLedgerStore } from "../../../src/ca/ledger_book.ts";
import type { CaLimits } from "../../../src/ca/ledger_port.ts";
import { Http01Responder } from "../../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../../src/challenges/http01/solver.ts";
import { createCsrParser } from "../../../src/csr/parser.ts";
import { createMgmtHandler } from "../../../src/http/mgmt_router.ts";
import { IssuanceService } from "../../../src/issuance/service.ts";
import type { IssueEventDetails } from "../../../src/issuance/request.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { compilePolicy } from "../../../src/policy/authorize.ts";
import { createStorages } from "../../../src/storage/factory.ts";
import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { makeCsr } from "../../support/csr.ts";
import { FakeCa, type FakeCaOptions } from "../../support/fake_ca.ts";
import { info, loadConfig, post } from "../http/_sign_setup.ts";

const UNPAUSE = "https://portal.example/sfe/v1/unpause?jwt=eyJhbGciOi.payload.sig";

function setup(limits: CaLimits, ca: FakeCaOptions = {}) {
  const config = loadConfig();
  const log = memoryLogger("debug");
  const responder = new Http01Responder();
  const fake = new FakeCa({
    httpCheck: async (name, token) => {
      const response = await responder.handle(
        new Request(`http://${name}:5002/.well-known/acme-challenge/${token}`, { headers: { host: `${name}:5002` } }),
      );
      return response.status === 200 ? await response.text() : undefined;
    },
    ...ca,
  });
  const events: IssueEventDetails[] = [];
  const ledger = new RateLimitLedger({
    store: memoryLedgerStore(86_400_000),
    cas: new Map([["default", limits]]),
    blocks: new Map(),
    now: () => new Date(),
  });
  const issuer = new IssuanceService({
    client: () => fake.asClient(),
    directoryUrl: config.account.acmeServer,
    solvers: new Map([["http", new Http01Solver(responder)]]),
    storages: createStorages(config, log),
    log,
    ledger,
    onEvent: (event, details) => event === "issue-failed" && events.push(details),
  });
  const handler = createMgmtHandler({
    config,
    parser: createCsrParser({ maxEntries: 10 }),
    policy: compilePolicy(config.auth),
    issuer,
    log,
    bodyTimeoutMs: 500,
  });
  return { handler, fake, log, events };
}

Deno.test("ledger in /sign: the CA's 429 pauses the names; its unpause URL reaches the body, log and notification", async () => {
  const paused = new AcmeProblem({
    type: "urn:ietf:params:acme:error:rateLimited",
    detail: `Your account is temporarily prevented from requesting certificates for paused.example.test. ` +
      `Please visit: ${UNPAUSE}`,
    status: 429,
    retryAfter: new Date(Date.now() + 1800_000),
  });
  const { handler, fake, log, events } = setup({ off: false }, {
    newOrderError: (opts) => JSON.stringify(opts.identifiers).includes("paused.example.test") ? paused : undefined,
  });
  const csr = await makeCsr({ names: ["paused.example.test"] });
  const first = await handler(post(csr.csrPem), info());
  assertEquals(first.status, 429);
  assertStringIncludes(await first.text(), UNPAUSE);
  assertEquals(fake.orders, 1);
  assert(log.lines.some((l) => l.includes("rate limited by the CA") && l.includes(`"unpauseUrl":"${UNPAUSE}"`)));
  assert(events.some((e) => e.message.includes(UNPAUSE)), JSON.stringify(events));

  // The ledger remembers the pause: the CA is not asked again, and the answer still carries the unpause URL.
  const second = await handler(post(csr.csrPem), info());
  assertEquals(second.status, 429);
  const retryAfter = Number(second.headers.get("retry-after"));
  assert(retryAfter > 1700 && retryAfter <= 1800, `Retry-After ${retryAfter}`);
  const body = await second.text();
  assertStringIncludes(body, UNPAUSE);
  assertStringIncludes(body, 'CA "default"');
  assertEquals(fake.orders, 1, "the paused names did not reach the CA");
  assert(
    log.lines.some((l) => l.includes("rate limit: order refused by the ledger") && l.includes(UNPAUSE)),
    "the ledger's refusal is logged with the unpause URL",
  );

  // Other names still go to the CA.
  const other = await makeCsr({ names: ["fine.example.test"] });
  assertEquals((await handler(post(other.csrPem), info())).status, 200);
  assertEquals(fake.orders, 2);
});

Deno.test("ledger in /sign: failed authorizations count; over the limit the name is 429 without calling the CA", async () => {
  const { handler, fake } = setup(
    { off: false, failedAuthorizations: { count: 1, windowSeconds: 3600, text: "1/1h" } },
    { failValidation: { "bad.example.test": "Connection refused" } },
  );
  const csr = await makeCsr({ names: ["bad.example.test"] });
  assertEquals((await handler(post(csr.csrPem), info())).status, 421);
  assertEquals(fake.orders, 1);
  const again = await handler(post(csr.csrPem), info());
  assertEquals(again.status, 429);
  assertStringIncludes(await again.text(), 'limit-failed-authorizations = 1/1h (CA "default")');
  assertEquals(fake.orders, 1, "the CA was not asked again");
});

Deno.test("ledger in /sign: an unreachable CA gives the order slot back", async () => {
  let down = true;
  const { handler, fake } = setup({ off: false, orders: { count: 1, windowSeconds: 3600, text: "1/1h" } }, {
    newOrderError: () =>
      down ? new AcmeNetworkError("https://fake.ca/new-order", new Error("connection refused")) : undefined,
  });
  const csr = await makeCsr({ names: ["www.example.test"] });
  assertEquals((await handler(post(csr.csrPem), info())).status, 503);
  down = false;
  assertEquals((await handler(post(csr.csrPem), info())).status, 200, "the slot was given back");
  assertEquals(fake.orders, 2);
});
