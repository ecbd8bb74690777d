/**
 * The CSR parser /sign and the ACME front end use: `parseCsrPem` with memory. Verified CSRs are remembered by the
 * SHA-256 of their DER (bounded, least recently used out), exact bodies by their bytes, so a repeated request skips
 * PEM decoding, hashing and the signature check; identical CSRs arriving together share one verification.
 */
import { type CsrParseResult, parseCsrDer, type ParsedCsr, sha256Hex } from "./intake.ts";
import { extractCsrDer } from "./pem.ts";

/** A `parseCsrPem` that remembers verified CSRs by the SHA-256 of their DER (bounded, least recently used out). */
export interface CsrParser {
  parse(body: Uint8Array | string): Promise<CsrParseResult>;
  /** `parse`'s answer for exactly this body when it is remembered (no waiting), else undefined. */
  parseKnown?(body: Uint8Array | string): CsrParseResult | undefined;
  /** Number of cached CSRs. */
  readonly size: number;
  clear(): void;
}

/** windows-1252 gives every byte its own character, so a decoded body is an exact map key. */
const BODY_KEY = new TextDecoder("windows-1252");

export function createCsrParser(options: { maxEntries: number }): CsrParser {
  const maxEntries = Math.max(0, Math.floor(options.maxEntries));
  const cache = new Map<string, ParsedCsr>();
  // Identical CSRs arriving together share one verification.
  const pending = new Map<string, Promise<CsrParseResult>>();
  // Exact bodies seen before, so a repeated request skips PEM decoding and hashing; body key by DER hash.
  const byBody = new Map<string, ParsedCsr>();
  const bodyOf = new Map<string, string>();
  const evictOldest = () => {
    const oldest = cache.keys().next().value!;
    cache.delete(oldest);
    const body = bodyOf.get(oldest);
    if (body !== undefined) byBody.delete(body);
    bodyOf.delete(oldest);
  };
  const knownBody = (bodyKey: string): CsrParseResult | undefined => {
    const known = byBody.get(bodyKey);
    if (!known || cache.get(known.sha256) !== known) return undefined;
    cache.delete(known.sha256);
    cache.set(known.sha256, known);
    return { ok: true, csr: known };
  };
  return {
    parseKnown(body) {
      return knownBody(typeof body === "string" ? body : BODY_KEY.decode(body));
    },
    async parse(body) {
      const bodyKey = typeof body === "string" ? body : BODY_KEY.decode(body);
      const known = knownBody(bodyKey);
      if (known) return known;
      const remember = (csr: ParsedCsr) => {
        if (maxEntries === 0 || bodyKey.length > 65_536) return;
        const previous = bodyOf.get(csr.sha256);
        if (previous !== undefined) byBody.delete(previous);
        byBody.set(bodyKey, csr);
        bodyOf.set(csr.sha256, bodyKey);
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
