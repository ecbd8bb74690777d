/**
 * `GET /` through the operator routes (src/http/operator.ts + src/http/ui/handler.ts): 403 for peers outside
 * `[mgmt] metrics-ip` on both listeners, the strict headers (CSP allowing exactly the page's style sheet by hash),
 * and the content: certificates of every storage, the CA's reachability, budget, dns-persist records, escaping.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../../../support/assert.ts";
import { testEntry } from "../../../support/entry.ts";
import { createOperatorRoutes, metricsListenerHandler, type ReadinessSession } from "../../../../src/http/operator.ts";
import { FetchLog } from "../../../../src/http/ui/fetch_log.ts";
import type { OperatorDeps } from "../../../../src/http/operator.ts";
import type { Config } from "../../../../src/config/types.ts";
import { parseIpNetwork } from "../../../../src/lib/ip.ts";
import { AcmemsMetrics } from "../../../../src/ops/metrics.ts";
import type { Entry, Storage } from "../../../../src/storage/mod.ts";

const NOW = new Date("2027-01-10T12:00:00Z");
const DAY = 86_400_000;
const at = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString();

function config(verifications: Map<string, unknown> = new Map(), auth: unknown[] = []): Config {
  return {
    account: { acmeServer: "https://ca.example/dir", dir: "/nonexistent/account" },
    mgmt: { metricsIps: [parseIpNetwork("127.0.0.0/8")] },
    verifications,
    auth,
  } as unknown as Config;
}

function fakeStorage(name: string, entries: Entry[], kind = "file"): Storage {
  return {
    name,
    kind,
    renewWithinDays: 14,
    renewActiveDays: 30,
    keys: () => Promise.resolve(entries.map((e) => e.key)),
    get: (key: string) => Promise.resolve(structuredClone(entries.find((e) => e.key === key) ?? null)),
  } as unknown as Storage;
}

const info = (peer: string) =>
  ({ remoteAddr: { transport: "tcp", hostname: peer, port: 40000 } }) as Deno.ServeHandlerInfo;
const get = (path: string, method = "GET") => new Request(`http://acmems.test${path}`, { method });

function routes(overrides: Partial<OperatorDeps> = {}, session: Partial<ReadinessSession> = {}) {
  return createOperatorRoutes({
    session: {
      state: "ready",
      reason: "ready",
      lastDirectoryOk: NOW.getTime() - 60_000,
      since: NOW.getTime() - 3_600_000,
      probe: () => Promise.resolve(true),
      ...session,
    },
    config: () => config(),
    storages: () => [],
    registry: new AcmemsMetrics().registry,
    ...overrides,
    page: { now: () => NOW, ...overrides.page },
  });
}

/** The answer to GET / from `peer`, its body with whitespace between tags removed (and as sent). */
async function page(r: ReturnType<typeof routes>, peer = "127.0.0.1"): Promise<[Response, string, string]> {
  const answer = r(get("/"), info(peer));
  assert(answer, "GET / is answered");
  const response = await answer;
  const raw = await response.text();
  return [response, raw.replace(/>\s+</g, "><").replace(/\s+/g, " "), raw];
}

Deno.test("operator page: 403 for peers outside metrics-ip (mgmt and metrics listeners), never the page", async () => {
  const r = routes({ storages: () => [fakeStorage("cache", [testEntry("C", "a".repeat(64))])] });
  for (const peer of ["10.0.0.1", "2001:db8::1", "::ffff:192.0.2.1"]) {
    const [response, , body] = await page(r, peer);
    assertEquals(
      [response.status, body, response.headers.get("content-type")],
      [403, "The operator page is only served to [mgmt] metrics-ip addresses.\n", "text/plain"],
    );
  }
  const metricsOnly = metricsListenerHandler(r);
  const outsider = await metricsOnly(get("/"), info("10.0.0.1"));
  assertEquals([outsider.status, (await outsider.text()).includes("www.example.test")], [403, false]);
  const operator = await metricsOnly(get("/"), info("127.0.0.1"));
  assertEquals(operator.status, 200);
  assertStringIncludes(await operator.text(), "www.example.test");
  // Other methods are not the page's (the mgmt router answers them 404/405 as before).
  assertEquals(r(get("/", "POST"), info("127.0.0.1")), null);
});

Deno.test("operator page: strict headers; the CSP allows exactly the page's one style sheet by hash", async () => {
  const [response, , body] = await page(routes());
  assertEquals(response.status, 200);
  assertEquals(response.headers.get("content-type"), "text/html; charset=utf-8");
  assertEquals(response.headers.get("x-content-type-options"), "nosniff");
  assertEquals(response.headers.get("cache-control"), "no-store");
  assertEquals(response.headers.get("x-frame-options"), "DENY");
  const csp = response.headers.get("content-security-policy") ?? "";
  const styles = [...body.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]);
  assertEquals(styles.length, 1);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(styles[0])));
  const hash = btoa(String.fromCharCode(...digest));
  assertEquals(
    csp,
    `default-src 'none'; style-src 'sha256-${hash}'; img-src data:; frame-ancestors 'none'; base-uri 'none'; ` +
      "form-action 'none'",
  );
  assert(!/<script|<link|<img|<iframe|\bon[a-z]+=|style="|src="http/i.test(body), "no scripts, links or assets");
  assert(body.startsWith("<!DOCTYPE html>"), body.slice(0, 40));
});

