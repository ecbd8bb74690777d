/**
 * Incoming JWS (RFC 7515 flattened JSON, RFC 8555 §6.2): parsing, the protected header's rules, the key and the
 * signature. Which key to use (a `jwk` or the account named by `kid`) is the caller's business (router.ts):
 * `parseJws` reads and checks the shape, `verifyJws` checks the signature with a public JWK.
 *
 * Accepted algorithms: ES256 (P-256), ES384 (P-384), ES512 (P-521), RS256/RS384/RS512 and PS256/PS384/PS512 (RSA
 * of 2048 bits or more), EdDSA (Ed25519). `none` and the MAC algorithms (HS256, …) are `badSignatureAlgorithm`
 * with the `algorithms` list. Pure apart from Web Crypto.
 */
import { fromB64url, fromUtf8, utf8 } from "../acme/encoding.ts";
import { jwkThumbprint } from "../acme/jwk.ts";
import { AcmeError } from "./problems.ts";

/** The algorithms the front end verifies, as listed in a `badSignatureAlgorithm` problem. */
export const JWS_ALGORITHMS = [
  "ES256",
  "ES384",
  "ES512",
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "EdDSA",
] as const;

export type JwsAlg = typeof JWS_ALGORITHMS[number];

/** A public JWK as hosts send it. */
export type Jwk = JsonWebKey & { kty: string };

/** The protected header fields the front end reads. */
export interface ProtectedHeader {
  alg: JwsAlg;
  url: string;
  nonce?: string;
  jwk?: Jwk;
  kid?: string;
  [field: string]: unknown;
}

/** A parsed (not yet verified) flattened JWS. */
export interface ParsedJws {
  header: ProtectedHeader;
  protectedB64: string;
  payloadB64: string;
  signature: Uint8Array<ArrayBuffer>;
  /** The payload bytes ("" for POST-as-GET). */
  payloadText: string;
}

/** Options of `parseJws`. */
export interface ParseOptions {
  /** Whether the header must carry a nonce (the outer JWS) or must not (key change's inner JWS). */
  nonce: "required" | "forbidden";
}

