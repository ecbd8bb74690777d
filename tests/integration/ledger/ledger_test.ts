/**
 * The rate-limit ledger against the real peers (issue 15, item 3, on one CA): pebble 2.10 resolving through bind9,
 * acmems in-process (`App` from `loadConfig`, talking to its mgmt listener over real HTTP), a throwaway PostgreSQL
 * 15 for the shared budget. Pebble keeps no rate limits of its own, so the limits are configured small; what pebble
 * received is read from its own log (`POST /order-plz`).
 *
 * - `limit-orders = 2/1h` and no fallback CA: the third distinct CSR is 429 with a Retry-After within the window,
 *   and pebble saw two orders.
 * - An auth block's `limit-orders = 1/1d`: the block's second new CSR is 429 while another block still gets 200;
 *   /metrics shows what is left.
 * - An ARI renewal (`replaces`) passes a full ledger.
 * - A restart keeps the ledger: file storage (`<dir>/ledger/`) and PostgreSQL.
 * - Two instances on one PostgreSQL share one budget: concurrent requests at both, no more admitted than the limit.
 */
import { generateKeyPair } from "../../../src/acme/mod.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../../support/assert.ts";
import { type ConfigSpec, fileStorage, ipAuth, NO_STORAGE, type Options, testConfig } from "../../support/config.ts";
import { makeCsr } from "../../support/csr.ts";
import type { Pebble } from "../../support/pebble.ts";
import { freePort } from "../../support/ports.ts";
import { type AppStack, startApp, startStack } from "../../support/stack.ts";

interface Answer {
  status: number;
  body: string;
  retryAfter: string | null;
  cache: string | null;
}

async function sign(url: string, names: string[]): Promise<Answer> {
  const csr = await makeCsr({ names });
  return await signPem(url, csr.csrPem);
}

async function signPem(url: string, csrPem: string): Promise<Answer> {
  const res = await fetch(`${url}/sign`, { method: "POST", body: csrPem });
  return {
    status: res.status,
    body: await res.text(),
    retryAfter: res.headers.get("retry-after"),
    cache: res.headers.get("x-acmems-cache"),
  };
}

function assertOk(answer: Answer, what: string): void {
  assertEquals(answer.status, 200, `${what}: ${answer.body}`);
  assertMatch(answer.body, /^-----BEGIN CERTIFICATE-----\n/);
}

/** 429 with a Retry-After from 1 s to `windowSeconds`. */
function assertLimited(answer: Answer, windowSeconds: number, what: string): number {
  assertEquals(answer.status, 429, `${what}: ${answer.body}`);
  const seconds = Number(answer.retryAfter);
  assert(Number.isInteger(seconds) && seconds >= 1 && seconds <= windowSeconds, `Retry-After ${answer.retryAfter}`);
  return seconds;
}

/** The orders pebble received (its own log). */
async function pebbleOrders(pebble: Pebble): Promise<number> {
  return (await pebble.logTail(1_000_000)).split("\n").filter((l) => /POST \/order-plz/.test(l)).length;
}

