/** The renewal plan for one entry: remove | refresh-ari | renew | skip, a pure function of the entry and `now`. */
import { assertEquals } from "../../support/assert.ts";
import { type PlanInput, planRenewal } from "../../../src/renewal/plan.ts";
import { testEntry } from "../../support/entry.ts";

const DAY = 86_400_000;
const NOW = new Date("2026-06-01T00:00:00Z");
const DIR = "https://ca.test/dir";
const input: PlanInput = { now: NOW, directoryUrl: DIR, renewWithinDays: 14, renewActiveDays: 30 };
const iso = (ms: number) => new Date(NOW.getTime() + ms).toISOString();
/** A fresh ARI answer (no refresh needed). */
const ari = { certId: "aki.serial", retryAfter: iso(DAY), fetchedAt: iso(-DAY / 24) };

/** A 90-day certificate that ends `notAfterIn` from now, fetched `fetchedAgo` ago. */
function entry(notAfterIn: number, fetchedAgo = DAY, extra: Parameters<typeof testEntry>[2] = {}) {
  return testEntry("CHAIN", "k", {
    notBefore: iso(notAfterIn - 90 * DAY),
    issuedAt: iso(notAfterIn - 90 * DAY),
    notAfter: iso(notAfterIn),
    lastFetchedAt: iso(-fetchedAgo),
    ari,
    ...extra,
  });
}

Deno.test("plan: remove an entry nobody fetched that expired more than 7 days ago", () => {
  assertEquals(planRenewal(entry(-8 * DAY, 60 * DAY), input), { action: "remove" });
});

Deno.test("plan: skip an inactive entry that expired less than 7 days ago, or is still valid", () => {
  assertEquals(planRenewal(entry(-6 * DAY, 60 * DAY), input), { action: "skip", reason: "inactive" });
  assertEquals(planRenewal(entry(5 * DAY, 60 * DAY), input), { action: "skip", reason: "inactive" });
});

Deno.test("plan: another CA's entry is never renewed here", () => {
  const other = entry(5 * DAY, DAY, { directoryUrl: "https://other.ca/dir" });
  assertEquals(planRenewal(other, input), { action: "skip", reason: "other-ca" });
});

Deno.test("plan: refresh-ari when the ARI answer is stale, then plan again with ariChecked", () => {
  const stale = entry(60 * DAY, DAY, { ari: { certId: "x", retryAfter: iso(-1), fetchedAt: iso(-DAY) } });
  assertEquals(planRenewal(stale, input), { action: "refresh-ari" });
  assertEquals(planRenewal(entry(60 * DAY, DAY, { ari: undefined }), input), { action: "refresh-ari" });
  assertEquals(planRenewal(stale, { ...input, ariChecked: true }).action, "skip");
});

Deno.test("plan: renew a due, active entry; skip it while not due or backing off", () => {
  const due = planRenewal(entry(10 * DAY), input);
  assertEquals(due.action, "renew");
  assertEquals(due.action === "renew" && due.due.reason, "renew-within");
  const notDue = planRenewal(entry(60 * DAY), input);
  assertEquals(notDue.action === "skip" && notDue.reason, "not-due");
  const backingOff = planRenewal(entry(10 * DAY, DAY, { renewal: { failures: 1, nextAttemptAt: iso(60_000) } }), input);
  assertEquals(backingOff.action === "skip" && backingOff.reason, "backing-off");
  const backoffOver = planRenewal(entry(10 * DAY, DAY, { renewal: { failures: 1, nextAttemptAt: iso(-1) } }), input);
  assertEquals(backoffOver.action, "renew");
});
