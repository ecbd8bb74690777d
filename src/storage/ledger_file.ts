/**
 * The rate-limit ledger of a `file` storage: one JSON file per owner (a CA or an auth block) in
 * `<directory>/ledger/`, named after the owner (`ca%3Adefault.json`), replaced atomically after every change
 * (src/lib/atomic_write.ts), so it survives a restart and a crash leaves the old or the new file, never a torn one.
 *
 * Contract: one process owns the files (a file storage is not shared between instances); its operations run one at
 * a time (BookStore's mutex). A file that cannot be parsed is set aside as `<name>.broken-<time>` and the owner
 * starts empty (logged by the caller's error); events older than the retention are pruned when a file is written.
 */
import { join } from "../lib/path.ts";
import { BookStore, LedgerBook } from "../ca/ledger_book.ts";
import type { LedgerStore } from "../ca/ledger_store.ts";
import { atomicWriteFile } from "../lib/atomic_write.ts";

/** The file name of an owner's book: percent-encoded, so any CA or block name is one safe file name. */
export function ledgerFileName(owner: string): string {
  return encodeURIComponent(owner).replace(/[!'()*.~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`) +
    ".json";
}

/** A ledger store in `directory` (created on first write, mode 0700). */
export function fileLedgerStore(directory: string, retainMs: number, onBroken?: (path: string) => void): LedgerStore {
  let made = false;
  return new BookStore({
    async load(owner) {
      const path = join(directory, ledgerFileName(owner));
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return new LedgerBook();
        throw error;
      }
      try {
        return LedgerBook.fromJson(JSON.parse(text));
      } catch {
        const aside = `${path}.broken-${Date.now()}`;
        await Deno.rename(path, aside).catch(() => {});
        onBroken?.(aside);
        return new LedgerBook();
      }
    },
    async save(owner, book) {
      if (!made) {
        await Deno.mkdir(directory, { recursive: true, mode: 0o700 });
        made = true;
      }
      await atomicWriteFile(join(directory, ledgerFileName(owner)), JSON.stringify(book.toJson()), { mode: 0o600 });
    },
  }, retainMs);
}
