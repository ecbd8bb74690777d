/**
 * Account (and certificate) key pairs: generation and PEM import/export.
 *
 * Contract: keys are Web Crypto `CryptoKeyPair`s usable for JWS signing (ECDSA P-256/P-384/P-521, or
 * RSASSA-PKCS1-v1_5 with SHA-256). `importPrivateKeyPem` accepts PKCS#8 ("PRIVATE KEY"), PKCS#1
 * ("RSA PRIVATE KEY", as the Python ACMEMS may have written) and SEC1 ("EC PRIVATE KEY"); the latter
 * two are re-wrapped into PKCS#8 here because Web Crypto only imports PKCS#8. The public half is
 * derived from the private key, so a lone private-key file is enough. Encrypted PEM is rejected.
 */
import {
  children,
  decodeOid,
  DER_NULL,
  DerError,
  encodeNode,
  encodeOid,
  encodeSequence,
  encodeSmallInteger,
  expectTag,
  readOnly,
  TAG,
} from "./der.ts";
import { minimalJwk } from "./jwk.ts";
import { decodePem, encodePem } from "./pem.ts";

/** Key types acmems generates (the set Let's Encrypt accepts). */
export type KeyType = "ec-p256" | "ec-p384" | "rsa-2048" | "rsa-3072" | "rsa-4096";

/** All `KeyType` values, e.g. for config validation. */
export const KEY_TYPES: readonly KeyType[] = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"];

/** Options for key generation and import. */
export interface KeyOptions {
  /** Whether the private key can be exported again (`exportPrivateKeyPem`). */
  extractable?: boolean;
}

const OID_RSA = "1.2.840.113549.1.1.1";
const OID_EC = "1.2.840.10045.2.1";
const CURVES: Record<string, string> = {
  "1.2.840.10045.3.1.7": "P-256",
  "1.3.132.0.34": "P-384",
  "1.3.132.0.35": "P-521",
};
const RSA_ALG: RsaHashedImportParams = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };

/** Generates a key pair; extractable by default so it can be saved. */
export async function generateKeyPair(type: KeyType, opts: KeyOptions = {}): Promise<CryptoKeyPair> {
  const extractable = opts.extractable ?? true;
  const usages: KeyUsage[] = ["sign", "verify"];
  switch (type) {
    case "ec-p256":
      return await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, extractable, usages);
    case "ec-p384":
      return await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, extractable, usages);
    case "rsa-2048":
    case "rsa-3072":
    case "rsa-4096":
      return await crypto.subtle.generateKey(
        { ...RSA_ALG, modulusLength: Number(type.slice(4)), publicExponent: new Uint8Array([1, 0, 1]) },
        extractable,
        usages,
      );
  }
  throw new TypeError(`Unknown key type "${type}" (expected one of ${KEY_TYPES.join(", ")})`);
}

/** Describes a key as a `KeyType` (or e.g. `"ec-p521"`, `"rsa-1024"` for keys outside the set). */
export function describeKey(key: CryptoKey): string {
  const alg = key.algorithm as EcKeyAlgorithm & RsaHashedKeyAlgorithm;
  if (alg.name === "ECDSA") return `ec-${alg.namedCurve.replace("-", "").toLowerCase()}`;
  if (alg.name === "RSASSA-PKCS1-v1_5") return `rsa-${alg.modulusLength}`;
  return alg.name;
}

/** Exports a private key as unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY"). */
export async function exportPrivateKeyPem(privateKey: CryptoKey): Promise<string> {
  if (!privateKey.extractable) throw new TypeError("The private key is not extractable");
  return encodePem("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", privateKey)));
}

/** Exports a public key as SPKI PEM ("BEGIN PUBLIC KEY"). */
export async function exportPublicKeyPem(publicKey: CryptoKey): Promise<string> {
  return encodePem("PUBLIC KEY", new Uint8Array(await crypto.subtle.exportKey("spki", publicKey)));
}

