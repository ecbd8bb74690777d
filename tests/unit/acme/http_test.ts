import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import { AcmeNetworkError, AcmeUrlRefusedError } from "../../../src/acme/errors.ts";
import { type FetchLike, type HttpResponse, HttpTransport } from "../../../src/acme/http.ts";

/** A scripted fetch: each call takes the next step (a Response, or an Error to throw). */
function scripted(steps: (Response | Error)[]): { fetch: FetchLike; calls: RequestInit[] } {
  const calls: RequestInit[] = [];
  const fetch: FetchLike = (_input, init) => {
    calls.push(init ?? {});
    const step = steps.shift();
    if (!step) return Promise.reject(new Error("script exhausted"));
    return step instanceof Error ? Promise.reject(step) : Promise.resolve(step);
  };
  return { fetch, calls };
}

const ok = () => new Response("{}", { status: 200, headers: { "replay-nonce": "n1" } });
const status = (code: number, headers: Record<string, string> = {}) => new Response("x", { status: code, headers });

Deno.test("transport: retry decisions (table)", async () => {
  const cases: { name: string; steps: (Response | Error)[]; status?: number; calls: number; network?: boolean }[] = [
    { name: "network error then 200", steps: [new TypeError("connection reset"), ok()], status: 200, calls: 2 },
    { name: "502, 504 then 200", steps: [status(502), status(504), ok()], status: 200, calls: 3 },
    { name: "429 is returned at once", steps: [status(429, { "retry-after": "1" }), ok()], status: 429, calls: 1 },
    { name: "400 is returned at once", steps: [status(400), ok()], status: 400, calls: 1 },
    { name: "501 is not transient", steps: [status(501), ok()], status: 501, calls: 1 },
    {
      name: "503 with a long Retry-After is returned, not waited for",
      steps: [status(503, { "retry-after": "3600" }), ok()],
      status: 503,
      calls: 1,
    },
    { name: "5xx beyond the budget", steps: [status(500), status(500), status(500), ok()], status: 500, calls: 3 },
    {
      name: "network errors beyond the budget",
      steps: [new TypeError("refused"), new TypeError("refused"), new TypeError("refused")],
      calls: 3,
      network: true,
    },
  ];
  for (const c of cases) {
    const { fetch, calls } = scripted([...c.steps]);
    const seen: HttpResponse[] = [];
    const http = new HttpTransport({ fetch, retries: 2, retryBaseDelayMs: 1, onResponse: (r) => seen.push(r) });
    const started = Date.now();
    if (c.network) {
      const e = await assertRejects(() => http.request({ method: "GET", url: "https://ca.test/dir" }));
      assert(e instanceof AcmeNetworkError && e.message === "Request to https://ca.test/dir failed: refused", c.name);
    } else {
      const res = await http.request({ method: "GET", url: "https://ca.test/dir" });
      assertEquals(res.status, c.status, c.name);
      const responses = c.steps.slice(0, c.calls).filter((s) => s instanceof Response).length;
      assertEquals(seen.length, responses, `${c.name}: onResponse sees every response`);
    }
    assertEquals(calls.length, c.calls, c.name);
    assert(Date.now() - started < 2_000, `${c.name}: must not sleep long`);
  }
});

Deno.test("transport: the body callback runs per attempt; headers set", async () => {
  const { fetch, calls } = scripted([status(503), ok()]);
  let bodies = 0;
  const http = new HttpTransport({ fetch, retryBaseDelayMs: 1, userAgent: "test-agent/1" });
  await http.request({
    method: "POST",
    url: "https://ca.test/x",
    headers: { "content-type": "application/jose+json" },
    body: () => Promise.resolve(`body-${++bodies}`),
  });
  assertEquals(calls.map((c) => c.body), ["body-1", "body-2"]);
  const headers = new Headers(calls[0].headers);
  assertEquals([headers.get("user-agent"), headers.get("content-type")], ["test-agent/1", "application/jose+json"]);
});

Deno.test("transport: a caller abort during backoff rejects with the caller's reason", async () => {
  const { fetch } = scripted([new TypeError("refused"), ok()]);
  const http = new HttpTransport({ fetch, retryBaseDelayMs: 5_000 });
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(new Error("caller gave up")), 50);
  await assertRejects(
    () => http.request({ method: "GET", url: "https://ca.test/dir", signal: controller.signal }),
    /caller gave up/,
  );
  assert(Date.now() - started < 2_000);
});

Deno.test("transport: redirects are not followed: fetch is told so, and a 3xx throws naming both URLs", async () => {
  for (const code of [301, 302, 303, 307, 308]) {
    const { fetch, calls } = scripted([status(code, { location: "file:///etc/passwd" }), ok()]);
    const http = new HttpTransport({ fetch, retries: 2, retryBaseDelayMs: 1 });
    const e = await assertRejects(() => http.request({ method: "POST", url: "https://ca.test/cert/1" }));
    assert(e instanceof AcmeUrlRefusedError, `${code}: ${e}`);
    assertEquals(e.url, "https://ca.test/cert/1");
    assert(
      e.message.includes(`POST https://ca.test/cert/1 with a redirect (HTTP ${code} to file:///etc/passwd)`),
      e.message,
    );
    assertEquals(calls.map((c) => c.redirect), ["manual"], `${code}: one call, redirect: manual`);
  }
});
