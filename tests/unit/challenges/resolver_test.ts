/** The resolver cleans up every challenge it presented, whatever fails after (validation, the CA, a solver). */
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import type { AcmeAuthorization, AcmeClient, AcmeOrder } from "../../../src/acme/mod.ts";
import { resolveAuthorizations, ValidationFailed } from "../../../src/challenges/resolver.ts";
import type { ChallengeSolver, ChallengeTask } from "../../../src/challenges/solver.ts";
import { memoryLogger } from "../../../src/ops/log.ts";

function authorization(name: string, status: AcmeAuthorization["status"] = "pending"): AcmeAuthorization {
  return {
    url: `https://ca.test/authz/${name}`,
    identifier: { type: "dns", value: name },
    status,
    challenges: [{ type: "http-01", url: `https://ca.test/chall/${name}`, status: "pending", token: `tok-${name}` }],
  };
}

interface Calls {
  presented: string[];
  cleaned: string[];
  answered: string[];
}

function recordingSolver(calls: Calls, failPresentFor?: string): ChallengeSolver {
  return {
    challengeType: "http-01",
    present(task: ChallengeTask) {
      if (task.identifier === failPresentFor) return Promise.reject(new Error(`cannot present ${task.identifier}`));
      calls.presented.push(task.identifier);
      return Promise.resolve();
    },
    cleanup(task: ChallengeTask) {
      calls.cleaned.push(task.identifier);
      return Promise.reject(new Error("a failing cleanup never hides the first failure"));
    },
  };
}

function fakeClient(
  calls: Calls,
  polled: (authz: AcmeAuthorization) => AcmeAuthorization | Promise<AcmeAuthorization>,
): AcmeClient {
  const client = {
    getAuthorization: (url: string) => Promise.resolve(authorization(url.split("/").pop()!)),
    keyAuthorization: (token: string) => Promise.resolve(`${token}.thumb`),
    respondToChallenge: (url: string) => {
      calls.answered.push(url.split("/").pop()!);
      return Promise.resolve({});
    },
    pollAuthorization: async (url: string) => await polled(authorization(url.split("/").pop()!)),
  };
  return client as unknown as AcmeClient;
}

const order = {
  url: "https://ca.test/order/1",
  status: "pending",
  authorizations: ["https://ca.test/authz/a.test", "https://ca.test/authz/b.test"],
} as unknown as AcmeOrder;

const guard = { signal: new AbortController().signal, check() {} };

Deno.test("resolver: every name presented, answered once all are in place, then cleaned up", async () => {
  const calls: Calls = { presented: [], cleaned: [], answered: [] };
  await resolveAuthorizations({
    client: fakeClient(calls, (a) => ({ ...a, status: "valid" })),
    order,
    solver: recordingSolver(calls),
    deadline: Date.now() + 5000,
    guard,
    log: memoryLogger(),
  });
  assertEquals(calls.presented, ["a.test", "b.test"]);
  assertEquals(calls.answered.sort(), ["a.test", "b.test"]);
  assertEquals(calls.cleaned.sort(), ["a.test", "b.test"]);
});

Deno.test("resolver: a failed validation still cleans up every presented challenge", async () => {
  const calls: Calls = { presented: [], cleaned: [], answered: [] };
  const error = await assertRejects(() =>
    resolveAuthorizations({
      client: fakeClient(calls, (a) =>
        a.identifier.value === "b.test"
          ? {
            ...a,
            status: "invalid",
            challenges: [{ ...a.challenges[0], status: "invalid", error: { detail: "no answer" } }],
          }
          : { ...a, status: "valid" }),
      order,
      solver: recordingSolver(calls),
      deadline: Date.now() + 5000,
      guard,
      log: memoryLogger(),
    })
  );
  assert(error instanceof ValidationFailed, String(error));
  assertEquals([error.identifier, error.detail], ["b.test", "no answer"]);
  assertEquals(calls.cleaned.sort(), ["a.test", "b.test"]);
});

Deno.test("resolver: a solver failing on the second name cleans up the first, and nothing is answered", async () => {
  const calls: Calls = { presented: [], cleaned: [], answered: [] };
  await assertRejects(
    () =>
      resolveAuthorizations({
        client: fakeClient(calls, (a) => ({ ...a, status: "valid" })),
        order,
        solver: recordingSolver(calls, "b.test"),
        deadline: Date.now() + 5000,
        guard,
        log: memoryLogger(),
      }),
    /cannot present b.test/,
  );
  assertEquals(calls.presented, ["a.test"]);
  assertEquals(calls.answered, []);
  assertEquals(calls.cleaned, ["a.test"]);
});

Deno.test("resolver: a lost claim stops before the CA is told to look, and cleans up", async () => {
  const calls: Calls = { presented: [], cleaned: [], answered: [] };
  let checks = 0;
  const losing = {
    signal: new AbortController().signal,
    check() {
      if (++checks > 1) throw new Error("claim lost");
    },
  };
  await assertRejects(
    () =>
      resolveAuthorizations({
        client: fakeClient(calls, (a) => ({ ...a, status: "valid" })),
        order,
        solver: recordingSolver(calls),
        deadline: Date.now() + 5000,
        guard: losing,
        log: memoryLogger(),
      }),
    /claim lost/,
  );
  assertEquals(calls.answered, []);
  assertEquals(calls.cleaned.sort(), ["a.test", "b.test"]);
});
