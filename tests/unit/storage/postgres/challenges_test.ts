/**
 * The postgres storage's http-01 lookups (src/storage/postgres/challenges.ts) against a real PostgreSQL 15 with
 * pg_stat_statements: a lookup never runs a statement (issue 13, item 2: 2,000 random tokens used to be 2,000
 * SELECTs on the pool /sign uses), an answer another instance writes while the lookup waits is answered as soon as
 * its notification arrives, and the number of waiting lookups is bounded.
 */
import { memoryLogger } from "../../../../src/ops/log.ts";
import { PostgresStorage } from "../../../../src/storage/postgres/mod.ts";
import { assert, assertEquals } from "../../../support/assert.ts";
import { type Postgres, startPostgres, type StatementCalls } from "../../../support/postgres.ts";
import { waitUntil } from "../../../support/wait.ts";

let schemas = 0;

function open(pg: Postgres, schema: string, name: string, challengeWaitMs: number): PostgresStorage {
  return new PostgresStorage({
    name,
    url: pg.url,
    poolSize: 3,
    leaseMs: 5_000,
    schema,
    renewWithinDays: 14,
    renewActiveDays: 30,
    log: memoryLogger(),
    applicationName: "acmems-challenges-test",
    pollMs: 100,
    challengeWaitMs,
  });
}

/** Executions of statements that look one challenge up by token. */
function tokenLookups(calls: StatementCalls[]): number {
  return calls.filter((c) => /challenges/.test(c.query) && /where\s+token\s*=\s*\$1/i.test(c.query))
    .reduce((n, c) => n + c.calls, 0);
}

function total(calls: StatementCalls[]): number {
  return calls.reduce((n, c) => n + c.calls, 0);
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

function challenge(token: string) {
  return {
    token,
    keyAuthorization: `${token}.thumb`,
    host: "www.example.test",
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  };
}

Deno.test("postgres challenges: lookups never query the database", async (t) => {
  const pg = await startPostgres({ trackStatements: true });
  try {
    await t.step("2,000 random unknown tokens: no statement per token", async () => {
      const schema = `challenges_${++schemas}`;
      const a = open(pg, schema, "a", 20);
      const b = open(pg, schema, "b", 20);
      try {
        await Promise.all([a.start(), b.start()]);
        await waitUntil(() => a.listening && b.listening, "LISTEN up", 10_000);
        await a.putChallenge(challenge("known_token"));
        await waitUntil(async () => (await b.getChallenge("known_token")) !== null, "b learned the answer", 5_000);

        const before = await pg.statementCalls("acmems");
        for (let batch = 0; batch < 10; batch++) {
          const results = await Promise.all(Array.from({ length: 200 }, () => b.getChallenge(randomToken())));
          assert(results.every((r) => r === null), "unknown tokens are unknown");
        }
        const after = await pg.statementCalls("acmems");
        const lookups = tokenLookups(after) - tokenLookups(before);
        const statements = total(after) - total(before);
        console.log(`2,000 unknown tokens: ${lookups} token lookups, ${statements} statements in all`);
        assertEquals(lookups, 0, "no SELECT per unknown token");
        // Polls, pings and reloads of two instances (pollMs 100) run meanwhile; 2,000 lookups would be far more.
        assert(statements < 400, `${statements} statements while 2,000 unknown tokens were looked up`);
        assertEquals((await b.getChallenge("known_token"))?.keyAuthorization, "known_token.thumb");
      } finally {
        await a.close();
        await b.close();
      }
    });

    await t.step("the CA asks B before B heard of A's answer: B waits for the notification", async () => {
      const schema = `challenges_${++schemas}`;
      const a = open(pg, schema, "a", 5_000);
      const b = open(pg, schema, "b", 5_000);
      try {
        await Promise.all([a.start(), b.start()]);
        await waitUntil(() => a.listening && b.listening, "LISTEN up", 10_000);
        const token = randomToken();
        const started = Date.now();
        const asked = b.getChallenge(token);
        await new Promise((r) => setTimeout(r, 50));
        await a.putChallenge(challenge(token));
        const answer = await asked;
        assertEquals(answer?.keyAuthorization, `${token}.thumb`);
        assert(Date.now() - started < 2_000, `answered after ${Date.now() - started} ms, not at the wait's end`);
      } finally {
        await a.close();
        await b.close();
      }
    });

    await t.step("waiting lookups are bounded: beyond 512 an unknown token is unknown at once", async () => {
      const schema = `challenges_${++schemas}`;
      const b = open(pg, schema, "b", 60_000);
      try {
        await b.start();
        let answered = 0;
        const all = Promise.all(Array.from({ length: 2_000 }, async () => {
          assertEquals(await b.getChallenge(randomToken()), null);
          answered++;
        }));
        await new Promise((r) => setTimeout(r, 200));
        assertEquals(answered, 2_000 - 512, "512 wait, the rest are answered at once");
        await b.close(); // Ends the waits.
        await all;
        assertEquals(answered, 2_000);
      } finally {
        await b.close();
      }
    });

    await t.step("closing ends the waits", async () => {
      const schema = `challenges_${++schemas}`;
      const b = open(pg, schema, "b", 60_000);
      await b.start();
      const started = Date.now();
      const asked = b.getChallenge(randomToken());
      await b.close();
      assertEquals(await asked, null);
      assert(Date.now() - started < 5_000);
    });
  } finally {
    await pg.stop();
  }
});
