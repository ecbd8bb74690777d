/**
 * Challenge choice: the block's verification decides the challenge type (`solver.challengeType`); a CA that does
 * not offer it for a name fails the order with 421 naming what it offered, before anything is presented. Each task
 * carries the order's account URL (dns-account-01's label).
 */
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import type { AcmeAuthorization, AcmeClient, AcmeOrder } from "../../../src/acme/mod.ts";
import { resolveAuthorizations } from "../../../src/challenges/resolver.ts";
import { ChallengeError, type ChallengeSolver, type ChallengeTask } from "../../../src/challenges/solver.ts";
import { FailureClassifier } from "../../../src/issuance/classify.ts";
import { statusOf } from "../../../src/http/respond.ts";
import { memoryLogger } from "../../../src/ops/log.ts";

const ACCOUNT = "https://ca.test/acme/acct/7";

/** A fake CA: each name offers the challenge types given. */
function caOffering(offers: Record<string, string[]>, answered: string[]): AcmeClient {
  const authorization = (name: string): AcmeAuthorization => ({
    url: `https://ca.test/authz/${name}`,
    identifier: { type: "dns", value: name },
    status: "pending",
    challenges: offers[name].map((type) => ({
      type,
      url: `https://ca.test/chall/${name}/${type}`,
      status: "pending" as const,
      token: `tok-${name}`,
    })),
  });
  const client = {
    directoryUrl: "https://ca.test/dir",
    accountUrl: ACCOUNT,
    getAuthorization: (url: string) => Promise.resolve(authorization(url.split("/").pop()!)),
    keyAuthorization: (token: string) => Promise.resolve(`${token}.thumb`),
    respondToChallenge: (url: string) => {
      answered.push(url);
      return Promise.resolve({});
    },
    pollAuthorization: (url: string) => Promise.resolve({ ...authorization(url.split("/").pop()!), status: "valid" }),
  };
  return client as unknown as AcmeClient;
}

function solverOf(type: ChallengeSolver["challengeType"], presented: ChallengeTask[]): ChallengeSolver {
  return {
    challengeType: type,
    present: (task) => {
      presented.push(task);
      return Promise.resolve();
    },
    cleanup: () => Promise.resolve(),
  };
}

const order = {
  url: "https://ca.test/order/1",
  status: "pending",
  authorizations: ["https://ca.test/authz/a.test", "https://ca.test/authz/b.test"],
} as unknown as AcmeOrder;
const guard = { signal: new AbortController().signal, check() {} };

async function resolve(offers: Record<string, string[]>, solver: ChallengeSolver, answered: string[] = []) {
  return await resolveAuthorizations({
    client: caOffering(offers, answered),
    order,
    names: ["a.test", "b.test"],
    solver,
    deadline: Date.now() + 5_000,
    guard,
    log: memoryLogger(),
  });
}

Deno.test("challenge choice: the CA did not offer the block's type for a name → 421 with the types it offered", async () => {
  const presented: ChallengeTask[] = [];
  const answered: string[] = [];
  const offers = { "a.test": ["http-01", "dns-01", "dns-account-01"], "b.test": ["http-01", "dns-01"] };
  const error = await assertRejects(() => resolve(offers, solverOf("dns-account-01", presented), answered));
  assert(error instanceof ChallengeError, `expected a ChallengeError, got ${error}`);
  assertEquals(error.kind, "names-refused");
  assertEquals(
    error.message,
    "The CA did not offer dns-account-01 for b.test; it offered http-01, dns-01: use a [verification] with " +
      "type = http01 or type = dns01-dnsUpdate for this name, or another CA",
  );
  assertEquals(presented, [], "nothing presented, not even for a.test that offers it");
  assertEquals(answered, []);
  const failure = new FailureClassifier({ log: memoryLogger(), now: () => new Date() }).classify(error, ["b.test"]);
  assertEquals(statusOf(failure.kind), 421);
  assertEquals(failure.detail, error.message);
});

Deno.test("challenge choice: a type the CA offers is the one answered, and the task carries the account URL", async () => {
  const presented: ChallengeTask[] = [];
  const answered: string[] = [];
  const offers = { "a.test": ["http-01", "dns-01", "dns-account-01"], "b.test": ["dns-account-01", "dns-01"] };
  await resolve(offers, solverOf("dns-account-01", presented), answered);
  assertEquals(presented.map((t) => [t.identifier, t.accountUrl]), [["a.test", ACCOUNT], ["b.test", ACCOUNT]]);
  assertEquals(answered.sort(), [
    "https://ca.test/chall/a.test/dns-account-01",
    "https://ca.test/chall/b.test/dns-account-01",
  ]);
});

Deno.test("challenge choice: a CA offering only types acmems cannot answer says so", async () => {
  const offers = { "a.test": ["dns-01"], "b.test": ["tls-alpn-01"] };
  const error = await assertRejects(() => resolve(offers, solverOf("dns-01", [])));
  assertEquals(
    error.message,
    "The CA did not offer dns-01 for b.test; it offered tls-alpn-01: use another CA for this name",
  );
});
