/** The resolver cleans up every challenge it presented, whatever fails after (validation, the CA, a solver). */
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import type { AcmeAuthorization, AcmeClient, AcmeOrder, PollOptions } from "../../../src/acme/mod.ts";
import { rememberRetryAfter } from "../../../src/acme/retry_after.ts";
import { resolveAuthorizations, ValidationFailed } from "../../../src/challenges/resolver.ts";
import type { ChallengeSolver, ChallengeTask } from "../../../src/challenges/solver.ts";
import { IssueFailure } from "../../../src/issuance/failure.ts";
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

/** The names acmems ordered. */
const names = ["a.test", "b.test"];

const guard = { signal: new AbortController().signal, check() {} };

Deno.test("resolver: every name presented, answered once all are in place, then cleaned up", async () => {
  const calls: Calls = { presented: [], cleaned: [], answered: [] };
  await resolveAuthorizations({
    client: fakeClient(calls, (a) => ({ ...a, status: "valid" })),
    order,
    names,
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
      names,
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
        names,
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
        names,
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

/** A client whose CA answers one authorization with another identifier than the one ordered. */
function foreignClient(
  calls: Calls,
  replaced: string,
  identifier: AcmeAuthorization["identifier"],
  wildcard?: boolean,
) {
  const client = fakeClient(calls, (a) => ({ ...a, status: "valid" }));
  return {
    ...client,
    getAuthorization: (url: string) => {
      const authz = authorization(url.split("/").pop()!);
      return Promise.resolve(
        authz.identifier.value === replaced ? { ...authz, identifier, ...(wildcard ? { wildcard } : {}) } : authz,
      );
    },
  } as unknown as AcmeClient;
}

Deno.test("resolver: an authorization for a name acmems did not order is refused before any solver runs", async () => {
  const cases: { why: string; identifier: AcmeAuthorization["identifier"]; wildcard?: boolean; shown: string }[] = [
    { why: "another name", identifier: { type: "dns", value: "victim.example" }, shown: "victim.example" },
    { why: "the wildcard flag added", identifier: { type: "dns", value: "b.test" }, wildcard: true, shown: "*.b.test" },
    { why: "another identifier type", identifier: { type: "ip", value: "b.test" }, shown: "ip b.test" },
    { why: "a `*.` smuggled into the value", identifier: { type: "dns", value: "*.b.test" }, shown: "*.b.test" },
  ];
  for (const c of cases) {
    const calls: Calls = { presented: [], cleaned: [], answered: [] };
    const log = memoryLogger();
    const error = await assertRejects(() =>
      resolveAuthorizations({
        client: foreignClient(calls, "b.test", c.identifier, c.wildcard),
        order,
        names,
        solver: recordingSolver(calls),
        deadline: Date.now() + 5000,
        guard,
        log,
      })
    );
    assert(error instanceof IssueFailure, `${c.why}: ${error}`);
    assertEquals(error.kind, "unavailable", c.why);
    assert(error.retryAfterSeconds !== undefined && error.errorId !== undefined, c.why);
    for (const part of [c.shown, "https://ca.test/authz/b.test", "not ordered", "a.test, b.test"]) {
      assert(error.message.includes(part), `${c.why}: the message names ${part}: ${error.message}`);
    }
    assertEquals(calls.presented, [], `${c.why}: no solver.present for any name, not even the ordered one`);
    assertEquals(calls.answered, [], c.why);
    const logged = log.lines.find((l) => l.includes("not ordered"));
    assert(logged?.includes(error.errorId!), `${c.why}: logged with the error id: ${log.lines.join("\n")}`);
  }
});

Deno.test("resolver: ordered names match whatever their case, and a wildcard matches its flagged authorization", async () => {
  const calls: Calls = { presented: [], cleaned: [], answered: [] };
  await resolveAuthorizations({
    client: foreignClient(calls, "b.test", { type: "dns", value: "B.Test" }, true),
    order,
    names: ["A.test", "*.b.test"],
    solver: recordingSolver(calls),
    deadline: Date.now() + 5000,
    guard,
    log: memoryLogger(),
  });
  // The wildcard's authorization is presented first (its record, with policy=wildcard, serves both).
  assertEquals(calls.presented, ["B.Test", "a.test"]);
});

Deno.test("resolver: an ordered IP address matches an ip identifier only (RFC 8738), in any spelling", async () => {
  const run = (identifier: AcmeAuthorization["identifier"], ip: string, calls: Calls) =>
    resolveAuthorizations({
      client: foreignClient(calls, "b.test", identifier),
      order,
      names: ["a.test", ip],
      solver: recordingSolver(calls),
      deadline: Date.now() + 5000,
      guard,
      log: memoryLogger(),
    });
  const v4: Calls = { presented: [], cleaned: [], answered: [] };
  await run({ type: "ip", value: "192.0.2.1" }, "192.0.2.1", v4);
  assertEquals(v4.presented, ["a.test", "192.0.2.1"]);
  const v6: Calls = { presented: [], cleaned: [], answered: [] };
  await run({ type: "ip", value: "2001:DB8:0::1" }, "2001:db8::1", v6);
  assertEquals(v6.presented, ["a.test", "2001:DB8:0::1"]);
  const asDns: Calls = { presented: [], cleaned: [], answered: [] };
  const error = await assertRejects(() => run({ type: "dns", value: "192.0.2.1" }, "192.0.2.1", asDns));
  assert(error instanceof IssueFailure && error.kind === "unavailable", String(error));
  assertEquals(asDns.presented, [], "a dns identifier is not the ordered IP address");
});

Deno.test("resolver: an IP address with a dns-01 solver is refused before any CA call", async () => {
  const calls: Calls = { presented: [], cleaned: [], answered: [] };
  let fetched = 0;
  const client = {
    ...fakeClient(calls, (a) => a),
    getAuthorization: () => {
      fetched++;
      return Promise.reject(new Error("no CA call expected"));
    },
  } as unknown as AcmeClient;
  const error = await assertRejects(() =>
    resolveAuthorizations({
      client,
      order,
      names: ["a.test", "2001:db8::1"],
      solver: { ...recordingSolver(calls), challengeType: "dns-01" },
      deadline: Date.now() + 5000,
      guard,
      log: memoryLogger(),
    })
  );
  assert(error instanceof IssueFailure, String(error));
  assertEquals(error.kind, "refused");
  assertEquals(
    error.message,
    "2001:db8::1 is an IP address: CAs validate IP addresses over http-01 only (RFC 8738), not dns-01; give the " +
      "auth block with ip-identifiers an http01 verification",
  );
  assertEquals([fetched, calls.presented.length], [0, 0]);
});

Deno.test("resolver: the first authorization poll waits for the challenge answer's Retry-After, else the pace", async () => {
  const calls: Calls = { presented: [], cleaned: [], answered: [] };
  const retryAt = new Date(Date.now() + 2_000);
  const firstPolls = new Map<string, Date | number | undefined>();
  const client = {
    getAuthorization: (url: string) => Promise.resolve(authorization(url.split("/").pop()!)),
    keyAuthorization: (token: string) => Promise.resolve(`${token}.thumb`),
    respondToChallenge: (url: string) => {
      const name = url.split("/").pop()!;
      calls.answered.push(name);
      // a.test's answer carries Retry-After; b.test's none.
      return Promise.resolve(
        rememberRetryAfter({ url, status: "processing" }, name === "a.test" ? retryAt : undefined),
      );
    },
    pollAuthorization: (url: string, opts: PollOptions) => {
      const name = url.split("/").pop()!;
      firstPolls.set(name, opts.firstPollAfter);
      return Promise.resolve({ ...authorization(name), status: "valid" });
    },
  } as unknown as AcmeClient;
  await resolveAuthorizations({
    client,
    order,
    names,
    solver: recordingSolver(calls),
    deadline: Date.now() + 5000,
    guard,
    log: memoryLogger(),
  });
  assertEquals(firstPolls.get("a.test"), retryAt);
  assertEquals(firstPolls.get("b.test"), undefined); // the poller's pace: its first interval, ~50 ms
});
