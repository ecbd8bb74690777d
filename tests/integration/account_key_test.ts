/**
 * The account key's life against pebble 2.10 (one bind9 + pebble for the file): `acmems register --rollover-key`
 * (the old key is refused, the new one finds the same account), the crash window between the CA's key change and
 * the rename (recovered by the next register and by serve), `--deactivate` (refused without --yes), a running
 * `acmems serve` that picks the new key up on SIGHUP, and `acmems revoke --cert` (pebble's management
 * `/cert-status-by-serial/` shows the reason; the cache entry is gone).
 */
import { X509Certificate } from "@peculiar/x509";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { makeCsr } from "../support/csr.ts";
import { fileStorage, testConfig, writeConfig } from "../support/config.ts";
import { postSign } from "../support/http.ts";
import type { Pebble } from "../support/pebble.ts";
import { freePort } from "../support/ports.ts";
import { startAcmems } from "../support/acmems.ts";
import { startApp, startStack } from "../support/stack.ts";
import { waitForLog } from "../support/wait.ts";
import { type Output, parseRegisterArgs, runRegister } from "../../cli/register.ts";
import { parseRevokeArgs, runRevoke } from "../../cli/revoke.ts";
import { AcmeClient, generateKeyPair, importPrivateKeyPem, isProblem } from "../../src/acme/mod.ts";
import { saveNextKey } from "../../src/account/store.ts";

function capture(): Output & { all(): string } {
  const lines: string[] = [];
  return { info: (l) => lines.push(l), error: (l) => lines.push(l), all: () => lines.join("\n") };
}

async function register(args: string[]): Promise<{ code: number; text: string }> {
  const out = capture();
  const code = await runRegister(parseRegisterArgs(args), out);
  return { code, text: out.all() };
}

async function revoke(args: string[]): Promise<{ code: number; text: string }> {
  const out = capture();
  const code = await runRevoke(parseRevokeArgs(args), out);
  return { code, text: out.all() };
}

/** The account URL pebble has for `key` (onlyReturnExisting), or the problem type it answered with. */
async function lookup(pebble: Pebble, key: CryptoKeyPair): Promise<string> {
  using client = new AcmeClient({ directoryUrl: pebble.directoryUrl, accountKey: key, caCerts: [pebble.caPem] });
  try {
    return (await client.findAccount()).url;
  } catch (error) {
    if (isProblem(error)) return error.type.replace("urn:ietf:params:acme:error:", "problem:");
    throw error;
  }
}

async function keyOf(file: string): Promise<CryptoKeyPair> {
  return await importPrivateKeyPem(await Deno.readTextFile(file), { extractable: true });
}

