/**
 * Fault: acmems SIGKILLed while it writes its file cache.
 *
 * 1. `acmems serve` with a file storage takes 100 distinct issuances from pebble (8 at a time) and is SIGKILLed
 *    once about 40 entries are on disk. Afterwards every entry file parses and is an acmems entry for its key,
 *    `FileStorage.get` returns a valid entry or null for every key, the restarted acmems leaves no `.tmp` files, and
 *    every CSR is served again: cached ones as a hit with the very chain on disk (no new order), the rest issued.
 *    The account key, the registration and the entries are mode 0600.
 * 2. To hit the write itself rather than the time between writes, a child process does nothing but cache writes
 *    (100 keys per round, round after round) and is SIGKILLed at random moments, 12 times; after each kill the same
 *    invariants hold, and the next start (init) removes the temp files a kill left.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { startAcmems } from "../support/acmems.ts";
import { writeConfig } from "../support/config.ts";
import { freePorts } from "../support/ports.ts";
import { startStack } from "../support/stack.ts";
import { silentLogger } from "../../src/ops/log.ts";
import { FileStorage } from "../../src/storage/file.ts";
import { type Entry, isEntry } from "../../src/storage/mod.ts";
import { entryFor, KEYS } from "./_cache_writer.ts";
import { assertCertificate, faultConfig, quickCsr, sign, type Signed, sleep } from "./_stack.ts";

const ISSUANCES = 100;
const KILL_AT = 40;

interface DirState {
  entries: Map<string, Entry>;
  temps: string[];
  torn: string[];
}

/** Reads every file of a cache directory: complete entries, temp files, and anything torn. */
async function inspect(dir: string): Promise<DirState> {
  const state: DirState = { entries: new Map(), temps: [], torn: [] };
  for await (const item of Deno.readDir(dir)) {
    if (!item.isFile) continue;
    if (item.name.endsWith(".tmp")) state.temps.push(item.name);
    if (!item.name.endsWith(".json")) continue;
    const text = await Deno.readTextFile(`${dir}/${item.name}`);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      state.torn.push(`${item.name}: not JSON (${text.length} bytes)`);
      continue;
    }
    const key = item.name.slice(0, -5);
    if (!isEntry(value) || value.key !== key) state.torn.push(`${item.name}: not an entry for its key`);
    else state.entries.set(key, value);
  }
  return state;
}

function storage(directory: string): FileStorage {
  return new FileStorage({ name: "cache", directory, renewWithinDays: 14, renewActiveDays: 30, log: silentLogger });
}

async function mode(path: string): Promise<string> {
  return ((await Deno.stat(path)).mode! & 0o777).toString(8).padStart(4, "0");
}

