/**
 * Fault: the CA goes away and comes back as a new instance.
 *
 * While pebble is stopped, /sign answers 503 with Retry-After within 10 s (never 500, never a hang), and a cached
 * certificate is still served. Pebble then comes back on the same ports with the same HTTPS certificate but, being a
 * new instance, without the account acmems registered: acmems' stored account URL is now unknown to the CA
 * (`accountDoesNotExist`). Without a restart of acmems, the next request must get its certificate (the config
 * accepts the terms of service, so the session can register again); while it recovers, only 503 with Retry-After is
 * acceptable, and it must be done within 30 s.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { freePorts } from "../support/ports.ts";
import { startStack } from "../support/stack.ts";
import { assertCertificate, faultConfig, quickCsr, RestartablePebble, sign, type Signed, sleep } from "./_stack.ts";

function describe(s: Signed): string {
  return `${s.status} after ${s.ms} ms (Retry-After ${s.headers.get("retry-after")}): ${s.body.trim()}`;
}

Deno.test("fault: pebble stopped gives 503 with Retry-After in time; a new pebble on the same ports is used without a restart", async (t) => {
  const [httpPort, mgmtPort, port, managementPort] = await freePorts(4);
  const { work: dir, named, pebble, cleanup, acmems: running } = await startStack({
    prefix: "acmems-fault-outage-",
    pebble: { httpPort, port, managementPort },
    acmems: ({ pebble }) => ({ config: faultConfig({ pebble, mgmtPort, httpPort }) }),
  });
  const acmems = running!;
  try {
    const again = await RestartablePebble.capture(pebble, `${dir}/pebble-again`, { dnsServer: named.address });
    cleanup.add(() => again.stop());

    const warm = await quickCsr(["warm.outage.example.test"]);
    await t.step("before: a certificate is issued and cached", async () => {
      const first = await sign(acmems.mgmtUrl, warm.pem);
      assertCertificate(first, ["warm.outage.example.test"], warm.publicKey, "warm-up");
    });

    await pebble.stop();

    await t.step("pebble stopped: 503 with Retry-After within 10 s, repeatedly; the cache still answers", async () => {
      for (let i = 0; i < 2; i++) {
        const csr = await quickCsr([`down${i}.outage.example.test`]);
        const answer = await sign(acmems.mgmtUrl, csr.pem);
        assertEquals(answer.status, 503, describe(answer));
        assert(answer.ms <= 10_000, `503 took ${answer.ms} ms`);
        const retryAfter = Number(answer.headers.get("retry-after"));
        assert(Number.isInteger(retryAfter) && retryAfter > 0, `Retry-After: ${answer.headers.get("retry-after")}`);
        console.log(`  CA down, request ${i + 1}: ${describe(answer)}`);
      }
      const cached = await sign(acmems.mgmtUrl, warm.pem);
      assertEquals(cached.status, 200, describe(cached));
      assertEquals(cached.headers.get("x-acmems-cache"), "hit");
    });

    await again.start();

    const names = ["back.outage.example.test"];
    const csr = await quickCsr(names);
    const answers: Signed[] = [];
    let log: string[] = [];
    await t.step("pebble back (a new instance without our account): recovered within 30 s, no restart", async () => {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const answer = await sign(acmems.mgmtUrl, csr.pem);
        answers.push(answer);
        if (answer.status === 200) break;
        assertEquals(answer.status, 503, `while recovering: ${describe(answer)}`);
        const retryAfter = Number(answer.headers.get("retry-after"));
        assert(retryAfter > 0, `503 without Retry-After: ${describe(answer)}`);
        await sleep(Math.min(retryAfter, 3) * 1000);
      }
      log = (await acmems.log()).split("\n").filter((l) => /account|"level":"error"/.test(l)).slice(-8);
      console.log(`  after the CA came back: ${answers.map((a) => `${a.status} (${a.ms} ms)`).join(", ")}`);
      assertCertificate(
        answers.at(-1)!,
        names,
        csr.publicKey,
        `recovery (${answers.length} attempts)\n${log.join("\n")}`,
      );
    });

    await t.step("the first request after the CA came back gets its certificate", () => {
      assert(answers.length > 0, "no request was made");
      assertEquals(
        answers[0].status,
        200,
        "the account is registered again within milliseconds (the config accepts the terms), yet the request " +
          `that found it lost was not retried: ${describe(answers[0])}\n${log.join("\n")}`,
      );
    });
  } finally {
    await cleanup.run();
  }
});
