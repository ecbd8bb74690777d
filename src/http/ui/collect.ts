/**
 * Reads every stored entry of the given storages, for the operator page and `acmems status`. Never throws: a
 * storage that cannot be listed (or an entry that cannot be read) is reported in its `StorageStatus.problem`.
 *
 * Contract: read-only (`keys` and `get`: nothing is written, no claim is taken); at most 8 reads at a time.
 */
import { describeError } from "../../lib/bytes.ts";
import type { Entry, Storage } from "../../storage/mod.ts";
import type { StorageStatus } from "./page.ts";
import type { StoredEntry } from "./rows.ts";

/** Entries read at the same time from one storage. */
const CONCURRENT_READS = 8;

export interface Collected {
  entries: StoredEntry[];
  storages: StorageStatus[];
}

/** Every entry of every storage (the `none` kind holds none). */
export async function collectEntries(storages: Iterable<Storage>): Promise<Collected> {
  const entries: StoredEntry[] = [];
  const statuses: StorageStatus[] = [];
  for (const storage of storages) {
    const status: StorageStatus = { name: storage.name, kind: storage.kind, entries: 0, problem: null };
    statuses.push(status);
    let keys: string[];
    try {
      keys = await storage.keys();
    } catch (error) {
      status.problem = `cannot list the cache: ${describeError(error)}`;
      continue;
    }
    // A few reads at a time: a large file cache is read in parallel through the I/O pool, a database pool is not
    // flooded. `get`, not `peek`: the page must not evict the /sign hit path's parsed entries.
    let next = 0;
    const found: (Entry | null)[] = new Array(keys.length).fill(null);
    const worker = async () => {
      while (next < keys.length) {
        const i = next++;
        found[i] = await storage.get(keys[i]).catch(() => null);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENT_READS, keys.length) }, worker));
    for (const entry of found) {
      if (!entry) continue;
      entries.push({
        storage: storage.name,
        renewWithinDays: storage.renewWithinDays,
        renewActiveDays: storage.renewActiveDays,
        entry,
      });
      status.entries++;
    }
  }
  return { entries, storages: statuses };
}
