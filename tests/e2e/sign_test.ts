/**
 * End to end: a host with only openssl + curl/wget gets certificates from a real `acmems serve` process, which
 * validates the names over http-01 with a real pebble resolving through a real bind9.
 *
 * One named, one pebble and one acmems serve every step; the CA outage comes last because it stops pebble.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { type Acmems, parseLogEvents } from "../support/acmems.ts";
import { NO_STORAGE, type Options, testConfig } from "../support/config.ts";
import { freePorts } from "../support/ports.ts";
import { since, startStack } from "../support/stack.ts";
import {
  assertStatus,
  countLines,
  curlSign,
  curlSignWithHmac,
  describe,
  hostCsr,
  verifyIssued,
  wgetSign,
} from "./host_tools.ts";

const HMAC_KEY = `e2e-${crypto.randomUUID()}`;

const AUTH: Record<string, Options> = {
  hmac: { ip: "127.0.0.0/8", hmac_type: "sha256", hmac_key: HMAC_KEY, domain: "*.tsig.test" },
  elsewhere: { ip: "192.0.2.0/24", domain: "*.elsewhere.test" },
  local: { ip: "127.0.0.1", domain: "*.example.test" },
  v6: { ip: "::1", domain: "*.example.test" },
};

/** The `sign` decision lines of acmems' log. */
function parseSignLines(log: string) {
  return parseLogEvents(log).filter((e) => e.event === "sign");
}

/** Orders acmems started (debug line) and orders pebble received, to prove a refusal made none. */
async function orderCounts(acmems: Acmems, pebbleLog: () => Promise<string>) {
  return {
    acmems: countLines(await acmems.log(), /\bacme new order\b/),
    pebble: countLines(await pebbleLog(), /POST \/order-plz/),
  };
}

