/**
 * HMAC verification of a /sign body against an auth block's shared secret.
 *
 * The MAC covers the exact body bytes as received (no newline or whitespace normalization). Comparison is done by
 * `crypto.subtle.verify("HMAC", …)` on the decoded digest (constant time in the digest); a digest of the wrong
 * length or for another algorithm is refused before any comparison. Each block's key is imported once and cached
 * by block identity.
 */
import { hex } from "../lib/bytes.ts";
import type { AuthBlock, HmacType } from "../config/types.ts";
import { type AuthenticationHeader, HMAC_DIGEST_BYTES } from "./authentication_header.ts";

const HASH_NAMES: Readonly<Record<HmacType, string>> = {
  sha1: "SHA-1",
  sha256: "SHA-256",
  sha384: "SHA-384",
  sha512: "SHA-512",
};

interface CachedKey {
  type: HmacType;
  secret: string;
  key: Promise<CryptoKey | null>;
}

const keys = new WeakMap<AuthBlock, CachedKey>();

/** The block's imported HMAC key (null when the block has no HMAC or its key cannot be imported). */
export function hmacKeyFor(block: AuthBlock): Promise<CryptoKey | null> {
  const hmac = block.hmac;
  if (!hmac) return Promise.resolve(null);
  const cached = keys.get(block);
  if (cached && cached.type === hmac.type && cached.secret === hmac.key) return cached.key;
  const key = crypto.subtle
    .importKey("raw", new TextEncoder().encode(hmac.key), { name: "HMAC", hash: HASH_NAMES[hmac.type] }, false, [
      "verify",
    ])
    .catch(() => null);
  keys.set(block, { type: hmac.type, secret: hmac.key, key });
  return key;
}

/**
 * True when the header carries a valid HMAC of `body` under the block's key and algorithm. False for a block
 * without HMAC, an absent or malformed header, another algorithm, or a digest of the wrong length.
 */
export async function verifyBlockHmac(
  block: AuthBlock,
  header: AuthenticationHeader,
  body: Uint8Array,
): Promise<boolean> {
  const hmac = block.hmac;
  if (!hmac || header.kind !== "hmac") return false;
  if (header.algorithm !== hmac.type) return false;
  if (header.digest.length !== HMAC_DIGEST_BYTES[hmac.type]) return false;
  // HMAC is deterministic: a body and digest that verified under this key verify again (a repeated request from a
  // host; it proves nothing a replay of that request would not). Only successes are remembered, bounded per block.
  let seen = verified.get(block);
  if (!seen || seen.secret !== hmac.key) verified.set(block, seen = { secret: hmac.key, entries: new Map() });
  const digest = hex(header.digest);
  const known = seen.entries.get(digest);
  if (known !== undefined && sameBytes(known, body)) return true;
  const key = await hmacKeyFor(block);
  if (!key) return false;
  let ok: boolean;
  try {
    ok = await crypto.subtle.verify("HMAC", key, header.digest, new Uint8Array(body));
  } catch {
    return false;
  }
  if (ok) {
    if (seen.entries.size >= 1000) seen.entries.clear();
    seen.entries.set(digest, body.slice());
  }
  return ok;
}

/** Per block: the body (a copy) that each verified digest, in hex, was computed over. */
const verified = new WeakMap<AuthBlock, { secret: string; entries: Map<string, Uint8Array> }>();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