/** pebble's management view of a certificate: Status ("Valid", "Revoked") and Reason. */
async function certStatus(pebble: Pebble, pem: string): Promise<{ Status: string; Reason?: number }> {
  const serial = new X509Certificate(pem).serialNumber;
  const client = Deno.createHttpClient({ caCerts: [pebble.caPem] });
  try {
    const response = await fetch(`${pebble.managementUrl}/cert-status-by-serial/${serial}`, { client });
    assertEquals(response.status, 200, `cert-status-by-serial/${serial}`);
    return await response.json();
  } finally {
    client.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

Deno.test("account key: rollover, crash recovery, deactivate, SIGHUP, revoke against pebble", async (t) => {
  const { work, pebble, cleanup } = await startStack({ prefix: "acmems-account-key-" });
  try {
    /** A config dir with its own account (terms accepted, a file cache); returns the config file. */
    const setup = async (name: string, mgmtPort = 0) => {
      const dir = `${work}/${name}`;
      await Deno.mkdir(dir, { recursive: true });
      const config = await writeConfig(
        `${dir}/acmems.ini`,
        testConfig({
          ca: pebble,
          mgmtPort: mgmtPort || await freePort(),
          httpPort: pebble.httpPort,
          storages: { cache: fileStorage(`${dir}/cache`) },
        }),
      );
      return { dir, config, accountPem: `${dir}/account/account.pem`, next: `${dir}/account/account.pem.next` };
    };

    await t.step("--rollover-key: pebble refuses the old key, the new one finds the same account", async () => {
      const { config, accountPem, next } = await setup("rollover");
      const created = await register(["--gen-key", "--register", config]);
      assertEquals(created.code, 0, created.text);
      const oldKey = await keyOf(accountPem);
      const url = await lookup(pebble, oldKey);
      assertMatch(url, /\/my-account\//);

      const rolled = await register(["--rollover-key", "--key-type", "rsa", config]);
      assertEquals(rolled.code, 0, rolled.text);
      assertStringIncludes(rolled.text, `Rolled the account key over: ${url} now signs with a new RSA 2048 key`);
      assertStringIncludes(rolled.text, "SIGHUP");
      assert(!await exists(next), "account.pem.next is gone");
      assertEquals((await Deno.stat(accountPem)).mode! & 0o777, 0o600);
      const newKey = await keyOf(accountPem);
      assertEquals(await lookup(pebble, newKey), url);
      assertEquals(await lookup(pebble, oldKey), "problem:accountDoesNotExist");
      // The account is shown with the new key (registration.json still names it).
      const shown = await register([config]);
      assertEquals(shown.code, 0, shown.text);
      assertStringIncludes(shown.text, `Account:  ${url}`);
    });

    await t.step("crash after the CA accepted, before the rename: the next register finishes it", async () => {
      const { dir, config, accountPem, next } = await setup("crash");
      assertEquals((await register(["--gen-key", "--register", config])).code, 0);
      const oldKey = await keyOf(accountPem);
      const url = await lookup(pebble, oldKey);
      // What rolloverKey does up to the rename: account.pem.next written, the CA's key change accepted; then "dies".
      const newKey = await generateKeyPair("ec-p256", { extractable: true });
      await saveNextKey(`${dir}/account`, newKey);
      {
        using client = new AcmeClient({
          directoryUrl: pebble.directoryUrl,
          accountKey: oldKey,
          accountUrl: url,
          caCerts: [pebble.caPem],
        });
        await client.changeAccountKey(newKey);
      }
      const nextPem = await Deno.readTextFile(next);
      const shown = await register([config]);
      assertEquals(shown.code, 0, shown.text);
      assertStringIncludes(shown.text, "Finished an interrupted key rollover");
      assertEquals(await Deno.readTextFile(accountPem), nextPem);
      assert(!await exists(next), "account.pem.next is gone");
      assertEquals(await lookup(pebble, await keyOf(accountPem)), url);

      // A new key the CA never got (the crash came before the request): discarded, account.pem stays.
      await saveNextKey(`${dir}/account`, await generateKeyPair("ec-p256", { extractable: true }));
      const before = await Deno.readTextFile(accountPem);
      const again = await register([config]);
      assertEquals(again.code, 0, again.text);
      assertStringIncludes(again.text, "Discarded");
      assertEquals(await Deno.readTextFile(accountPem), before);
      assert(!await exists(next), "account.pem.next is gone");
    });

    await t.step("crash after the CA accepted: serve recovers it at start and signs with the new key", async () => {
      const { dir, config, accountPem, next } = await setup("crash-serve");
      assertEquals((await register(["--gen-key", "--register", config])).code, 0);
      const oldKey = await keyOf(accountPem);
      const url = await lookup(pebble, oldKey);
      const newKey = await generateKeyPair("ec-p256", { extractable: true });
      await saveNextKey(`${dir}/account`, newKey);
      {
        using client = new AcmeClient({
          directoryUrl: pebble.directoryUrl,
          accountKey: oldKey,
          accountUrl: url,
          caCerts: [pebble.caPem],
        });
        await client.changeAccountKey(newKey);
      }
      // serve loads account.pem (the old key) and hands it to the App, as cli/serve.ts does.
      const app = await startApp({ configFile: config, keyPair: oldKey, caCerts: [pebble.caPem] });
      try {
        assert(!await exists(next), "account.pem.next is gone");
        assertEquals(await lookup(pebble, await keyOf(accountPem)), url);
        assert(app.events().some((e) => e.event === "account key rollover finished"), app.lines().join("\n"));
        const csr = await makeCsr({ names: ["crash-serve.example.test"], dir: `${dir}/csr` });
        const signed = await postSign(app.url, csr.csrPem);
        assertEquals(signed.status, 200, signed.body);
      } finally {
        await app.stop();
      }
    });

    await t.step("--deactivate refuses without --yes; with it pebble refuses the key afterwards", async () => {
      const { config, accountPem } = await setup("deactivate");
      assertEquals((await register(["--gen-key", "--register", config])).code, 0);
      const key = await keyOf(accountPem);
      const url = await lookup(pebble, key);
      const refused = await register(["--deactivate", config]);
      assertEquals(refused.code, 1, refused.text);
      assertStringIncludes(refused.text, `Not deactivating: --deactivate ends the account ${url}`);
      assertStringIncludes(refused.text, "acmems register --deactivate --yes");
      assertEquals(await lookup(pebble, key), url);

      const done = await register(["--deactivate", "--yes", config]);
      assertEquals(done.code, 0, done.text);
      assertStringIncludes(done.text, `Deactivated the account ${url} (status deactivated)`);
      assertEquals(await lookup(pebble, key), "problem:unauthorized");
    });

    await t.step("a running serve picks the rolled-over key up on SIGHUP; acmems revoke --cert", async () => {
      const mgmtPort = await freePort();
      const { dir, config, accountPem } = await setup("sighup", mgmtPort);
      assertEquals((await register(["--gen-key", "--register", config])).code, 0);
      const url = await lookup(pebble, await keyOf(accountPem));
      const acmems = await startAcmems({ configFile: config, dir, name: "sighup" });
      try {
        const csr = (name: string) => makeCsr({ names: [name], dir: `${dir}/csr` });
        const first = await postSign(acmems.mgmtUrl, (await csr("before.example.test")).csrPem);
        assertEquals(first.status, 200, first.body);

        const rolled = await register(["--rollover-key", config]);
        assertEquals(rolled.code, 0, rolled.text);
        Deno.kill(acmems.pid, "SIGHUP");
        await waitForLog(acmems.logFile, /account key reloaded/);
        const after = await postSign(acmems.mgmtUrl, (await csr("after.example.test")).csrPem);
        assertEquals(after.status, 200, after.body);
        assertEquals(await lookup(pebble, await keyOf(accountPem)), url);

        // Without SIGHUP: another rollover, and the next order's first request signed with the old key is refused by
        // pebble; serve reads account.pem again, switches to the new key and the order goes through (no downtime).
        const rolledAgain = await register(["--rollover-key", config]);
        assertEquals(rolledAgain.code, 0, rolledAgain.text);
        const between = await postSign(acmems.mgmtUrl, (await csr("between.example.test")).csrPem);
        assertEquals(between.status, 200, between.body);
        await waitForLog(acmems.logFile, /account key reloaded/, { count: 2 });
        assertEquals(await lookup(pebble, await keyOf(accountPem)), url);

        // acmems revoke with the (new) account key: pebble shows the reason; the cache entry is gone, so the
        // next /sign for that CSR is a miss with a new certificate.
        const revokedCsr = await csr("revoked.example.test");
        const issued = await postSign(acmems.mgmtUrl, revokedCsr.csrPem);
        assertEquals(issued.status, 200, issued.body);
        const certFile = `${dir}/revoked.pem`;
        await Deno.writeTextFile(certFile, issued.body);
        assertEquals((await certStatus(pebble, issued.body)).Status, "Valid");
        // The operator finds it in the cache: the file storage's entry (<key>.json) names it.
        let entryFile = "";
        for await (const file of Deno.readDir(`${dir}/cache`)) {
          if (!file.name.endsWith(".json")) continue;
          const entry = JSON.parse(await Deno.readTextFile(`${dir}/cache/${file.name}`));
          if (entry.names.includes("revoked.example.test")) entryFile = `${dir}/cache/${file.name}`;
        }
        assert(entryFile !== "", "the cache has an entry for revoked.example.test");
        const done = await revoke(["--cert", entryFile, "--reason", "keyCompromise", config]);
        assertEquals(done.code, 0, done.text);
        assertStringIncludes(done.text, "Revoked the certificate");
        assertStringIncludes(done.text, 'Removed the cache entry for revoked.example.test from storage "cache"');
        assert(!await exists(entryFile), "the cache entry is gone");
        assertStringIncludes(done.text, 'as compromised in storage "cache"');
        const status = await certStatus(pebble, issued.body);
        assertEquals([status.Status, status.Reason], ["Revoked", 1]);
        // keyCompromise: the key is recorded in the storage; the running serve reads it at its next renewal sweep or
        // SIGHUP, and from then on refuses the key with 403, as after POST /revoke.
        Deno.kill(acmems.pid, "SIGHUP");
        await waitForLog(acmems.logFile, /compromised keys loaded added=1/);
        const again = await postSign(acmems.mgmtUrl, revokedCsr.csrPem);
        assertEquals(again.status, 403, again.body);
        assertStringIncludes(again.body, "was revoked for keyCompromise");
        // Another key for the same name gets a new certificate (the revoked one's cache entry is gone).
        const fresh = await postSign(acmems.mgmtUrl, (await csr("revoked.example.test")).csrPem);
        assertEquals(fresh.status, 200, fresh.body);
        assertEquals(fresh.headers.get("x-acmems-cache"), "miss");
        assert(new X509Certificate(fresh.body).serialNumber !== new X509Certificate(issued.body).serialNumber);

        const twice = await revoke(["--cert", certFile, config]);
        assertEquals(twice.code, 3, twice.text);
        assertStringIncludes(twice.text, "already revoked");
      } finally {
        await acmems.stop();
      }
    });
  } finally {
    await cleanup.run();
  }
});
