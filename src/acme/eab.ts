/**
 * External account binding (RFC 8555 §7.3.4): a JWS over the account's public JWK, MACed with a key
 * the CA handed out beforehand.
 *
 * Contract: pure apart from the HMAC. The protected header carries `alg` (HS256 by default), `kid`
 * (the CA's key identifier) and `url` (the newAccount URL) and deliberately no nonce; the payload is
 * the account JWK. The MAC key is given as the CA prints it (base64url or standard base64, padding optional) or
 * as raw bytes.
 */
import { b64url, fromBase64Any, utf8 } from "./encoding.ts";
import type { PublicJwk } from "./jwk.ts";
import type { FlattenedJws } from "./jws.ts";

/** MAC algorithms allowed for EAB. */
export type EabAlgorithm = "HS256" | "HS384" | "HS512";

/** The credentials a CA issues for external account binding. */
export interface EabCredentials {
  /** The key identifier from the CA. */
  kid: string;
  /** The MAC key: base64url or standard base64 text (as CAs print it, padding optional) or raw bytes. */
  hmacKey: string | Uint8Array;
  /** Defaults to HS256. */
  alg?: EabAlgorithm;
}

const HASHES: Record<EabAlgorithm, string> = { HS256: "SHA-256", HS384: "SHA-384", HS512: "SHA-512" };

/** Builds the `externalAccountBinding` JWS for a newAccount request. */
export async function externalAccountBinding(
  creds: EabCredentials,
  accountJwk: PublicJwk,
  newAccountUrl: string,
): Promise<FlattenedJws> {
  const alg = creds.alg ?? "HS256";
  const hash = HASHES[alg];
  if (!hash) throw new TypeError(`Unsupported EAB algorithm "${alg}" (use HS256, HS384 or HS512)`);
  if (!creds.kid) throw new TypeError("EAB key identifier (kid) is empty");
  let keyBytes: Uint8Array<ArrayBuffer>;
  try {
    keyBytes = typeof creds.hmacKey === "string" ? fromBase64Any(creds.hmacKey) : new Uint8Array(creds.hmacKey);
  } catch {
    throw new TypeError(`EAB HMAC key for kid "${creds.kid}" is not base64url or base64`);
  }
  if (keyBytes.length === 0) throw new TypeError(`EAB HMAC key for kid "${creds.kid}" is empty`);
  const key = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash }, false, ["sign"]);
  const protectedB64 = b64url(JSON.stringify({ alg, kid: creds.kid, url: newAccountUrl }));
  const payloadB64 = b64url(JSON.stringify(accountJwk));
  const mac = await crypto.subtle.sign("HMAC", key, utf8(`${protectedB64}.${payloadB64}`));
  return { protected: protectedB64, payload: payloadB64, signature: b64url(mac) };
}
