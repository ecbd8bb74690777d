/** Every error an issuance can end with becomes one IssueFailure kind, with the client's message and Retry-After. */
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import { AcmeNetworkError, AcmeProblem, AcmeTimeoutError, AcmeUnsupportedError } from "../../../src/acme/mod.ts";
import { CaUnavailableError } from "../../../src/account/session.ts";
import { ValidationFailed } from "../../../src/challenges/resolver.ts";
import { ChallengeError } from "../../../src/challenges/solver.ts";
import { FailureClassifier } from "../../../src/issuance/classify.ts";
import { IssueFailure } from "../../../src/issuance/failure.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { ClaimLostError } from "../../../src/storage/errors.ts";
import { StorageUnavailableError } from "../../../src/storage/mod.ts";

const NOW = new Date("2026-06-01T00:00:00Z");
const names = ["a.test"];
const problem = (type: string, status: number, extra: { retryAfter?: Date } = {}) =>
  new AcmeProblem({ type: `urn:ietf:params:acme:error:${type}`, detail: `the ${type} detail`, status, ...extra });

function classifier(lost: string[] = []) {
  return new FailureClassifier({ log: memoryLogger(), now: () => NOW, onAccountLost: (r) => void lost.push(r) });
}

Deno.test("classify: kinds, messages and Retry-After", () => {
  const c = classifier();
  const cases: [unknown, IssueFailure["kind"], RegExp, number | undefined][] = [
    [problem("rateLimited", 429, { retryAfter: new Date(NOW.getTime() + 90_500) }), "rate-limited", /rate-limited/, 91],
    [problem("rateLimited", 429), "rate-limited", /the rateLimited detail/, 3600],
    [problem("rejectedIdentifier", 400), "names-refused", /refuses to issue for a\.test/, undefined],
    [problem("caa", 403), "names-refused", /the caa detail/, undefined],
    [problem("badCSR", 400), "refused", /^The CA refused this CSR: /, undefined],
    [problem("serverInternal", 500), "unavailable", /^The CA failed \(HTTP 500\)/, 10],
    [
      new ValidationFailed("a.test", "no answer"),
      "names-refused",
      /^Validation of a\.test failed: no answer$/,
      undefined,
    ],
    [new ChallengeError("REFUSED", "names-refused", 30), "names-refused", /^REFUSED$/, undefined],
    [new ChallengeError("timed out", "unavailable", 30), "unavailable", /^timed out$/, 30],
    [new ChallengeError("timed out", "unavailable"), "unavailable", /^timed out$/, 10],
    [new CaUnavailableError("CA down", 45), "unavailable", /^CA down$/, 45],
    [new StorageUnavailableError("db down", 7), "unavailable", /^db down$/, 7],
    [new ClaimLostError("taken", "taken-over"), "unavailable", /^taken: retry this request later$/, 10],
    [new AcmeUnsupportedError("no profiles"), "unavailable", /fix the profile in the config$/, 3600],
    [new AcmeNetworkError("https://ca.test", new Error("refused")), "unavailable", /^The CA could not be reached/, 10],
    [new AcmeTimeoutError("https://ca.test", "slow"), "unavailable", /^The CA could not be reached: slow/, 10],
  ];
  for (const [error, kind, message, retryAfter] of cases) {
    const failure = c.classify(error, names);
    assertEquals([failure.kind, failure.retryAfterSeconds], [kind, retryAfter], String(error));
    assertMatch(failure.message, message);
  }
});

Deno.test("classify: the unexpected is internal with an error id in the message; one classification per error", () => {
  const c = classifier();
  const error = new Error("boom");
  const failure = c.classify(error, names);
  assertEquals(failure.kind, "internal");
  assert(failure.errorId, "an error id");
  assertEquals(failure.message, `Issuance failed (error id ${failure.errorId}): boom`);
  assert(c.classify(error, names) === failure, "the same failure (and id) for the same error");
  const already = new IssueFailure("unavailable", "later", 5);
  assert(c.classify(already, names) === already);
});

Deno.test("classify: an account the CA forgot is unavailable and tells the session", () => {
  const lost: string[] = [];
  const failure = classifier(lost).classify(problem("accountDoesNotExist", 400), names);
  assertEquals([failure.kind, failure.retryAfterSeconds], ["unavailable", 10]);
  assertMatch(failure.message, /no longer knows our account/);
  assertEquals(lost, ["the accountDoesNotExist detail"]);
});
