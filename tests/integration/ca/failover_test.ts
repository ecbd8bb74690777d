/**
 * Several CAs and per-order failover (issue 15), with two real pebbles A and B behind one `acmems serve` process:
 * `[ca "a"]` and `[ca "b"]`, an auth block `ca = a, b`.
 *
 * - A stopped → the next /sign is answered from B (the chain is B's: each pebble has its own intermediate); the
 *   failover is logged and counted (`acmems_ca_failover_total`).
 * - A back: B's certificate is served while it is not due; once due, the renewal comes from A.
 * - A refuses the names (`rejectedIdentifier`, pebble's `domainBlocklist`) → B issues.
 * - A validation failure at A → 421, no failover (B's log shows no new order).
 *
 * Certificates are short-lived (pebble profile `tiny`, 30 s) so that "due" comes within the test: acmems renews at
 * two thirds of a lifetime shorter than renew-within.
 */
import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { startAcmems } from "../../support/acmems.ts";
import { type ConfigSpec, http01 } from "../../support/config.ts";
import { makeCsr } from "../../support/csr.ts";
import { postSign, request } from "../../support/http.ts";
import type { Pebble } from "../../support/pebble.ts";
import { Cleanup } from "../../support/stack.ts";
import { caSection, intermediateOf, pemBody, startTwoCas } from "./_two_cas.ts";
import * as x509 from "@peculiar/x509";

const LIFETIME_S = 30;
const PROFILES = { tiny: { description: "30 seconds", validityPeriod: LIFETIME_S } };
const BLOCKED = "blocked.example.test";

/** Orders pebble accepted (its log). */
const orders = (pebble: Pebble) => pebble.ordersPlaced();

Deno.test("two CAs: failover to B while A is down, renewal back at A, CA refusals fail over, validation does not", async (t) => {
  const cleanup = new Cleanup();
  const work = await Deno.makeTempDir({ prefix: "acmems-ca-failover-" });
  cleanup.add(() => Deno.remove(work, { recursive: true }));
  try {
    const { a, b, httpPort, mgmtPort } = await startTwoCas(cleanup, {
      a: { profiles: PROFILES, domainBlocklist: [BLOCKED] },
      b: { profiles: PROFILES },
    });
    const ca = (pebble: Pebble, dir: string) => caSection(pebble, dir, { profile: "tiny" });
    const config: ConfigSpec = {
      comment: "acmems: two CAs, failover",
      cas: { a: ca(a, "account-a"), b: ca(b, "account-b") },
      mgmt: { listener: `127.0.0.1:${mgmtPort}`, "sign-timeout": "60s" },
      logging: { level: "debug", format: "json" },
      verifications: { http: http01(httpPort) },
      storages: { cache: { type: "file", directory: "cache" } },
      auth: { local: { ip: "127.0.0.1", domain: "*.example.test", ca: "a, b" } },
    };
    const acmems = await startAcmems({ config, dir: work });
    cleanup.add(() => acmems.stop());
    const metric = async () =>
      (await request(`${acmems.mgmtUrl}/metrics`)).body.split("\n").filter((l) =>
        l.startsWith("acmems_ca_failover_total{")
      );

    const csr = await makeCsr({ names: ["www.example.test"] });
    let fromB = "";

    await t.step("control: with both CAs up, A (the preferred) issues", async () => {
      const other = await makeCsr({ names: ["control.example.test"] });
      const answer = await postSign(acmems.mgmtUrl, other.csrPem);
      assertEquals(answer.status, 200, answer.body);
      assertEquals(intermediateOf(answer.body), pemBody(await a.intermediatePem()));
    });

    await t.step("A stopped → the next /sign is answered from B, logged and counted", async () => {
      const bOrders = await orders(b);
      await a.pause();
      const answer = await postSign(acmems.mgmtUrl, csr.csrPem);
      assertEquals(answer.status, 200, answer.body);
      assertEquals(intermediateOf(answer.body), pemBody(await b.intermediatePem()), "the issuer is B's");
      assertEquals(await orders(b), bOrders + 1);
      fromB = answer.body;
      const failover = (await acmems.events()).find((e) => e.event === "ca failover");
      assert(failover, await acmems.logTail(40));
      assertEquals([failover.from, failover.to, failover.reason], ["a", "b", "unavailable"]);
      assertEquals(await metric(), ['acmems_ca_failover_total{from="a",to="b",reason="unavailable"} 1']);
    });

    await t.step("A back: B's certificate is served while not due; once due, the renewal comes from A", async () => {
      await a.resume();
      const resumedAt = Date.now();
      const aOrders = await orders(a);
      // Due at two thirds of its lifetime (pebble's short-lived certificates: about 20 s after issuance), or earlier
      // at the point acmems chose in the CA's ARI window: pebble's window for a 30 s certificate is its whole
      // lifetime, so that point can come within the first seconds (src/renewal/due.ts).
      const dueOf = async (chain: string) => {
        const leaf = new x509.X509Certificate(chain.split("\n\n")[0]);
        const twoThirds = leaf.notBefore.getTime() + (leaf.notAfter.getTime() - leaf.notBefore.getTime()) * 2 / 3;
        const ari = (await acmems.events()).filter((e) =>
          e.event === "ari window" && JSON.stringify(e.names) === JSON.stringify(["www.example.test"])
        ).at(-1);
        const chosen = typeof ari?.chosen === "string" ? Date.parse(ari.chosen) : NaN;
        return Number.isNaN(chosen) ? twoThirds : Math.min(twoThirds, chosen);
      };
      let dueAt = await dueOf(fromB);
      const firstDue = dueAt;
      const askedAt = Date.now();
      const hit = await postSign(acmems.mgmtUrl, csr.csrPem);
      assertEquals(hit.status, 200, hit.body);
      // A machine slow enough to reach this point after the due time sees the renewal below at once instead.
      if (askedAt < dueAt - 1000) {
        assertEquals(hit.body, fromB, "B's certificate, from the cache");
        assertEquals(await orders(a), aOrders, "A not asked while B's certificate is not due");
      }
      // A renewal due within the first seconds may still find A marked unreachable (it reconnects in the
      // background) and come from B again; the one after it, once that certificate is due, must come from A.
      const aIntermediate = pemBody(await a.intermediatePem());
      const bIntermediate = pemBody(await b.intermediatePem());
      let previous = fromB;
      for (let renewal = 1;; renewal++) {
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, dueAt - Date.now()) + 1500));
        const renewed = await postSign(acmems.mgmtUrl, csr.csrPem);
        assertEquals(renewed.status, 200, renewed.body);
        assert(renewed.body !== previous, `renewal ${renewal}: a new certificate`);
        const issuer = intermediateOf(renewed.body);
        if (issuer === aIntermediate) break;
        assertEquals(issuer, bIntermediate, `renewal ${renewal}: issued by A or B`);
        assert(
          renewal === 1 && firstDue < resumedAt + 10_000,
          `renewal ${renewal} came from B, though it was due ${
            ((dueAt - resumedAt) / 1000).toFixed(1)
          } s after A was back`,
        );
        previous = renewed.body;
        dueAt = await dueOf(renewed.body);
      }
    });

    await t.step("rejectedIdentifier from A (domainBlocklist) → B issues", async () => {
      const name = `www.${BLOCKED}`;
      const blocked = await makeCsr({ names: [name] });
      const answer = await postSign(acmems.mgmtUrl, blocked.csrPem);
      assertEquals(answer.status, 200, answer.body);
      assertEquals(intermediateOf(answer.body), pemBody(await b.intermediatePem()));
      const lines = await metric();
      assert(
        lines.includes('acmems_ca_failover_total{from="a",to="b",reason="rejected-identifier"} 1'),
        lines.join("\n"),
      );
    });

    await t.step("a validation failure at A → 421, no failover (B's order count unchanged)", async () => {
      const bOrders = await orders(b);
      // unreachable.example.test resolves to 127.0.0.2, where no http-01 listener answers.
      const failing = await makeCsr({ names: ["unreachable.example.test"] });
      const answer = await postSign(acmems.mgmtUrl, failing.csrPem);
      assertEquals(answer.status, 421, answer.body);
      assertStringIncludes(answer.body, "unreachable.example.test");
      assertEquals(await orders(b), bOrders, "B was not asked");
    });
  } finally {
    await cleanup.run();
  }
});

