/**
 * The operator routes (src/http/operator.ts) in-process: their statuses, bodies and headers exactly as the README
 * states them, /ready naming each problem, the 10 s throttle of the CA probe (on an injected clock), and the 404 of
 * a metrics-only listener.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { createOperatorRoutes, metricsListenerHandler, type ReadinessSession } from "../../../src/http/operator.ts";
import type { Config } from "../../../src/config/types.ts";
import { parseIpNetwork } from "../../../src/lib/ip.ts";
import { AcmemsMetrics } from "../../../src/ops/metrics.ts";
import type { Storage } from "../../../src/storage/mod.ts";

const config = {
  account: { acmeServer: "https://ca.example/dir" },
  mgmt: { metricsIps: [parseIpNetwork("127.0.0.0/8")] },
} as unknown as Config;

function info(peer: string): Deno.ServeHandlerInfo {
  return { remoteAddr: { transport: "tcp", hostname: peer, port: 40000 } } as Deno.ServeHandlerInfo;
}

async function answer(response: Promise<Response> | null): Promise<[number, string, string | null, string | null]> {
  assert(response, "the route is answered");
  const r = await response;
  return [r.status, await r.text(), r.headers.get("content-type"), r.headers.get("retry-after")];
}

function setup(session: Partial<ReadinessSession>, storages: Partial<Storage>[] = []) {
  const metrics = new AcmemsMetrics();
  const routes = createOperatorRoutes({
    session: {
      state: "ready",
      reason: "ready",
      lastDirectoryOk: 0,
      probe: () => Promise.resolve(true),
      ...session,
    },
    config: () => config,
    storages: () => storages as Storage[],
    registry: metrics.registry,
  });
  return { routes };
}

const get = (path: string, method = "GET") => new Request(`http://acmems.test${path}`, { method });

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

Deno.test("operator: /ready is 503 with Retry-After 10 naming every problem, 200 when all is well", async () => {
  const down = setup({ state: "unavailable", reason: "cannot reach https://ca.example/dir: refused" }, [
    { problem: () => Promise.resolve('storage "db": the database does not answer') },
    { problem: () => Promise.reject(new Error("boom")) },
  ]);
  assertEquals(await answer(down.routes(get("/ready"), info("10.0.0.1"))), [
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
  assertEquals(await answer(routes(get("/ready"), info("10.0.0.1"))), [
    503,
    "not ready: ACME CA: the directory at https://ca.example/dir did not answer\n",
    "text/plain",
    "10",
  ]);
  assertEquals(probes, 1);
});
