/**
 * The rate-limit ledger with two CAs (issue 15): two real pebbles A and B behind one `acmems serve` process, A with
 * `limit-orders = 2/1h` (pebble keeps no limits of its own).
 *
 * - A block with `ca = a, b`: the first two distinct CSRs go to A, the third goes to B (A's log shows two orders),
 *   counted as a `rate-limit` failover.
 * - A block with `ca = a` only (no B): 429 with a Retry-After within the window, and A shows no third order.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { startAcmems } from "../../support/acmems.ts";
import { http01 } from "../../support/config.ts";
import { makeCsr } from "../../support/csr.ts";
import { postSign, request } from "../../support/http.ts";
import { Cleanup } from "../../support/stack.ts";
import { caSection, intermediateOf, pemBody, startTwoCas } from "./_two_cas.ts";

Deno.test("two CAs and the ledger: A over limit-orders → B issues; without B → 429 within the window", async (t) => {
  const cleanup = new Cleanup();
  const work = await Deno.makeTempDir({ prefix: "acmems-ca-ledger-" });
  cleanup.add(() => Deno.remove(work, { recursive: true }));
  try {
    const { a, b, httpPort, mgmtPort } = await startTwoCas(cleanup);
    const ca = caSection;
    const acmems = await startAcmems({
      dir: work,
      config: {
        comment: "acmems: two CAs and the ledger",
        cas: { a: ca(a, "account-a", { "limit-orders": "2/1h" }), b: ca(b, "account-b") },
        mgmt: { listener: `127.0.0.1:${mgmtPort}`, "sign-timeout": "60s", "default-storage": "cache" },
        logging: { level: "debug", format: "json" },
        verifications: { http: http01(httpPort) },
        storages: { cache: { type: "file", directory: "cache" } },
        // First match wins: names under solo.example.test may only go to A.
        auth: {
          solo: { ip: "127.0.0.1", domain: "*.solo.example.test", ca: "a" },
          both: { ip: "127.0.0.1", domain: "*.example.test", ca: "a, b" },
        },
      },
    });
    cleanup.add(() => acmems.stop());

    await t.step("limit-orders = 2/1h at A: the third distinct CSR goes to B; A's log shows two orders", async () => {
      const issuers: string[] = [];
      for (const name of ["one.example.test", "two.example.test", "three.example.test"]) {
        const csr = await makeCsr({ names: [name] });
        const answer = await postSign(acmems.mgmtUrl, csr.csrPem);
        assertEquals(answer.status, 200, `${name}: ${answer.body}`);
        issuers.push(intermediateOf(answer.body) === pemBody(await a.intermediatePem()) ? "a" : "b");
      }
      assertEquals(issuers, ["a", "a", "b"]);
      assertEquals(await a.ordersPlaced(), 2);
      assertEquals(await b.ordersPlaced(), 1);
      const metrics = (await request(`${acmems.mgmtUrl}/metrics`)).body;
      assert(
        metrics.includes('acmems_ca_failover_total{from="a",to="b",reason="rate-limit"} 1'),
        metrics.split("\n").filter((l) => l.includes("failover")).join("\n"),
      );
    });

    await t.step("no B for this block → 429 with Retry-After within the window; A shows no third order", async () => {
      const csr = await makeCsr({ names: ["www.solo.example.test"] });
      const answer = await postSign(acmems.mgmtUrl, csr.csrPem);
      assertEquals(answer.status, 429, answer.body);
      const seconds = Number(answer.headers.get("retry-after"));
      assert(Number.isInteger(seconds) && seconds >= 1 && seconds <= 3600, `Retry-After ${seconds}`);
      assertEquals(await a.ordersPlaced(), 2, "A was not called");
      assertEquals(await b.ordersPlaced(), 1, "B is not this block's CA");
    });
  } finally {
    await cleanup.run();
  }
});
