/**
 * Atomic file replacement: the file at `path` is either the old content or the new content, never a mix, even if
 * the process or the machine dies halfway.
 *
 * Contract: write to a temporary file in the same directory (created with `mode` before any byte is written, so a
 * secret is never readable by others, not even briefly), fsync it, rename it over `path`, fsync the directory so the
 * rename itself is durable. On failure the temporary file is removed and the error is rethrown; `path` is untouched.
 * Concurrent writers are not coordinated here: the last rename wins.
 */
import { basename, dirname, join } from "node:path";

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
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(temp, { write: true, createNew: true, mode });
    // The umask may have cleared bits of `mode`; make the mode exact.
    await Deno.chmod(temp, mode);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
    file.close();
    file = undefined;
    await opts.beforeRename?.(temp);
    await Deno.rename(temp, path);
  } catch (error) {
    try {
      file?.close();
    } catch {
      // already closed
    }
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
