/**
 * The CSR parser /sign and the ACME front end use: `parseCsrPem` with memory. Verified CSRs are remembered by the
 * SHA-256 of their DER (bounded, least recently used out), exact bodies by their bytes, so a repeated request skips
 * PEM decoding, hashing and the signature check; identical CSRs arriving together share one verification.
 */
import { type CsrParseResult, parseCsrDer, type ParsedCsr, sha256Hex } from "./intake.ts";
import { extractCsrDer } from "./pem.ts";
import { sameBytes } from "../lib/bytes.ts";

/** A `parseCsrPem` that remembers verified CSRs by the SHA-256 of their DER (bounded, least recently used out). */
export interface CsrParser {
  parse(body: Uint8Array | string): Promise<CsrParseResult>;
  /** `parse`'s answer for exactly this body when it is remembered (no waiting), else undefined. */
  parseKnown?(body: Uint8Array | string): CsrParseResult | undefined;
  /** Number of cached CSRs. */
  readonly size: number;
  clear(): void;
}

/** The bytes of a body given as text (the ACME front end passes PEM text): what it would be sent as. */
const UTF8 = new TextEncoder();

/** A remembered body: its exact bytes, its hash, and the answer for it (shared: callers only read it). */
interface KnownBody {
  bytes: Uint8Array;
  hash: number;
  result: { readonly ok: true; readonly csr: ParsedCsr };
}

export function createCsrParser(options: { maxEntries: number }): CsrParser {
  const maxEntries = Math.max(0, Math.floor(options.maxEntries));
  const cache = new Map<string, ParsedCsr>();
  // Identical CSRs arriving together share one verification.
  const pending = new Map<string, Promise<CsrParseResult>>();
  // Exact bodies seen before, so a repeated request skips PEM decoding and hashing: by a hash of their bytes (a
  // look-up compares the bytes themselves), and each CSR's body by its DER hash.
  const byBody = new Map<number, KnownBody[]>();
  const bodyOf = new Map<string, KnownBody>();
  const forget = (known: KnownBody) => {
    const list = byBody.get(known.hash);
    if (!list) return;
    const rest = list.filter((k) => k !== known);
    if (rest.length > 0) byBody.set(known.hash, rest);
    else byBody.delete(known.hash);
  };
  const evictOldest = () => {
    const oldest = cache.keys().next().value!;
    cache.delete(oldest);
    const body = bodyOf.get(oldest);
    if (body !== undefined) forget(body);
    bodyOf.delete(oldest);
  };
  const knownBody = (bytes: Uint8Array, hash: number): CsrParseResult | undefined => {
    const list = byBody.get(hash);
    if (!list) return undefined;
    for (const known of list) {
      if (!sameBytes(known.bytes, bytes)) continue;
      const csr = known.result.csr;
      if (cache.get(csr.sha256) !== csr) return undefined;
      cache.delete(csr.sha256);
      cache.set(csr.sha256, csr);
      return known.result;
    }
    return undefined;
  };
  const bytesOf = (body: Uint8Array | string) => typeof body === "string" ? UTF8.encode(body) : body;
  return {
    parseKnown(body) {
      const bytes = bytesOf(body);
      return knownBody(bytes, bodyHash(bytes));
    },
    async parse(body) {
      const bytes = bytesOf(body);
      const bodyKey = bodyHash(bytes);
      const known = knownBody(bytes, bodyKey);
      if (known) return known;
      const remember = (csr: ParsedCsr) => {
        if (maxEntries === 0 || bytes.length > 65_536) return;
        const previous = bodyOf.get(csr.sha256);
        if (previous !== undefined) forget(previous);
        // A copy: the caller's buffer is not ours to keep.
        const entry: KnownBody = { bytes: bytes.slice(), hash: bodyKey, result: { ok: true, csr } };
        let list = byBody.get(bodyKey);
        if (!list) byBody.set(bodyKey, list = []);
        list.push(entry);
        bodyOf.set(csr.sha256, entry);
      };
      const pem = extractCsrDer(body);
      if (!pem.ok) return { ok: false, kind: "unusable-csr", code: pem.code, reason: pem.reason };
      const hash = await sha256Hex(pem.der);
      const hit = cache.get(hash);
      if (hit) {
        cache.delete(hash);
        cache.set(hash, hit);
        remember(hit);
        return { ok: true, csr: hit };
      }
      const inFlight = pending.get(hash);
      if (inFlight) return inFlight;
      const parsing = parseCsrDer(pem.der, hash);
      pending.set(hash, parsing);
      try {
        const result = await parsing;
        if (result.ok && maxEntries > 0) {
          cache.set(hash, result.csr);
          remember(result.csr);
          while (cache.size > maxEntries) evictOldest();
        }
        return result;
      } finally {
        pending.delete(hash);
      }
    },
    get size() {
      return cache.size;
    },
    clear() {
      cache.clear();
      byBody.clear();
      bodyOf.clear();
    },
  };
}

/**
 * FNV-1a over the body's bytes, four at a time (a look-up key only: equal hashes are confirmed byte by byte, so a
 * collision costs a comparison, never a wrong answer).
 */
function bodyHash(bytes: Uint8Array): number {
  let hash = 0x811c9dc5 ^ bytes.length;
  const words = bytes.length >>> 2;
  if (bytes.byteOffset % 4 === 0) {
    const view = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
    for (let i = 0; i < words; i++) hash = Math.imul(hash ^ view[i], 0x01000193);
  } else {
    for (let i = 0; i < words; i++) {
      const j = i << 2;
      hash = Math.imul(hash ^ (bytes[j] | bytes[j + 1] << 8 | bytes[j + 2] << 16 | bytes[j + 3] << 24), 0x01000193);
    }
  }
  for (let i = words << 2; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193);
  return hash >>> 0;
}
