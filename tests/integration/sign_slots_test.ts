/**
 * Issue 13 item 1 through the real mgmt listener: stalled /sign bodies cannot starve admitted clients.
 *
 * acmems runs in-process (`startApp`: an `App` from `loadConfig`) in front of pebble 2.10 resolving through bind9,
 * with `max-inflight = 8` and `trusted-proxy = 127.0.0.1`, so each raw TCP connection says who it is with
 * `X-Forwarded-For`. A stalled body is a request with its headers and a `Content-Length` but no body bytes.
 *  - eight stalled bodies from an address that no auth block admits are answered 403 at once, unread, and hold no
 *    slot: an admitted client then gets 200;
 *  - eight stalled bodies from one admitted address hold at most `max-inflight-per-client` slots (default
 *    max-inflight / 4 = 2), the rest get 503 with Retry-After at once: another admitted address then gets 200.
 */
import { generateKeyPair } from "../../src/acme/mod.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { ipAuth, testConfig } from "../support/config.ts";
import { makeCsr } from "../support/csr.ts";
import { postSign } from "../support/http.ts";
import { freePort } from "../support/ports.ts";
import { type AppStack, startApp, startStack } from "../support/stack.ts";
import { type RawExchange, rawSend, within } from "../load/raw_http.ts";

const MAX_INFLIGHT = 8;
/** The default `max-inflight-per-client` for it. */
const PER_CLIENT = 2;

/** Headers of a POST /sign announcing `length` body bytes that never come, for the client `forwardedFor`. */
function stalledHead(port: number, forwardedFor: string, length = 900, path = "/sign"): string {
  const type = path === "/sign" ? "application/pkcs10" : "application/jose+json";
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Forwarded-For: ${forwardedFor}\r\n` +
    `Content-Type: ${type}\r\nContent-Length: ${length}\r\n\r\n`;
}

Deno.test("/sign slots: stalled bodies from outsiders or from one address do not starve admitted clients", async (t) => {
  const { pebble, cleanup } = await startStack({
    prefix: "acmems-sign-slots-",
    pebble: { httpPort: await freePort() },
  });
  const stalled: RawExchange[] = [];
  let running: AppStack | undefined;
  const work = await Deno.makeTempDir({ prefix: "acmems-sign-slots-app-" });
  try {
    const mgmtPort = await freePort();
    running = await startApp({
      configFile: `${work}/acmems.ini`,
      config: testConfig({
        comment: "tests/integration/sign_slots_test.ts",
        ca: pebble,
        mgmtPort,
        httpPort: pebble.httpPort,
        // A long body-timeout: without the fix the stalled bodies would hold their slots for the whole test.
        mgmt: { "max-inflight": MAX_INFLIGHT, "body-timeout": "60s", "trusted-proxy": "127.0.0.1" },
        logging: { level: "debug", format: "json" },
        auth: {
          local: ipAuth("*.example.test", "127.0.0.1"),
          office: ipAuth("*.example.test", "192.0.2.0/24"),
        },
      }),
      keyPair: await generateKeyPair("ec-p256"),
      caCerts: [await Deno.readTextFile(pebble.caFile)],
    });
    const app = running;

    /** Sends `count` stalled bodies for `client`, and waits until the server has had time to take them up. */
    const stall = async (count: number, client: string, path = "/sign") => {
      const sent: RawExchange[] = [];
      for (let i = 0; i < count; i++) sent.push(await rawSend(mgmtPort, stalledHead(mgmtPort, client, 900, path)));
      stalled.push(...sent);
      await new Promise((r) => setTimeout(r, 300)); // Deno.serve calls the handler once the header is in
      return sent;
    };

    await t.step(
      "eight stalled bodies from an unlisted address: 403 at once, then an admitted client gets 200",
      async () => {
        const outsiders = await stall(MAX_INFLIGHT, "203.0.113.7");
        const csr = await makeCsr({ names: ["slots-admitted.example.test"] });
        const admitted = await postSign(app.url, csr.csrPem);
        assertEquals(admitted.status, 200, `the admitted client: ${admitted.body}`);

        const answers = await Promise.all(outsiders.map((s) => within(s.answer, 5000, "no answer" as const)));
        for (const a of answers) {
          assert(a !== "no answer" && a !== null, `a stalled body from an outsider got no answer: ${a}`);
          assertEquals(a.status, 403, "an outsider is refused before its body");
        }
        const refusals = app.events().filter((e) => e.event === "sign" && e.client === "203.0.113.7");
        assertEquals(refusals.map((r) => r.outcome), Array(MAX_INFLIGHT).fill("not authorized before the body"));
        await Promise.all(outsiders.map((s) => s.close()));
      },
    );

    await t.step(
      "eight stalled ACME POSTs (/acme/new-order) from an address no acme-eab-kid block allows: 403 at once",
      async () => {
        const outsiders = await stall(MAX_INFLIGHT, "203.0.113.8", "/acme/new-order");
        const csr = await makeCsr({ names: ["slots-acme.example.test"] });
        const admitted = await postSign(app.url, csr.csrPem);
        assertEquals(admitted.status, 200, `the admitted client: ${admitted.body}`);
        const answers = await Promise.all(outsiders.map((s) => within(s.answer, 5000, "no answer" as const)));
        for (const a of answers) {
          assert(a !== "no answer" && a !== null, `a stalled ACME body from an outsider got no answer: ${a}`);
          assertEquals(a.status, 403, "an outsider is refused before its body");
          assertEquals(a.headers.get("content-type"), "application/problem+json");
        }
        await Promise.all(outsiders.map((s) => s.close()));
      },
    );

    await t.step(
      "eight stalled bodies from one admitted address hold two slots; another address gets 200",
      async () => {
        const hog = await stall(MAX_INFLIGHT, "192.0.2.1");
        // All beyond the per-client cap are answered at once: 503 with Retry-After; those holding a slot wait.
        const quick = await Promise.all(hog.map((s) => within(s.answer, 1000, "waiting" as const)));
        const statuses = quick.map((a) => a === "waiting" ? a : a?.status ?? "closed");
        assertEquals(
          statuses.filter((s) => s === 503).length,
          MAX_INFLIGHT - PER_CLIENT,
          `answers: ${statuses.join(", ")}`,
        );
        assertEquals(statuses.filter((s) => s === "waiting").length, PER_CLIENT, "the address's slots are held");
        for (const a of quick) {
          if (a !== "waiting" && a?.status === 503) {
            assert(/^\d+$/.test(a.headers.get("retry-after") ?? ""), "Retry-After");
          }
        }

        const csr = await makeCsr({ names: ["slots-other.example.test"] });
        const other = await postSign(app.url, csr.csrPem, { "X-Forwarded-For": "192.0.2.2" });
        assertEquals(other.status, 200, `another admitted address: ${other.body}`);
        assertEquals(app.config.mgmt.maxInflightPerClient, PER_CLIENT, "the default: max-inflight / 4");
      },
    );
  } finally {
    // The stalled connections first: closing them ends their handlers, so the App shuts down at once.
    await Promise.all(stalled.map((s) => s.close()));
    await running?.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
    await cleanup.run();
  }
});
