/**
 * Public JWKs for ACME: export (only the members RFC 7638 hashes), thumbprint, key authorizations.
 *
 * Contract: pure functions over Web Crypto; an account key's public half must be extractable (public
 * keys from `generateKey`/our importers always are). Tokens are checked against RFC 8555 §8.3's
 * base64url alphabet before use, because a hostile CA controls them.
 */
import { b64url, utf8 } from "./encoding.ts";

/** An EC public JWK with only its required members. */
export interface EcPublicJwk {
  kty: "EC";
  crv: string;
  x: string;
  y: string;
}

/** An RSA public JWK with only its required members. */
export interface RsaPublicJwk {
  kty: "RSA";
  n: string;
  e: string;
}

/** A public JWK as sent in JWS `jwk` headers. */
export type PublicJwk = EcPublicJwk | RsaPublicJwk;

/** Exports a public key as a minimal JWK (no `alg`, `key_ops`, `ext`). */
export async function exportPublicJwk(publicKey: CryptoKey): Promise<PublicJwk> {
  if (publicKey.type !== "public") throw new TypeError(`Expected a public key, got a ${publicKey.type} key`);
  const jwk = await crypto.subtle.exportKey("jwk", publicKey);
  return minimalJwk(jwk);
}

/** Reduces any (public or private) JWK to its public required members. */
export function minimalJwk(jwk: JsonWebKey): PublicJwk {
  if (jwk.kty === "EC" && jwk.crv && jwk.x && jwk.y) return { kty: "EC", crv: jwk.crv, x: jwk.x, y: jwk.y };
  if (jwk.kty === "RSA" && jwk.n && jwk.e) return { kty: "RSA", n: jwk.n, e: jwk.e };
  throw new TypeError(`Unsupported JWK key type "${jwk.kty}"`);
}

/** An OKP (Ed25519) public JWK with only its required members (RFC 8037; accepted from ACME clients). */
export interface OkpPublicJwk {
  kty: "OKP";
  crv: string;
  x: string;
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url). */
export async function jwkThumbprint(jwk: PublicJwk | OkpPublicJwk): Promise<string> {
  // Required members in lexicographic order, no whitespace (RFC 7638 §3.2; RFC 8037 §2 for OKP).
  const canonical = jwk.kty === "EC"
    ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
    : jwk.kty === "RSA"
    ? JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n })
    : JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return b64url(await crypto.subtle.digest("SHA-256", utf8(canonical)));
}

const TOKEN_RE = /^[A-Za-z0-9_-]+$/;

/** Throws unless `token` is a plausible RFC 8555 challenge token (non-empty base64url). */
export function assertValidToken(token: string): void {
  if (!TOKEN_RE.test(token)) throw new TypeError(`Challenge token "${token.slice(0, 80)}" is not base64url`);
}

/** The key authorization `token.thumbprint` (RFC 8555 §8.1): the http-01 response body. */
export function keyAuthorization(token: string, thumbprint: string): string {
  assertValidToken(token);
  return `${token}.${thumbprint}`;
}

/** The dns-01 TXT record value: base64url(SHA-256(keyAuthorization)) (RFC 8555 §8.4). */
export async function dns01TxtValue(keyAuth: string): Promise<string> {
  return b64url(await crypto.subtle.digest("SHA-256", utf8(keyAuth)));
}
