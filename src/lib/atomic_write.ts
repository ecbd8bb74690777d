/**
 * Atomic file replacement: the file at `path` is either the old content or the new content, never a mix, even if
 * the process or the machine dies halfway.
 *
 * Contract: write to a temporary file in the same directory, fsync it, rename it over `path`, fsync the directory
 * so the rename itself is durable. The temporary file is created exclusively (O_EXCL: never an existing file or a
 * symlink) with at most owner read/write (`mode & 0o600`), and its exact `mode` is then set through the open file
 * descriptor (fchmod), before any byte is written: a secret is never readable by others, not even briefly, and no
 * step acts on the temporary path after creation except the final rename, so a path swapped by someone else in the
 * directory is never chmod-ed or written. On failure the temporary file is removed and the error is rethrown; `path`
 * is untouched. Concurrent writers are not coordinated here: the last rename wins.
 */
import type { FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "./path.ts";

/** node:fs/promises, loaded at the first write (Node compatibility costs start-up time a reading command avoids). */
let nodeFs: Promise<typeof import("node:fs/promises")> | undefined;

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o600). */
  mode?: number;
  /** Fault injection for tests: runs after the temp file is synced, before the rename. */
  beforeRename?: (tempPath: string) => void | Promise<void>;
}

export async function atomicWriteFile(
  path: string,
  data: Uint8Array | string,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const mode = opts.mode ?? 0o600;
  const dir = dirname(path);
  const random = crypto.getRandomValues(new Uint8Array(6));
  const suffix = Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
  const temp = join(dir, `.${basename(path)}.${suffix}.tmp`);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let handle: FileHandle | undefined;
  try {
    const { open } = await (nodeFs ??= import("node:fs/promises"));
    // "wx": O_CREAT | O_EXCL. Deno.FsFile has no fchmod; node's FileHandle.chmod is fchmod(2) on this descriptor.
    handle = await open(temp, "wx", mode & 0o600);
    // The umask may have cleared bits of `mode`, and the creation mode is capped: make the mode exact, by descriptor.
    await handle.chmod(mode);
    let written = 0;
    while (written < bytes.length) {
      written += (await handle.write(bytes, written, bytes.length - written)).bytesWritten;
    }
    await handle.sync();
    const closing = handle;
    handle = undefined;
    await closing.close();
    await opts.beforeRename?.(temp);
    await Deno.rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => {});
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  await syncDirectory(dir);
}

/** fsync a directory so a rename or create in it survives a crash. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  } finally {
    handle?.close();
  }
}
