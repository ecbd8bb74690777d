/**
 * End to end against pebble with its default chaos: 5 % of good nonces rejected (badNonce) and 50 % of valid
 * authorizations reused. acmems must absorb both: every request still gets its certificate.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { startAcmems } from "../support/acmems.ts";
import { startNamed } from "../support/named.ts";
import { startPebble } from "../support/pebble.ts";
import { freePorts } from "../support/ports.ts";
import { countLines, curlSign, describe, hostCsr, verifyIssued, wgetSign } from "./host_tools.ts";
import { configText, NO_STORAGE, testConfig } from "../support/config.ts";
import { Cleanup, since } from "../support/stack.ts";

Deno.test("POST /sign end to end with pebble's default chaos (nonceReject 5, authzReuse 50)", async (t) => {
  const cleanup = new Cleanup();
  const work = await Deno.makeTempDir({ prefix: "acmems-e2e-chaos-" });
  cleanup.add(() => Deno.remove(work, { recursive: true }));
  try {
    const named = await startNamed();
    cleanup.add(() => named.stop());
    const [httpPort, mgmtPort] = await freePorts(2);
    const pebble = await startPebble({ dnsServer: named.address, httpPort, nonceReject: 5, authzReuse: 50 });
    cleanup.add(() => pebble.stop());
    const rootFile = `${work}/pebble-root.pem`;
    await Deno.writeTextFile(rootFile, await pebble.rootPem());
    const acmems = await startAcmems({
      configText: configText(testConfig({
        comment: "acmems end-to-end test config",
        ca: pebble,
        mgmtPort,
        httpPort,
        storages: { none: NO_STORAGE },
      })),
    });
    cleanup.add(() => acmems.stop());
    const pebbleLog = await pebble.logTail(200);
    assertEquals(countLines(pebbleLog, /reject 5% of good nonces/), 1, pebbleLog);
    assertEquals(countLines(pebbleLog, /authz reuse .*50% of the time/i), 1, pebbleLog);

    // The same names again and again (new keys each time): with 50 % reuse, later orders start with valid authzs.
    const names = ["chaos.example.test", "www.chaos.example.test"];

    await t.step("8 sequential issuances for the same names all get 200", async () => {
      const t0 = Date.now();
      for (let i = 0; i < 8; i++) {
        const csr = await hostCsr(work, names, i % 4 === 3 ? "rsa-2048" : "ec-p256");
        const answer = i % 2
          ? await wgetSign(acmems.mgmtUrl, csr.csrFile)
          : await curlSign(acmems.mgmtUrl, csr.csrFile);
        await verifyIssued(answer, csr, names, rootFile, work);
      }
      console.log(`  8 sequential: all 200 in ${since(t0)} ms`);
    });

    await t.step("10 concurrent issuances (half for the shared names, half for new ones) all get 200", async () => {
      const jobs = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        const jobNames = i % 2 ? names : [`chaos${i}.example.test`];
        return { names: jobNames, csr: await hostCsr(work, jobNames) };
      }));
      const t0 = Date.now();
      const answers = await Promise.all(jobs.map((j) => curlSign(acmems.mgmtUrl, j.csr.csrFile)));
      assertEquals(
        answers.map((a) => a.status),
        Array(10).fill(200),
        answers.filter((a) => a.status !== 200).map(describe).join("\n") + "\n" + await acmems.logTail(40),
      );
      for (const [i, j] of jobs.entries()) await verifyIssued(answers[i], j.csr, j.names, rootFile, work);
      console.log(`  10 concurrent: all 200 in ${since(t0)} ms`);
    });

    const log = await pebble.logTail(1_000_000);
    const orders = countLines(log, /POST \/order-plz/);
    const validations = countLines(log, /Pulled a task from the Tasks queue/);
    // 31 names were ordered (8*2 + 5*2 + 5*1); fewer validations than that means pebble reused valid authzs
    // (the chance that none of the ~26 reusable ones was reused is 2^-26).
    console.log(`  pebble: ${orders} order requests (badNonce retries included), ${validations} validations, 31 names`);
    // Lower bounds, so a renamed log line (a count of 0) cannot pass: 18 issuances placed at least 18 orders, and each
    // of the 7 distinct names (2 shared, chaos0/2/4/6/8) was validated at least once.
    assert(orders >= 18, `pebble logged ${orders} order requests for 18 issuances:\n${log.slice(-3000)}`);
    assert(validations >= 7, `pebble logged ${validations} validations for 7 distinct names:\n${log.slice(-3000)}`);
    assert(validations < 31, `pebble validated ${validations} challenges for 31 names: no authz was reused`);
    const acmemsLog = await acmems.log();
    assertEquals(countLines(acmemsLog, /\bsign\b.*status=200/), 18, acmemsLog);
  } finally {
    await cleanup.run();
  }
});
