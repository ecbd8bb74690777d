/**
 * dns-persist-01 against the real peers: bind9 (the zone holding the `_validation-persist` records, and the resolver
 * of both pebble's VA and acmems' pre-check), pebble 2.10 validating for real (its issuer-domain-names:
 * pebble.letsencrypt.org), acmems in-process answering POST /sign.
 *
 * acmems writes no DNS: every step checks that bind9 logged no UPDATE while /sign ran. A missing or wrong record is
 * refused (421) before any challenge is answered: pebble's VA pulled no task for the name.
 */
import { generateKeyPair } from "../../src/acme/mod.ts";
import { recordsCommand } from "../../cli/records.ts";
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import { testConfig } from "../support/config.ts";
import { makeCsr } from "../support/csr.ts";
import { freePort } from "../support/ports.ts";
import { startApp, startStack } from "../support/stack.ts";

const ISSUER = "pebble.letsencrypt.org";

Deno.test("dns-persist-01: bind9 + pebble 2.10 + acmems /sign, no DNS writes", async (t) => {
  const { work: dir, named, pebble, cleanup } = await startStack({ prefix: "acmems-persist-test-" });
  try {
    const configFile = `${dir}/acmems.ini`;
    const running = await startApp({
      configFile,
      config: testConfig({
        comment: "tests/integration/dns_persist01_test.ts",
        ca: pebble,
        accountDir: `${dir}/account`,
        mgmtPort: await freePort(),
        httpPort: null,
        verifications: {
          persist: { type: "dns-persist01", resolver: named.address, "issuer-domain-name": ISSUER },
        },
        auth: {
          local: { ip: "127.0.0.1", domain: ["*.example.test", "records.example.test"], verification: "persist" },
        },
      }),
      keyPair: await generateKeyPair("ec-p256"),
      caCerts: [pebble.caPem],
    });
    cleanup.add(() => running.stop());
    const account = running.app.session.client().accountUrl!;
    assert(account, "the account is registered");

    const namedLog = async () => await named.logTail(100_000);
    const updates = async () => (await namedLog()).split("\n").filter((l) => /updat/i.test(l)).length;
    /** pebble's VA tasks for `name` (one per answered challenge). */
    const vaTasks = async (name: string) =>
      (await pebble.logTail(100_000)).split("\n").filter((l) =>
        l.includes("Pulled a task") && l.includes(`Value:"${name}"`)
      ).length;
    const publish = async (owner: string, value: string) => {
      const before = await updates();
      const r = await named.nsupdate([`update add ${owner}. 300 IN TXT "${value}"`]);
      assertEquals(r.code, 0, r.output);
      assert(await updates() > before, "bind9 logs UPDATEs (the no-UPDATE check can fail)");
    };
    /** POST /sign for `names`, asserting bind9 saw no UPDATE meanwhile. */
    const sign = async (names: string[]) => {
      const before = await updates();
      const csr = await makeCsr({ names });
      const res = await fetch(`${running.url}/sign`, { method: "POST", body: csr.csrPem });
      const body = await res.text();
      assertEquals(await updates(), before, "acmems sent bind9 an UPDATE");
      return { status: res.status, body };
    };

    await t.step("a name with the record → 200", async () => {
      await publish("_validation-persist.ok.example.test", `${ISSUER}; accounturi=${account}`);
      const r = await sign(["ok.example.test"]);
      assertEquals(r.status, 200, r.body);
      assertEquals(await vaTasks("ok.example.test"), 1);
    });

    await t.step("persistUntil is watched: the metric per record", async () => {
      const until = Math.floor(Date.now() / 1000) + 30 * 86400;
      await publish(
        "_validation-persist.until.example.test",
        `${ISSUER}; accounturi=${account}; persistUntil=${until}`,
      );
      const r = await sign(["until.example.test"]);
      assertEquals(r.status, 200, r.body);
      const metrics = await (await fetch(`${running.url}/metrics`)).text();
      assertStringIncludes(
        metrics,
        `acmems_dns_persist_until_seconds{verification="persist",owner="_validation-persist.until.example.test"} ${until}`,
      );
      assertStringIncludes(
        metrics,
        `acmems_dns_persist_until_seconds{verification="persist",owner="_validation-persist.ok.example.test"} +Inf`,
      );
    });

    await t.step("no record → 421 with the record to publish, no challenge answered", async () => {
      const r = await sign(["none.example.test"]);
      assertEquals(r.status, 421, r.body);
      assertStringIncludes(r.body, "_validation-persist.none.example.test is missing");
      assertStringIncludes(
        r.body,
        `publish _validation-persist.none.example.test. IN TXT "${ISSUER}; accounturi=${account}"`,
      );
      assertEquals(await vaTasks("none.example.test"), 0, "pebble validated nothing");
    });

    await t.step("a record for another account → 421", async () => {
      const other = account.replace(/[^/]+$/, "999999");
      await publish("_validation-persist.other.example.test", `${ISSUER}; accounturi=${other}`);
      const r = await sign(["other.example.test"]);
      assertEquals(r.status, 421, r.body);
      assertStringIncludes(r.body, `names account ${other}, not ${account}`);
      assertEquals(await vaTasks("other.example.test"), 0);
    });

    await t.step("an ended persistUntil → 421", async () => {
      await publish("_validation-persist.ended.example.test", `${ISSUER}; accounturi=${account}; persistUntil=1`);
      const r = await sign(["ended.example.test"]);
      assertEquals(r.status, 421, r.body);
      assertStringIncludes(r.body, "persistUntil=1");
      assertEquals(await vaTasks("ended.example.test"), 0);
    });

    await t.step("a wildcard: refused without policy=wildcard, issued with it", async () => {
      await publish("_validation-persist.nopolicy.example.test", `${ISSUER}; accounturi=${account}`);
      const refused = await sign(["*.nopolicy.example.test"]);
      assertEquals(refused.status, 421, refused.body);
      assertStringIncludes(refused.body, "policy=wildcard");
      assertEquals(await vaTasks("nopolicy.example.test"), 0);
      await publish("_validation-persist.wild.example.test", `${ISSUER}; accounturi=${account}; policy=wildcard`);
      const issued = await sign(["*.wild.example.test", "wild.example.test"]);
      assertEquals(issued.status, 200, issued.body);
    });

    await t.step("acmems records output loaded into the zone makes the next /sign succeed", async () => {
      const first = await sign(["records.example.test"]);
      assertEquals(first.status, 421, first.body);
      const out = await captureStdout(() => recordsCommand.run([configFile, "records.example.test"]));
      assertEquals(out.code, 0, out.text);
      const lines = out.text.split("\n").filter((l) => l && !l.startsWith(";"));
      assertEquals(lines, [
        `_validation-persist.records.example.test. 3600 IN TXT "${ISSUER}; accounturi=${account}"`,
      ]);
      const before = await captureStdout(() => recordsCommand.run(["--check", configFile, "records.example.test"]));
      assertEquals(before.code, 1, before.text);
      assertStringIncludes(before.text, "missing: no TXT record");
      // The nsupdate format, unmodified (its comment line included), is what nsupdate reads.
      const script = await captureStdout(() =>
        recordsCommand.run(["--format", "nsupdate", configFile, "records.example.test"])
      );
      assertEquals(script.code, 0, script.text);
      assertEquals(script.text.trim().split("\n").slice(1), [`update add ${lines[0]}`, "send"]);
      const r = await named.nsupdate(script.text.trim().split("\n"));
      assertEquals(r.code, 0, r.output);
      const checked = await captureStdout(() => recordsCommand.run(["--check", configFile, "records.example.test"]));
      assertEquals(checked.code, 0, checked.text);
      assertStringIncludes(checked.text, "present");
      const second = await sign(["records.example.test"]);
      assertEquals(second.status, 200, second.body);
    });
  } finally {
    await cleanup.run();
  }
});

/** Runs `fn` with console.log captured. */
async function captureStdout(fn: () => Promise<number>): Promise<{ code: number; text: string }> {
  const original = console.log;
  const lines: string[] = [];
  console.log = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  try {
    return { code: await fn(), text: lines.join("\n") };
  } finally {
    console.log = original;
  }
}
