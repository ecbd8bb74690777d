/**
 * Several acmems instances on one PostgreSQL (the `postgres` storage), against the real peers: pebble 2.10 resolving
 * through bind9, a throwaway PostgreSQL 15 (tests/support/postgres.ts), acmems in-process (`App`) or as
 * subprocesses (tests/support/ha_instance.ts, which can SIGKILL itself at a fault point of an order).
 *
 * The promise checked here (README "Several instances (PostgreSQL)"): one ACME order per cache key, except when the
 * holder dies or stalls longer than the lease between the CA's newOrder answer and recording the order URL (then
 * at most one more). Each step gets its own database; pebble validates http-01 on one port, which one instance
 * ("b") listens on, so answers for orders another instance placed must come from the shared challenge table.
 *
 * CA traffic is recorded per in-process instance (each App captures the global fetch when it is constructed);
 * subprocesses are counted from their JSON logs ("acme new order"). Development: `HA_ONLY=<part of a step name>`
 * runs only the matching steps.
 */
import { generateKeyPair } from "../../src/acme/mod.ts";
import { saveAccountKey } from "../../src/account/store.ts";
import type { App } from "../../src/server/app.ts";
import type { FaultPoint, IssuanceFaults } from "../../src/issuance/service.ts";
import type { memoryLogger } from "../../src/ops/log.ts";
import type { Entry } from "../../src/storage/mod.ts";
import type { PostgresStorage } from "../../src/storage/postgres/mod.ts";
import { type Acmems, startAcmems } from "../support/acmems.ts";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { type ConfigSpec, testConfig, writeConfig } from "../support/config.ts";
import { makeCsr } from "../support/csr.ts";
import type { Named } from "../support/named.ts";
import type { Pebble } from "../support/pebble.ts";
import type { Postgres } from "../support/postgres.ts";
import { freePort } from "../support/ports.ts";
import { startApp, startStack } from "../support/stack.ts";
import { TcpProxy } from "../support/tcp_proxy.ts";

const LEASE_MS = 5_000;
const HA_INSTANCE = new URL("../support/ha_instance.ts", import.meta.url).pathname;

interface Stack {
  named: Named;
  pebble: Pebble;
  pg: Postgres;
  keyPair: CryptoKeyPair;
  /** Shared by every instance (one ACME account, as the resume rule needs). */
  accountDir: string;
  caPem: string;
  newOrderUrl: string;
  work: string;
}

/** CA requests of one in-process instance, with their local start time. */
class CaRecorder {
  readonly requests: { at: number; method: string; url: string; body?: string }[] = [];
  readonly fetch: typeof fetch;
  constructor(original: typeof fetch) {
    this.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
      const url = input instanceof Request ? input.url : String(input);
      const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
      this.requests.push({
        at: performance.now(),
        method,
        url,
        body: typeof init?.body === "string" ? init.body : undefined,
      });
      return original(input, init);
    }) as typeof fetch;
  }

  newOrders(newOrderUrl: string): { at: number; names: string[] }[] {
    return this.requests.filter((r) => r.method === "POST" && r.url === newOrderUrl).map((r) => ({
      at: r.at,
      names: orderNames(r.body),
    }));
  }
}

function orderNames(body: string | undefined): string[] {
  try {
    const jws = JSON.parse(body ?? "");
    const b64 = jws.payload.replaceAll("-", "+").replaceAll("_", "/");
    const payload = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
    return payload.identifiers.map((i: { value: string }) => i.value);
  } catch {
    return [];
  }
}

interface InstanceOptions {
  /** The http-01 listener port (default: a free one; pebble validates only on `pebble.httpPort`). */
  httpPort?: number;
  /** PostgreSQL port (default: the server's; a proxy's port to put something in between). */
  dbPort?: number;
  faults?: IssuanceFaults;
}

interface Instance {
  name: string;
  app: App;
  url: string;
  recorder: CaRecorder;
  log: ReturnType<typeof memoryLogger>;
  storage: PostgresStorage;
  events(): Record<string, unknown>[];
  stop(): Promise<void>;
}