Deno.test("rate-limit ledger against pebble 2.10: CA limits, block budgets, renewals, restarts, shared budget", async (t) => {
  const peers = await startStack({ prefix: "acmems-ledger-", pebble: { httpPort: await freePort() }, postgres: true });
  const { work, pebble, cleanup } = peers;
  const pg = peers.pg!;
  const apps: AppStack[] = [];
  try {
    const keyPair = await generateKeyPair("ec-p256", { extractable: true });
    let n = 0;
    /** An in-process acmems on `spec` (stopped at the end of the step, or by the step). */
    const app = async (name: string, o: {
      account?: Options;
      storages?: Record<string, Options>;
      auth?: Record<string, Options>;
      httpPort?: number;
    }) => {
      const dir = `${work}/${name}`;
      await Deno.mkdir(dir, { recursive: true });
      const spec: ConfigSpec = testConfig({
        comment: `tests/integration/ledger/ledger_test.ts ${name}`,
        ca: pebble,
        accountDir: `${work}/account`,
        account: { profile: "default", ...o.account },
        mgmtPort: await freePort(),
        httpPort: o.httpPort ?? pebble.httpPort,
        mgmt: { "max-inflight-per-client": 64, "default-storage": Object.keys(o.storages ?? {})[0] },
        logging: { level: "debug", format: "json" },
        storages: o.storages,
        auth: o.auth,
      });
      const running = await startApp({
        configFile: `${dir}/acmems-${++n}.ini`,
        config: spec,
        keyPair,
        caCerts: [pebble.caPem],
        name,
      });
      apps.push(running);
      return running;
    };
    const step = (name: string, fn: () => Promise<void>) =>
      t.step(name, async () => {
        try {
          await fn();
        } finally {
          for (const a of apps.splice(0)) await a.stop();
        }
      });

    await step(
      "limit-orders = 2/1h, no fallback CA: the third distinct CSR is 429, pebble saw two orders",
      async () => {
        const a = await app("orders", { account: { "limit-orders": "2/1h" }, storages: { none: NO_STORAGE } });
        const before = await pebbleOrders(pebble);
        assertOk(await sign(a.url, ["one.orders.example.test"]), "first");
        assertOk(await sign(a.url, ["two.orders.example.test"]), "second");
        const third = await sign(a.url, ["three.orders.example.test"]);
        assertLimited(third, 3600, "third");
        assertStringIncludes(third.body, 'limit-orders = 2/1h (CA "default")');
        assertStringIncludes(third.body, "a slot frees in");
        assertEquals(await pebbleOrders(pebble) - before, 2, "pebble received only two orders");
        assert(
          a.lines().some((l) => l.includes("rate limit: order refused by the ledger")),
          "the refusal is logged",
        );
        // The metrics show the spent budget.
        const metrics = await (await fetch(`${a.url}/metrics`)).text();
        assertStringIncludes(metrics, 'acmems_rate_limit_remaining{ca="default",limit="orders"} 0');
      },
    );

    await step("a block budget of 1/1d: the block's second new CSR is 429, another block still gets 200", async () => {
      const a = await app("blocks", {
        storages: { none: NO_STORAGE },
        auth: {
          office: ipAuth("*.office.example.test", "127.0.0.1", { "limit-orders": "1/1d" }),
          lab: ipAuth("*.lab.example.test", "127.0.0.1", { "limit-orders": "1/1d" }),
        },
      });
      const before = await pebbleOrders(pebble);
      assertOk(await sign(a.url, ["a.office.example.test"]), "office's first");
      const second = await sign(a.url, ["b.office.example.test"]);
      const seconds = assertLimited(second, 86_400, "office's second");
      assert(seconds > 3600, `the slot frees in about a day, not ${seconds} s`);
      assertStringIncludes(second.body, 'limit-orders = 1/1d ([auth "office"])');
      assertOk(await sign(a.url, ["c.lab.example.test"]), "lab's first");
      assertEquals(await pebbleOrders(pebble) - before, 2, "the refused CSR never reached pebble");
      const metrics = await (await fetch(`${a.url}/metrics`)).text();
      assertStringIncludes(metrics, 'acmems_rate_limit_remaining{block="office",limit="block-orders"} 0');
      assertStringIncludes(metrics, 'acmems_rate_limit_max{block="lab",limit="block-orders"} 1');
      // The operator page shows the same budget (GET / for metrics-ip clients, loopback here).
      const page = await (await fetch(`${a.url}/`)).text();
      assertStringIncludes(page, "<td>block:office</td>");
      assertStringIncludes(page, "<td>0 / 1</td>");
    });

    await step("an ARI renewal (replaces) passes a full ledger", async () => {
      const cache = `${work}/ari/cache`;
      const a = await app("ari", { account: { "limit-orders": "1/1h" }, storages: { cache: fileStorage(cache) } });
      const csr = await makeCsr({ names: ["renew.ari.example.test"] });
      const first = await signPem(a.url, csr.csrPem);
      assertOk(first, "first");
      assertLimited(await sign(a.url, ["other.ari.example.test"]), 3600, "the ledger is full");
      // The CA's renewal window is in the past: the entry is due, and its renewal carries `replaces`.
      const file = [...Deno.readDirSync(cache)].find((e) => /^[0-9a-f]{64}\.json$/.test(e.name))!;
      const path = `${cache}/${file.name}`;
      const entry = JSON.parse(await Deno.readTextFile(path));
      assert(entry.ari?.certId, "pebble 2.10 gave the entry an ARI id");
      const past = Date.now() - 86_400_000;
      entry.ari.window = { start: new Date(past - 3600_000).toISOString(), end: new Date(past).toISOString() };
      entry.ari.chosen = new Date(past).toISOString();
      entry.ari.retryAfter = new Date(Date.now() + 86_400_000).toISOString();
      await Deno.writeTextFile(path, JSON.stringify(entry));
      const before = await pebbleOrders(pebble);
      const renewed = await signPem(a.url, csr.csrPem);
      assertOk(renewed, "the renewal");
      assertEquals(renewed.cache, "miss", "renewed, not served from the cache");
      assert(renewed.body !== first.body, "a new certificate");
      assertEquals(await pebbleOrders(pebble) - before, 1);
      const ordered = a.events().filter((e) => e.event === "acme new order");
      assert(ordered.some((e) => e.replaces === entry.ari.certId), JSON.stringify(ordered));
    });

    await step("a restart keeps the ledger (file storage)", async () => {
      const cache = `${work}/restart/cache`;
      const options = { account: { "limit-orders": "1/1h" }, storages: { cache: fileStorage(cache) } };
      const a = await app("restart", options);
      assertOk(await sign(a.url, ["one.restart.example.test"]), "first");
      await a.stop();
      const ledgerFiles = [...Deno.readDirSync(`${cache}/ledger`)].map((e) => e.name);
      assertEquals(ledgerFiles, ["ca%3Adefault.json"]);
      const b = await app("restart", options);
      const before = await pebbleOrders(pebble);
      assertLimited(await sign(b.url, ["two.restart.example.test"]), 3600, "after the restart");
      assertEquals(await pebbleOrders(pebble), before, "no order reached pebble");
    });

    await step("two instances on PostgreSQL share one budget; a restart keeps it", async () => {
      const url = await pg.createDatabase("ledger_shared");
      const storages = { pg: { type: "postgres", url, "pool-size": 4 } };
      const options = { account: { "limit-orders": "3/1h" }, storages };
      const a = await app("pg-a", options);
      const b = await app("pg-b", { ...options, httpPort: await freePort() });
      const before = await pebbleOrders(pebble);
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) => sign((i % 2 ? a : b).url, [`n${i}.shared.example.test`])),
      );
      const ok = answers.filter((r) => r.status === 200).length;
      const limited = answers.filter((r) => r.status === 429).length;
      assertEquals(ok + limited, 8, answers.map((r) => `${r.status} ${r.body}`).join("\n"));
      assert(ok <= 3, `${ok} admitted: more than limit-orders = 3/1h`);
      assertEquals(ok, 3, "the budget was used up, not more");
      assertEquals(await pebbleOrders(pebble) - before, 3, "pebble received three orders");
      await a.stop();
      await b.stop();
      const c = await app("pg-c", options);
      assertLimited(await sign(c.url, ["after.shared.example.test"]), 3600, "after the restart");
    });
  } finally {
    for (const a of apps.splice(0)) await a.stop().catch(() => {});
    await cleanup.run();
  }
});