/** Imports a private key PEM (PKCS#8, PKCS#1 RSA or SEC1 EC) as a key pair. */
export async function importPrivateKeyPem(pem: string, opts: KeyOptions = {}): Promise<CryptoKeyPair> {
  const block = decodePem(pem, ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"]);
  let pkcs8: Uint8Array<ArrayBuffer>;
  try {
    switch (block.label) {
      case "PRIVATE KEY":
        pkcs8 = block.der;
        break;
      case "RSA PRIVATE KEY":
        pkcs8 = wrapPkcs1(block.der);
        break;
      case "EC PRIVATE KEY":
        pkcs8 = wrapSec1(block.der);
        break;
      default:
        throw new TypeError("Encrypted private keys are not supported; decrypt it first (openssl pkey)");
    }
    return await importPkcs8(pkcs8, opts.extractable ?? false);
  } catch (e) {
    if (e instanceof DerError) throw new TypeError(`Malformed "${block.label}" PEM: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Imports PKCS#8 DER as a key pair (public half derived via JWK). */
export async function importPkcs8(pkcs8: Uint8Array<ArrayBuffer>, extractable = false): Promise<CryptoKeyPair> {
  const algorithm = pkcs8Algorithm(pkcs8);
  // Import once extractable to derive the public key, then again with the caller's extractability.
  const tmp = await crypto.subtle.importKey("pkcs8", pkcs8, algorithm, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", tmp);
  const publicKey = await crypto.subtle.importKey("jwk", { ...minimalJwk(jwk), ext: true }, algorithm, true, [
    "verify",
  ]);
  const privateKey = extractable ? tmp : await crypto.subtle.importKey("pkcs8", pkcs8, algorithm, false, ["sign"]);
  return { privateKey, publicKey };
}

/** Reads the Web Crypto import algorithm from a PKCS#8 PrivateKeyInfo. */
function pkcs8Algorithm(pkcs8: Uint8Array): RsaHashedImportParams | EcKeyImportParams {
  const [version, algId] = children(readOnly(pkcs8, TAG.SEQUENCE));
  expectTag(version, TAG.INTEGER);
  const [oidNode, params] = children(expectTag(algId, TAG.SEQUENCE));
  const oid = decodeOid(expectTag(oidNode, TAG.OID).content);
  if (oid === OID_RSA) return RSA_ALG;
  if (oid === OID_EC) {
    const curveOid = params?.tag === TAG.OID ? decodeOid(params.content) : "(none)";
    const namedCurve = CURVES[curveOid];
    if (!namedCurve) throw new TypeError(`Unsupported EC curve OID ${curveOid} (use P-256 or P-384)`);
    return { name: "ECDSA", namedCurve };
  }
  throw new TypeError(`Unsupported private key algorithm OID ${oid} (use RSA or EC P-256/P-384)`);
}

/** Wraps a PKCS#1 RSAPrivateKey into PKCS#8 (RFC 5208 PrivateKeyInfo). */
export function wrapPkcs1(pkcs1: Uint8Array): Uint8Array<ArrayBuffer> {
  readOnly(pkcs1, TAG.SEQUENCE);
  return encodeSequence(
    encodeSmallInteger(0),
    encodeSequence(encodeOid(OID_RSA), DER_NULL),
    encodeNode(TAG.OCTET_STRING, pkcs1),
  );
}

/** Wraps a SEC1 ECPrivateKey (RFC 5915) into PKCS#8, taking the curve from its parameters. */
export function wrapSec1(sec1: Uint8Array): Uint8Array<ArrayBuffer> {
  const fields = children(readOnly(sec1, TAG.SEQUENCE));
  const params = fields.find((f) => f.tag === 0xa0);
  const curve = params ? children(params)[0] : undefined;
  if (!curve || curve.tag !== TAG.OID) throw new TypeError("EC PRIVATE KEY has no named-curve parameters");
  return encodeSequence(
    encodeSmallInteger(0),
    encodeSequence(encodeOid(OID_EC), encodeNode(TAG.OID, curve.content)),
    encodeNode(TAG.OCTET_STRING, sec1),
  );
}
