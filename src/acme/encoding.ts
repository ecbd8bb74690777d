/**
 * Byte/text helpers for JOSE: base64url without padding (RFC 7515 §2), UTF-8, hex.
 *
 * Contract: every function is pure and total on valid input; decoders throw a `TypeError` naming the
 * offending input when it is not in the expected alphabet. All returned byte arrays are fresh
 * `Uint8Array<ArrayBuffer>`s, so they can be handed straight to `crypto.subtle`.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes a string as UTF-8 bytes. */
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text) as Uint8Array<ArrayBuffer>;
}

/** Decodes UTF-8 bytes; throws on invalid UTF-8. */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Encodes bytes (or a string as UTF-8) as base64url without padding. */
export function b64url(data: Uint8Array | ArrayBuffer | string): string {
  const bytes = typeof data === "string" ? utf8(data) : data instanceof Uint8Array ? data : new Uint8Array(data);
  let binary = "";
  // Chunked so very large inputs do not blow the argument limit of String.fromCharCode.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/** Decodes base64url (padding tolerated); throws a `TypeError` on characters outside the alphabet. */
export function fromB64url(text: string): Uint8Array<ArrayBuffer> {
  const stripped = text.replace(/=+$/, "");
  if (!B64URL_RE.test(stripped) || stripped.length % 4 === 1) {
    throw new TypeError(`Invalid base64url string "${abbreviate(text)}"`);
  }
  return fromBase64Std(stripped.replaceAll("-", "+").replaceAll("_", "/"));
}

/**
 * Decodes base64 in either alphabet, standard (`+ /`) or URL-safe (`- _`), padding optional (if present it must
 * make the length a multiple of 4); throws a `TypeError` otherwise. For keys that CAs print either way (EAB).
 */
export function fromBase64Any(text: string): Uint8Array<ArrayBuffer> {
  const body = text.replace(/={1,2}$/, "");
  if (!/^[A-Za-z0-9+/_-]*$/.test(body) || body.length % 4 === 1 || (body !== text && text.length % 4 !== 0)) {
    throw new TypeError(`Invalid base64 string "${abbreviate(text)}"`);
  }
  return fromBase64Std(body.replaceAll("-", "+").replaceAll("_", "/"));
}

/** Decodes standard base64 (as in PEM bodies); whitespace is ignored. */
export function fromBase64Std(text: string): Uint8Array<ArrayBuffer> {
  const clean = text.replace(/\s+/g, "");
  const padded = clean + "=".repeat((4 - (clean.length % 4)) % 4);
  let binary: string;
  try {
    binary = atob(padded);
  } catch {
    throw new TypeError(`Invalid base64 string "${abbreviate(text)}"`);
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Encodes bytes as standard base64 with padding (PEM bodies). */
export function toBase64Std(bytes: Uint8Array): string {
  return b64url(bytes).replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((3 - (bytes.length % 3)) % 3);
}

/** Encodes bytes as lowercase hex without separators. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Decodes hex; `:` and whitespace separators (as printed by openssl) are ignored. */
export function fromHex(text: string): Uint8Array<ArrayBuffer> {
  const clean = text.replace(/[\s:]/g, "");
  if (!/^[0-9a-fA-F]*$/.test(clean) || clean.length % 2 !== 0) {
    throw new TypeError(`Invalid hex string "${abbreviate(text)}"`);
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Returns a copy backed by a plain `ArrayBuffer` (what `crypto.subtle` accepts under TS 6). */
export function toArrayBufferBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Shortens a value for an error message. */
export function abbreviate(text: string, max = 60): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