Deno.test("two CAs: a CA unreachable when serve starts does not stop it; it is used once it answers", async (t) => {
  const cleanup = new Cleanup();
  const work = await Deno.makeTempDir({ prefix: "acmems-ca-late-" });
  cleanup.add(() => Deno.remove(work, { recursive: true }));
  try {
    const { a, b, httpPort, mgmtPort } = await startTwoCas(cleanup);
    await b.pause();
    const ca = caSection;
    const acmems = await startAcmems({
      dir: work,
      config: {
        comment: "acmems: a CA down at start",
        account: ca(a, "account-a"),
        cas: { b: ca(b, "account-b") },
        mgmt: { listener: `127.0.0.1:${mgmtPort}`, "sign-timeout": "60s" },
        logging: { level: "debug", format: "json" },
        verifications: { http: http01(httpPort) },
        storages: { none: { type: "none" } },
        // B preferred: while it is down, the default CA (A) issues.
        auth: { local: { ip: "127.0.0.1", domain: "*.example.test", ca: "b, default", storage: "none" } },
      },
    });
    cleanup.add(() => acmems.stop());

    await t.step("serve is up and ready with B down; /sign fails over to A", async () => {
      assertEquals((await request(`${acmems.mgmtUrl}/ready`)).status, 200);
      const csr = await makeCsr({ names: ["early.example.test"] });
      const answer = await postSign(acmems.mgmtUrl, csr.csrPem);
      assertEquals(answer.status, 200, answer.body);
      assertEquals(intermediateOf(answer.body), pemBody(await a.intermediatePem()));
      const failover = (await acmems.events()).find((e) => e.event === "ca failover");
      assertEquals([failover?.from, failover?.to, failover?.reason], ["b", "default", "unavailable"]);
    });

    await t.step("B comes up: its account is registered in the background and B issues again", async () => {
      await b.resume();
      const deadline = Date.now() + 90_000;
      const bReady = async () =>
        (await acmems.events()).some((e) => e.event === "acme account ready" && e.ca === b.directoryUrl);
      while (!await bReady()) {
        assert(Date.now() < deadline, `B never became ready: ${await acmems.logTail(30)}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const csr = await makeCsr({ names: ["late.example.test"] });
      const answer = await postSign(acmems.mgmtUrl, csr.csrPem);
      assertEquals(answer.status, 200, answer.body);
      assertEquals(intermediateOf(answer.body), pemBody(await b.intermediatePem()));
    });
  } finally {
    await cleanup.run();
  }
});
