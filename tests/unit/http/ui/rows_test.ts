/**
 * The row model (src/http/ui/rows.ts): states, renewal point and rule, ARI window, last failure with its error id,
 * backoff, who fetched it, and the order by renewal point.
 */
import { assertEquals } from "../../../support/assert.ts";
import { testEntry } from "../../../support/entry.ts";
import { certificateRow, certificateRows, countStates, type StoredEntry } from "../../../../src/http/ui/rows.ts";
import type { Entry } from "../../../../src/storage/mod.ts";

const NOW = new Date("2027-01-10T12:00:00Z");
const DAY = 86_400_000;
const at = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();

function stored(overrides: Partial<Entry>, storage = "cache"): StoredEntry {
  const entry = testEntry("CHAIN", overrides.key ?? "k".repeat(64), {
    issuedAt: at(-10),
    notBefore: at(-10),
    notAfter: at(80),
    lastFetchedAt: at(-1),
    ...overrides,
  });
  return { storage, renewWithinDays: 14, renewActiveDays: 30, entry };
}

Deno.test("ui rows: a fresh certificate is valid, due at notAfter − renew-within, with every field", () => {
  const row = certificateRow(
    stored({ names: ["www.example.test", "example.test"], profile: "default", block: "web" }),
    NOW,
  );
  assertEquals(row, {
    storage: "cache",
    key: "k".repeat(64),
    names: ["www.example.test", "example.test"],
    ca: "https://ca.test/dir",
    directoryUrl: "https://ca.test/dir",
    profile: "default",
    issuedAt: at(-10),
    notBefore: at(-10),
    notAfter: at(80),
    state: "valid",
    renewal: { at: at(66), rule: "renew-within" },
    ariWindow: null,
    block: "web",
    lastFetchedAt: at(-1),
    lastFetchedBy: null,
    lastFailure: null,
    backoffUntil: null,
  });
});

Deno.test("ui rows: states expired, inactive, backing-off (with failure, error id, backoff), due; ARI; CA name", () => {
  assertEquals(certificateRow(stored({ notAfter: at(-1), notBefore: at(-91) }), NOW).state, "expired");
  assertEquals(certificateRow(stored({ lastFetchedAt: at(-31) }), NOW).state, "inactive");
  const failing = certificateRow(
    stored({
      notAfter: at(5),
      notBefore: at(-85),
      renewal: {
        failures: 2,
        lastError: "The CA is not available",
        lastErrorId: "ab12cd34",
        lastFailureAt: at(-0.01),
        nextAttemptAt: at(0.5),
      },
    }),
    NOW,
  );
  assertEquals(failing.state, "backing-off");
  assertEquals(failing.lastFailure, {
    at: at(-0.01),
    error: "The CA is not available",
    errorId: "ab12cd34",
    failures: 2,
  });
  assertEquals(failing.backoffUntil, at(0.5));
  // The backoff is over: due again, the failure still shown, no backoff.
  const over = certificateRow(
    stored({ notAfter: at(5), renewal: { failures: 1, lastError: "x", nextAttemptAt: at(-0.1) } }),
    NOW,
  );
  assertEquals([over.state, over.backoffUntil, over.lastFailure?.errorId], ["due", null, null]);
  // ARI: the chosen point inside the window is the renewal point.
  const ari = certificateRow(
    stored({ ari: { certId: "a.b", window: { start: at(20), end: at(22) }, chosen: at(21) } }),
    NOW,
  );
  assertEquals([ari.renewal, ari.ariWindow], [{ at: at(21), rule: "ari" }, { start: at(20), end: at(22) }]);
  // A named CA (several CAs) is shown by name.
  const named = certificateRow(stored({ ...({ ca: "pebble-a" } as Partial<Entry>) }), NOW);
  assertEquals([named.ca, named.directoryUrl], ["pebble-a", "https://ca.test/dir"]);
});

Deno.test("ui rows: the fetch log says who fetched it and a later fetch moves lastFetchedAt", () => {
  const row = certificateRow(
    stored({}),
    NOW,
    (storage, key) =>
      storage === "cache" && key === "k".repeat(64)
        ? { atMs: Date.parse(at(-0.1)), block: "web", client: "192.0.2.7" }
        : undefined,
  );
  assertEquals([row.lastFetchedAt, row.lastFetchedBy], [at(-0.1), { block: "web", client: "192.0.2.7" }]);
  // An older record never moves the storage's time back.
  const older = certificateRow(stored({}), NOW, () => ({ atMs: Date.parse(at(-5)), block: null, client: "::1" }));
  assertEquals(older.lastFetchedAt, at(-1));
});

Deno.test("ui rows: sorted by renewal point, then first name, then storage; states counted", () => {
  const rows = certificateRows([
    stored({ key: "1".repeat(64), names: ["late.example.test"], notAfter: at(85) }),
    stored({ key: "2".repeat(64), names: ["b.example.test"], notAfter: at(30) }, "b"),
    stored({ key: "3".repeat(64), names: ["b.example.test"], notAfter: at(30) }, "a"),
    stored({ key: "4".repeat(64), names: ["a.example.test"], notAfter: at(30) }),
    stored({ key: "5".repeat(64), names: ["gone.example.test"], notAfter: at(-2), notBefore: at(-92) }),
  ], NOW);
  assertEquals(rows.map((r) => `${r.names[0]}@${r.storage}`), [
    "gone.example.test@cache",
    "a.example.test@cache",
    "b.example.test@a",
    "b.example.test@b",
    "late.example.test@cache",
  ]);
  assertEquals(countStates(rows), { expired: 1, inactive: 0, "backing-off": 0, due: 0, valid: 4 });
});
