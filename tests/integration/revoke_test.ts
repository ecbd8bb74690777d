/**
 * `POST /revoke` against the real pebble 2.10 (resolving through bind9, http-01 answered by acmems' own listener on
 * pebble's `httpPort`); acmems in-process with a file cache, talked to over real HTTP. Pebble's management port
 * `/cert-status-by-serial/<serial>` says whether a certificate is revoked and with which reason.
 *
 * Blocks: `keyed` (127.0.0.1 with an HMAC key) may ask for `*.keyed.example.test`; `open` (127.0.0.1, no HMAC) for
 * `*.open.example.test`. One pebble and one app serve every step.
 */
import * as x509 from "@peculiar/x509";
import { generateKeyPair } from "../../src/acme/mod.ts";
import { assert, assertEquals, assertNotEquals, assertStringIncludes } from "../support/assert.ts";
import { ipAuth, testConfig } from "../support/config.ts";
import { makeCsr, type TestCsr } from "../support/csr.ts";
import { freePort } from "../support/ports.ts";
import { run } from "../support/process.ts";
import { startApp, startStack } from "../support/stack.ts";

const HMAC_KEY = "revoke-test-hmac-key-0123456789";
const SCRIPT = new URL("../../clients/acmems-client.sh", import.meta.url).pathname;

/** RFC 5280 reason codes pebble reports. */
const REASON_CODE = { unspecified: 0, keyCompromise: 1, superseded: 4 } as const;

