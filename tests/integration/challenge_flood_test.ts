/**
 * Issue 13, item 2, through the real listener: a postgres-backed acmems (pebble + bind9 + a throwaway PostgreSQL 15
 * with pg_stat_statements, tests/support/stack.ts) gets 2,000 GETs for random unknown tokens on its internet-facing
 * http-01 listener, and the database shows no statement per token (it used to run one SELECT each, on the pool
 * /sign uses). An answer another instance writes is still served, also when the CA's request arrives before this
 * instance heard of it (README "Several instances": it waits, bounded, for the notification).
 */
import { generateKeyPair } from "../../src/acme/mod.ts";
import { saveAccountKey } from "../../src/account/store.ts";
import { memoryLogger } from "../../src/ops/log.ts";
import { PostgresStorage } from "../../src/storage/postgres/mod.ts";
import { assert, assertEquals } from "../support/assert.ts";
import { testConfig } from "../support/config.ts";
import { freePort } from "../support/ports.ts";
import type { StatementCalls } from "../support/postgres.ts";
import { startApp, startStack } from "../support/stack.ts";

const PATH = "/.well-known/acme-challenge";

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/** GET over a raw connection, so the Host header is exactly `host`. */
async function rawGet(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    const text = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
    const [head, body = ""] = text.split("\r\n\r\n");
    return { status: Number(head.split(" ")[1]), body };
  } finally {
    try {
      conn.close();
    } catch {
      // Closed by reading to the end.
    }
  }
}

function tokenLookups(calls: StatementCalls[]): number {
  return calls.filter((c) => /challenges/.test(c.query) && /where\s+token\s*=\s*\$1/i.test(c.query))
    .reduce((n, c) => n + c.calls, 0);
}

function total(calls: StatementCalls[]): number {
  return calls.reduce((n, c) => n + c.calls, 0);
}

Deno.test("2,000 unknown tokens on the challenge listener of a postgres-backed acmems: no query per token", async () => {
  const stack = await startStack({ prefix: "acmems-flood-", postgres: { trackStatements: true } });
  const { work, pebble, cleanup } = stack;
  const pg = stack.pg!;
  try {
    await pg.createDatabase("flood");
    const url = `${pg.urlFor("flood")}?application_name=acmems-flood`;
    const keyPair = await generateKeyPair("ec-p256", { extractable: true });
    await saveAccountKey(`${work}/account`, keyPair);
    const httpPort = await freePort();
    const running = await startApp({
      configFile: `${work}/flood.ini`,
      config: testConfig({
        comment: "tests/integration/challenge_flood_test.ts",
        ca: pebble,
        accountDir: `${work}/account`,
        mgmtPort: await freePort(),
        httpPort,
        storages: { pg: { type: "postgres", url, "pool-size": 4 } },
      }),
      keyPair,
      caCerts: [pebble.caPem],
    });
    cleanup.add(() => running.stop());
    // "Another instance": its own storage object on the same database, as a second acmems would have.
    const other = new PostgresStorage({
      name: "other",
      url,
      poolSize: 2,
      leaseMs: 30_000,
      schema: "acmems",
      renewWithinDays: 30,
      renewActiveDays: 30,
      log: memoryLogger(),
    });
    cleanup.add(() => other.close());
    await other.start();
    const storage = running.app.storages.get("pg") as PostgresStorage;
    for (let i = 0; !(storage.listening && other.listening); i++) {
      assert(i < 200, "LISTEN established");
      await new Promise((r) => setTimeout(r, 50));
    }

    const before = await pg.statementCalls("flood");
    const started = Date.now();
    let notFound = 0;
    const tokens = Array.from({ length: 2_000 }, randomToken);
    // 250 at a time: each unknown token waits (bounded) for the feed before its 404.
    for (let i = 0; i < tokens.length; i += 250) {
      const answers = await Promise.all(
        tokens.slice(i, i + 250).map((token) =>
          fetch(`http://127.0.0.1:${httpPort}${PATH}/${token}`).then(async (r) => (await r.body?.cancel(), r.status))
        ),
      );
      notFound += answers.filter((s) => s === 404).length;
    }
    const after = await pg.statementCalls("flood");
    const lookups = tokenLookups(after) - tokenLookups(before);
    const statements = total(after) - total(before);
    console.log(
      `2,000 unknown tokens in ${Date.now() - started} ms: ${lookups} token lookups, ${statements} statements in all`,
    );
    assertEquals(notFound, 2_000);
    assertEquals(lookups, 0, "no SELECT per unknown token");
    // Polls, pings and reloads of two instances run meanwhile (about one a second each); 2,000 would be per token.
    assert(statements < 200, `${statements} statements while 2,000 unknown tokens were asked for`);

    // An answer the other instance wrote is served here, Host checked.
    await other.putChallenge({
      token: "written_elsewhere",
      keyAuthorization: "written_elsewhere.thumb",
      host: "elsewhere.example.test",
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    });
    const served = await rawGet(httpPort, `${PATH}/written_elsewhere`, "elsewhere.example.test");
    assertEquals([served.status, served.body], [200, "written_elsewhere.thumb"]);
    assertEquals((await rawGet(httpPort, `${PATH}/written_elsewhere`, "wrong.example.test")).status, 404);

    // The CA's request lands here before the notification: it waits for it and is answered.
    const early = randomToken();
    const asked = rawGet(httpPort, `${PATH}/${early}`, "early.example.test");
    await new Promise((r) => setTimeout(r, 100));
    await other.putChallenge({
      token: early,
      keyAuthorization: `${early}.thumb`,
      host: "early.example.test",
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    });
    const answer = await asked;
    assertEquals([answer.status, answer.body], [200, `${early}.thumb`]);
  } finally {
    await cleanup.run();
  }
});
