/**
 * Atomic file replacement: the file at `path` is either the old content or the new content, never a mix, even if
 * the process or the machine dies halfway.
 *
 * Contract: write to a temporary file in the same directory, fsync it, rename it over `path`, fsync the directory
 * so the rename itself is durable. The temporary file is created exclusively (O_EXCL: never an existing file or a
 * symlink) with at most owner read/write (`mode & 0o600`), and its mode is checked through the open file descriptor
 * (fstat) before any byte is written; when the umask cleared bits or `mode` asks for more than 0o600, that file is
 * removed unwritten and a new one is created the same way and set to the exact `mode` through its descriptor
 * (fchmod, node:fs, loaded only then). A secret is never readable by others, not even briefly; nothing chmods or
 * writes by path, so a path swapped by someone else in the directory is never chmod-ed or written. On failure the temporary file is removed and the error is rethrown; `path`
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
  try {
    // Deno's own file API first (no Node compatibility); node's fchmod only when the created mode is not the
    // wanted one (a umask that clears owner bits, or a mode beyond 0o600).
    if (!await writeNew(temp, bytes, mode)) {
      await Deno.remove(temp);
      await writeNewWithFchmod(temp, bytes, mode);
    }
    await opts.beforeRename?.(temp);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  await syncDirectory(dir);
}

/**
 * Creates `temp` exclusively (O_CREAT | O_EXCL) with `mode & 0o600`, and, if its mode (fstat, by descriptor) is
 * exactly `mode`, writes and fsyncs `bytes` and returns true. Returns false, having written nothing, otherwise.
 */
async function writeNew(temp: string, bytes: Uint8Array, mode: number): Promise<boolean> {
  const file = await Deno.open(temp, { createNew: true, write: true, mode: mode & 0o600 });
  try {
    if (((await file.stat()).mode ?? -1) % 0o10000 !== mode) return false;
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
    return true;
  } finally {
    file.close();
  }
}

/** The same with node's FileHandle: `chmod` is fchmod(2) on the descriptor (Deno.FsFile has no fchmod). */
async function writeNewWithFchmod(temp: string, bytes: Uint8Array, mode: number): Promise<void> {
  const { open } = await (nodeFs ??= import("node:fs/promises"));
  let handle: FileHandle | undefined;
  try {
    // "wx": O_CREAT | O_EXCL.
    handle = await open(temp, "wx", mode & 0o600);
    // The umask may have cleared bits of `mode`, and the creation mode is capped: make the mode exact, by descriptor.
    await handle.chmod(mode);
    let written = 0;
    while (written < bytes.length) {
      written += (await handle.write(bytes, written, bytes.length - written)).bytesWritten;
    }
    await handle.sync();
  } finally {
    await handle?.close().catch(() => {});
  }
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