/** Parses a flattened JWS body; throws `AcmeError` (malformed, badSignatureAlgorithm, badNonce). */
export function parseJws(body: unknown, opts: ParseOptions): ParsedJws {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new AcmeError("malformed", "The body must be a JWS in flattened JSON serialization (a JSON object)");
  }
  const jws = body as Record<string, unknown>;
  if ("signatures" in jws) {
    throw new AcmeError("malformed", "JWS general serialization (signatures) is not accepted: use flattened JSON");
  }
  if ("header" in jws) {
    throw new AcmeError("malformed", "An unprotected JWS header is not accepted: put every field in protected");
  }
  for (const field of ["protected", "payload", "signature"]) {
    if (typeof jws[field] !== "string") throw new AcmeError("malformed", `The JWS has no ${field} string`);
  }
  const protectedB64 = jws.protected as string;
  const payloadB64 = jws.payload as string;
  let header: Record<string, unknown>;
  let payloadText: string;
  let signature: Uint8Array<ArrayBuffer>;
  try {
    header = JSON.parse(fromUtf8(fromB64url(protectedB64)));
    payloadText = fromUtf8(fromB64url(payloadB64));
    signature = fromB64url(jws.signature as string);
  } catch {
    throw new AcmeError("malformed", "The JWS protected header, payload or signature is not valid base64url JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new AcmeError("malformed", "The JWS protected header is not a JSON object");
  }
  const alg = header.alg;
  if (typeof alg !== "string" || !(JWS_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new AcmeError(
      "badSignatureAlgorithm",
      `The JWS algorithm ${JSON.stringify(alg ?? null)} is not accepted: sign with one of ${JWS_ALGORITHMS.join(", ")}`,
      { algorithms: JWS_ALGORITHMS },
    );
  }
  if (typeof header.url !== "string") throw new AcmeError("malformed", "The JWS protected header has no url");
  if (opts.nonce === "required" && (typeof header.nonce !== "string" || header.nonce === "")) {
    throw new AcmeError("badNonce", "The JWS protected header has no nonce: get one from newNonce");
  }
  if (opts.nonce === "forbidden" && header.nonce !== undefined) {
    throw new AcmeError("malformed", "The inner JWS of a key change must not carry a nonce");
  }
  const hasJwk = header.jwk !== undefined;
  const hasKid = header.kid !== undefined;
  if (hasJwk === hasKid) {
    throw new AcmeError("malformed", "The JWS protected header must carry exactly one of jwk and kid");
  }
  if (
    hasJwk && (typeof header.jwk !== "object" || header.jwk === null || typeof (header.jwk as Jwk).kty !== "string")
  ) {
    throw new AcmeError("malformed", "The JWS jwk is not a JSON Web Key");
  }
  if (hasKid && typeof header.kid !== "string") throw new AcmeError("malformed", "The JWS kid is not a string");
  return { header: header as ProtectedHeader, protectedB64, payloadB64, signature, payloadText };
}

/** The payload as JSON: `undefined` for POST-as-GET (empty payload); throws `malformed` for anything else. */
export function payloadJson(jws: ParsedJws): Record<string, unknown> | undefined {
  if (jws.payloadText === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(jws.payloadText);
  } catch {
    throw new AcmeError("malformed", "The JWS payload is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new AcmeError("malformed", "The JWS payload is not a JSON object");
  }
  return value as Record<string, unknown>;
}

/** Only the public members of a JWK (what is stored and hashed). */
export function publicMembers(jwk: Jwk): Jwk {
  switch (jwk.kty) {
    case "EC":
      return { kty: "EC", crv: jwk.crv, x: jwk.x, y: jwk.y };
    case "RSA":
      return { kty: "RSA", n: jwk.n, e: jwk.e };
    case "OKP":
      return { kty: "OKP", crv: jwk.crv, x: jwk.x };
    default:
      throw new AcmeError("badPublicKey", `JWK key type "${String(jwk.kty).slice(0, 20)}" is not supported`);
  }
}

/** RFC 7638 thumbprint (SHA-256, base64url) of a public JWK: the ACME client's, over the public members. */
export function thumbprint(jwk: Jwk): Promise<string> {
  return jwkThumbprint(publicMembers(jwk) as Parameters<typeof jwkThumbprint>[0]);
}

interface AlgSpec {
  import: RsaHashedImportParams | EcKeyImportParams | Algorithm;
  verify: AlgorithmIdentifier | EcdsaParams | RsaPssParams;
  kty: string;
  crv?: string;
  /** ECDSA: bytes of r||s. */
  signatureLength?: number;
}

function algSpec(alg: JwsAlg): AlgSpec {
  const hash = `SHA-${alg.slice(2)}`;
  switch (alg) {
    case "ES256":
    case "ES384":
    case "ES512": {
      const crv = alg === "ES256" ? "P-256" : alg === "ES384" ? "P-384" : "P-521";
      return {
        import: { name: "ECDSA", namedCurve: crv },
        verify: { name: "ECDSA", hash },
        kty: "EC",
        crv,
        signatureLength: alg === "ES256" ? 64 : alg === "ES384" ? 96 : 132,
      };
    }
    case "RS256":
    case "RS384":
    case "RS512":
      return { import: { name: "RSASSA-PKCS1-v1_5", hash }, verify: { name: "RSASSA-PKCS1-v1_5" }, kty: "RSA" };
    case "PS256":
    case "PS384":
    case "PS512":
      return {
        import: { name: "RSA-PSS", hash },
        verify: { name: "RSA-PSS", saltLength: Number(alg.slice(2)) / 8 },
        kty: "RSA",
      };
    case "EdDSA":
      return { import: { name: "Ed25519" }, verify: { name: "Ed25519" }, kty: "OKP", crv: "Ed25519" };
  }
}

/**
 * Verifies `jws`'s signature with `jwk` under the header's `alg`; throws `AcmeError`: `badPublicKey` for a key that
 * does not fit the algorithm or is too weak (RSA under 2048 bits), `malformed` for a signature that does not verify.
 */
export async function verifyJws(jws: ParsedJws, jwk: Jwk): Promise<void> {
  const spec = algSpec(jws.header.alg);
  const key = publicMembers(jwk);
  if (key.kty !== spec.kty || (spec.crv !== undefined && key.crv !== spec.crv)) {
    throw new AcmeError(
      "badPublicKey",
      `The ${jws.header.alg} algorithm does not fit a ${key.kty}${key.crv ? ` ${key.crv}` : ""} key`,
    );
  }
  if (key.kty === "RSA") {
    let bits = 0;
    try {
      bits = fromB64url(key.n ?? "").length * 8;
    } catch { /* reported below */ }
    if (bits < 2048) throw new AcmeError("badPublicKey", `The RSA key has ${bits} bits: use 2048 bits or more`);
  }
  let cryptoKey: CryptoKey;
  try {
    cryptoKey = await crypto.subtle.importKey("jwk", { ...key, ext: true }, spec.import, false, ["verify"]);
  } catch {
    throw new AcmeError("badPublicKey", "The JWK is not a valid public key");
  }
  if (spec.signatureLength !== undefined && jws.signature.length !== spec.signatureLength) {
    throw new AcmeError("malformed", "JWS signature verification failed (wrong signature length)");
  }
  const ok = await crypto.subtle.verify(
    spec.verify,
    cryptoKey,
    jws.signature,
    utf8(`${jws.protectedB64}.${jws.payloadB64}`),
  );
  if (!ok) throw new AcmeError("malformed", "JWS signature verification failed");
}
