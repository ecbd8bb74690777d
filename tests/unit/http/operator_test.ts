/**
 * The operator routes (src/http/operator.ts) in-process: their statuses, bodies and headers exactly as the README
 * states them, /ready naming each problem, the 10 s throttle of the CA probe (on an injected clock), and the 404 of
 * a metrics-only listener.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { createOperatorRoutes, metricsListenerHandler, type ReadinessSession } from "../../../src/http/operator.ts";
import type { Config } from "../../../src/config/types.ts";
import { parseIpNetwork } from "../../../src/lib/ip.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { AcmemsMetrics } from "../../../src/ops/metrics.ts";
import type { Storage } from "../../../src/storage/mod.ts";

const config = {
  account: { acmeServer: "https://ca.example/dir" },
  mgmt: { metricsIps: [parseIpNetwork("127.0.0.0/8")], trustedProxies: [] },
} as unknown as Config;

function info(peer: string): Deno.ServeHandlerInfo {
  return { remoteAddr: { transport: "tcp", hostname: peer, port: 40000 } } as Deno.ServeHandlerInfo;
}

async function answer(response: Promise<Response> | null): Promise<[number, string, string | null, string | null]> {
  assert(response, "the route is answered");
  const r = await response;
  return [r.status, await r.text(), r.headers.get("content-type"), r.headers.get("retry-after")];
}

function setup(session: Partial<ReadinessSession>, storages: Partial<Storage>[] = [], cfg: Config = config) {
  const metrics = new AcmemsMetrics();
  const log = memoryLogger("debug");
  const routes = createOperatorRoutes({
    session: {
      state: "ready",
      reason: "ready",
      lastDirectoryOk: 0,
      probe: () => Promise.resolve(true),
      ...session,
    },
    config: () => cfg,
    storages: () => storages as Storage[],
    registry: metrics.registry,
    log,
  });
  return { routes, log };
}

const get = (path: string, method = "GET", headers: HeadersInit = {}) =>
  new Request(`http://acmems.test${path}`, { method, headers });

Deno.test("operator: /health, /metrics to metrics-ip peers only, other routes and methods are not answered", async () => {
  const { routes } = setup({});
  assertEquals(await answer(routes(get("/health"), info("10.0.0.1"))), [200, "ok\n", "text/plain", null]);
  // HEAD gets the GET answer (Deno.serve sends no body for it).
  assertEquals(await answer(routes(get("/health", "HEAD"), info("10.0.0.1"))), [200, "ok\n", "text/plain", null]);
  assertEquals(await answer(routes(get("/metrics"), info("10.0.0.1"))), [
    403,
    "Metrics are only served to [mgmt] metrics-ip addresses.\n",
    "text/plain",
    null,
  ]);
  const [status, body, type] = await answer(routes(get("/metrics"), info("127.0.0.1")));
  assertEquals([status, type], [200, "text/plain; version=0.0.4; charset=utf-8"]);
  assert(body.includes("# HELP acmems_sign_requests_total"), body);
  assertEquals(routes(get("/sign"), info("127.0.0.1")), null);
  assertEquals(routes(get("/health", "POST"), info("127.0.0.1")), null);
  const metricsOnly = metricsListenerHandler(routes);
  assertEquals(await answer(metricsOnly(get("/sign"), info("127.0.0.1"))), [404, "Not found.\n", "text/plain", null]);
});

Deno.test("operator: /ready is 503 with Retry-After 10 naming every problem to metrics-ip, 200 when all is well", async () => {
  const down = setup({ state: "unavailable", reason: "cannot reach https://ca.example/dir: refused" }, [
    { problem: () => Promise.resolve('storage "db": the database does not answer') },
    { problem: () => Promise.reject(new Error("boom")) },
  ]);
  assertEquals(await answer(down.routes(get("/ready"), info("127.0.0.1"))), [
    503,
    'not ready: ACME CA: cannot reach https://ca.example/dir: refused; storage "db": the database does not answer; ' +
    "Error: boom\n",
    "text/plain",
    "10",
  ]);
  const up = setup({}, [{ problem: () => Promise.resolve("") }]);
  assertEquals(await answer(up.routes(get("/ready"), info("10.0.0.1"))), [200, "ready\n", "text/plain", null]);
});

Deno.test("operator: /ready probes the CA's directory only when it last answered more than 10 s ago", async () => {
  let lastOk = 0;
  let up = true;
  let probes = 0;
  const routes = createOperatorRoutes({
    session: {
      state: "ready",
      reason: "ready",
      get lastDirectoryOk() {
        return lastOk;
      },
      probe: () => {
        probes++;
        return Promise.resolve(up);
      },
    },
    config: () => config,
    storages: () => [],
    registry: new AcmemsMetrics().registry,
    now: () => new Date(100_000),
  });
  lastOk = 95_000; // 5 s ago: not asked, even though it would fail now
  up = false;
  assertEquals((await answer(routes(get("/ready"), info("10.0.0.1"))))[0], 200);
  lastOk = 89_000; // 11 s ago: asked, and it does not answer
  assertEquals(await answer(routes(get("/ready"), info("127.0.0.1"))), [
    503,
    "not ready: ACME CA: the directory at https://ca.example/dir did not answer\n",
    "text/plain",
    "10",
  ]);
  assertEquals(probes, 1);
});

Deno.test("operator: /ready tells the reasons only to metrics-ip peers, and the log once per change", async () => {
  let dbProblem = 'storage "db": password authentication failed for user "acmems" at /var/lib/acmems/pg.sock';
  const { routes, log } = setup({}, [{ problem: () => Promise.resolve(dbProblem) }]);
  const reasons = () =>
    log.lines.map((l) => JSON.parse(l)).filter((e) => e.event === "not ready" || e.event === "ready again");

  // Outside metrics-ip (127.0.0.0/8): the bare word, the same status and Retry-After; IPv4 and IPv6 alike.
  for (const peer of ["10.0.0.1", "2001:db8::1", "::ffff:192.0.2.1"]) {
    assertEquals(await answer(routes(get("/ready"), info(peer))), [503, "not ready\n", "text/plain", "10"], peer);
  }
  // HEAD from outside: the same (Deno.serve drops the body).
  assertEquals(await answer(routes(get("/ready", "HEAD"), info("10.0.0.1"))), [503, "not ready\n", "text/plain", "10"]);
  // A metrics-ip peer gets the reasons.
  assertEquals(await answer(routes(get("/ready"), info("127.0.0.1"))), [
    503,
    `not ready: ${dbProblem}\n`,
    "text/plain",
    "10",
  ]);
  // Five requests, one log line with the reasons.
  assertEquals(reasons().map((e) => [e.level, e.event, e.reasons]), [["warning", "not ready", dbProblem]]);

  // Another reason: logged once more; then ready again: logged once, and the outsider gets "ready".
  dbProblem = 'storage "db": the database does not answer';
  await answer(routes(get("/ready"), info("10.0.0.1")));
  await answer(routes(get("/ready"), info("10.0.0.1")));
  dbProblem = "";
  assertEquals(await answer(routes(get("/ready"), info("10.0.0.1"))), [200, "ready\n", "text/plain", null]);
  assertEquals(await answer(routes(get("/ready"), info("127.0.0.1"))), [200, "ready\n", "text/plain", null]);
  assertEquals(reasons().map((e) => [e.event, e.reasons ?? e.was]), [
    ["not ready", 'storage "db": password authentication failed for user "acmems" at /var/lib/acmems/pg.sock'],
    ["not ready", 'storage "db": the database does not answer'],
    ["ready again", 'storage "db": the database does not answer'],
  ]);
});

Deno.test("operator: behind a trusted proxy the forwarded client must be in metrics-ip, not the proxy", async () => {
  // nginx on the same host (127.0.0.1, inside the default metrics-ip) forwarding for clients from anywhere.
  const proxied = {
    ...config,
    mgmt: { metricsIps: [parseIpNetwork("127.0.0.0/8")], trustedProxies: [parseIpNetwork("127.0.0.1/32")] },
  } as unknown as Config;
  const { routes } = setup({}, [{ problem: () => Promise.resolve("the database does not answer") }], proxied);
  const outsider = { "X-Forwarded-For": "203.0.113.9" };
  assertEquals(await answer(routes(get("/ready", "GET", outsider), info("127.0.0.1"))), [
    503,
    "not ready\n",
    "text/plain",
    "10",
  ]);
  assertEquals((await answer(routes(get("/metrics", "GET", outsider), info("127.0.0.1"))))[0], 403);
  assertEquals((await answer(routes(get("/", "GET", outsider), info("127.0.0.1"))))[0], 403);
  // A forwarded client inside metrics-ip, and the proxy host itself (no header), are operators.
  const inside = { "X-Forwarded-For": "127.0.0.9" };
  assertEquals(
    (await answer(routes(get("/ready", "GET", inside), info("127.0.0.1"))))[1],
    "not ready: the database does not answer\n",
  );
  assertEquals((await answer(routes(get("/metrics", "GET", inside), info("127.0.0.1"))))[0], 200);
  assertEquals((await answer(routes(get("/metrics"), info("127.0.0.1"))))[0], 200);
  // X-Forwarded-For from a peer that is not a trusted proxy is not consulted (either way).
  assertEquals((await answer(routes(get("/metrics", "GET", outsider), info("127.0.0.2"))))[0], 200);
  assertEquals((await answer(routes(get("/metrics", "GET", inside), info("10.0.0.1"))))[0], 403);
});
