/**
 * Assembly helpers (src/server/generation.ts): an issuer event's failure kind becomes the notification's `status`
 * from the one status table, and the metered fetch counts every CA request by endpoint and status (errors too).
 */
import { assertEquals, assertRejects } from "../../support/assert.ts";
import { meteredFetch, notificationDetails } from "../../../src/server/generation.ts";
import { AcmemsMetrics } from "../../../src/ops/metrics.ts";

Deno.test("generation: an event's failure kind becomes the status a /sign client gets; status passes as is", () => {
  const base = { names: ["a.example.test"], message: "rate limited" };
  assertEquals(notificationDetails({ ...base, kind: "rate-limited" }), { ...base, status: 429 });
  assertEquals(notificationDetails({ ...base, kind: "names-refused" }), { ...base, status: 421 });
  assertEquals(notificationDetails({ ...base, status: 503 }), { ...base, status: 503 });
  assertEquals(notificationDetails(base), base);
});

Deno.test("generation: the metered fetch counts CA requests by endpoint and status, and failures as error", async () => {
  const metrics = new AcmemsMetrics();
  let fail = false;
  const fetch = meteredFetch(metrics, (_input, _init) => {
    if (fail) return Promise.reject(new TypeError("connection refused"));
    return Promise.resolve(new Response("{}", { status: 201 }));
  });
  await (await fetch("https://ca.example/acme/new-order", { method: "POST" })).body?.cancel();
  fail = true;
  await assertRejects(() => fetch("https://ca.example/acme/new-order", { method: "POST" }));
  const text = metrics.registry.render();
  const lines = text.split("\n").filter((l) => l.startsWith("acmems_acme_requests_total{"));
  assertEquals(lines.length, 2, text);
  assertEquals(lines.some((l) => l.includes('status="201"') && l.endsWith(" 1")), true, text);
  assertEquals(lines.some((l) => l.includes('status="error"') && l.endsWith(" 1")), true, text);
});
