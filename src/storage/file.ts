/**
 * `type = file`: one JSON file per cached certificate in `directory`, for one host (one or several acmems
 * processes sharing the directory).
 *
 * Layout: `<key>.json` the entry (mode 0600, replaced atomically) · `<key>.lock` the claim (an OS lock via
 * `Deno.FsFile.tryLock`; its content is the fence counter, bumped under the lock) · `<key>.seen` an empty file whose
 * mtime is the last client fetch (so `touch` never rewrites the entry and can never race with a renewal) ·
 * `challenges/<token>.json` · `compromised-keys.json` the keys revoked for keyCompromise (a JSON array of SPKI
 * SHA-256s, replaced atomically).
 *
 * What a crash leaves: the old entry or the new one (never a torn file), possibly a `.<key>.json.*.tmp` that is
 * ignored and removed at the next start; the OS drops a dead process's lock. flock is not a cluster lock over NFS:
 * use the postgres storage for several hosts.
 */
import { StatReuse } from "./stat_reuse.ts";
import { join } from "../lib/path.ts";
import { atomicWriteFile } from "../lib/atomic_write.ts";
import type { Logger } from "../ops/log.ts";
import { describeFsError, sleep } from "../lib/bytes.ts";
import { StorageError } from "./errors.ts";
import { idleChanges } from "./idle_changes.ts";
import { isEntry } from "./is_entry.ts";
import type { Storage } from "./port.ts";
import type { CacheKey, Change, Claim, Entry, Held, StoredChallenge } from "./types.ts";

const KEY = /^[0-9a-f]{64}$/;
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
const COMPROMISED = "compromised-keys.json";

export interface FileStorageOptions {
  name: string;
  directory: string;
  renewWithinDays: number;
  renewActiveDays: number;
  log: Logger;
  /** Fault injection for tests (see atomicWriteFile). */
  beforeRename?: (tempPath: string) => void | Promise<void>;
  /** How often waiters look for a released claim (default 200 ms). */
  pollMs?: number;
  /** Monotonic milliseconds for `peekNow`'s `STAT_REUSE_MS` window (tests; default `performance.now`). */
  monotonicMs?: () => number;
}

/** The stat window of `peekNow` (src/storage/stat_reuse.ts), re-exported for the tests of this storage. */
export { STAT_REUSE_BUSY_PEEKS, STAT_REUSE_MS } from "./stat_reuse.ts";

export class FileStorage implements Storage {
  readonly kind = "file";
  readonly name: string;
  readonly directory: string;
  /** `directory`, normalized, with one trailing slash (`#path` appends the file name). */
  readonly #base: string;
  readonly renewWithinDays: number;
  readonly renewActiveDays: number;
  readonly #opts: FileStorageOptions;
  readonly #locks = new Map<CacheKey, { file: Deno.FsFile; fence: number }>();
  /** Entries parsed by `peek`, with the stat stamp of the file they came from and when `peekNow` last checked it. */
  readonly #peeked = new Map<CacheKey, { stamp: string; entry: Entry; checkedAt: number }>();
  readonly #statReuse: StatReuse;
  #ready: Promise<void> | undefined;

  constructor(opts: FileStorageOptions) {
    this.#opts = opts;
    this.name = opts.name;
    this.directory = opts.directory;
    this.#base = `${join(opts.directory, ".")}/`.replace(/\/+$/, "/");
    this.renewWithinDays = opts.renewWithinDays;
    this.renewActiveDays = opts.renewActiveDays;
    this.#statReuse = new StatReuse(opts.monotonicMs);
  }

