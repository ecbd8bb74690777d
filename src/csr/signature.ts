/**
 * A CSR's self-signature checked with Web Crypto alone, for the algorithms CSRs use (ECDSA on P-256/P-384/P-521
 * with SHA-256/384/512, RSA PKCS #1 v1.5 with SHA-256/384/512, Ed25519): no X.509 library is loaded for them.
 *
 * Contract: resolves true only when Web Crypto verified the signature over the exact certificationRequestInfo bytes,
 * with the CSR's own public key, under the algorithm its signatureAlgorithm names (the key's type and curve must
 * match it). Resolves false for anything else: another algorithm, a key that does not import, a malformed signature,
 * a signature that does not verify. Never throws. A false is not a verdict: the caller then asks the full X.509
 * library (intake.ts), so the result for every CSR is what it was with the library alone, and an accepted CSR
 * always had its signature verified.
 */
import { children, expectTag, readBitStringBytes, readOid, readOuter, TAG, type Tlv } from "../lib/der.ts";

type Scheme =
  | { kind: "ecdsa"; hash: string }
  | { kind: "rsa"; hash: string }
  | { kind: "ed25519" };

const SCHEMES: Record<string, Scheme> = {
  "1.2.840.10045.4.3.2": { kind: "ecdsa", hash: "SHA-256" },
  "1.2.840.10045.4.3.3": { kind: "ecdsa", hash: "SHA-384" },
  "1.2.840.10045.4.3.4": { kind: "ecdsa", hash: "SHA-512" },
  "1.2.840.113549.1.1.11": { kind: "rsa", hash: "SHA-256" },
  "1.2.840.113549.1.1.12": { kind: "rsa", hash: "SHA-384" },
  "1.2.840.113549.1.1.13": { kind: "rsa", hash: "SHA-512" },
  "1.3.101.112": { kind: "ed25519" },
};

const EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const RSA_ENCRYPTION = "1.2.840.113549.1.1.1";
const ED25519 = "1.3.101.112";
/** Curve OID → Web Crypto name and the byte length of r and s. */
const CURVES: Record<string, { name: string; size: number }> = {
  "1.2.840.10045.3.1.7": { name: "P-256", size: 32 },
  "1.3.132.0.34": { name: "P-384", size: 48 },
  "1.3.132.0.35": { name: "P-521", size: 66 },
};

/** True when Web Crypto verified the CSR's signature (see the contract above); false in every other case. */
export async function verifyCsrSignatureNatively(der: Uint8Array<ArrayBuffer>): Promise<boolean> {
  try {
    const top = children(der, readOuter(der, TAG.SEQUENCE));
    if (top.length !== 3) return false;
    const [info, sigAlg, signatureTlv] = top;
    const algorithm = children(der, expectTag(sigAlg, TAG.SEQUENCE, "signatureAlgorithm"));
    const scheme = SCHEMES[readOid(der, algorithm[0])];
    if (!scheme) return false;
    const signature = readBitStringBytes(der, signatureTlv);
    const infoParts = children(der, expectTag(info, TAG.SEQUENCE, "certificationRequestInfo"));
    if (infoParts.length !== 4) return false;
    const spki = expectTag(infoParts[2], TAG.SEQUENCE, "subjectPublicKeyInfo");
    const keyAlgorithm = children(der, expectTag(children(der, spki)[0], TAG.SEQUENCE, "key algorithm"));
    const keyOid = readOid(der, keyAlgorithm[0]);
    const spkiBytes = der.slice(spki.start, spki.end);
    const signed = der.slice(info.start, info.end);
    if (scheme.kind === "ecdsa") {
      if (keyOid !== EC_PUBLIC_KEY || keyAlgorithm[1]?.tag !== TAG.OID) return false;
      const curve = CURVES[readOid(der, keyAlgorithm[1])];
      if (!curve) return false;
      const raw = ecdsaRaw(signature, curve.size);
      if (!raw) return false;
      const key = await crypto.subtle.importKey("spki", spkiBytes, { name: "ECDSA", namedCurve: curve.name }, false, [
        "verify",
      ]);
      return await crypto.subtle.verify({ name: "ECDSA", hash: scheme.hash }, key, raw, signed);
    }
    if (scheme.kind === "rsa") {
      if (keyOid !== RSA_ENCRYPTION) return false;
      const params = { name: "RSASSA-PKCS1-v1_5", hash: scheme.hash };
      const key = await crypto.subtle.importKey("spki", spkiBytes, params, false, ["verify"]);
      return await crypto.subtle.verify(params, key, signature.slice(), signed);
    }
    if (keyOid !== ED25519) return false;
    const key = await crypto.subtle.importKey("spki", spkiBytes, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature.slice(), signed);
  } catch {
    // A structure Web Crypto or this reader cannot take: the X.509 library decides (intake.ts).
    return false;
  }
}

/** An ECDSA-Sig-Value (SEQUENCE { r INTEGER, s INTEGER }) as Web Crypto's r || s, or null when malformed. */
function ecdsaRaw(signature: Uint8Array, size: number): Uint8Array<ArrayBuffer> | null {
  const sequence = readOuter(signature, TAG.SEQUENCE);
  const parts = children(signature, sequence);
  if (parts.length !== 2) return null;
  const out = new Uint8Array(2 * size);
  for (const [i, part] of parts.entries()) {
    if (part.tag !== TAG.INTEGER) return null;
    const bytes = unsigned(signature, part);
    if (!bytes || bytes.length > size) return null;
    out.set(bytes, (i + 1) * size - bytes.length);
  }
  return out;
}

/** A positive INTEGER's magnitude without leading zero bytes (null for a negative or empty one). */
function unsigned(buf: Uint8Array, tlv: Tlv): Uint8Array | null {
  let bytes = buf.subarray(tlv.contentStart, tlv.end);
  if (bytes.length === 0 || (bytes[0] & 0x80) !== 0) return null;
  while (bytes.length > 1 && bytes[0] === 0) bytes = bytes.subarray(1);
  return bytes;
}
