/** `acmems status` on a `postgres` storage (a throwaway PostgreSQL): the entries another instance wrote, as rows. */
import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { testEntry } from "../../support/entry.ts";
import { startPostgres } from "../../support/postgres.ts";
import { runStatus } from "../../../cli/status.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { isHeld } from "../../../src/storage/mod.ts";
import { PostgresStorage } from "../../../src/storage/postgres/mod.ts";

const DAY = 86_400_000;

Deno.test("acmems status: reads a postgres storage (text and --json)", async () => {
  const pg = await startPostgres();
  const dir = await Deno.makeTempDir({ prefix: "acmems-status-pg-" });
  try {
    const now = new Date();
    const writer = new PostgresStorage({
      name: "db",
      url: pg.url,
      poolSize: 2,
      leaseMs: 5_000,
      schema: "status_test",
      renewWithinDays: 14,
      renewActiveDays: 30,
      log: memoryLogger(),
      queryTimeoutMs: 5_000,
    });
    try {
      await writer.start();
      for (const [i, days] of [[1, 60], [2, 20]]) {
        const entry = testEntry("C", String(i).repeat(64), {
          names: [`pg-${i}.example.test`],
          notAfter: new Date(now.getTime() + days * DAY).toISOString(),
        });
        const claim = await writer.claim(entry.key, "writer", 5_000);
        assert(!isHeld(claim));
        assert(await writer.put(claim, entry));
        await writer.release(claim);
      }
    } finally {
      await writer.close();
    }
    const file = `${dir}/acmems.ini`;
    await Deno.writeTextFile(
      file,
      `[account]\nacme-server = https://ca.test/dir\ndir = ${dir}/account\naccept-terms-of-service = yes\n` +
        `[storage "db"]\ntype = postgres\nurl = ${pg.url}\nschema = status_test\n` +
        `[auth "local"]\nip = 127.0.0.1\ndomain = *.example.test\n`,
    );
    const lines: string[] = [];
    const errors: string[] = [];
    const out = { info: (l: string) => lines.push(l), error: (l: string) => errors.push(l) };
    assertEquals(await runStatus([file], out, now), 0, errors.join("\n"));
    const text = lines.join("\n");
    assertStringIncludes(text, "2 certificates (2 valid)");
    assert(text.indexOf("pg-2.example.test") < text.indexOf("pg-1.example.test"), "sorted by renewal point");
    assertStringIncludes(text, "storage db (postgres): 2 certificates");
    lines.length = 0;
    assertEquals(await runStatus(["--json", file], out, now), 0);
    const report = JSON.parse(lines.join("\n"));
    assertEquals(report.certificates.map((c: { names: string[] }) => c.names), [
      ["pg-2.example.test"],
      ["pg-1.example.test"],
    ]);
    assertEquals(report.storages, [{ name: "db", type: "postgres", certificates: 2, problem: null, note: null }]);
  } finally {
    await pg.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