  /** Creates the directory (mode 0700) and removes temp files a crash left behind. Throws StorageError. */
  init(): Promise<void> {
    this.#ready ??= (async () => {
      try {
        await Deno.mkdir(join(this.directory, "challenges"), { recursive: true, mode: 0o700 });
      } catch (error) {
        this.#ready = undefined;
        throw new StorageError(
          `Cannot create the cache directory ${this.directory} of [storage "${this.name}"]: ${
            describeFsError(error, "a parent directory does not exist")
          }`,
        );
      }
      try {
        for await (const item of Deno.readDir(this.directory)) {
          if (item.isFile && item.name.startsWith(".") && item.name.endsWith(".tmp")) {
            await Deno.remove(join(this.directory, item.name)).catch(() => {});
          }
        }
      } catch {
        // Listing is only for tidying up.
      }
    })();
    return this.#ready;
  }

  #path(key: CacheKey, suffix: string): string {
    if (!KEY.test(key)) throw new StorageError(`Invalid cache key "${key.slice(0, 80)}"`);
    // A key is 64 hex digits (KEY): plain concatenation with the directory normalized once (hot path: every peek).
    return `${this.#base}${key}${suffix}`;
  }

  async get(key: CacheKey): Promise<Entry | null> {
    const path = this.#path(key, ".json");
    let text: string;
    let written: number;
    try {
      using file = await Deno.open(path);
      written = (await file.stat()).mtime?.getTime() ?? 0;
      text = await new Response(file.readable).text();
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        this.#opts.log.warn("cache entry unreadable, treated as a miss", {
          path,
          error: describeFsError(error, "a parent directory does not exist"),
        });
      }
      return null;
    }
    let entry: unknown;
    try {
      entry = JSON.parse(text);
    } catch {
      this.#opts.log.warn("cache entry corrupt, treated as a miss", { path, reason: "not JSON" });
      return null;
    }
    if (!isEntry(entry) || entry.key !== key) {
      this.#opts.log.warn("cache entry corrupt, treated as a miss", { path, reason: "not an acmems entry" });
      return null;
    }
    try {
      // Fetches after the entry was written are marked by touching `.seen` (cheaper than rewriting the entry). An
      // entry written after the last touch (a renewal, or an operator's edit) carries the time itself.
      const seen = (await Deno.stat(this.#path(key, ".seen"))).mtime?.getTime() ?? 0;
      if (seen >= written && seen > Date.parse(entry.lastFetchedAt)) entry.lastFetchedAt = new Date(seen).toISOString();
    } catch {
      // Never fetched since it was written.
    }
    return entry;
  }

  /**
   * `get` for readers, revalidated by one stat: while the file keeps its inode, size and mtime (a put renames a new
   * file into place; any other write changes the size or the mtime), the entry parsed last time is returned as is.
   * The stat is synchronous: on a local directory it takes about a microsecond, where the asynchronous one (a trip
   * through Deno's blocking thread pool) costs 10–25 µs of the main thread per cache hit.
   */
  async peek(key: CacheKey): Promise<Entry | null> {
    const stamp = this.#stamp(key);
    if (stamp === undefined) {
      this.#peeked.delete(key);
      return await this.get(key);
    }
    const known = this.#peeked.get(key);
    if (known && known.stamp === stamp) return known.entry;
    const entry = await this.get(key);
    if (entry) {
      this.#peeked.delete(key);
      this.#peeked.set(key, { stamp, entry, checkedAt: this.#statReuse.now() });
      // About 5 KiB per entry: keep the 1000 most recently parsed.
      if (this.#peeked.size > 1000) this.#peeked.delete(this.#peeked.keys().next().value!);
    } else {
      this.#peeked.delete(key);
    }
    return entry;
  }

  /**
   * `peek` without waiting: the entry parsed last time while one stat shows its file unchanged (under load, a stat
   * younger than `STAT_REUSE_MS` is trusted again: src/storage/stat_reuse.ts), else undefined.
   */
  peekNow(key: CacheKey): Entry | undefined {
    const known = this.#peeked.get(key);
    if (!known) return undefined;
    const now = this.#statReuse.now();
    if (this.#statReuse.mayReuse(known.checkedAt, now)) return known.entry;
    if (this.#stamp(key) !== known.stamp) return undefined;
    known.checkedAt = now;
    return known.entry;
  }

  /** The file's inode, size and mtime as one string; undefined when it cannot be stat'ed. */
  #stamp(key: CacheKey): string | undefined {
    try {
      const info = Deno.statSync(this.#path(key, ".json"));
      return `${info.ino}:${info.size}:${info.mtime?.getTime()}`;
    } catch {
      return undefined;
    }
  }

  async claim(key: CacheKey, owner: string, _leaseMs?: number): Promise<Claim | Held> {
    await this.init();
    if (this.#locks.has(key)) return { held: true, heldBy: `${owner} (this process)` };
    const path = this.#path(key, ".lock");
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
    } catch (error) {
      throw new StorageError(
        `Cannot open the lock file ${path}: ${describeFsError(error, "a parent directory does not exist")}`,
      );
    }
    let locked = false;
    try {
      locked = await file.tryLock(true);
      if (!locked) {
        file.close();
        return { held: true, heldBy: "another acmems process" };
      }
      // The fence counter lives in the lock file and is only changed under the lock.
      const buffer = new Uint8Array(32);
      const read = await file.read(buffer) ?? 0;
      const previous = Number(new TextDecoder().decode(buffer.subarray(0, read)).trim()) || 0;
      const fence = previous + 1;
      await file.seek(0, Deno.SeekMode.Start);
      await file.truncate(0);
      await file.write(new TextEncoder().encode(`${fence}\n`));
      this.#locks.set(key, { file, fence });
      return { key, fence, deadline: Infinity };
    } catch (error) {
      if (locked) await file.unlock().catch(() => {});
      try {
        file.close();
      } catch {
        // already closed
      }
      throw new StorageError(
        `Cannot take the lock ${path}: ${describeFsError(error, "a parent directory does not exist")}`,
      );
    }
  }

  async waitForRelease(key: CacheKey, signal: AbortSignal): Promise<void> {
    const path = this.#path(key, ".lock");
    const pollMs = this.#opts.pollMs ?? 200;
    while (!signal.aborted) {
      if (!this.#locks.has(key)) {
        let file: Deno.FsFile | undefined;
        try {
          file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
          if (await file.tryLock(true)) {
            await file.unlock();
            return;
          }
        } catch {
          return; // Cannot even look: let the caller try to claim and report.
        } finally {
          file?.close();
        }
      }
      await sleep(pollMs, signal);
    }
  }

  extend(claim: Claim, _leaseMs?: number): Promise<boolean> {
    return Promise.resolve(this.#holds(claim));
  }

  noteOrder(claim: Claim, _orderUrl?: string | null): Promise<boolean> {
    // One host: the lock outlives nothing, so a recorded order URL is only informative; it goes into the entry.
    return Promise.resolve(this.#holds(claim));
  }

  async put(claim: Claim, entry: Entry): Promise<boolean> {
    if (!this.#holds(claim) || entry.key !== claim.key) return false;
    const path = this.#path(claim.key, ".json");
    try {
      await atomicWriteFile(path, JSON.stringify(entry, null, 2) + "\n", {
        mode: 0o600,
        beforeRename: this.#opts.beforeRename,
      });
    } catch (error) {
      throw new StorageError(
        `Cannot write the cache entry ${path}: ${describeFsError(error, "a parent directory does not exist")}`,
      );
    } finally {
      // Once the file is replaced (or may be): a peek until then remembered the old one, its stat trusted for 1 ms.
      this.#peeked.delete(claim.key);
    }
    return true;
  }

  async release(claim: Claim): Promise<void> {
    const held = this.#locks.get(claim.key);
    if (!held || held.fence !== claim.fence) return;
    this.#locks.delete(claim.key);
    await held.file.unlock().catch(() => {});
    try {
      held.file.close();
    } catch {
      // already closed
    }
  }

  async keys(): Promise<CacheKey[]> {
    await this.init();
    const keys: CacheKey[] = [];
    for await (const item of Deno.readDir(this.directory)) {
      if (item.isFile && item.name.endsWith(".json") && KEY.test(item.name.slice(0, -5))) {
        keys.push(item.name.slice(0, -5));
      }
    }
    return keys;
  }

  async touch(key: CacheKey, at: Date): Promise<void> {
    const path = this.#path(key, ".seen");
    try {
      await Deno.utime(path, at, at);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) return;
      try {
        await Deno.writeFile(path, new Uint8Array(0), { mode: 0o600 });
        await Deno.utime(path, at, at);
      } catch {
        // Best effort: a lost touch only makes a renewal less likely.
      }
    }
  }

  async remove(claim: Claim): Promise<void> {
    if (!this.#holds(claim)) return;
    for (const suffix of [".json", ".seen"]) await Deno.remove(this.#path(claim.key, suffix)).catch(() => {});
    this.#peeked.delete(claim.key);
  }

  async putChallenge(challenge: StoredChallenge): Promise<void> {
    await this.init();
    if (!TOKEN.test(challenge.token)) {
      throw new StorageError(`Invalid challenge token "${challenge.token.slice(0, 40)}"`);
    }
    await atomicWriteFile(join(this.directory, "challenges", `${challenge.token}.json`), JSON.stringify(challenge), {
      mode: 0o600,
    });
  }

  async getChallenge(token: string): Promise<StoredChallenge | null> {
    if (!TOKEN.test(token)) return null;
    try {
      const value = JSON.parse(await Deno.readTextFile(join(this.directory, "challenges", `${token}.json`)));
      return typeof value?.keyAuthorization === "string" && typeof value?.host === "string" ? value : null;
    } catch {
      return null;
    }
  }

  async deleteChallenge(token: string): Promise<void> {
    if (!TOKEN.test(token)) return;
    await Deno.remove(join(this.directory, "challenges", `${token}.json`)).catch(() => {});
  }

  async compromisedKeys(): Promise<string[]> {
    try {
      const value = JSON.parse(await Deno.readTextFile(join(this.directory, COMPROMISED)));
      return Array.isArray(value) ? value.filter((v) => typeof v === "string" && KEY.test(v)) : [];
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw new StorageError(
        `Cannot read ${join(this.directory, COMPROMISED)} of [storage "${this.name}"]: ${describeFsError(error)}`,
      );
    }
  }

  async recordCompromisedKey(spkiSha256: string, _at: Date): Promise<void> {
    await this.init();
    const known = await this.compromisedKeys();
    if (known.includes(spkiSha256)) return;
    // Processes sharing the directory: the last rename wins; each process also keeps its own keys in memory.
    await atomicWriteFile(join(this.directory, COMPROMISED), JSON.stringify([...known, spkiSha256]), { mode: 0o600 });
  }

  changes(signal: AbortSignal): AsyncIterable<Change> {
    // No notifications on a plain directory: waiters poll (waitForRelease does).
    return idleChanges(signal);
  }

  async close(): Promise<void> {
    for (const [key, held] of [...this.#locks]) await this.release({ key, fence: held.fence, deadline: Infinity });
  }

  #holds(claim: Claim): boolean {
    return this.#locks.get(claim.key)?.fence === claim.fence;
  }
}
