/**
 * Flattened JWS JSON serialization (RFC 7515 §7.2.2) as ACME requires it (RFC 8555 §6.2).
 *
 * Contract: `signJws` signs with exactly one of `jwk`/`kid` in the protected header, plus `url` and
 * (unless omitted, as for the inner key-change JWS and EAB) `nonce`. `payload: undefined` produces
 * the empty payload of a POST-as-GET. The algorithm follows from the key: ECDSA P-256/P-384/P-521 →
 * ES256/ES384/ES512 (Web Crypto already emits the raw r||s form JWS wants), RSASSA-PKCS1-v1_5 →
 * RS256/RS384/RS512 by the key's hash. Pure apart from the signing itself.
 */
import { b64url, utf8 } from "./encoding.ts";
import type { PublicJwk } from "./jwk.ts";

/** Signature algorithms this module produces. */
export type JwsAlgorithm = "ES256" | "ES384" | "ES512" | "RS256" | "RS384" | "RS512";

/** A flattened JWS as posted to the CA. */
export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

/** The ACME protected header fields we set. */
export interface AcmeProtectedHeader {
  alg: JwsAlgorithm;
  url: string;
  nonce?: string;
  jwk?: PublicJwk;
  kid?: string;
}

/** Parameters of `signJws`. */
export interface SignJwsOptions {
  /** The private key to sign with. */
  privateKey: CryptoKey;
  /** The request URL (the `url` header). */
  url: string;
  /** The anti-replay nonce; omit only for inner JWSs (key change). */
  nonce?: string;
  /** Exactly one of `jwk` (newAccount, revocation by certificate key) or `kid` (account URL). */
  jwk?: PublicJwk;
  kid?: string;
  /** The JSON payload; `undefined` means POST-as-GET (empty payload). */
  payload?: unknown;
}

/** The JWS algorithm for a private key. */
export function jwsAlgorithm(key: CryptoKey): JwsAlgorithm {
  const alg = key.algorithm as EcKeyAlgorithm & RsaHashedKeyAlgorithm;
  if (alg.name === "ECDSA") {
    switch (alg.namedCurve) {
      case "P-256":
        return "ES256";
      case "P-384":
        return "ES384";
      case "P-521":
        return "ES512";
    }
    throw new TypeError(`Unsupported ECDSA curve "${alg.namedCurve}"`);
  }
  if (alg.name === "RSASSA-PKCS1-v1_5") {
    switch (alg.hash?.name) {
      case "SHA-256":
        return "RS256";
      case "SHA-384":
        return "RS384";
      case "SHA-512":
        return "RS512";
    }
    throw new TypeError(`Unsupported RSA hash "${alg.hash?.name}"`);
  }
  throw new TypeError(`Unsupported account key algorithm "${alg.name}" (use ECDSA or RSASSA-PKCS1-v1_5)`);
}

/** Web Crypto sign parameters for a JWS algorithm. */
export function signParams(alg: JwsAlgorithm): AlgorithmIdentifier | EcdsaParams {
  switch (alg) {
    case "ES256":
      return { name: "ECDSA", hash: "SHA-256" };
    case "ES384":
      return { name: "ECDSA", hash: "SHA-384" };
    case "ES512":
      return { name: "ECDSA", hash: "SHA-512" };
    default:
      return { name: "RSASSA-PKCS1-v1_5" };
  }
}

/** Signs an ACME request body. */
export async function signJws(opts: SignJwsOptions): Promise<FlattenedJws> {
  if ((opts.jwk === undefined) === (opts.kid === undefined)) {
    throw new TypeError("A JWS needs exactly one of jwk or kid");
  }
  const alg = jwsAlgorithm(opts.privateKey);
  const header: AcmeProtectedHeader = { alg, url: opts.url };
  if (opts.jwk) header.jwk = opts.jwk;
  if (opts.kid) header.kid = opts.kid;
  if (opts.nonce !== undefined) header.nonce = opts.nonce;
  const protectedB64 = b64url(JSON.stringify(header));
  const payloadB64 = opts.payload === undefined ? "" : b64url(JSON.stringify(opts.payload));
  const signature = await crypto.subtle.sign(
    signParams(alg),
    opts.privateKey,
    utf8(`${protectedB64}.${payloadB64}`),
  );
  return { protected: protectedB64, payload: payloadB64, signature: b64url(signature) };
}
