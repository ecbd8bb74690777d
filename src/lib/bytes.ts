/**
 * Small shared helpers: hex encoding, one-line error descriptions and a cancellable sleep.
 *
 * Contract: nothing here throws; `sleep` always clears its timer (tests run with the op sanitizer).
 */

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** Lower-case hex of `bytes`. */
export function hex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]];
  return out;
}

/** True when `a` and `b` hold the same bytes (not constant-time: for public data only). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let from = 0;
  // Four bytes at a time when both start on a word boundary (a body of a KB: a quarter of the steps).
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const words = a.length >>> 2;
    const wa = new Uint32Array(a.buffer, a.byteOffset, words);
    const wb = new Uint32Array(b.buffer, b.byteOffset, words);
    for (let i = 0; i < words; i++) if (wa[i] !== wb[i]) return false;
    from = words << 2;
  }
  for (let i = from; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What an error says when it has nothing more specific: its message, and its code when the message lacks it. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

/**
 * Describes a file-system error in the words an operator acts on (`notFound` names what a missing path means at the
 * caller: "no such file or directory", "a parent directory does not exist").
 */
export function describeFsError(error: unknown, notFound = "no such file or directory"): string {
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotFound) return notFound;
  if (error instanceof Deno.errors.AlreadyExists) return "a file with that name exists";
  return describeError(error);
}

/** Waits `ms` milliseconds, or less when `signal` aborts (it resolves then: the caller checks the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    if (signal?.aborted) done();
    else signal?.addEventListener("abort", done, { once: true });
  });
}
