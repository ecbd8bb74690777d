/**
 * Attack: reading secrets off the disk as another local user (landscape §D2.7: a stolen account key issues without
 * fresh validation). The account key, the registration, every cache file (entry, lock, last-fetch mark, shared
 * challenge) and the dns-01 journal are created mode 0600 in directories acmems creates 0700, whatever the umask;
 * replacing a file that an older version left world-readable leaves it 0600.
 *
 * Run under umask 0, so a mode that is only right thanks to the usual 022 umask fails here.
 */
import { assertEquals } from "../support/assert.ts";
import { generateKeyPair } from "../../src/acme/mod.ts";
import { saveAccountKey, saveRegistration } from "../../src/account/store.ts";
import { DnsJournal } from "../../src/challenges/dns01/journal.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { FileStorage } from "../../src/storage/file.ts";
import { type Entry, isHeld } from "../../src/storage/mod.ts";
import { testEntry } from "../support/entry.ts";

async function mode(path: string): Promise<string> {
  return ((await Deno.stat(path)).mode! & 0o777).toString(8).padStart(4, "0");
}

async function underUmask0<T>(fn: () => Promise<T>): Promise<T> {
  const previous = Deno.umask(0);
  try {
    return await fn();
  } finally {
    Deno.umask(previous);
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-attack-modes-" });
  try {
    await underUmask0(() => fn(dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function entry(key: string): Entry {
  return testEntry("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n", key);
}

Deno.test("attack: the account key and registration are 0600 in a 0700 directory, whatever the umask", async () => {
  await withDir(async (dir) => {
    const account = `${dir}/account`;
    await saveAccountKey(account, await generateKeyPair("ec-p256", { extractable: true }));
    await saveRegistration(
      account,
      {
        url: "https://ca.test/acct/1",
        directoryUrl: "https://ca.test/dir",
        account: { status: "valid" },
        updatedAt: new Date().toISOString(),
      } as Parameters<typeof saveRegistration>[1],
    );
    assertEquals(await mode(account), "0700", "account dir");
    assertEquals(await mode(`${account}/account.pem`), "0600", "account.pem");
    assertEquals(await mode(`${account}/registration.json`), "0600", "registration.json");
    // Replacing a key that an old installation left world-readable.
    await Deno.chmod(`${account}/account.pem`, 0o644);
    await saveAccountKey(account, await generateKeyPair("ec-p256", { extractable: true }), { force: true });
    assertEquals(await mode(`${account}/account.pem`), "0600", "account.pem after --force");
  });
});

Deno.test("attack: cache entries, locks, last-fetch marks and shared challenges are 0600, directories 0700", async () => {
  await withDir(async (dir) => {
    const storage = new FileStorage({
      name: "cache",
      directory: `${dir}/cache`,
      renewWithinDays: 14,
      renewActiveDays: 30,
      log: silentLogger,
    });
    const key = "ab".repeat(32);
    try {
      await storage.init();
      const claim = await storage.claim(key, "test", 60_000);
      if (isHeld(claim)) throw new Error("claim held");
      await storage.put(claim, entry(key));
      await storage.release(claim);
      await storage.touch(key, new Date());
      await storage.putChallenge({
        token: "tok_-1",
        keyAuthorization: "tok_-1.thumb",
        host: "www.example.test",
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      });
      assertEquals(await mode(`${dir}/cache`), "0700", "cache dir");
      assertEquals(await mode(`${dir}/cache/challenges`), "0700", "challenges dir");
      assertEquals(await mode(`${dir}/cache/${key}.json`), "0600", "entry");
      assertEquals(await mode(`${dir}/cache/${key}.lock`), "0600", "lock");
      assertEquals(await mode(`${dir}/cache/${key}.seen`), "0600", "last-fetch mark");
      assertEquals(await mode(`${dir}/cache/challenges/tok_-1.json`), "0600", "challenge");
      // An entry an older version left world-readable is replaced by a 0600 one.
      await Deno.chmod(`${dir}/cache/${key}.json`, 0o644);
      const again = await storage.claim(key, "test", 60_000);
      if (isHeld(again)) throw new Error("claim held");
      await storage.put(again, entry(key));
      await storage.release(again);
      assertEquals(await mode(`${dir}/cache/${key}.json`), "0600", "entry after rewrite");
    } finally {
      await storage.close();
    }
  });
});

Deno.test("attack: the dns-01 journal is 0600 in a 0700 directory", async () => {
  await withDir(async (dir) => {
    const journal = DnsJournal.inDirectory(`${dir}/account`);
    const added = await journal.add({
      verification: "dns",
      name: "_acme-challenge.www.example.test",
      value: "digest",
      zone: "example.test",
      addedAt: new Date().toISOString(),
    });
    assertEquals(await mode(`${dir}/account`), "0700", "journal dir");
    assertEquals(await mode(journal.path), "0600", "journal");
    await Deno.chmod(journal.path, 0o644);
    await journal.strike(added.id);
    assertEquals(await mode(journal.path), "0600", "journal after rewrite");
  });
});
