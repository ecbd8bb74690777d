/** The storage contract on `file` (`none`: none_test.ts). */
import { assert, assertEquals, assertMatch, assertRejects } from "../../support/assert.ts";
import { FileStorage, STAT_REUSE_BUSY_PEEKS, STAT_REUSE_MS } from "../../../src/storage/file.ts";
import { cacheKey, type Claim, type Entry, isHeld } from "../../../src/storage/mod.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { testEntry } from "../../support/entry.ts";

const KEY = "a".repeat(64);

function entry(chain: string, key = KEY): Entry {
  return testEntry(chain, key);
}

async function withStorage(
  fn: (storage: FileStorage, dir: string, log: ReturnType<typeof memoryLogger>) => Promise<void>,
  beforeRename?: (temp: string) => void,
) {
  const dir = await Deno.makeTempDir({ prefix: "acmems-storage-" });
  const log = memoryLogger();
  const storage = new FileStorage({
    name: "file",
    directory: `${dir}/cache`,
    renewWithinDays: 14,
    renewActiveDays: 30,
    log,
    beforeRename,
    pollMs: 20,
  });
  try {
    await storage.init();
    await fn(storage, `${dir}/cache`, log);
  } finally {
    await storage.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function claimOf(storage: FileStorage, key = KEY): Promise<Claim> {
  const claim = await storage.claim(key, "test", 60_000);
  assert(!isHeld(claim), "expected to get the claim");
  return claim;
}

Deno.test("file storage: missing entry is null; put/get round trip; mode 0600; keys()", async () => {
  await withStorage(async (storage, dir) => {
    assertEquals(await storage.get(KEY), null);
    const claim = await claimOf(storage);
    assert(await storage.put(claim, entry("chain-1")));
    await storage.release(claim);
    assertEquals((await storage.get(KEY))?.chain, "chain-1");
    assertEquals((await Deno.stat(`${dir}/${KEY}.json`)).mode! & 0o777, 0o600);
    assertEquals(await storage.keys(), [KEY]);
  });
});

Deno.test("file storage: a second claim is held; fences increase; a stale claim cannot write", async () => {
  await withStorage(async (storage) => {
    const first = await claimOf(storage);
    const second = await storage.claim(KEY, "other", 60_000);
    assert(isHeld(second));
    await storage.release(first);
    const third = await claimOf(storage);
    assert(third.fence > first.fence, `fence ${third.fence} after ${first.fence}`);
    assertEquals(await storage.put(first, entry("stale")), false);
    assert(await storage.put(third, entry("fresh")));
    await storage.release(third);
    assertEquals((await storage.get(KEY))?.chain, "fresh");
  });
});

Deno.test("file storage: waitForRelease returns once the holder releases", async () => {
  await withStorage(async (storage) => {
    const claim = await claimOf(storage);
    const controller = new AbortController();
    let released = false;
    const waiting = storage.waitForRelease(KEY, controller.signal).then(() => assert(released));
    await new Promise((r) => setTimeout(r, 60));
    released = true;
    await storage.release(claim);
    await waiting;
  });
});

Deno.test("file storage: another process holding the lock makes claim() report Held", async () => {
  await withStorage(async (storage, dir) => {
    // A child process takes the OS lock on the same lock file and holds it until told to exit.
    const script = `const f = await Deno.open(${
      JSON.stringify(`${dir}/${KEY}.lock`)
    }, { read: true, write: true, create: true });
await f.lock(true); console.log("locked"); await Deno.stdin.read(new Uint8Array(1)); f.close();`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    assertMatch(new TextDecoder().decode(value), /locked/);
    try {
      assert(isHeld(await storage.claim(KEY, "test", 60_000)));
    } finally {
      const writer = child.stdin.getWriter();
      await writer.write(new Uint8Array([1]));
      await writer.close();
      reader.releaseLock();
      await child.stdout.cancel();
      await child.status;
    }
    const claim = await claimOf(storage);
    await storage.release(claim);
  });
});

Deno.test("file storage: a crash between the temp write and the rename leaves the old entry, never a torn one", async () => {
  let crash = false;
  await withStorage(
    async (storage, dir) => {
      const claim = await claimOf(storage);
      assert(await storage.put(claim, entry("old")));
      crash = true;
      await assertRejects(() => storage.put(claim, entry("new")), /Cannot write the cache entry/);
      crash = false;
      await storage.release(claim);
      assertEquals((await storage.get(KEY))?.chain, "old");
      const leftovers = [...Deno.readDirSync(dir)].filter((f) => f.name.endsWith(".tmp"));
      assertEquals(leftovers, [], "no temp file left behind");
    },
    () => {
      if (crash) throw new Error("simulated crash before rename");
    },
  );
  // And with no previous entry: none, not a partial one.
  await withStorage(
    async (storage) => {
      const claim = await claimOf(storage);
      await assertRejects(() => storage.put(claim, entry("new")));
      await storage.release(claim);
      assertEquals(await storage.get(KEY), null);
    },
    () => {
      throw new Error("simulated crash before rename");
    },
  );
});

Deno.test("file storage: temp files a crash left behind are removed at the next start", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-storage-" });
  try {
    await Deno.writeTextFile(`${dir}/.${KEY}.json.abc.tmp`, '{"torn": ');
    const storage = new FileStorage({
      name: "file",
      directory: dir,
      renewWithinDays: 14,
      renewActiveDays: 30,
      log: memoryLogger(),
    });
    await storage.init();
    assertEquals([...Deno.readDirSync(dir)].filter((f) => f.name.endsWith(".tmp")), []);
    assertEquals(await storage.keys(), []);
    await storage.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file storage: corrupt or foreign entries are logged and read as a miss", async () => {
  await withStorage(async (storage, dir, log) => {
    for (const content of ["{not json", '{"version": 2}', JSON.stringify(entry("x", "b".repeat(64)))]) {
      await Deno.writeTextFile(`${dir}/${KEY}.json`, content);
      assertEquals(await storage.get(KEY), null, content);
    }
    assert(log.lines.filter((l) => l.includes("treated as a miss")).length >= 3);
  });
});

Deno.test("file storage: touch records the last fetch without rewriting the entry", async () => {
  await withStorage(async (storage, dir) => {
    const claim = await claimOf(storage);
    await storage.put(claim, entry("chain"));
    await storage.release(claim);
    const before = await Deno.readTextFile(`${dir}/${KEY}.json`);
    const later = new Date(Date.now() + 86_400_000);
    await storage.touch(KEY, later);
    assertEquals(await Deno.readTextFile(`${dir}/${KEY}.json`), before);
    const seen = Date.parse((await storage.get(KEY))!.lastFetchedAt);
    assert(Math.abs(seen - later.getTime()) < 1000, `lastFetchedAt ${new Date(seen).toISOString()}`);
  });
});

Deno.test("file storage: an entry rewritten after the last touch carries lastFetchedAt itself (an edit wins)", async () => {
  await withStorage(async (storage, dir) => {
    const claim = await claimOf(storage);
    await storage.put(claim, entry("chain"));
    await storage.release(claim);
    await storage.touch(KEY, new Date(Date.now() - 1000));
    const path = `${dir}/${KEY}.json`;
    const edited = JSON.parse(await Deno.readTextFile(path));
    edited.lastFetchedAt = new Date(Date.now() - 40 * 86_400_000).toISOString();
    await Deno.writeTextFile(path, JSON.stringify(edited));
    assertEquals((await storage.get(KEY))!.lastFetchedAt, edited.lastFetchedAt);
    // A fetch after the edit counts again.
    const later = new Date(Date.now() + 5000);
    await storage.touch(KEY, later);
    assertEquals((await storage.get(KEY))!.lastFetchedAt, later.toISOString());
  });
});

Deno.test("file storage: challenges round trip; invalid tokens never touch the disk", async () => {
  await withStorage(async (storage) => {
    const challenge = { token: "tok_1-A", keyAuthorization: "tok_1-A.thumb", host: "www.example.test", expiresAt: "x" };
    await storage.putChallenge(challenge);
    assertEquals(await storage.getChallenge("tok_1-A"), challenge);
    assertEquals(await storage.getChallenge("../../etc/passwd"), null);
    await storage.deleteChallenge("tok_1-A");
    assertEquals(await storage.getChallenge("tok_1-A"), null);
  });
});

Deno.test("file storage: a directory that cannot be created names the path and the reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-storage-" });
  try {
    await Deno.writeTextFile(`${dir}/file`, "not a directory");
    const storage = new FileStorage({
      name: "cache",
      directory: `${dir}/file/cache`,
      renewWithinDays: 14,
      renewActiveDays: 30,
      log: memoryLogger(),
    });
    const error = await assertRejects(() => storage.init());
    assertMatch(
      error.message,
      new RegExp(`Cannot create the cache directory ${dir}/file/cache of \\[storage "cache"\\]: `),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cacheKey: depends on directory URL, profile and DER", async () => {
  const der = new Uint8Array([1, 2, 3]);
  const base = await cacheKey("https://a/dir", undefined, der);
  assertMatch(base, /^[0-9a-f]{64}$/);
  assertEquals(await cacheKey("https://a/dir", undefined, new Uint8Array([1, 2, 3])), base);
  assert(await cacheKey("https://b/dir", undefined, der) !== base);
  assert(await cacheKey("https://a/dir", "shortlived", der) !== base);
  assert(await cacheKey("https://a/dir", undefined, new Uint8Array([1, 2, 4])) !== base);
});

Deno.test("file storage: under load peekNow trusts its last stat for STAT_REUSE_MS; one at a time it stats each", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-storage-" });
  let now = 1000;
  const storage = new FileStorage({
    name: "file",
    directory: `${dir}/cache`,
    renewWithinDays: 14,
    renewActiveDays: 30,
    log: memoryLogger(),
    monotonicMs: () => now,
  });
  try {
    const path = `${dir}/cache/${KEY}.json`;
    const claim = await claimOf(storage);
    await storage.put(claim, entry("CHAIN-1"));
    assertEquals(storage.peekNow(KEY), undefined, "never peeked: not known without a read");
    await storage.peek(KEY);
    assertEquals(storage.peekNow(KEY)?.chain, "CHAIN-1");
    const text = await Deno.readTextFile(path);
    const replace = async (from: string, to: string) => {
      await Deno.writeTextFile(`${path}.new`, (await Deno.readTextFile(path)).replace(from, to));
      await Deno.rename(`${path}.new`, path);
    };
    // One request at a time (a host, or a test): another process's change is seen by the very next peek.
    now += 5;
    assertEquals(storage.peekNow(KEY)?.chain, "CHAIN-1");
    await replace("CHAIN-1", "CHAIN-Y");
    now += STAT_REUSE_MS / 4;
    assertEquals(storage.peekNow(KEY), undefined, "not busy: the stat sees the new file at once");
    assertEquals((await storage.peek(KEY))?.chain, "CHAIN-Y");
    await Deno.writeTextFile(path, text); // back to CHAIN-1, under another inode
    now += 5;
    assertEquals((await storage.peek(KEY))?.chain, "CHAIN-1");
    // Under load (more than STAT_REUSE_BUSY_PEEKS within the window): the stat of 0.5 ms ago stands, the next one
    // after the window tells.
    for (let i = 0; i <= STAT_REUSE_BUSY_PEEKS; i++) assertEquals(storage.peekNow(KEY)?.chain, "CHAIN-1");
    await replace("CHAIN-1", "CHAIN-X");
    now += STAT_REUSE_MS / 2;
    assertEquals(storage.peekNow(KEY)?.chain, "CHAIN-1", "busy, inside the window");
    now += STAT_REUSE_MS / 2;
    assertEquals(storage.peekNow(KEY), undefined, "window over: the stat sees the new file");
    // This storage's own writes are seen at once, without waiting for the window.
    assertEquals((await storage.peek(KEY))?.chain, "CHAIN-X");
    assertEquals(storage.peekNow(KEY)?.chain, "CHAIN-X");
    await storage.put(claim, entry("CHAIN-2"));
    assertEquals(storage.peekNow(KEY), undefined, "put: forgotten at once");
    await storage.peek(KEY);
    await storage.remove(claim);
    assertEquals(storage.peekNow(KEY), undefined, "remove: forgotten at once");
    await storage.release(claim);
  } finally {
    await storage.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file storage: peek reuses the parsed entry only while the file is unchanged, checked on every call", async () => {
  await withStorage(async (storage, dir, log) => {
    const path = `${dir}/${KEY}.json`;
    assertEquals(await storage.peek(KEY), null, "missing");
    const claim = await claimOf(storage);
    await storage.put(claim, entry("CHAIN-1"));
    const first = await storage.peek(KEY);
    assertEquals(first?.chain, "CHAIN-1");
    assert((await storage.peek(KEY)) === first, "unchanged file: the same parsed entry");
    // A put renames a new file into place (a new inode): seen by the very next peek.
    await storage.put(claim, entry("CHAIN-2"));
    assertEquals((await storage.peek(KEY))?.chain, "CHAIN-2");
    // Rewritten in place, out of band, with the same size: the mtime tells.
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, text.replace("CHAIN-2", "CHAIN-3"));
    const later = new Date(Date.now() + 5_000);
    await Deno.utime(path, later, later);
    assertEquals((await storage.peek(KEY))?.chain, "CHAIN-3");
    // Corrupted right after a peek: a miss, logged, never the remembered entry.
    await Deno.writeTextFile(path, "{");
    assertEquals(await storage.peek(KEY), null);
    assert(log.lines.some((l) => l.includes("cache entry corrupt")), log.lines.join("\n"));
    await storage.put(claim, entry("CHAIN-4"));
    assertEquals((await storage.peek(KEY))?.chain, "CHAIN-4");
    await storage.remove(claim);
    assertEquals(await storage.peek(KEY), null, "removed");
    await storage.release(claim);
  });
});
