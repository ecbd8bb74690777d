/**
 * Fault: a slow CA. Every http-01 validation pebble makes goes through a TCP proxy that holds each connection for
 * 4 s before passing it to acmems' challenge listener, so an order takes well over `sign-timeout = 2s`.
 *
 * (Pebble 2.10's own knob is no good for this: `PEBBLE_VA_SLEEPTIME=N`, honoured only without PEBBLE_VA_NOSLEEP,
 * makes each of the VA's 3 concurrent validation attempts sleep `rand.Intn(N)` seconds, i.e. anything from 0 to
 * N-1 s, so some orders would be fast. The proxy makes every validation slow, deterministically.)
 *
 * Expected: /sign answers 503 with Retry-After once sign-timeout has passed; the order goes on in the background and
 * is stored; the client's retry gets the certificate from the same order. A client that disconnects (aborted fetch)
 * cancels nothing: the order completes and the later retry gets it. Exactly one ACME order per CSR throughout.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { type Acmems, startAcmems } from "../support/acmems.ts";
import { startDelayProxy } from "../support/delay_proxy.ts";
import { freePorts } from "../support/ports.ts";
import { startStack } from "../support/stack.ts";
import { assertCertificate, faultConfig, quickCsr, sign, type Signed, sleep } from "./_stack.ts";

const DELAY_MS = 4_000;

/** ACME orders acmems placed for exactly these names (debug event "acme new order"). */
async function ordersFor(acmems: Acmems, names: string[]): Promise<number> {
  return (await acmems.events()).filter((e) =>
    e.event === "acme new order" && JSON.stringify(e.names) === JSON.stringify(names)
  ).length;
}

async function issuedFor(acmems: Acmems, names: string[]): Promise<boolean> {
  return (await acmems.events()).some((e) =>
    e.event === "certificate issued" && JSON.stringify(e.names) === JSON.stringify(names)
  );
}

async function waitIssued(acmems: Acmems, names: string[], timeoutMs = 40_000): Promise<number> {
  const started = Date.now();
  while (!(await issuedFor(acmems, names))) {
    if (Date.now() - started > timeoutMs) {
      throw new Error(`no "certificate issued" for ${names} within ${timeoutMs} ms`);
    }
    await sleep(100);
  }
  return Date.now() - started;
}

function describe(s: Signed): string {
  return `${s.status} after ${s.ms} ms (Retry-After ${s.headers.get("retry-after")}): ${s.body.trim().slice(0, 200)}`;
}

Deno.test("fault: a slow CA: sign-timeout answers 503 in time, the order finishes in the background, one order per CSR", async (t) => {
  const [vaPort, httpPort, mgmtPort] = await freePorts(3);
  const { work: dir, pebble, cleanup } = await startStack({
    prefix: "acmems-fault-slow-",
    pebble: { httpPort: vaPort },
  });
  try {
    const proxy = startDelayProxy({ port: vaPort, targetPort: httpPort, delayMs: DELAY_MS });
    cleanup.add(() => proxy.stop());
    const acmems = await startAcmems({ dir, config: faultConfig({ pebble, mgmtPort, httpPort, signTimeout: "2s" }) });
    cleanup.add(() => acmems.stop());

    await t.step(
      "503 with Retry-After at sign-timeout; the order completes unattended; the retry gets it",
      async () => {
        const names = ["slow-a.example.test"];
        const csr = await quickCsr(names);
        const first = await sign(acmems.mgmtUrl, csr.pem);
        assertEquals(first.status, 503, describe(first));
        assert(first.ms >= 1_900 && first.ms < 4_000, `answered after ${first.ms} ms, sign-timeout is 2 s`);
        assert(Number(first.headers.get("retry-after")) > 0, `Retry-After: ${first.headers.get("retry-after")}`);
        const waited = await waitIssued(acmems, names);
        const retry = await sign(acmems.mgmtUrl, csr.pem);
        assertCertificate(retry, names, csr.publicKey, "retry");
        assertEquals(
          retry.headers.get("x-acmems-cache"),
          "hit",
          "the retry is served what the background order stored",
        );
        assertEquals(await ordersFor(acmems, names), 1, "orders");
        console.log(`  first: ${describe(first)}; issued ${waited} ms later; retry ${retry.status} in ${retry.ms} ms`);
      },
    );

    await t.step("a client that disconnects cancels nothing: the order completes, the retry gets it", async () => {
      const names = ["slow-b.example.test"];
      const csr = await quickCsr(names);
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new Error("client gave up")), 500);
      let aborted = false;
      try {
        await sign(acmems.mgmtUrl, csr.pem, abort.signal);
      } catch {
        aborted = true;
      } finally {
        clearTimeout(timer);
      }
      assert(aborted, "the client disconnected before an answer");
      const waited = await waitIssued(acmems, names);
      const retry = await sign(acmems.mgmtUrl, csr.pem);
      assertCertificate(retry, names, csr.publicKey, "retry after disconnect");
      assertEquals(await ordersFor(acmems, names), 1, "orders");
      console.log(`  disconnected client: issued ${waited} ms after the disconnect; retry ${retry.status}`);
    });

    await t.step("a client retrying while the order runs joins it (one order), then gets the certificate", async () => {
      const names = ["slow-c.example.test", "www.slow-c.example.test"];
      const csr = await quickCsr(names);
      const statuses: number[] = [];
      let last: Signed | undefined;
      const deadline = Date.now() + 40_000;
      while (Date.now() < deadline) {
        last = await sign(acmems.mgmtUrl, csr.pem);
        statuses.push(last.status);
        if (last.status === 200) break;
        assertEquals(last.status, 503, describe(last));
        assert(last.ms < 4_000, `a retry took ${last.ms} ms`);
      }
      assertCertificate(last!, names, csr.publicKey, `retries ${statuses.join(",")}`);
      assert(statuses.length >= 2, `the first answer came before the slow validation could finish: ${statuses}`);
      assertEquals(await ordersFor(acmems, names), 1, `orders after answers ${statuses.join(",")}`);
      console.log(`  retrying client: ${statuses.join(", ")}`);
    });

    const issued = (await pebble.logTail(1_000_000)).split("\n").filter((l) => /Issued certificate serial/.test(l));
    assertEquals(issued.length, 3, "pebble issued exactly one certificate per CSR");
  } finally {
    await cleanup.run();
  }
});