Deno.test("POST /sign end to end: curl/wget hosts, auth blocks, validation failure, concurrency, CA outage", async (t) => {
  const started = Date.now();
  const [httpPort, mgmtPort] = await freePorts(2);
  const { work, pebble, rootFile, cleanup, acmems: running } = await startStack({
    prefix: "acmems-e2e-sign-",
    pebble: { httpPort },
    rootFile: true,
    acmems: ({ pebble }) => ({
      config: testConfig({
        ca: pebble,
        mgmtPort,
        mgmt: { listener: [`127.0.0.1:${mgmtPort}`, `[::1]:${mgmtPort}`] },
        httpPort,
        storages: { none: NO_STORAGE },
        auth: AUTH,
      }),
    }),
  });
  const acmems = running!;
  try {
    console.log(`setup (named, pebble, acmems ready): ${since(started)} ms`);
    assertEquals(acmems.mgmtUrl, `http://127.0.0.1:${mgmtPort}`);
    const mgmtUrl6 = `http://[::1]:${mgmtPort}`;

    await t.step("RSA-2048 and P-256 multi-SAN CSRs via curl and via wget: chain verifies, key matches", async () => {
      const cases = [
        { key: "rsa-2048", tool: "curl", names: ["rsa-curl.example.test", "www.rsa-curl.example.test"] },
        { key: "ec-p256", tool: "curl", names: ["ec-curl.example.test", "www.ec-curl.example.test", "x.example.test"] },
        { key: "rsa-2048", tool: "wget", names: ["rsa-wget.example.test", "mail.example.test"] },
        { key: "ec-p256", tool: "wget", names: ["ec-wget.example.test", "api.example.test"] },
      ] as const;
      for (const c of cases) {
        const names = [...c.names];
        const csr = await hostCsr(work, names, c.key);
        const answer = c.tool === "curl"
          ? await curlSign(acmems.mgmtUrl, csr.csrFile)
          : await wgetSign(acmems.mgmtUrl, csr.csrFile);
        assertStatus(answer, 200, `${c.key} via ${c.tool}`);
        await verifyIssued(answer, csr, names, rootFile, work);
        console.log(`  ${c.key} via ${c.tool}, ${names.length} names: 200 in ${answer.elapsedMs} ms`);
      }
    });

    await t.step("HMAC block: header from openssl dgst | sed gets 200; a wrong key gets 403 and no order", async () => {
      const names = ["host1.tsig.test", "alt.tsig.test"];
      const csr = await hostCsr(work, names);
      const ok = await curlSignWithHmac(acmems.mgmtUrl, csr.csrFile, HMAC_KEY);
      await verifyIssued(ok, csr, names, rootFile, work);
      assertEquals(parseSignLines(await acmems.log()).at(-1)?.block, "hmac");

      const other = await hostCsr(work, ["host2.tsig.test"]);
      const before = await orderCounts(acmems, () => pebble.logTail(100_000));
      const wrong = await curlSignWithHmac(acmems.mgmtUrl, other.csrFile, `${HMAC_KEY}-wrong`);
      assertStatus(wrong, 403, "wrong HMAC key");
      assertStringIncludes(wrong.body, "No auth block admits this client for host2.tsig.test");
      // Without the header the HMAC block cannot admit it either, and the IP block does not cover tsig.test.
      const none = await curlSign(acmems.mgmtUrl, other.csrFile);
      assertStatus(none, 403, "no Authentication header");
      assertEquals(await orderCounts(acmems, () => pebble.logTail(100_000)), before, "a refused request made no order");
    });

    await t.step("IP block admits 127.0.0.1; names outside every block get 403 and make no order", async () => {
      const names = ["ip-block.example.test"];
      const csr = await hostCsr(work, names);
      await verifyIssued(await curlSign(acmems.mgmtUrl, csr.csrFile), csr, names, rootFile, work);
      const admitted = parseSignLines(await acmems.log()).at(-1);
      assertEquals([admitted?.client, admitted?.block], ["127.0.0.1", "local"]);

      const before = await orderCounts(acmems, () => pebble.logTail(100_000));
      assert(
        before.acmems > 0 && before.pebble > 0,
        `the order counters see the orders so far: ${JSON.stringify(before)}`,
      );
      const refusals: [string, string[]][] = [
        ["outside every block", ["www.example.org"]],
        ["only a block for another client network", ["a.elsewhere.test"]],
        ["one covered name and one uncovered (names are never split)", ["ok.example.test", "www.example.org"]],
      ];
      for (const [what, refusedNames] of refusals) {
        const refused = await curlSign(acmems.mgmtUrl, (await hostCsr(work, refusedNames)).csrFile);
        assertStatus(refused, 403, what);
        assertMatch(refused.body, /^No auth block admits this client for /);
        assertEquals(refused.headers.get("content-type"), "text/plain; charset=utf-8");
      }
      const after = await orderCounts(acmems, () => pebble.logTail(100_000));
      assertEquals(after, before, "no order reached acmems' issuer or pebble");
      const log = await acmems.log();
      assertEquals(parseSignLines(log).filter((e) => e.outcome === "not authorized").length, 3 + 2, log);
    });

    await t.step("IPv6 client on [::1]: admitted by the ::1 block only, never by the 127.0.0.0/8 ones", async () => {
      const names = ["v6.example.test"];
      const csr = await hostCsr(work, names);
      await verifyIssued(await curlSign(mgmtUrl6, csr.csrFile), csr, names, rootFile, work);
      const lastSign = parseSignLines(await acmems.log()).at(-1);
      assertEquals([lastSign?.client, lastSign?.block], ["::1", "v6"]);

      // The HMAC block is for 127.0.0.0/8: from ::1 even the right key is refused.
      const hmacCsr = await hostCsr(work, ["v6.tsig.test"]);
      assertStatus(await curlSignWithHmac(mgmtUrl6, hmacCsr.csrFile, HMAC_KEY), 403, "HMAC block from ::1");
    });

    await t.step("the same CSR twice at once: one order, both get the same chain", async () => {
      const names = ["twice.example.test"];
      const csr = await hostCsr(work, names);
      const before = await orderCounts(acmems, () => pebble.logTail(100_000));
      const [x, y] = await Promise.all([curlSign(acmems.mgmtUrl, csr.csrFile), wgetSign(acmems.mgmtUrl, csr.csrFile)]);
      await verifyIssued(x, csr, names, rootFile, work);
      assertStatus(y, 200, "second request");
      assertEquals(y.body, x.body, "both callers get the chain of the one order");
      const after = await orderCounts(acmems, () => pebble.logTail(100_000));
      assertEquals({ acmems: after.acmems - before.acmems, pebble: after.pebble - before.pebble }, {
        acmems: 1,
        pebble: 1,
      });
    });

    await t.step("validation failure: unreachable.example.test gets 421 with the CA's detail", async () => {
      const csr = await hostCsr(work, ["unreachable.example.test"]);
      const answer = await curlSign(acmems.mgmtUrl, csr.csrFile);
      assertStatus(answer, 421);
      assertStringIncludes(answer.body, "Validation of unreachable.example.test failed: ");
      // pebble's own words: it dialled the address bind9 gave for the name, where nothing listens.
      assertStringIncludes(answer.body, `127.0.0.2:${httpPort}`);
      assertMatch(answer.body, /connection refused/i);
      assertEquals(answer.headers.get("content-type"), "text/plain; charset=utf-8");
      // wget sees the same answer.
      const again = await wgetSign(acmems.mgmtUrl, (await hostCsr(work, ["unreachable.example.test"])).csrFile);
      assertStatus(again, 421, "via wget");
    });

    await t.step("10 concurrent distinct CSRs all get 200", async () => {
      const csrs = await Promise.all(
        Array.from({ length: 10 }, (_, i) => {
          const names = [`c${i}.example.test`, `www.c${i}.example.test`];
          return hostCsr(work, names, i % 2 ? "rsa-2048" : "ec-p256").then((csr) => ({ csr, names }));
        }),
      );
      const t0 = Date.now();
      const answers = await Promise.all(
        csrs.map(({ csr }, i) =>
          i % 3 === 2 ? wgetSign(acmems.mgmtUrl, csr.csrFile) : curlSign(acmems.mgmtUrl, csr.csrFile)
        ),
      );
      const wall = since(t0);
      const statuses = answers.map((a) => a.status);
      assertEquals(statuses, Array(10).fill(200), answers.filter((a) => a.status !== 200).map(describe).join("\n"));
      for (const [i, { csr, names }] of csrs.entries()) await verifyIssued(answers[i], csr, names, rootFile, work);
      console.log(
        `  10 concurrent: all 200 in ${wall} ms (slowest ${Math.max(...answers.map((a) => a.elapsedMs))} ms)`,
      );
    });

    await t.step("CA stopped while acmems runs: /sign answers 503 with Retry-After within 10 s", async () => {
      await pebble.stop();
      const csr = await hostCsr(work, ["after-outage.example.test"]);
      const answer = await curlSign(acmems.mgmtUrl, csr.csrFile);
      assertStatus(answer, 503);
      assert(answer.elapsedMs < 10_000, `503 took ${answer.elapsedMs} ms`);
      assertMatch(answer.headers.get("retry-after") ?? "", /^[1-9][0-9]*$/, `Retry-After: ${describe(answer)}`);
      assertMatch(answer.body, /CA could not be reached|CA is not available/);
      console.log(`  503 after ${answer.elapsedMs} ms, Retry-After ${answer.headers.get("retry-after")}`);
    });

    await t.step("SIGTERM: acmems exits 0 and logs stopped", async () => {
      const status = await acmems.stop();
      assertEquals({ code: status.code, signal: status.signal }, { code: 0, signal: null }, await acmems.logTail());
      const log = await acmems.log();
      assertMatch(log, /INFO +stopping reason=SIGTERM/);
      assertMatch(log.trimEnd().split("\n").at(-1) ?? "", /INFO +stopped$/);
    });
  } finally {
    await cleanup.run();
  }
});
