/**
 * End to end: two acmems instances behind one nginx upstream, the way a site forwards
 * `/.well-known/acme-challenge/` to several responders. pebble's VA talks to nginx only; the token lives in the
 * instance that placed the order, and nginx walks to the next upstream when the other one answers 404
 * (`proxy_next_upstream error timeout http_404`).
 */
import { assert, assertEquals } from "../support/assert.ts";
import { startAcmems } from "../support/acmems.ts";
import { NO_STORAGE, testConfig } from "../support/config.ts";
import { startNginx } from "../support/nginx.ts";
import { freePorts } from "../support/ports.ts";
import { since, startStack } from "../support/stack.ts";
import { countLines, curlSign, describe, hostCsr, verifyIssued, wgetSign } from "./host_tools.ts";

Deno.test("POST /sign end to end: two acmems instances behind one nginx upstream", async (t) => {
  const [nginxPort, httpA, httpB, mgmtA, mgmtB] = await freePorts(5);
  const { work, pebble, rootFile, cleanup } = await startStack({
    prefix: "acmems-e2e-nginx-",
    pebble: { httpPort: nginxPort },
    rootFile: true,
  });
  try {
    const config = (mgmtPort: number, httpPort: number) =>
      testConfig({ ca: pebble, mgmtPort, httpPort, storages: { none: NO_STORAGE } });
    // Both start at once; whichever started is stopped even if the other failed.
    const started = await Promise.allSettled([
      startAcmems({ name: "acmems-a", config: config(mgmtA, httpA) }),
      startAcmems({ name: "acmems-b", config: config(mgmtB, httpB) }),
    ]);
    for (const s of started) if (s.status === "fulfilled") cleanup.add(() => s.value.stop());
    const [a, b] = started.map((s) => {
      if (s.status === "rejected") throw s.reason;
      return s.value;
    });
    const nginx = await startNginx({ port: nginxPort, upstreams: [`127.0.0.1:${httpA}`, `127.0.0.1:${httpB}`] });
    cleanup.add(() => nginx.stop());
    const instances = [{ label: "a", acmems: a }, { label: "b", acmems: b }];

    await t.step("sequential requests to either instance's /sign all get 200", async () => {
      for (let i = 0; i < 6; i++) {
        const { label, acmems } = instances[i % 2];
        const names = [`seq${i}-${label}.example.test`, `www.seq${i}-${label}.example.test`];
        const csr = await hostCsr(work, names);
        const answer = i % 3 === 2
          ? await wgetSign(acmems.mgmtUrl, csr.csrFile)
          : await curlSign(acmems.mgmtUrl, csr.csrFile);
        await verifyIssued(answer, csr, names, rootFile, work);
      }
    });

    await t.step("concurrent requests to both instances all get 200", async () => {
      const jobs = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
        const { label, acmems } = instances[i % 2];
        const names = [`par${i}-${label}.example.test`];
        return { acmems, names, csr: await hostCsr(work, names) };
      }));
      const t0 = Date.now();
      const answers = await Promise.all(jobs.map((j) => curlSign(j.acmems.mgmtUrl, j.csr.csrFile)));
      assertEquals(answers.map((x) => x.status), Array(8).fill(200), answers.map(describe).join("\n"));
      for (const [i, j] of jobs.entries()) await verifyIssued(answers[i], j.csr, j.names, rootFile, work);
      console.log(`  8 concurrent over 2 instances: all 200 in ${since(t0)} ms`);
    });

    await t.step("nginx served every challenge, and walked past the instance without the token", async () => {
      const log = await nginx.logTail(100_000);
      const challenges = log.split("\n").filter((l) => l.includes('"GET /.well-known/acme-challenge/'));
      assert(challenges.length >= 14, `pebble's validations went through nginx:\n${log}`);
      assertEquals(challenges.filter((l) => !/ 200 host=/.test(l)), [], "every challenge GET answered 200 by nginx");
      const walked = countLines(challenges.join("\n"), /upstream_status=404, 200$/);
      const direct = countLines(challenges.join("\n"), /upstream_status=200$/);
      console.log(
        `  nginx: ${challenges.length} challenge GETs, ${direct} straight to the right instance, ` +
          `${walked} after a 404 from the other one`,
      );
      assert(walked > 0, `no request was passed on after a 404:\n${challenges.join("\n")}`);
      assertEquals(walked + direct, challenges.length, challenges.join("\n"));
      for (const { label, acmems } of instances) {
        assertEquals(countLines(await acmems.log(), /\bsign\b.*status=200/), 7, `instance ${label}`);
      }
    });
  } finally {
    await cleanup.run();
  }
});
