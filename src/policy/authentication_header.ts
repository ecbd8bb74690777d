/**
 * The `Authentication` request header that carries a client's HMAC over the CSR body.
 *
 * Canonical form: `Authentication: hmac name=sha256, hash=<hex>`. Also accepted, because real clients send them:
 * the README's form without a comma (`hmac name=sha256 hash=<hex>`), `,` without a space, parameters in any order,
 * extra unknown parameters (ignored), any case for the scheme, parameter names, the algorithm and the hex digits,
 * spaces around `=`, double-quoted values, and the algorithm spelled `sha-256` or `sha2-256` (what OpenSSL 3's
 * `openssl dgst -hmac` prints). Anything else is a typed "malformed" result, never an exception (the original
 * answered 500).
 *
 * Only `Authentication` is read; `Authorization` is not (it never was, and proxies treat it specially).
 */
import type { HmacType } from "../config/types.ts";
import { showValue } from "../csr/display.ts";

/** Digest length in bytes for each supported HMAC hash. */
export const HMAC_DIGEST_BYTES: Readonly<Record<HmacType, number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

export type AuthenticationHeader =
  | { kind: "absent" }
  | { kind: "hmac"; algorithm: HmacType; digest: Uint8Array<ArrayBuffer> }
  | { kind: "malformed"; problem: string };

/** What a well-formed header looks like, for messages. */
export const AUTHENTICATION_EXAMPLE = "hmac name=sha256, hash=<hex>";

const ALGORITHMS: Record<string, HmacType> = {
  "sha1": "sha1",
  "sha-1": "sha1",
  "sha256": "sha256",
  "sha-256": "sha256",
  "sha2-256": "sha256",
  "sha384": "sha384",
  "sha-384": "sha384",
  "sha2-384": "sha384",
  "sha512": "sha512",
  "sha-512": "sha512",
  "sha2-512": "sha512",
};

/** The raw `Authentication` header value from a request, or null. Header names are case-insensitive. */
export function authenticationFromHeaders(headers: Headers): string | null {
  return headers.get("authentication");
}

const MAX_VALUE_LENGTH = 1024;

/** Results for header values seen recently (a host sends the same value for the same CSR every time). */
const parsedValues = new Map<string, AuthenticationHeader>();

/**
 * Parses an `Authentication` header value. Never throws. An empty or missing value is `absent`. A result may be
 * shared with other callers that passed the same value: read it, never change it.
 */
export function parseAuthenticationHeader(value: string | null | undefined): AuthenticationHeader {
  if (value === null || value === undefined) return { kind: "absent" };
  // A valid value is under 200 characters; anything this long is refused unparsed (no work for a hostile header).
  if (value.length > MAX_VALUE_LENGTH) {
    return malformed(`it is ${value.length} characters long (at most ${MAX_VALUE_LENGTH})`);
  }
  if (value.length > 512) return parseValue(value);
  let parsed = parsedValues.get(value);
  if (parsed === undefined) {
    parsed = parseValue(value);
    if (parsedValues.size >= 1000) parsedValues.clear();
    parsedValues.set(value, parsed);
  }
  return parsed;
}

function parseValue(value: string): AuthenticationHeader {
  const text = value.trim();
  if (text === "") return { kind: "absent" };
  const space = text.search(/[\s,]/);
  const scheme = space < 0 ? text : text.slice(0, space);
  if (scheme.includes("=")) return malformed("it has no scheme; it must start with 'hmac'");
  if (scheme.toLowerCase() !== "hmac") {
    return malformed(`the scheme is ${showValue(scheme.slice(0, 20))}, not 'hmac'`);
  }
  // Two linear passes (one /\s*=\s*/ pass backtracks quadratically over long runs of blanks).
  const rest = space < 0 ? "" : text.slice(space).replace(/\s+/g, " ").replace(/ ?= ?/g, "=");
  const params = new Map<string, string>();
  for (const part of rest.split(/[\s,]+/)) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    if (eq <= 0) return malformed("it has a parameter without '='");
    const key = part.slice(0, eq).toLowerCase();
    let val = part.slice(eq + 1);
    if (val.length >= 2 && val.startsWith('"') && val.endsWith('"')) val = val.slice(1, -1);
    if (key !== "name" && key !== "hash") continue;
    if (params.has(key)) return malformed(`it has more than one ${key}= parameter`);
    params.set(key, val);
  }
  const name = params.get("name");
  if (name === undefined) return malformed("it has no name= parameter");
  const algorithm = ALGORITHMS[name.toLowerCase()];
  if (!algorithm) {
    return malformed(`the algorithm ${showValue(name.slice(0, 20))} is not supported (sha256, sha384, sha512, sha1)`);
  }
  const hash = params.get("hash");
  if (hash === undefined || hash === "") return malformed("it has no hash= parameter");
  if (!/^[0-9a-fA-F]+$/.test(hash)) return malformed("the hash is not hexadecimal");
  const bytes = HMAC_DIGEST_BYTES[algorithm];
  if (hash.length !== bytes * 2) {
    return malformed(`the hash has ${hash.length} hex digits, ${algorithm} needs ${bytes * 2}`);
  }
  const digest = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) digest[i] = parseInt(hash.slice(2 * i, 2 * i + 2), 16);
  return { kind: "hmac", algorithm, digest };
}

/** The one-line refusal reason for a malformed header. Reveals nothing about configured blocks. */
export function malformedAuthenticationReason(problem: string): string {
  return `The Authentication header is malformed (${problem}): expected '${AUTHENTICATION_EXAMPLE}'`;
}

function malformed(problem: string): AuthenticationHeader {
  return { kind: "malformed", problem };
}