function haConfig(
  stack: Stack,
  o: { name: string; database: string; mgmtPort: number; httpPort: number; dbPort: number },
): ConfigSpec {
  return testConfig({
    comment: `tests/integration/ha_test.ts instance ${o.name}`,
    ca: stack.pebble,
    accountDir: stack.accountDir,
    account: { profile: "default" },
    mgmtPort: o.mgmtPort,
    httpPort: o.httpPort,
    logging: { level: "debug", format: "json" },
    storages: {
      pg: {
        type: "postgres",
        url: `postgres://acmems@127.0.0.1:${o.dbPort}/${o.database}?application_name=acmems-ha-${o.name}`,
        lease: `${LEASE_MS / 1000}s`,
        "pool-size": 4,
      },
    },
  });
}

async function writeHaConfig(stack: Stack, name: string, database: string, opts: InstanceOptions) {
  const mgmtPort = await freePort();
  const file = await writeConfig(
    `${stack.work}/${database}-${name}.ini`,
    haConfig(stack, {
      name,
      database,
      mgmtPort,
      httpPort: opts.httpPort ?? await freePort(),
      dbPort: opts.dbPort ?? stack.pg.port,
    }),
  );
  return { file, mgmtPort };
}

/** An in-process instance on `database`. */
async function startInstance(
  stack: Stack,
  name: string,
  database: string,
  opts: InstanceOptions = {},
): Promise<Instance> {
  const { file } = await writeHaConfig(stack, name, database, opts);
  const recorder = new CaRecorder(globalThis.fetch);
  const running = await startApp({
    configFile: file,
    keyPair: stack.keyPair,
    caCerts: [stack.caPem],
    faults: opts.faults,
    fetch: recorder.fetch,
    name: `instance ${name}`,
  });
  return {
    name,
    app: running.app,
    url: running.url,
    recorder,
    log: running.log,
    storage: running.app.storages.get("pg") as PostgresStorage,
    events: running.events,
    stop: running.stop,
  };
}

/** A subprocess instance (tests/support/ha_instance.ts), optionally killing itself at a fault point. */
async function startProcess(
  stack: Stack,
  name: string,
  database: string,
  fault?: keyof IssuanceFaults,
): Promise<Acmems> {
  const { file } = await writeHaConfig(stack, name, database, {});
  return await startAcmems({
    name: `acmems-${name}`,
    dir: stack.work,
    configFile: file,
    entry: HA_INSTANCE,
    args: (files) => files,
    outputFile: `${stack.work}/${database}-${name}.log`,
    env: fault ? { ACMEMS_TEST_FAULT: fault } : {},
  });
}

interface Signed {
  status: number;
  body: string;
  cache: string | null;
  retryAfter: string | null;
}

async function sign(url: string, csrPem: string): Promise<Signed> {
  const res = await fetch(`${url}/sign`, { method: "POST", body: csrPem, signal: AbortSignal.timeout(90_000) });
  const body = await res.text();
  return {
    status: res.status,
    body,
    cache: res.headers.get("x-acmems-cache"),
    retryAfter: res.headers.get("retry-after"),
  };
}

function assertChain(signed: Signed, what: string): void {
  assertEquals(signed.status, 200, `${what}: ${signed.status} ${signed.body}`);
  assertMatch(signed.body, /^-----BEGIN CERTIFICATE-----\n/);
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

/** GET over a raw connection, so the Host header is exactly `host` (fetch sets its own). */
async function rawGet(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(16 * 1024);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    const text = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    const [head, ...rest] = text.split("\r\n\r\n");
    return { status: Number(head.split(" ")[1]), body: rest.join("\r\n\r\n") };
  } finally {
    conn.close();
  }
}

async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function count(events: Record<string, unknown>[], event: string): number {
  return events.filter((e) => e.event === event).length;
}

