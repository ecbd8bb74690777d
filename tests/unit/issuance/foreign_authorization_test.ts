/**
 * Issue 13 item 4: a CA that answers an order with an authorization for a name acmems did not order (a malicious CA
 * fishing for an http-01 answer or a TSIG-signed TXT record) gets no challenge answered, and /sign says why.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { FakeCa } from "../../support/fake_ca.ts";
import { info, loadConfig, post, www } from "../http/_sign_setup.ts";
import { Http01Responder } from "../../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../../src/challenges/http01/solver.ts";
import type { ChallengeSolver, ChallengeTask } from "../../../src/challenges/solver.ts";
import { createCsrParser } from "../../../src/csr/parser.ts";
import { createMgmtHandler } from "../../../src/http/mgmt_router.ts";
import { IssuanceService } from "../../../src/issuance/service.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { compilePolicy } from "../../../src/policy/authorize.ts";
import { createStorages } from "../../../src/storage/factory.ts";

Deno.test("/sign: an authorization for a name nobody ordered gets no challenge answered and a 503 naming it", async () => {
  const config = loadConfig();
  const log = memoryLogger();
  const presented: ChallengeTask[] = [];
  const http01 = new Http01Solver(new Http01Responder());
  const solver: ChallengeSolver = {
    challengeType: "http-01",
    present: (task) => {
      presented.push(task);
      return http01.present(task);
    },
    cleanup: (task) => http01.cleanup(task),
  };
  const fake = new FakeCa({
    foreignAuthorization: { for: "example.test", identifier: { type: "dns", value: "victim.example.org" } },
  });
  const issuer = new IssuanceService({
    client: () => fake.asClient(),
    directoryUrl: "https://fake.ca/dir",
    solvers: new Map([["http", solver]]),
    storages: createStorages(config, log),
    log,
  });
  const handler = createMgmtHandler({
    config,
    parser: createCsrParser({ maxEntries: 10 }),
    policy: compilePolicy(config.auth),
    issuer,
    log,
    bodyTimeoutMs: 500,
  });
  try {
    const response = await handler(post(www.csrPem), info());
    const body = await response.text();
    assertEquals(response.status, 503, body);
    assert(response.headers.get("retry-after"), "a Retry-After");
    for (
      const part of [
        "victim.example.org",
        "https://fake.ca/dir",
        "https://fake.ca/order/1",
        "https://fake.ca/authz/",
        "not ordered",
        "error id",
      ]
    ) {
      assert(body.includes(part), `the answer names ${part}: ${body}`);
    }
    assertEquals(presented, [], "no solver.present call, not even for the names that were ordered");
    assertEquals(fake.answered, [], "no challenge answered");
    assertEquals(fake.finalized, 0);
  } finally {
    await issuer.drain();
  }
});
