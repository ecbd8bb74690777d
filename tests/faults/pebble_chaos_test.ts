/**
 * Fault: a flaky CA. Pebble 2.10 rejects 20 % of good nonces (badNonce) and reuses 50 % of valid authorizations;
 * 50 distinct CSRs (fresh keys; names drawn from a pool of 10, so authorizations get reused) go through `acmems
 * serve`, 5 at a time. Every one must get 200 with a certificate for its own key and names.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { startNamed } from "../support/named.ts";
import { startPebble } from "../support/pebble.ts";
import { freePorts } from "../support/ports.ts";
import { startAcmems } from "../support/acmems.ts";
import { assertCertificate, Cleanup, faultConfig, pool, quickCsr, sign, since } from "./_stack.ts";

const ISSUANCES = 50;
const CONCURRENCY = 5;

Deno.test({
  name: "fault: pebble with nonceReject 20 and authzReuse 50: 50 issuances, 5 at a time, all succeed",
  sanitizeResources: true,
  sanitizeOps: true,
  fn: async () => {
    const cleanup = new Cleanup();
    const dir = await Deno.makeTempDir({ prefix: "acmems-fault-chaos-" });
    cleanup.add(() => Deno.remove(dir, { recursive: true }));
    try {
      const named = await startNamed();
      cleanup.add(() => named.stop());
      const [httpPort, mgmtPort] = await freePorts(2);
      const pebble = await startPebble({ dnsServer: named.address, httpPort, nonceReject: 20, authzReuse: 50 });
      cleanup.add(() => pebble.stop());
      const startupLog = await pebble.logTail(200);
      assert(/reject 20% of good nonces/.test(startupLog), `pebble did not take nonceReject 20:\n${startupLog}`);
      assert(/authz reuse .*50% of the time/i.test(startupLog), `pebble did not take authzReuse 50:\n${startupLog}`);

      const acmems = await startAcmems({ dir, config: faultConfig({ pebble, mgmtPort, httpPort }) });
      cleanup.add(() => acmems.stop());

      const jobs = await Promise.all(Array.from({ length: ISSUANCES }, async (_, i) => {
        const names = i % 3 === 0
          ? [`pool${i % 10}.chaos.example.test`, `extra${i}.chaos.example.test`]
          : [`pool${i % 10}.chaos.example.test`];
        return { names, csr: await quickCsr(names) };
      }));
      const started = Date.now();
      const answers = await pool(ISSUANCES, CONCURRENCY, (i) => sign(acmems.mgmtUrl, jobs[i].csr.pem));
      const elapsed = since(started);
      const failed = answers.map((a, i) => ({ i, a })).filter(({ a }) => a.status !== 200);
      assertEquals(
        failed.length,
        0,
        failed.map(({ i, a }) => `#${i} ${jobs[i].names}: ${a.status} ${a.body}`).join("\n") + "\n" +
          (await acmems.log()).split("\n").filter((l) => /"level":"(error|warning)"/.test(l)).slice(-20).join("\n"),
      );
      for (const [i, a] of answers.entries()) assertCertificate(a, jobs[i].names, jobs[i].csr.publicKey, `#${i}`);

      // What the chaos did, from acmems' own metrics: badNonce answers are 400s; reused authorizations need no
      // challenge POST, so there are fewer challenge answers than authorizations.
      const metrics = await (await fetch(`${acmems.mgmtUrl}/metrics`)).text();
      const count = (endpoint: string, status: string) =>
        Number(
          new RegExp(`^acmems_acme_requests_total\\{endpoint="${endpoint}",status="${status}"\\} (\\d+)`, "m")
            .exec(metrics)?.[1] ?? 0,
        );
      const rejected = ["newOrder", "authorization", "challenge", "finalize", "order", "certificate", "newAccount"]
        .reduce((n, e) => n + count(e, "400"), 0);
      const authorizations = jobs.reduce((n, j) => n + j.names.length, 0);
      const challenges = count("challenge", "200");
      // Lower bounds, so a renamed metric (every count 0) cannot pass: each distinct name was validated at least
      // once, and each issuance placed at least one order.
      const distinctNames = new Set(jobs.flatMap((j) => j.names)).size;
      const orders = count("newOrder", "201");
      assert(rejected > 0, `no badNonce was seen: pebble's nonceReject did not bite\n${metrics}`);
      assert(orders >= ISSUANCES, `${orders} orders placed (201 from newOrder) for ${ISSUANCES} issuances\n${metrics}`);
      assert(
        challenges >= distinctNames,
        `${challenges} challenge answers for ${distinctNames} distinct names: each needs one\n${metrics}`,
      );
      assert(challenges < authorizations, `no authorization was reused (${challenges} challenge answers)`);
      const slowest = Math.max(...answers.map((a) => a.ms));
      console.log(
        `  ${ISSUANCES} issuances (${CONCURRENCY} at a time) in ${elapsed} ms, slowest ${slowest} ms; ` +
          `${rejected} badNonce answers retried; ${challenges} challenges answered for ${authorizations} authorizations`,
      );
    } finally {
      await cleanup.run();
    }
  },
});
