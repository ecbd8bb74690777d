/**
 * glibc's `malloc_trim(0)`: hands the free pages inside every malloc arena back to the OS (madvise), which glibc
 * never does by itself for the middle of an arena. Used by src/ops/idle_trim.ts after a burst of load.
 *
 * Contract: `mallocTrim()` returns a function that calls `malloc_trim(0)` through Deno's FFI, or undefined when
 * no existing libc path of LIBC_PATHS is allowed for FFI (`--allow-ffi=PATH`; the permission is only queried, never
 * prompted for). The function opens the library, calls it and closes it again (no resource stays open), and throws
 * where the library has no malloc_trim (musl). Only the listed glibc paths are tried, so `--allow-ffi` can stay
 * scoped to libc.
 */

/** Where glibc lives on Debian/Ubuntu (x86_64, arm64) and Fedora/RHEL. */
export const LIBC_PATHS = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/lib64/libc.so.6",
];

export function mallocTrim(paths: string[] = LIBC_PATHS): (() => void) | undefined {
  if (Deno.build.os !== "linux") return undefined;
  const path = paths.find((p) => Deno.permissions.querySync({ name: "ffi", path: p }).state === "granted" && exists(p));
  if (path === undefined) return undefined;
  return () => {
    const libc = Deno.dlopen(path, { malloc_trim: { parameters: ["usize"], result: "i32" } });
    try {
      libc.symbols.malloc_trim(0n);
    } finally {
      libc.close();
    }
  };
}

/** Without read permission for it (never asked for), the path is assumed to exist and a failing open is caught later. */
function exists(path: string): boolean {
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") return true;
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
