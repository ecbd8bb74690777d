/** pollUntil against a fake CA and a fake sleep: the schedule of fetches, Retry-After and the deadline. */
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import { type PollIntervals, type PollSource, pollUntil } from "../../../src/acme/poll.ts";
import { DEFAULT_POLL_PACE } from "../../../src/acme/poll_schedule.ts";
import { AcmeTimeoutError } from "../../../src/acme/errors.ts";

interface Answer {
  status: string;
  retryAfterMs?: number;
}

/** A CA whose authorization answers `answers` in turn, on a fake clock that only sleeps move. */
function fakeCa(answers: Answer[]) {
  let clock = 1_000_000;
  const sleeps: number[] = [];
  const fetchedAt: number[] = [];
  const source: PollSource = {
    getWithRetryAfter<T extends { url: string }>(url: string) {
      fetchedAt.push(clock);
      const answer = answers[Math.min(fetchedAt.length - 1, answers.length - 1)];
      const retryAfter = answer.retryAfterMs === undefined ? undefined : new Date(clock + answer.retryAfterMs);
      return Promise.resolve({ value: { url, status: answer.status } as unknown as T, retryAfter });
    },
  };
  const intervals: PollIntervals = {
    ...DEFAULT_POLL_PACE,
    now: () => clock,
    sleep: (ms: number) => {
      sleeps.push(ms);
      clock += ms;
      return Promise.resolve();
    },
  };
  return { source, intervals, sleeps, fetchedAt, start: clock, now: () => clock };
}

const notPending = (value: { status: string }) => value.status !== "pending";

Deno.test("pollUntil: first fetch after ~50 ms, then ×1.5 while the CA sends no Retry-After", async () => {
  const ca = fakeCa([...Array(6).fill({ status: "pending" }), { status: "valid" }]);
  const result = await pollUntil(ca.source, ca.intervals, "https://ca.test/authz/1", "authorization", {
    deadline: ca.start + 60_000,
  }, notPending);
  assertEquals(result.status, "valid");
  assertEquals(ca.sleeps, [50, 75, 113, 169, 253, 380, 570]);
  assertEquals(ca.fetchedAt.length, 7);
});

Deno.test("pollUntil: the first fetch waits for the Retry-After of the answer that started the wait", async () => {
  const ca = fakeCa([{ status: "valid" }]);
  await pollUntil(ca.source, ca.intervals, "https://ca.test/order/1", "order", {
    deadline: ca.start + 60_000,
    firstPollAfter: new Date(ca.start + 1_500),
  }, notPending);
  assertEquals(ca.sleeps, [1_500]);
});

Deno.test("pollUntil: firstPollAfter 0 fetches at once", async () => {
  const ca = fakeCa([{ status: "ready" }]);
  await pollUntil(ca.source, ca.intervals, "https://ca.test/order/1", "order", {
    deadline: ca.start + 60_000,
    firstPollAfter: 0,
  }, notPending);
  assertEquals(ca.sleeps, []);
  assertEquals(ca.fetchedAt, [ca.start]);
});

Deno.test("pollUntil: each answer's Retry-After paces the next fetch; without one the gentle backoff goes on", async () => {
  const ca = fakeCa([
    { status: "pending", retryAfterMs: 2_000 },
    { status: "pending" },
    { status: "pending", retryAfterMs: 0 },
    { status: "valid" },
  ]);
  await pollUntil(ca.source, ca.intervals, "https://ca.test/authz/1", "authorization", {
    deadline: ca.start + 60_000,
  }, notPending);
  // 50 before the first fetch; then the CA's 2 s; then the fallback of the third fetch; a Retry-After of 0 → 50 ms.
  assertEquals(ca.sleeps, [50, 2_000, 113, 50]);
});

Deno.test("pollUntil: the interval stops growing at 3 s and the last wait ends at the deadline", async () => {
  const ca = fakeCa([{ status: "pending" }]);
  const deadline = ca.start + 20_000;
  const error = await assertRejects(() =>
    pollUntil(ca.source, ca.intervals, "https://ca.test/authz/1", "authorization", { deadline }, notPending)
  );
  assert(error instanceof AcmeTimeoutError, String(error));
  assert(/status still "pending"/.test(error.message), error.message);
  assert(ca.sleeps.every((ms) => ms <= 3_000), ca.sleeps.join(","));
  assertEquals(ca.sleeps.slice(11, 13), [3_000, 3_000]);
  assertEquals(ca.now(), deadline);
  assert(ca.fetchedAt.every((at) => at < deadline));
});

Deno.test("pollUntil: a Retry-After beyond the deadline is cut to the deadline", async () => {
  const ca = fakeCa([{ status: "pending", retryAfterMs: 3_600_000 }]);
  const deadline = ca.start + 700;
  const error = await assertRejects(
    () => pollUntil(ca.source, ca.intervals, "https://ca.test/order/1", "order", { deadline }, notPending),
  );
  assert(error instanceof AcmeTimeoutError, String(error));
  assertEquals(ca.sleeps, [50, 650]);
});