Deno.test("fault: acmems SIGKILLed during 100 issuances: every cache entry is complete or absent", async () => {
  const [httpPort, mgmtPort] = await freePorts(2);
  const { work: dir, pebble, cleanup } = await startStack({ prefix: "acmems-fault-kill-", pebble: { httpPort } });
  try {
    const cacheDir = `${dir}/cache`;
    await writeConfig(`${dir}/acmems.ini`, faultConfig({ pebble, mgmtPort, httpPort, cacheDir }));
    const jobs = await Promise.all(Array.from({ length: ISSUANCES }, async (_, i) => {
      const names = [`k${i}.kill.example.test`];
      return { names, csr: await quickCsr(names) };
    }));

    const first = await startAcmems({ dir, configFile: `${dir}/acmems.ini`, name: "acmems-1" });
    cleanup.add(() => first.stop());
    // Issue 8 at a time until the cache holds KILL_AT entries, then SIGKILL in the middle of the traffic.
    let next = 0;
    let killed = false;
    const outcomes: string[] = [];
    const worker = async () => {
      while (!killed && next < ISSUANCES) {
        const i = next++;
        try {
          outcomes[i] = String((await sign(first.mgmtUrl, jobs[i].csr.pem)).status);
        } catch {
          outcomes[i] = "cut";
        }
      }
    };
    const watcher = (async () => {
      while (!killed) {
        let count = 0;
        try {
          for await (const item of Deno.readDir(cacheDir)) if (item.name.endsWith(".json")) count++;
        } catch {
          // not created yet
        }
        if (count >= KILL_AT) {
          killed = true;
          const status = await first.kill();
          assertEquals(status.signal, "SIGKILL", "acmems was killed, not stopped");
          return count;
        }
        await sleep(5);
      }
      return -1;
    })();
    const workers = Promise.all(Array.from({ length: 8 }, worker));
    const seenAtKill = await watcher;
    await workers;
    const afterKill = await inspect(cacheDir);
    console.log(
      `  killed with ${seenAtKill} entries seen, ${outcomes.filter((o) => o === "200").length} answered 200, ` +
        `${outcomes.filter((o) => o === "cut").length} cut off; on disk: ${afterKill.entries.size} entries, ` +
        `${afterKill.temps.length} temp files`,
    );
    assertEquals(afterKill.torn, [], "torn cache files after SIGKILL");
    const cache = storage(cacheDir);
    for (const key of afterKill.entries.keys()) {
      const entry = await cache.get(key);
      assert(entry !== null && isEntry(entry), `FileStorage.get(${key}) returned ${JSON.stringify(entry)}`);
    }
    await cache.close();

    const second = await startAcmems({ dir, configFile: `${dir}/acmems.ini`, name: "acmems-2" });
    cleanup.add(() => second.stop());
    assertEquals((await inspect(cacheDir)).temps, [], "temp files after the restart");
    const byName = new Map([...afterKill.entries.values()].map((e) => [e.names[0], e]));
    const answers: Signed[] = [];
    for (let i = 0; i < ISSUANCES; i += 10) {
      answers.push(...await Promise.all(jobs.slice(i, i + 10).map((j) => sign(second.mgmtUrl, j.csr.pem))));
    }
    let hits = 0;
    for (const [i, answer] of answers.entries()) {
      assertCertificate(answer, jobs[i].names, jobs[i].csr.publicKey, `after restart #${i}`);
      const stored = byName.get(jobs[i].names[0]);
      if (stored) {
        assertEquals(answer.headers.get("x-acmems-cache"), "hit", `#${i} was cached before the kill`);
        assertEquals(answer.body, stored.chain, `#${i}: the chain on disk is served byte for byte`);
        hits++;
      } else {
        assertEquals(answer.headers.get("x-acmems-cache"), "miss", `#${i}`);
      }
    }
    assertEquals(hits, afterKill.entries.size);
    for (const file of ["account/account.pem", "account/registration.json"]) {
      assertEquals(await mode(`${dir}/${file}`), "0600", file);
    }
    for await (const item of Deno.readDir(cacheDir)) {
      if (item.isFile) assertEquals(await mode(`${cacheDir}/${item.name}`), "0600", item.name);
    }
  } finally {
    await cleanup.run();
  }
});

/** Starts the writer child; resolves once it has written its first entry. */
async function startWriter(dir: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", new URL("./_cache_writer.ts", import.meta.url).pathname, dir],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 20_000;
  try {
    while (!text.includes("writing")) {
      if (Date.now() > deadline) throw new Error("the writer did not start");
      const { value, done } = await reader.read();
      if (done) throw new Error(`the writer exited early: ${text}`);
      text += value;
    }
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    throw error;
  } finally {
    await reader.cancel().catch(() => {});
  }
  return child;
}

Deno.test("fault: a process doing nothing but cache writes, SIGKILLed 12 times at random: never a torn entry", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-fault-writer-" });
  try {
    let temps = 0;
    let maxRound = 0;
    for (let kill = 0; kill < 12; kill++) {
      const child = await startWriter(dir);
      await sleep(20 + Math.floor(Math.random() * 400));
      child.kill("SIGKILL");
      const status = await child.status;
      assertEquals(status.signal, "SIGKILL");
      const state = await inspect(dir);
      assertEquals(state.torn, [], `kill ${kill}: torn files`);
      temps += state.temps.length;
      const cache = storage(dir);
      for (const key of KEYS) {
        const entry = await cache.get(key);
        if (entry === null) continue;
        assert(isEntry(entry), `kill ${kill}: get(${key}) is not an entry`);
        const round = Number(entry.names[0].slice(1, -".example.test".length));
        assertEquals(entry.chain, entryFor(key, round).chain, `kill ${kill}: ${key} mixes rounds`);
        maxRound = Math.max(maxRound, round);
      }
      await cache.init();
      assertEquals((await inspect(dir)).temps, [], `kill ${kill}: init() left temp files`);
      await cache.close();
    }
    console.log(`  12 kills: up to round ${maxRound} reached, ${temps} temp files left by kills (all removed by init)`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