Deno.test("several acmems instances on one PostgreSQL", async (t) => {
  const started = Date.now();
  const timings: string[] = [];
  const peers = await startStack({ prefix: "acmems-ha-", pebble: { httpPort: await freePort() }, postgres: true });
  const { work, named, pebble, cleanup } = peers;
  const pg = peers.pg!;
  try {
    const keyPair = await generateKeyPair("ec-p256", { extractable: true });
    await saveAccountKey(`${work}/account`, keyPair);
    const stack: Stack = {
      named,
      pebble,
      pg,
      keyPair,
      accountDir: `${work}/account`,
      caPem: pebble.caPem,
      newOrderUrl: String((await pebble.directory()).newOrder),
      work,
    };
    const instances: Instance[] = [];
    const processes: Acmems[] = [];
    /** Runs a step; its instances are stopped at its end, whatever happens. */
    const only = Deno.env.get("HA_ONLY");
    const step = (name: string, fn: () => Promise<void>) =>
      t.step({
        name,
        ignore: only !== undefined && !name.includes(only),
        fn: async () => {
          const at = Date.now();
          try {
            await fn();
          } finally {
            for (const i of instances.splice(0)) await i.stop();
            for (const p of processes.splice(0)) await p.proc.stop(5_000);
            timings.push(`${name.slice(0, 40)}: ${Date.now() - at} ms`);
          }
        },
      });
    const instance = async (name: string, database: string, opts?: InstanceOptions) => {
      const i = await startInstance(stack, name, database, opts);
      instances.push(i);
      return i;
    };
    const process = async (name: string, database: string, fault?: keyof IssuanceFaults) => {
      const p = await startProcess(stack, name, database, fault);
      processes.push(p);
      return p;
    };

    await step("20 concurrent identical /sign split across two instances: one order, 20 identical chains", async () => {
      await pg.createDatabase("ha_race");
      const a = await instance("a", "ha_race");
      const b = await instance("b", "ha_race", { httpPort: pebble.httpPort });
      const csr = await makeCsr({ names: ["race.example.test"] });
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => sign((i % 2 ? a : b).url, csr.csrPem)));
      for (const [i, r] of results.entries()) assertChain(r, `request ${i}`);
      assertEquals(new Set(results.map((r) => r.body)).size, 1, "20 identical chains");
      const orders = a.recorder.newOrders(stack.newOrderUrl).length + b.recorder.newOrders(stack.newOrderUrl).length;
      assertEquals(orders, 1, "one newOrder at pebble for 20 requests on two instances");
      assertEquals(results.filter((r) => r.cache === "miss").length >= 1, true);
      // The same CSR with other PEM whitespace is the same key, on either instance.
      for (const i of [a, b]) {
        const again = await sign(i.url, csr.csrPem.replaceAll("\n", "\r\n"));
        assertChain(again, "CRLF variant");
        assertEquals(again.cache, "hit");
        assert(again.body === results[0].body);
      }
      const claims = (i: Instance, result: string) => i.app.metrics.storageClaims.get({ storage: "pg", result });
      // (A second claim may be won after the first holder released; it re-reads the entry and orders nothing.)
      assert(claims(a, "won") + claims(b, "won") >= 1, "a claim was won");
      assert(claims(a, "lost") + claims(b, "lost") >= 1, "the other instance found it held and waited");
      const metrics = await get(`${a.url}/metrics`);
      assertMatch(metrics.body, /acmems_storage_claims_total\{storage="pg",result="(won|lost)"\} \d/);

      // http-01 anywhere: an order placed by A is validated by pebble through B's listener (shared table).
      const servedBefore = b.app.metrics.challengeAnswers.get({ result: "served" });
      const placed = await makeCsr({ names: ["placed-by-a.example.test"] });
      assertChain(await sign(a.url, placed.csrPem), "order placed by A");
      assertEquals(
        a.recorder.newOrders(stack.newOrderUrl).filter((o) => o.names[0] === "placed-by-a.example.test").length,
        1,
      );
      assert(b.app.metrics.challengeAnswers.get({ result: "served" }) > servedBefore, "B answered A's challenge");
      assertEquals(a.app.metrics.challengeAnswers.get({ result: "served" }), 0, "A's own listener was never asked");
      // Unknown tokens and a wrong Host are 404 (so nginx can chain to other backends).
      await b.storage.putChallenge({
        token: "manual_token",
        keyAuthorization: "manual_token.thumb",
        host: "right.example.test",
        expiresAt: new Date(Date.now() + 60_000).toISOString(),
      });
      const path = "/.well-known/acme-challenge";
      // A's listener does not know the token from its own orders: it answers from the table's in-memory copy, waiting briefly for the notification (Host must match).
      const aPort = a.app.listeners.find((l) => l.role.startsWith("http01"))!.port;
      assertEquals((await rawGet(aPort, `${path}/manual_token`, "right.example.test")).body, "manual_token.thumb");
      assertEquals((await rawGet(aPort, `${path}/manual_token`, "wrong.example.test")).status, 404);
      assertEquals((await rawGet(aPort, `${path}/no_such_token`, "right.example.test")).status, 404);
      assertEquals((await rawGet(aPort, `${path}/bad.token!`, "right.example.test")).status, 404);
      await b.storage.deleteChallenge("manual_token");
    });

    await step("SIGKILL after the order URL is recorded: the other instance resumes it, one order", async () => {
      await pg.createDatabase("ha_kill_after");
      const a = await process("a", "ha_kill_after", "afterNoteOrder");
      const b = await instance("b", "ha_kill_after", { httpPort: pebble.httpPort });
      const csr = await makeCsr({ names: ["resumed.example.test"] });
      const dying = await sign(a.mgmtUrl, csr.csrPem).then((r) => `answered ${r.status}`, (e) => `failed: ${e}`);
      assertEquals((await a.proc.status).signal, "SIGKILL", `a: ${dying}\n${await a.proc.logTail(20)}`);
      assertEquals(count(await a.events(), "acme new order"), 1);
      const at = performance.now();
      const result = await sign(b.url, csr.csrPem);
      assertChain(result, "b after a died");
      assertEquals(result.cache, "miss");
      assertEquals(b.recorder.newOrders(stack.newOrderUrl).length, 0, "b placed no order of its own");
      assertEquals(count(b.events(), "resuming the order of an earlier holder"), 1);
      assert(performance.now() - at < LEASE_MS + 15_000, "b finished soon after the lease ended");
    });

    await step("SIGKILL before the order URL is recorded: at most two orders", async () => {
      await pg.createDatabase("ha_kill_before");
      const a = await process("a", "ha_kill_before", "beforeNoteOrder");
      const b = await instance("b", "ha_kill_before", { httpPort: pebble.httpPort });
      const csr = await makeCsr({ names: ["orphaned.example.test"] });
      await sign(a.mgmtUrl, csr.csrPem).catch(() => {});
      assertEquals((await a.proc.status).signal, "SIGKILL");
      const result = await sign(b.url, csr.csrPem);
      assertChain(result, "b after a died");
      const orders = count(await a.events(), "acme new order") + b.recorder.newOrders(stack.newOrderUrl).length;
      assertEquals(orders, 2, "the dead instance's unrecorded order, and one more");
      assertEquals(count(b.events(), "resuming the order of an earlier holder"), 0);
    });

    await step("database partitioned away from one instance: no CA call after its deadline, fenced out", async () => {
      await pg.createDatabase("ha_partition");
      const proxy = new TcpProxy(pg.port);
      try {
        let point: FaultPoint | undefined;
        let blackholedAt = 0;
        const a = await instance("a", "ha_partition", {
          dbPort: proxy.port,
          faults: {
            afterNoteOrder: async (p) => {
              if (point) return;
              point = p;
              blackholedAt = performance.now();
              proxy.blackhole();
              // Partitioned and stalled past the lease: the order must not go on when this returns.
              await sleep(LEASE_MS + 1_500);
            },
          },
        });
        const b = await instance("b", "ha_partition", { httpPort: pebble.httpPort });
        const csr = await makeCsr({ names: ["partition.example.test"] });
        const fromA = sign(a.url, csr.csrPem);
        await eventually(() => point !== undefined, "a reached its fault point");
        const fromB = await sign(b.url, csr.csrPem);
        assertChain(fromB, "b took over");
        assertEquals(b.recorder.newOrders(stack.newOrderUrl).length, 0, "b resumed a's order");
        assertEquals(count(b.events(), "resuming the order of an earlier holder"), 1);

        proxy.heal();
        const answerA = await fromA;
        const late = a.recorder.requests.filter((r) => r.at >= blackholedAt + LEASE_MS);
        assertEquals(late.map((r) => `${r.method} ${r.url}`), [], "a made no CA call after its lease deadline");
        assert(count(a.events(), "storage claim lost during the order") >= 1, "a noticed it lost the claim");
        assert(answerA.status === 200 || answerA.status === 503, `a: ${answerA.status} ${answerA.body}`);
        if (answerA.status === 200) assert(answerA.body === fromB.body, "a serves b's certificate");
        // The healed instance's late write is fenced out, and it serves what b stored.
        const stale: Entry = { ...(await b.storage.get(point!.key))!, chain: "late write from a" };
        assertEquals(await a.storage.put(point!.claim, stale), false);
        assertEquals(await a.storage.noteOrder(point!.claim, "https://late.example/order"), false);
        assert(a.app.metrics.storageFencedWrites.get({ storage: "pg", operation: "put" }) >= 1);
        const again = await sign(a.url, csr.csrPem);
        assertChain(again, "a after the partition");
        assertEquals(again.cache, "hit");
        assert(again.body === fromB.body, "one certificate");
        assertEquals(a.recorder.newOrders(stack.newOrderUrl).length, 1, "a's one order, resumed by b");
      } finally {
        for (const i of instances.splice(0)) await i.stop();
        await proxy.close();
      }
    });

    await step("PostgreSQL restarted: misses get 503, hits from memory, pools and LISTEN come back", async () => {
      await pg.createDatabase("ha_restart");
      const a = await instance("a", "ha_restart");
      const b = await instance("b", "ha_restart", { httpPort: pebble.httpPort });
      const cached = await makeCsr({ names: ["cached.example.test"] });
      const first = await sign(a.url, cached.csrPem);
      assertChain(first, "before the outage");
      assertEquals((await sign(b.url, cached.csrPem)).cache, "hit");

      await pg.kill("fast");
      for (const i of [a, b]) {
        const hit = await sign(i.url, cached.csrPem);
        assertChain(hit, `${i.name} during the outage`);
        assert(hit.body === first.body);
      }
      const fresh = await makeCsr({ names: ["during-outage.example.test"] });
      const miss = await sign(a.url, fresh.csrPem);
      assertEquals(miss.status, 503, miss.body);
      assertMatch(miss.retryAfter ?? "", /^\d+$/);
      assertMatch(miss.body, /unreachable/);
      const ready = await get(`${a.url}/ready`);
      assertEquals(ready.status, 503);
      assertMatch(ready.body, /storage "pg": database unreachable/);

      const notifiedBefore = a.app.metrics.storageNotifications.get({ storage: "pg" });
      await pg.restart();
      for (const i of [a, b]) {
        await eventually(async () => (await get(`${i.url}/ready`)).status === 200, `${i.name} ready again`);
        await eventually(() => i.storage.listening, `${i.name} listening again`);
      }
      // An order placed by A after the restart is validated through B (LISTEN or the table, both back).
      const after = await sign(a.url, fresh.csrPem);
      if (after.status !== 200) {
        for (const i of [a, b]) {
          const storageEvents = i.events().filter((e) => /postgres|challenge|storage/.test(String(e.event)));
          console.log(`${i.name}: ${JSON.stringify(storageEvents.slice(-15), null, 1)}`);
        }
      }
      assertChain(after, "after the restart");
      assertEquals(after.cache, "miss");
      const other = await makeCsr({ names: ["after-restart.example.test"] });
      assertChain(await sign(b.url, other.csrPem), "b after the restart");
      await eventually(
        () => a.app.metrics.storageNotifications.get({ storage: "pg" }) > notifiedBefore,
        "a hears b's writes again",
      );
    });

    await step("three instances, 30 due entries: each renewed exactly once", async () => {
      await pg.createDatabase("ha_renew");
      const trio = [
        await instance("a", "ha_renew"),
        await instance("b", "ha_renew", { httpPort: pebble.httpPort }),
        await instance("c", "ha_renew"),
      ];
      const names = Array.from({ length: 30 }, (_, i) => `renew${i}.example.test`);
      const csrs = await Promise.all(names.map((n) => makeCsr({ names: [n] })));
      for (let i = 0; i < csrs.length; i += 10) {
        const batch = await Promise.all(csrs.slice(i, i + 10).map((c, j) => sign(trio[j % 3].url, c.csrPem)));
        for (const r of batch) assertChain(r, "initial issuance");
      }
      // Make every entry due: five days left, renew-within is 14.
      const soon = new Date(Date.now() + 5 * 86_400_000).toISOString();
      const old = new Date(Date.now() - 85 * 86_400_000).toISOString();
      await pg.query(
        `update acmems.entries set entry = jsonb_set(jsonb_set(entry, '{notAfter}', '"${soon}"'), '{notBefore}', ` +
          `'"${old}"'), not_after = '${soon}', due_at = now() - interval '1 minute' where entry is not null`,
        "ha_renew",
      );
      const before = await pg.query(
        `select cache_key, fence, entry->>'chain' as chain from acmems.entries`,
        "ha_renew",
      );
      assertEquals(before.length, 30);
      // Orders as the issuer placed them (the transport may repeat one newOrder POST after a 5xx).
      const placed = (i: Instance) =>
        i.events().filter((e) => e.event === "acme new order").map((e) => String((e.names as string[])[0]));
      const marks = trio.map((i) => placed(i).length);
      const stats = await Promise.all(trio.map((i) => i.app.issuer.sweep()));
      const renewedBy = stats.map((s) => s.renewed);
      // pebble 2.10 now and then answers a newOrder with `replaces` by HTTP 500 "could not find an order for the
      // given certificate" (its lookup by serial): that renewal fails and backs off, as it should. Only that failure
      // is tolerated; the point here is that every due entry is attempted exactly once, by one instance.
      const failures = trio.flatMap((i) =>
        i.events().filter((e) => e.event === "background renewal failed").map((e) => String(e.reason))
      );
      for (const reason of failures) assertMatch(reason, /could not find an order for the given certificate/);
      assert(failures.length <= 2, `pebble refused ${failures.length} renewals: ${failures.join("; ")}`);
      const failed = stats.reduce((n, s) => n + s.failed, 0);
      assertEquals(failed, failures.length);
      assertEquals(renewedBy.reduce((a, b) => a + b, 0) + failed, 30, `renewed per instance: ${renewedBy}`);
      assert(renewedBy.filter((n) => n > 0).length >= 2, `the work was split: ${renewedBy}`);
      const ordered = trio.flatMap((i, k) => placed(i).slice(marks[k]));
      assertEquals(ordered.sort(), [...names].sort(), "one renewal order per entry");
      const after = await pg.query(
        `select cache_key, fence, entry->>'chain' as chain, entry->>'notAfter' as not_after, ` +
          `entry->'renewal'->>'failures' as failures from acmems.entries`,
        "ha_renew",
      );
      for (const row of after) {
        const was = before.find((r) => r.cache_key === row.cache_key)!;
        if (row.failures === "1") {
          // claimDue, then the claim that recorded the backoff.
          assertEquals(Number(row.fence), Number(was.fence) + 2);
          continue;
        }
        assert(row.chain !== was.chain, "a new certificate");
        assertEquals(Number(row.fence), Number(was.fence) + 1, "claimed once (claimDue), by one instance");
        assert(Date.parse(String(row.not_after)) > Date.now() + 60 * 86_400_000);
      }
      assertEquals(after.filter((r) => r.failures === "1").length, failed);
      // Nothing is due any more: a second concurrent pass orders nothing.
      const again = await Promise.all(trio.map((i) => i.app.issuer.sweep()));
      assertEquals(again.map((s) => s.renewed + s.failed), [0, 0, 0]);
    });

    await eventually(async () => (await pg.connections()) === 0, "no connection of any instance is left", 10_000);
  } finally {
    await cleanup.run().catch((e) => console.error(`cleanup: ${e}`));
    console.log(`HA tests: ${Date.now() - started} ms\n  ${timings.join("\n  ")}`);
  }
});