Deno.test("operator page: certificates of every storage with failure, error id, backoff, who fetched; escaped", async () => {
  const fetches = new FetchLog();
  fetches.note("cache", "b".repeat(64), { atMs: Date.parse(at(-0.5)), block: "web", client: "192.0.2.7" });
  const evil = `<script>alert("x")</script>.example.test`;
  const storages = [
    fakeStorage("cache", [
      testEntry("C", "a".repeat(64), {
        names: [evil],
        notBefore: at(-10),
        notAfter: at(80),
        lastFetchedAt: at(-1),
        block: "web",
      }),
      testEntry("C", "b".repeat(64), {
        names: ["failing.example.test"],
        notBefore: at(-85),
        notAfter: at(5),
        lastFetchedAt: at(-1),
        profile: "shortlived",
        renewal: {
          failures: 3,
          lastError: "The CA is not available: <down>",
          lastErrorId: "ab12cd34",
          lastFailureAt: at(-0.1),
          nextAttemptAt: at(0.2),
        },
      }),
    ]),
    fakeStorage(
      "db",
      [testEntry("C", "c".repeat(64), { names: ["db.example.test"], notAfter: at(40), lastFetchedAt: at(-40) })],
      "postgres",
    ),
  ];
  const [, body] = await page(routes({ storages: () => storages, page: { fetches } }));
  assert(!body.includes("<script>"), "a name never becomes markup");
  assertStringIncludes(body, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;.example.test");
  assertStringIncludes(body, "The CA is not available: &lt;down&gt;");
  assertStringIncludes(body, "error id ab12cd34");
  assertStringIncludes(body, "3 failures");
  assertStringIncludes(body, `<time datetime="${at(0.2)}">2027-01-10 16:48 UTC</time>`); // backoff until
  assertStringIncludes(body, `by [auth &quot;web&quot;] from 192.0.2.7`);
  assertStringIncludes(body, "profile shortlived");
  assertStringIncludes(body, "db.example.test");
  assertStringIncludes(body, `<time datetime="${at(80)}">2027-03-31 12:00 UTC</time>`); // not after
  // The table is sorted by renewal point: the failing one (due) first.
  const table = body.slice(body.indexOf('id="certificate-table"'));
  assert(table.indexOf("failing.example.test") < table.indexOf("db.example.test"), "sorted by renewal point");
  assert(table.indexOf("db.example.test") < table.indexOf("alert"), "sorted by renewal point");
  assertStringIncludes(body, "3 certificates: 1 inactive, 1 backing-off, 1 valid."); // not fetched for 40 days: inactive
  assert(body.includes("<svg"), "the timeline is inline SVG");
  assertStringIncludes(body, "<td>db</td><td>postgres</td><td>1</td>");
});

Deno.test("operator page: the CA's reachability, the budget (or not configured), a storage that cannot be listed", async () => {
  const broken = { ...fakeStorage("cache", []), keys: () => Promise.reject(new Error("permission denied")) };
  const down = routes({ storages: () => [broken as Storage] }, {
    state: "unavailable",
    reason: "cannot reach https://ca.example/dir: connection refused",
    since: NOW.getTime() - 600_000,
  });
  const [, body] = await page(down);
  assertMatch(
    body,
    /unavailable<\/span>\s+since <time datetime="2027-01-10T11:50:00.000Z">2027-01-10 11:50 UTC<\/time>/,
  );
  assertStringIncludes(body, "cannot reach https://ca.example/dir: connection refused");
  assertStringIncludes(body, "Rate-limit ledger: not configured.");
  assertStringIncludes(body, "cannot list the cache: permission denied");
  assertStringIncludes(body, "No certificates in the cache.");
  assertStringIncludes(body, "No [verification] block with type = dns-persist01.");

  const budget = routes({
    page: {
      budget: () =>
        Promise.resolve([{
          owner: "default",
          limit: "registered-domain",
          key: "example.test",
          max: 50,
          remaining: 47,
        }]),
    },
  });
  const [, withBudget] = await page(budget);
  assertStringIncludes(withBudget, '<span class="ok">connected</span>');
  assertStringIncludes(
    withBudget,
    '<td>default</td><td>registered-domain</td><td class="mono">example.test</td><td>47 / 50</td>',
  );
  const failing = routes({ page: { budget: () => Promise.reject(new Error("database down")) } });
  assertStringIncludes((await page(failing))[1], "The rate-limit ledger could not be read: database down");
});

Deno.test("operator page: the dns-persist-01 records to publish, as acmems records lists them", async () => {
  const verifications = new Map<string, unknown>([[
    "persist",
    {
      name: "persist",
      type: "dns-persist01",
      issuerDomainName: "ca.example",
      recordFormat: "draft-ietf-acme-dns-persist-00",
    },
  ]]);
  const auth = [{ name: "web", verification: "persist", domains: ["*.example.org", "web?.example.org"] }];
  const r = routes({ config: () => config(verifications, auth) }, {});
  const withAccount = createOperatorRoutes({
    session: { state: "ready", reason: "ready", lastDirectoryOk: 0, probe: () => Promise.resolve(true) },
    config: () => config(verifications, auth),
    storages: () => [],
    registry: new AcmemsMetrics().registry,
    page: {
      now: () => NOW,
      registration: () => Promise.resolve({ url: "https://ca.example/acct/1", directoryUrl: "https://ca.example/dir" }),
    },
  });
  const [, body] = await page(withAccount);
  assertStringIncludes(body, "_validation-persist.example.org.");
  assertStringIncludes(body, "&quot;ca.example; accounturi=https://ca.example/acct/1; policy=wildcard&quot;");
  assertStringIncludes(body, "web?.example.org: a glob no one record covers");
  // Without an account yet (registration.json missing), the page says what to run.
  assertStringIncludes((await page(r))[1], "no account yet in /nonexistent/account: run acmems register first");
});
