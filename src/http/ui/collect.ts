/**
 * Reads every stored entry of the given storages, for the operator page and `acmems status`. Never throws: a
 * storage that cannot be listed (or an entry that cannot be read) is reported in its `StorageStatus.problem`.
 *
 * Contract: read-only (`keys` and `get`: nothing is written, no claim is taken); entries are read one at a time.
 */
import { describeError } from "../../lib/bytes.ts";
import type { Storage } from "../../storage/mod.ts";
import type { StorageStatus } from "./page.ts";
import type { StoredEntry } from "./rows.ts";

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
    for (const key of keys) {
      const entry = await storage.get(key).catch(() => null);
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
