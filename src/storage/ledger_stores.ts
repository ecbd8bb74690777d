/**
 * Which store holds the rate-limit ledger: the `[mgmt]` default storage's medium. A `file` storage keeps it in
 * `<directory>/ledger/` (ledger_file.ts), a `postgres` storage in its database (postgres/ledger.ts, shared by every
 * instance), a `none` storage or no default storage in memory (lost at restart).
 *
 * Contract: constructing does no I/O. `medium` names where the ledger lives, so a reload can keep a memory or file
 * store (and its counts) when the medium did not change; a PostgreSQL store belongs to its storage's connection and
 * is made anew with it.
 */
import { memoryLedgerStore } from "../ca/ledger_book.ts";
import type { LedgerStore } from "../ca/ledger_store.ts";
import { join } from "node:path";
import { FileStorage } from "./file.ts";
import { fileLedgerStore } from "./ledger_file.ts";
import type { Storage } from "./mod.ts";
import { PostgresStorage } from "./postgres/mod.ts";

export interface LedgerMedium {
  store: LedgerStore;
  /** `memory`, `file:/var/lib/acmems/cache/ledger`, `postgres:NAME`: shown by check-config and in the log. */
  medium: string;
  /** A reload may keep this store when the medium is the same (memory, file). */
  reusable: boolean;
}

/** The ledger store of `storage` (the default storage), or a memory one. */
export function createLedgerStore(
  storage: Storage | undefined,
  retainMs: number,
  onBroken?: (path: string) => void,
): LedgerMedium {
  if (storage instanceof FileStorage) {
    const directory = join(storage.directory, "ledger");
    return { store: fileLedgerStore(directory, retainMs, onBroken), medium: `file:${directory}`, reusable: true };
  }
  if (storage instanceof PostgresStorage) {
    return { store: storage.ledgerStore(retainMs), medium: `postgres:${storage.name}`, reusable: false };
  }
  return { store: memoryLedgerStore(retainMs), medium: "memory", reusable: true };
}
