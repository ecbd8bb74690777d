/**
 * src/account/rollover.ts with fakes for the CA: account.pem.next is written before the key change and renamed over
 * account.pem only after it was accepted; a refusal removes it; a lost answer is settled by the lookup, and when the
 * CA cannot be asked both keys stay (never a guess).
 */
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import { exportPrivateKeyPem, generateKeyPair } from "../../../src/acme/mod.ts";
import { AcmeProblem } from "../../../src/acme/mod.ts";
import { type AccountLookup, recoverRollover, rolloverKey } from "../../../src/account/rollover.ts";
import { loadAccountKey, loadNextKey, saveAccountKey, saveNextKey } from "../../../src/account/store.ts";

const URL_ = "https://ca.test/acct/1";

async function withDir(fn: (dir: string, oldPem: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "acmems-rollover-" });
  try {
    const old = await generateKeyPair("ec-p256", { extractable: true });
    await saveAccountKey(`${dir}/account`, old);
    await fn(`${dir}/account`, await Deno.readTextFile(`${dir}/account/account.pem`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const pem = async (k: CryptoKeyPair) => await exportPrivateKeyPem(k.privateKey);

Deno.test("rolloverKey: the new key is on disk as account.pem.next while the CA is asked, then account.pem", async () => {
  await withDir(async (dir) => {
    const newKey = await generateKeyPair("ec-p256", { extractable: true });
    let nextDuringCall = "";
    const client = {
      accountUrl: URL_,
      changeAccountKey: async () => {
        nextDuringCall = await Deno.readTextFile(`${dir}/account.pem.next`);
      },
    };
    const outcome = await rolloverKey(client, dir, newKey, () => Promise.reject(new Error("not asked")));
    assertEquals(outcome, { kind: "rolled", url: URL_ });
    assertEquals(nextDuringCall, await pem(newKey));
    assertEquals(await Deno.readTextFile(`${dir}/account.pem`), await pem(newKey));
    assertEquals(await loadNextKey(dir), null);
    assertEquals((await Deno.stat(`${dir}/account.pem`)).mode! & 0o777, 0o600);
  });
});

Deno.test("rolloverKey: a refusal the lookup confirms removes account.pem.next; account.pem stays", async () => {
  await withDir(async (dir, oldPem) => {
    const refusal = new AcmeProblem({ type: "urn:ietf:params:acme:error:malformed", status: 400 });
    const client = { accountUrl: URL_, changeAccountKey: () => Promise.reject(refusal) };
    const outcome = await rolloverKey(client, dir, await generateKeyPair("ec-p256"), () => Promise.resolve(null));
    assertEquals(outcome, { kind: "refused", error: refusal });
    assertEquals(await Deno.readTextFile(`${dir}/account.pem`), oldPem);
    assertEquals(await loadNextKey(dir), null);
  });
});

Deno.test("rolloverKey: an answer lost after the CA accepted is settled by the lookup with the new key", async () => {
  await withDir(async (dir) => {
    const newKey = await generateKeyPair("ec-p256", { extractable: true });
    const client = { accountUrl: URL_, changeAccountKey: () => Promise.reject(new TypeError("connection reset")) };
    const outcome = await rolloverKey(client, dir, newKey, () => Promise.resolve(URL_));
    assertEquals(outcome, { kind: "rolled", url: URL_ });
    assertEquals(await Deno.readTextFile(`${dir}/account.pem`), await pem(newKey));
  });
});

Deno.test("rolloverKey: when the CA cannot be asked, both keys stay for the next run", async () => {
  await withDir(async (dir, oldPem) => {
    const newKey = await generateKeyPair("ec-p256", { extractable: true });
    const lost = new TypeError("connection reset");
    const client = { accountUrl: URL_, changeAccountKey: () => Promise.reject(lost) };
    const down = new TypeError("connection refused");
    const outcome = await rolloverKey(client, dir, newKey, () => Promise.reject(down));
    assertEquals(outcome, { kind: "pending", error: lost, lookupError: down });
    assertEquals(await Deno.readTextFile(`${dir}/account.pem`), oldPem);
    assertEquals(await Deno.readTextFile(`${dir}/account.pem.next`), await pem(newKey));
  });
});

Deno.test("recoverRollover: none, finished (the CA knows the new key), discarded (accountDoesNotExist)", async () => {
  await withDir(async (dir, oldPem) => {
    const asked: string[] = [];
    const lookup = (answer: string | null): AccountLookup => async (key) => {
      asked.push(await pem(key));
      return answer;
    };
    assertEquals(await recoverRollover(dir, lookup(URL_)), { kind: "none" });
    assertEquals(asked, [], "no lookup without account.pem.next");

    const newKey = await generateKeyPair("ec-p256", { extractable: true });
    await saveNextKey(dir, newKey);
    assertEquals(await recoverRollover(dir, lookup(null)), { kind: "discarded" });
    assertEquals(asked, [await pem(newKey)], "the lookup is signed by the new key");
    assertEquals(await Deno.readTextFile(`${dir}/account.pem`), oldPem);
    assertEquals(await loadNextKey(dir), null);

    await saveNextKey(dir, newKey);
    const finished = await recoverRollover(dir, lookup(URL_));
    assertEquals(finished.kind, "finished");
    assertEquals(await pem((await loadAccountKey(dir))!.keyPair), await pem(newKey));
    assertEquals(await loadNextKey(dir), null);
  });
});

Deno.test("recoverRollover: a lookup that fails leaves both files and throws", async () => {
  await withDir(async (dir, oldPem) => {
    await saveNextKey(dir, await generateKeyPair("ec-p256", { extractable: true }));
    await assertRejects(() => recoverRollover(dir, () => Promise.reject(new Error("CA down"))), /CA down/);
    assertEquals(await Deno.readTextFile(`${dir}/account.pem`), oldPem);
    assert(await loadNextKey(dir) !== null);
  });
});
