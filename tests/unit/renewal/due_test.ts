import { assert, assertEquals } from "../../support/assert.ts";
import {
  ariRefreshAt,
  ariRefreshDue,
  chooseRenewalPoint,
  type DueInput,
  renewalBackoffMs,
  renewalDue,
} from "../../../src/renewal/due.ts";

const DAY = 86_400_000;
const T0 = Date.parse("2026-01-01T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

function cert(lifetimeDays: number, ari?: DueInput["ari"]): DueInput {
  return { notBefore: iso(T0), notAfter: iso(T0 + lifetimeDays * DAY), ...(ari ? { ari } : {}) };
}

/** [name, entry, renew-within days, now (days after notBefore), expected due, expected at (days), reason] */
const CASES: [string, DueInput, number, number, boolean, number, string][] = [
  ["90 days, 14 within: not yet", cert(90), 14, 75.99, false, 76, "renew-within"],
  ["90 days, 14 within: exactly at the boundary", cert(90), 14, 76, true, 76, "renew-within"],
  ["90 days, 14 within: after", cert(90), 14, 80, true, 76, "renew-within"],
  ["90 days, 0 within: at notAfter", cert(90), 0, 89, false, 90, "renew-within"],
  ["90 days, 30 within", cert(90), 30, 60, true, 60, "renew-within"],
  ["6 days, 14 within: two thirds (4 days)", cert(6), 14, 3.99, false, 4, "two-thirds"],
  ["6 days, 14 within: at two thirds", cert(6), 14, 4, true, 4, "two-thirds"],
  ["6 days, 6 within: equal to lifetime is two thirds", cert(6), 6, 4.5, true, 4, "two-thirds"],
  ["6 days, 5 within: one day after issuance", cert(6), 5, 0.5, false, 1, "renew-within"],
  [
    "90 days with an ARI point before the rule",
    cert(90, { window: { start: iso(T0 + 60 * DAY), end: iso(T0 + 62 * DAY) }, chosen: iso(T0 + 61 * DAY) }),
    14,
    60.5,
    false,
    61,
    "ari",
  ],
  [
    "ARI point reached",
    cert(90, { window: { start: iso(T0 + 60 * DAY), end: iso(T0 + 62 * DAY) }, chosen: iso(T0 + 61 * DAY) }),
    14,
    61,
    true,
    61,
    "ari",
  ],
  [
    "ARI point later than the rule: the rule wins",
    cert(90, { window: { start: iso(T0 + 80 * DAY), end: iso(T0 + 85 * DAY) }, chosen: iso(T0 + 82 * DAY) }),
    14,
    77,
    true,
    76,
    "renew-within",
  ],
  [
    "ARI window entirely in the past: due now",
    cert(90, { window: { start: iso(T0 + 1 * DAY), end: iso(T0 + 2 * DAY) }, chosen: iso(T0 + 1.5 * DAY) }),
    14,
    3,
    true,
    3,
    "ari-window-past",
  ],
  [
    "ARI window without a chosen point uses its start",
    cert(90, { window: { start: iso(T0 + 50 * DAY), end: iso(T0 + 55 * DAY) } }),
    14,
    49,
    false,
    50,
    "ari",
  ],
  [
    "6 days without notBefore: issuedAt stands in (two thirds)",
    { issuedAt: iso(T0), notAfter: iso(T0 + 6 * DAY) },
    14,
    3.99,
    false,
    4,
    "two-thirds",
  ],
  [
    "90 days without notBefore or issuedAt: renew-within only",
    { notAfter: iso(T0 + 90 * DAY) },
    14,
    76,
    true,
    76,
    "renew-within",
  ],
  [
    "6 days with ARI window end in the future",
    cert(6, { window: { start: iso(T0 + 2 * DAY), end: iso(T0 + 3 * DAY) }, chosen: iso(T0 + 2.5 * DAY) }),
    14,
    2.4,
    false,
    2.5,
    "ari",
  ],
];

for (const [name, entry, within, nowDays, due, atDays, reason] of CASES) {
  Deno.test(`renewalDue: ${name}`, () => {
    const result = renewalDue(entry, within, new Date(T0 + nowDays * DAY));
    assertEquals(result.due, due, "due");
    assertEquals(result.at.getTime(), T0 + atDays * DAY, `at ${result.at.toISOString()}`);
    assertEquals(result.reason, reason);
  });
}

Deno.test("chooseRenewalPoint: uniform inside [start, end)", () => {
  const window = { start: new Date(T0), end: new Date(T0 + DAY) };
  assertEquals(chooseRenewalPoint(window, () => 0).getTime(), T0);
  assertEquals(chooseRenewalPoint(window, () => 0.5).getTime(), T0 + DAY / 2);
  assert(chooseRenewalPoint(window, () => 0.999999).getTime() < T0 + DAY);
  for (let i = 0; i < 200; i++) {
    const point = chooseRenewalPoint(window).getTime();
    assert(point >= T0 && point < T0 + DAY);
  }
  // A degenerate window gives its start.
  assertEquals(chooseRenewalPoint({ start: new Date(T0), end: new Date(T0) }).getTime(), T0);
});

Deno.test("renewalBackoffMs: 1 min, 10 min, 100 min, then daily", () => {
  assertEquals([1, 2, 3, 4, 9].map(renewalBackoffMs), [60_000, 600_000, 6_000_000, DAY, DAY]);
});

Deno.test("ariRefreshDue: without ARI at once; at the CA's Retry-After or 12 h after the last look; an unreadable time never decides", () => {
  const at = (iso: string) => new Date(iso);
  assert(ariRefreshDue({}, at("2026-01-01T00:00:00Z")));
  const ari = { retryAfter: "2026-01-01T06:00:00Z", fetchedAt: "2026-01-01T00:00:00Z" };
  assert(!ariRefreshDue({ ari }, at("2026-01-01T05:59:59Z")));
  assert(ariRefreshDue({ ari }, at("2026-01-01T06:00:00Z")), "Retry-After reached");
  const late = { retryAfter: "2026-01-03T00:00:00Z", fetchedAt: "2026-01-01T00:00:00Z" };
  assert(!ariRefreshDue({ ari: late }, at("2026-01-01T11:59:59Z")));
  assert(ariRefreshDue({ ari: late }, at("2026-01-01T12:00:00Z")), "twice a day whatever the CA said");
  const garbled = { retryAfter: "soon", fetchedAt: "2026-01-01T00:00:00Z" };
  assert(ariRefreshDue({ ari: garbled }, at("2026-01-01T12:00:00Z")), "the readable time still decides");
  assert(!ariRefreshDue({ ari: { retryAfter: "soon", fetchedAt: "then" } }, at("2030-01-01T00:00:00Z")));
  assertEquals(ariRefreshAt({ ari }), Date.parse("2026-01-01T06:00:00Z"));
});
