import { assert, assertEquals } from "../../support/assert.ts";
import { AcmeProblem, isProblem, problemFromDocument, problemFromResponse } from "../../../src/acme/problem.ts";

const NOW = new Date("2026-11-27T10:00:00Z");

function response(status: number, contentType: string | undefined, text: string, extra: Record<string, string> = {}) {
  const headers = new Headers(extra);
  if (contentType) headers.set("content-type", contentType);
  return { status, headers, text, url: "https://ca.test/new-order" };
}

Deno.test("problemFromResponse: table", () => {
  const cases: {
    name: string;
    res: ReturnType<typeof response>;
    type: string;
    short: string;
    detail: string | RegExp;
    retryAfter?: string;
    subproblems?: number;
  }[] = [
    {
      name: "rate limited with Retry-After seconds",
      res: response(
        429,
        "application/problem+json",
        JSON.stringify({
          type: "urn:ietf:params:acme:error:rateLimited",
          detail: "too many new orders",
          status: 429,
          instance: "https://ca.test/docs/rate-limits",
        }),
        { "retry-after": "3600" },
      ),
      type: "urn:ietf:params:acme:error:rateLimited",
      short: "rateLimited",
      detail: "too many new orders",
      retryAfter: "2026-11-27T11:00:00.000Z",
    },
    {
      name: "compound with subproblems",
      res: response(
        403,
        "application/problem+json; charset=utf-8",
        JSON.stringify({
          type: "urn:ietf:params:acme:error:compound",
          detail: "Some identifiers were rejected",
          subproblems: [
            {
              type: "urn:ietf:params:acme:error:rejectedIdentifier",
              detail: "policy forbids",
              identifier: { type: "dns", value: "bad.example" },
            },
            { type: "urn:ietf:params:acme:error:caa", detail: "CAA forbids" },
            { nonsense: true },
          ],
        }),
      ),
      type: "urn:ietf:params:acme:error:compound",
      short: "compound",
      detail: "Some identifiers were rejected",
      subproblems: 2,
    },
    {
      name: "HTML 502 from a proxy",
      res: response(502, "text/html", "<html><body>Bad   Gateway</body></html>"),
      type: "about:blank",
      short: "about:blank",
      detail: /unexpected text\/html error body: <html><body>Bad Gateway/,
    },
    {
      name: "bare 429 is typed rateLimited",
      res: response(429, undefined, "", { "retry-after": "Fri, 27 Nov 2026 12:00:00 GMT" }),
      type: "urn:ietf:params:acme:error:rateLimited",
      short: "rateLimited",
      detail: "empty error body",
      retryAfter: "2026-11-27T12:00:00.000Z",
    },
    {
      name: "problem+json that is not JSON",
      res: response(500, "application/problem+json", "{oops"),
      type: "about:blank",
      short: "about:blank",
      detail: /\{oops/,
    },
  ];
  for (const c of cases) {
    const p = problemFromResponse(c.res, NOW);
    assert(p instanceof AcmeProblem && p instanceof Error, c.name);
    assertEquals(p.type, c.type, c.name);
    assertEquals(p.shortType, c.short, c.name);
    assertEquals(p.status, c.res.status, c.name);
    assertEquals(p.url, "https://ca.test/new-order", c.name);
    if (typeof c.detail === "string") assertEquals(p.detail, c.detail, c.name);
    else assert(c.detail.test(p.detail), `${c.name}: ${p.detail}`);
    assertEquals(p.retryAfter?.toISOString(), c.retryAfter, c.name);
    assertEquals(p.subproblems.length, c.subproblems ?? 0, c.name);
  }
});

Deno.test("subproblems keep their identifiers and the message names type, status and URL", () => {
  const p = problemFromResponse(
    response(
      400,
      "application/problem+json",
      JSON.stringify({
        type: "urn:ietf:params:acme:error:malformed",
        detail: "two bad names",
        subproblems: [{
          type: "urn:ietf:params:acme:error:rejectedIdentifier",
          detail: "x",
          identifier: { type: "dns", value: "a.test" },
        }],
      }),
    ),
  );
  assertEquals(p.subproblems, [{
    type: "urn:ietf:params:acme:error:rejectedIdentifier",
    detail: "x",
    identifier: { type: "dns", value: "a.test" },
  }]);
  assertEquals(p.message, "ACME malformed (HTTP 400) (https://ca.test/new-order): two bad names");
});

Deno.test("isProblem matches short names and full URNs only for AcmeProblem", () => {
  const p = new AcmeProblem({ type: "urn:ietf:params:acme:error:rateLimited", status: 429 });
  assert(isProblem(p));
  assert(isProblem(p, "rateLimited"));
  assert(isProblem(p, "urn:ietf:params:acme:error:rateLimited"));
  assert(!isProblem(p, "badNonce"));
  assert(!isProblem(new Error("rateLimited"), "rateLimited"));
  assert(!isProblem(undefined));
});

Deno.test("problemFromDocument converts an order/challenge error field", () => {
  const p = problemFromDocument({ type: "urn:ietf:params:acme:error:connection", detail: "refused", status: 400 });
  assertEquals([p.shortType, p.detail, p.status], ["connection", "refused", 400]);
});
