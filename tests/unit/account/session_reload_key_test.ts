/**
 * AccountSession.reloadKey (what SIGHUP runs) against the in-process stub CA: an unchanged account.pem costs no
 * request; a changed one is used only after the CA answered for the account with it; a key the CA refuses leaves the
 * old key in use; an unfinished rollover (account.pem.next) is reported, not touched.
 */
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import { json, startStubCa } from "../acme/_stub_ca.ts";
import { AcmeClient, exportPrivateKeyPem, generateKeyPair } from "../../../src/acme/mod.ts";
import { AccountSession } from "../../../src/account/session.ts";
import { saveAccountKey, saveNextKey } from "../../../src/account/store.ts";
import { loadConfig } from "../../../src/config/load.ts";
import { memoryLogger } from "../../../src/ops/log.ts";

Deno.test("session.reloadKey: unchanged key, refused key, accepted key, unfinished rollover", async () => {
  await using stub = await startStubCa({
    "GET /dir": (_req, s) =>
      json({ newNonce: `${s.origin}/nonce`, newAccount: `${s.origin}/new-acct`, newOrder: `${s.origin}/o` }),
    "POST /new-acct": (_req, s) => json({ status: "valid" }, 200, { location: `${s.origin}/acct/1` }),
    "POST /acct/1": () => json({ status: "valid", contact: [] }),
  });
  const dir = await Deno.makeTempDir({ prefix: "acmems-reload-key-" });
  const log = memoryLogger();
  let session: AccountSession | undefined;
  try {
    await Deno.writeTextFile(
      `${dir}/a.ini`,
      `[account]\nacme-server = ${stub.directoryUrl}\ndir = ${dir}/account\naccept-terms-of-service = yes\n` +
        '[auth "a"]\nip = 127.0.0.1\ndomain = *.example.test\n',
    );
    const config = (await loadConfig([`${dir}/a.ini`])).config!;
    const oldKey = await generateKeyPair("ec-p256", { extractable: true });
    await saveAccountKey(`${dir}/account`, oldKey);
    session = new AccountSession({ account: config.account, keyPair: oldKey, log });
    await session.start();
    assertEquals(session.state, "ready");

    const before = stub.requests.length;
    assertEquals(await session.reloadKey(), []);
    assertEquals(stub.requests.length, before, "an unchanged account.pem costs no request");

    // account.pem replaced (registration.json stays, as after a rollover); the stub CA checks every signature against
    // the key it has for the account, so it refuses the new key until it learns it.
    const newKey = await generateKeyPair("ec-p256", { extractable: true });
    await Deno.writeTextFile(`${dir}/account/account.pem`, await exportPrivateKeyPem(newKey.privateKey));
    const [refused] = await session.reloadKey();
    assertMatch(refused, /The new key in .*account\.pem does not work at the CA .*keeping the old key/);
    assert(session.client().accountKey === oldKey, "the old key stays in use");

    // The CA learns the new key for the account (the stub: a newAccount with it, as a key change would do).
    {
      using client = new AcmeClient({ directoryUrl: stub.directoryUrl, accountKey: newKey });
      await client.findAccount();
    }
    assertEquals(await session.reloadKey(), []);
    assert(session.client().accountKey !== oldKey, "the new key is in use");
    assertEquals(session.client().accountUrl, `${stub.origin}/acct/1`);
    assert(log.lines.some((l) => l.includes("account key reloaded")), log.lines.join("\n"));

    await saveNextKey(`${dir}/account`, await generateKeyPair("ec-p256", { extractable: true }));
    const [note] = await session.reloadKey();
    assertMatch(note, /account\.pem\.next exists: a key rollover is unfinished/);
    assert(await Deno.lstat(`${dir}/account/account.pem.next`).then(() => true), "left for acmems register");
  } finally {
    session?.close();
    await Deno.remove(dir, { recursive: true });
  }
});
