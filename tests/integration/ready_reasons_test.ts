/**
 * Issue 13 item 7 through the real mgmt listener: `/ready` tells its reasons (here the CA's URL) only to
 * `[mgmt] metrics-ip` peers. acmems runs in-process (`startApp`) in front of a CA that does not answer, so it is not
 * ready; the test's connections come from 127.0.0.1, which is inside the default metrics-ip and outside
 * `metrics-ip = 192.0.2.0/24`.
 */
import { generateKeyPair } from "../../src/acme/mod.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { testConfig } from "../support/config.ts";
import { request } from "../support/http.ts";
import { freePort } from "../support/ports.ts";
import { startApp } from "../support/stack.ts";

async function readyFrom(metricsIp: string | undefined) {
  const work = await Deno.makeTempDir({ prefix: "acmems-ready-reasons-" });
  try {
    const deadCa = await freePort(); // nothing listens there
    const app = await startApp({
      configFile: `${work}/acmems.ini`,
      config: testConfig({
        ca: { directoryUrl: `http://127.0.0.1:${deadCa}/dir`, caFile: "" },
        account: { "ca-file": undefined },
        mgmtPort: await freePort(),
        httpPort: null,
        mgmt: metricsIp ? { "metrics-ip": metricsIp } : {},
        logging: { level: "debug", format: "json" },
      }),
      keyPair: await generateKeyPair("ec-p256"),
      requireReady: false,
    });
    try {
      const first = await request(`${app.url}/ready`);
      const second = await request(`${app.url}/ready`);
      return { first, second, deadCa };
    } finally {
      await app.stop();
    }
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

// The log line of a change is checked in tests/unit/http/operator_test.ts (App passes no logger to the routes yet).
Deno.test("/ready through the real listener: the reasons for metrics-ip peers only", async () => {
  const outside = await readyFrom("192.0.2.0/24");
  assertEquals([outside.first.status, outside.first.body], [503, "not ready\n"]);
  assertEquals(outside.first.headers.get("retry-after"), "10");
  assertEquals([outside.second.status, outside.second.body], [503, "not ready\n"]);

  const operator = await readyFrom(undefined); // default metrics-ip: loopback
  assertEquals(operator.first.status, 503);
  assert(operator.first.body.startsWith("not ready: ACME CA: "), operator.first.body);
  assert(operator.first.body.includes(`127.0.0.1:${operator.deadCa}`), operator.first.body);
});
