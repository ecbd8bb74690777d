/** The cache key of a request: what makes two /sign requests the same certificate. Pure. */
import { hex } from "../lib/bytes.ts";
import type { CacheKey } from "./types.ts";

/** The cache key: SHA-256 over (directory URL, profile, CSR DER), hex. */
export async function cacheKey(
  directoryUrl: string,
  profile: string | undefined,
  csrDer: Uint8Array,
): Promise<CacheKey> {
  const head = new TextEncoder().encode(`${directoryUrl}\u0000${profile ?? ""}\u0000`);
  const data = new Uint8Array(head.length + csrDer.length);
  data.set(head);
  data.set(csrDer, head.length);
  const digest = await crypto.subtle.digest("SHA-256", data);
  return hex(new Uint8Array(digest));
}
