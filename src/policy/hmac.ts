/**
 * HMAC verification of a /sign body against an auth block's shared secret.
 *
 * The MAC covers the exact body bytes as received (no newline or whitespace normalization). A digest of the wrong
 * length or for another algorithm is refused before any comparison. Each block's key is imported once and cached
 * by block identity.
 *
 * Two paths decide, and only two:
 *  - `crypto.subtle.verify("HMAC", …)` on the decoded digest (constant time in the digest): every digest that has
 *    not verified before for these exact bytes, so every wrong digest, always takes this path;
 *  - the memo of successes: a digest that verified for a body is remembered with a copy of that body, per block and
 *    per (algorithm, key) — a changed key or algorithm starts an empty memo — at most 1,000 per block (then the memo
 *    starts over). The same digest with byte-identical body answers true again without a verify call: HMAC is
 *    deterministic, so this is the answer verify would give (a host repeating a request; it proves nothing a replay
 *    would not). A memo entry never admits anything else: another body, or another digest, misses the memo and goes
 *    to verify. Failures are never remembered.
 */
import { hex, sameBytes } from "../lib/bytes.ts";
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
 * True when the header carries a valid HMAC of `body` under the block's key and algorithm (decided by verify or by
 * the memo of successes). False for a block without HMAC, an absent or malformed header, another algorithm, or a
 * digest of the wrong length.
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
  // The memo of successes (see the contract above): keyed by block, then algorithm and key, then digest.
  let seen = verified.get(block);
  if (!seen || seen.secret !== hmac.key || seen.type !== hmac.type) {
    verified.set(block, seen = { type: hmac.type, secret: hmac.key, entries: new Map() });
  }
  // A parsed header is shared by every request that sent the same value: its digest's hex is remembered with it.
  let digest = digestHex.get(header.digest);
  if (digest === undefined) digestHex.set(header.digest, digest = hex(header.digest));
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
    if (seen.entries.size >= HMAC_MEMO_ENTRIES) seen.entries.clear();
    seen.entries.set(digest, body.slice());
  }
  return ok;
}

const digestHex = new WeakMap<Uint8Array, string>();

/** How many verified (digest, body) pairs a block remembers before its memo starts over. */
export const HMAC_MEMO_ENTRIES = 1000;

/** Per block, for one algorithm and key: the body (a copy) that each verified digest, in hex, was computed over. */
const verified = new WeakMap<AuthBlock, { type: HmacType; secret: string; entries: Map<string, Uint8Array> }>();