Deno.test("POST /revoke through a real pebble", async (t) => {
  const stack = await startStack({ prefix: "acmems-revoke-" });
  try {
    const work = stack.work;
    const app = await startApp({
      configFile: `${work}/acmems.ini`,
      config: testConfig({
        comment: "tests/integration/revoke_test.ts",
        ca: stack.pebble,
        accountDir: `${work}/account`,
        mgmtPort: await freePort(),
        httpPort: stack.pebble.httpPort,
        storages: { cache: { type: "file", directory: `${work}/cache` } },
        auth: {
          keyed: ipAuth("*.keyed.example.test", "127.0.0.1", { hmac_type: "sha256", hmac_key: HMAC_KEY }),
          open: ipAuth("*.open.example.test"),
        },
      }),
      keyPair: await generateKeyPair("ec-p256"),
      caCerts: [stack.pebble.caPem],
    });
    stack.cleanup.add(() => app.stop());

    const post = async (path: string, body: string, hmac: boolean): Promise<{ status: number; body: string }> => {
      const headers: Record<string, string> = {};
      if (hmac) headers["Authentication"] = `hmac name=sha256, hash=${await hmacHex(body)}`;
      const res = await fetch(`${app.url}${path}`, { method: "POST", body, headers });
      return { status: res.status, body: await res.text() };
    };
    const sign = (csr: TestCsr, hmac = false) => post("/sign", csr.csrPem, hmac);
    /** The certificate followed by a fresh CSR made by openssl with `keyFile` (what a host does). */
    const revokeBody = async (certPem: string, keyFile: string, name: string) =>
      `${certPem.trim()}\n${await opensslCsr(work, keyFile, name)}`;
    const status = async (cert: x509.X509Certificate) => {
      const serial = cert.serialNumber.toLowerCase().replace(/^0+/, "");
      const r = await run("curl", [
        "-sS",
        "--cacert",
        stack.pebble.caFile,
        `${stack.pebble.managementUrl}/cert-status-by-serial/${serial}`,
      ]);
      return JSON.parse(r.stdout) as { Status: string; Reason?: number };
    };

    let revokedBody = "";
    await t.step(
      "revoke with the right key: pebble reports it revoked with that reason; the next /sign gets a new certificate",
      async () => {
        const name = "www.keyed.example.test";
        const csr = await makeCsr({ dir: work, names: [name] });
        const first = await sign(csr, true);
        assertEquals(first.status, 200, first.body);
        const leaf = leafOf(first.body);
        assertEquals((await status(leaf)).Status, "Valid");
        const cached = await sign(csr, true);
        assertEquals(leafOf(cached.body).serialNumber, leaf.serialNumber, "a hit before the revocation");

        const body = await revokeBody(leafPem(first.body), csr.keyFile, name);
        const answer = await post("/revoke?reason=superseded", body, true);
        assertEquals(answer.status, 200, answer.body);
        assertStringIncludes(answer.body, "with reason superseded");
        assertStringIncludes(answer.body, "1 cached entry removed");
        const after = await status(leaf);
        assertEquals(after.Status, "Revoked");
        assertEquals(after.Reason, REASON_CODE.superseded);

        const next = await sign(csr, true);
        assertEquals(next.status, 200, next.body);
        assertNotEquals(leafOf(next.body).serialNumber, leaf.serialNumber, "a new certificate after the revocation");

        revokedBody = body;
        assert(
          app.events().some((e) => e.outcome === "revoked (superseded)" && e.status === 200),
          "an audit record for the revocation",
        );
      },
    );

    await t.step("a second revoke of the same certificate: 409", async () => {
      const again = await post("/revoke", revokedBody, true);
      assertEquals(again.status, 409, again.body);
      assertStringIncludes(again.body, "is revoked already");
    });

    await t.step("keyCompromise: revoked with reason 1, and /sign refuses that key with 403 from then on", async () => {
      const name = "leak.open.example.test";
      const csr = await makeCsr({ dir: work, names: [name] });
      const first = await sign(csr);
      assertEquals(first.status, 200, first.body);
      const leaf = leafOf(first.body);
      const answer = await post(
        "/revoke?reason=keyCompromise",
        // The whole chain as served (`cat host.pem revoke.csr`): the first certificate is the one revoked.
        await revokeBody(first.body, csr.keyFile, name),
        false,
      );
      assertEquals(answer.status, 200, answer.body);
      const after = await status(leaf);
      assertEquals(after.Status, "Revoked");
      assertEquals(after.Reason, REASON_CODE.keyCompromise);

      const refused = await sign(csr);
      assertEquals(refused.status, 403, refused.body);
      assertStringIncludes(refused.body, "was revoked for keyCompromise");
      // Another CSR with the same key is refused too; the key is in the file cache for the next start.
      const other = await opensslCsr(work, csr.keyFile, "other.open.example.test");
      const otherAnswer = await post("/sign", other, false);
      assertEquals(otherAnswer.status, 403, otherAnswer.body);
      const recorded = JSON.parse(await Deno.readTextFile(`${work}/cache/compromised-keys.json`));
      assertEquals(recorded.length, 1);
    });

    await t.step("a CSR signed by another key: 403 and nothing revoked", async () => {
      const name = "wrongkey.open.example.test";
      const csr = await makeCsr({ dir: work, names: [name] });
      const first = await sign(csr);
      assertEquals(first.status, 200, first.body);
      const stranger = await makeCsr({ dir: work, names: [name] });
      const answer = await post("/revoke", await revokeBody(leafPem(first.body), stranger.keyFile, name), false);
      assertEquals(answer.status, 403, answer.body);
      assertStringIncludes(answer.body, "signed by another key than the certificate's");
      assertEquals((await status(leafOf(first.body))).Status, "Valid");
    });

    await t.step("names outside the client's block (no HMAC for a keyed name): 403 and nothing revoked", async () => {
      const name = "outside.keyed.example.test";
      const csr = await makeCsr({ dir: work, names: [name] });
      const first = await sign(csr, true);
      assertEquals(first.status, 200, first.body);
      const answer = await post("/revoke", await revokeBody(leafPem(first.body), csr.keyFile, name), false);
      assertEquals(answer.status, 403, answer.body);
      assertEquals((await status(leafOf(first.body))).Status, "Valid");
    });

    await t.step("a body that is not a certificate and a CSR: 400; an unknown reason: 400", async () => {
      const csr = await makeCsr({ dir: work, names: ["bad.open.example.test"] });
      const onlyCsr = await post("/revoke", csr.csrPem, false);
      assertEquals(onlyCsr.status, 400, onlyCsr.body);
      assertStringIncludes(onlyCsr.body, "one PEM certificate (its chain may follow) and then one PEM CSR");
      const reason = await post("/revoke?reason=stolen", csr.csrPem, false);
      assertEquals(reason.status, 400, reason.body);
      assertStringIncludes(reason.body, 'Unknown revocation reason "stolen"');
    });

    await t.step(
      "the client kit: --revoke --reason keyCompromise, then the key is refused until it is replaced",
      async () => {
        const name = "kit.keyed.example.test";
        const keyFile = `${work}/kit.key`;
        const certFile = `${work}/kit.pem`;
        const kit = (...args: string[]) =>
          run(SCRIPT, ["--server", app.url, "--key", keyFile, "--cert", certFile, ...args, name], {
            env: { ACMEMS_HMAC_KEY: HMAC_KEY },
          });
        const show = (r: { code: number; stdout: string; stderr: string }) => `exit ${r.code}\n${r.stdout}${r.stderr}`;
        const got = await kit();
        assertEquals(got.code, 0, show(got));
        const leaf = leafOf(await Deno.readTextFile(certFile));

        const bad = await kit("--revoke", "--reason", "stolen");
        assertEquals(bad.code, 1, show(bad));
        assertStringIncludes(bad.stderr, "--reason must be unspecified, keyCompromise");
        const revoked = await kit("--revoke", "--reason", "keyCompromise");
        assertEquals(revoked.code, 0, show(revoked));
        assertStringIncludes(revoked.stdout, "with reason keyCompromise");
        const after = await status(leaf);
        assertEquals(after.Status, "Revoked");
        assertEquals(after.Reason, REASON_CODE.keyCompromise);

        const refused = await kit();
        assertEquals(refused.code, 2, show(refused));
        assertStringIncludes(refused.stderr, "answered 403");
        const again = await kit("--revoke");
        assertEquals(again.code, 2, show(again));
        assertStringIncludes(again.stderr, "answered 409");

        await Deno.remove(keyFile);
        const fresh = await kit();
        assertEquals(fresh.code, 0, show(fresh));
        assertNotEquals(leafOf(await Deno.readTextFile(certFile)).serialNumber, leaf.serialNumber);
      },
    );
  } finally {
    await stack.cleanup.run();
  }
});

function leafPem(chain: string): string {
  return chain.split("\n\n")[0].trim() + "\n";
}

function leafOf(chain: string): x509.X509Certificate {
  return new x509.X509Certificate(leafPem(chain));
}

async function hmacHex(body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(HMAC_KEY),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body)));
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `openssl req -new -key KEY` for `name`: the fresh CSR a host makes for /revoke. */
async function opensslCsr(dir: string, keyFile: string, name: string): Promise<string> {
  const out = `${dir}/revoke-${crypto.randomUUID()}.csr`;
  const r = await run("openssl", [
    "req",
    "-new",
    "-key",
    keyFile,
    "-subj",
    `/CN=${name}`,
    "-addext",
    `subjectAltName=DNS:${name}`,
    "-out",
    out,
    "-batch",
  ]);
  assertEquals(r.code, 0, r.stderr);
  return await Deno.readTextFile(out);
}
