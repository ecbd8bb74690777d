/**
 * Takes a PKCS#10 certificate request (RFC 2986) apart: subject common names, public key type and size, signature
 * algorithm, and the requested extensions acmems cares about (subjectAltName, TLS feature). Pure and synchronous;
 * throws `DerError` on anything that is not a well-formed CSR. The signature is checked elsewhere (intake.ts).
 */
import { formatIp } from "../lib/ip.ts";
import {
  checkWellFormed,
  children,
  content,
  DerError,
  expectTag,
  integerBitLength,
  readBitStringBytes,
  readOid,
  readOuter,
  readSmallInteger,
  readString,
  TAG,
  type Tlv,
} from "../lib/der.ts";

/** The public key of a CSR, classified. */
export type CsrKey =
  | { type: "RSA"; bits: number }
  | { type: "EC"; curve: string }
  | { type: "other"; name: string };

/** One subjectAltName entry. `value` is display text (IP addresses formatted, OIDs dotted). */
export interface SanEntry {
  type:
    | "dns"
    | "ip"
    | "email"
    | "uri"
    | "otherName"
    | "x400Address"
    | "directoryName"
    | "ediPartyName"
    | "registeredId";
  value: string;
}

export interface CsrStructure {
  /** Every CN in the subject, in order. */
  commonNames: string[];
  key: CsrKey;
  /** Dotted OID of the signature algorithm. */
  signatureOid: string;
  /** null when the CSR has no subjectAltName extension. */
  subjectAltNames: SanEntry[] | null;
  /** TLS feature extension values (RFC 7633), or null when absent. 5 = status_request (OCSP Must-Staple). */
  tlsFeatures: number[] | null;
}

const OID = {
  commonName: "2.5.4.3",
  extensionRequest: "1.2.840.113549.1.9.14",
  subjectAltName: "2.5.29.17",
  tlsFeature: "1.3.6.1.5.5.7.1.24",
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsaPss: "1.2.840.113549.1.1.10",
  ecPublicKey: "1.2.840.10045.2.1",
} as const;

const CURVES: Record<string, string> = {
  "1.2.840.10045.3.1.7": "P-256",
  "1.3.132.0.34": "P-384",
  "1.3.132.0.35": "P-521",
  "1.3.132.0.10": "secp256k1",
  "1.2.840.10045.3.1.1": "P-192",
  "1.3.132.0.33": "P-224",
  "1.3.36.3.3.2.8.1.1.7": "brainpoolP256r1",
  "1.3.36.3.3.2.8.1.1.11": "brainpoolP384r1",
  "1.3.36.3.3.2.8.1.1.13": "brainpoolP512r1",
};

const KEY_ALGORITHMS: Record<string, string> = {
  "1.3.101.112": "Ed25519",
  "1.3.101.113": "Ed448",
  "1.3.101.110": "X25519",
  "1.3.101.111": "X448",
  "1.2.840.10040.4.1": "DSA",
  "1.2.840.10046.2.1": "DH",
  "1.2.156.10197.1.301": "SM2",
};

/** Signature algorithm names for messages. */
export const SIGNATURE_ALGORITHMS: Record<string, string> = {
  "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
  "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
  "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
  "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
  "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
  "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
  "1.2.840.113549.1.1.10": "RSASSA-PSS",
  "1.2.840.10045.4.1": "ecdsa-with-SHA1",
  "1.2.840.10045.4.3.1": "ecdsa-with-SHA224",
  "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
  "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
  "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
  "1.3.101.112": "Ed25519",
  "1.3.101.113": "Ed448",
};

/** Signature algorithms whose hash is too weak for a CA to accept. */
export const WEAK_SIGNATURE_OIDS: ReadonlySet<string> = new Set([
  "1.2.840.113549.1.1.4",
  "1.2.840.113549.1.1.5",
  "1.2.840.10045.4.1",
]);

/** Human-readable key text: "RSA 2048", "EC P-256", "Ed25519". */
export function describeKey(key: CsrKey): string {
  switch (key.type) {
    case "RSA":
      return `RSA ${key.bits}`;
    case "EC":
      return `EC ${key.curve}`;
    case "other":
      return key.name;
  }
}

/** Parses the DER of a CSR. Throws `DerError` when it is not one. */
export function parseCsrStructure(der: Uint8Array): CsrStructure {
  const outer = readOuter(der, TAG.SEQUENCE);
  checkWellFormed(der, outer);
  const top = children(der, outer);
  if (top.length !== 3) throw new DerError("a CSR has exactly three parts", outer.start);
  const [info, sigAlg, signature] = top;
  expectTag(info, TAG.SEQUENCE, "certificationRequestInfo");
  expectTag(sigAlg, TAG.SEQUENCE, "signatureAlgorithm");
  readBitStringBytes(der, signature);
  const sigAlgParts = children(der, sigAlg);
  if (sigAlgParts.length < 1) throw new DerError("empty signature algorithm", sigAlg.start);
  const signatureOid = readOid(der, sigAlgParts[0]);

  const infoParts = children(der, info);
  if (infoParts.length !== 4) {
    throw new DerError("certificationRequestInfo must have version, subject, key and attributes", info.start);
  }
  const [version, subject, spki, attributes] = infoParts;
  if (readSmallInteger(der, version) !== 0) throw new DerError("unsupported CSR version", version.start);
  const commonNames = parseSubjectCommonNames(der, expectTag(subject, TAG.SEQUENCE, "subject"));
  const key = parseKey(der, expectTag(spki, TAG.SEQUENCE, "subjectPublicKeyInfo"));
  expectTag(attributes, 0xa0, "attributes");

  let extensions: Tlv | null = null;
  for (const attribute of children(der, attributes)) {
    const parts = children(der, expectTag(attribute, TAG.SEQUENCE, "attribute"));
    if (parts.length !== 2) throw new DerError("an attribute has a type and a set of values", attribute.start);
    if (readOid(der, parts[0]) !== OID.extensionRequest) continue;
    if (extensions) throw new DerError("more than one extensionRequest attribute", attribute.start);
    const values = children(der, expectTag(parts[1], TAG.SET, "attribute values"));
    if (values.length !== 1) throw new DerError("extensionRequest must have exactly one value", parts[1].start);
    extensions = expectTag(values[0], TAG.SEQUENCE, "extensions");
  }

  let subjectAltNames: SanEntry[] | null = null;
  let tlsFeatures: number[] | null = null;
  if (extensions) {
    const seen = new Set<string>();
    for (const extension of children(der, extensions)) {
      const parts = children(der, expectTag(extension, TAG.SEQUENCE, "extension"));
      if (parts.length < 2 || parts.length > 3) throw new DerError("malformed extension", extension.start);
      const oid = readOid(der, parts[0]);
      if (seen.has(oid)) throw new DerError(`extension ${oid} appears twice`, extension.start);
      seen.add(oid);
      if (parts.length === 3) expectTag(parts[1], TAG.BOOLEAN, "extension critical flag");
      const value = expectTag(parts[parts.length - 1], TAG.OCTET_STRING, "extension value");
      if (oid === OID.subjectAltName) subjectAltNames = parseGeneralNames(der, value);
      else if (oid === OID.tlsFeature) tlsFeatures = parseTlsFeatures(der, value);
    }
  }
  return { commonNames, key, signatureOid, subjectAltNames, tlsFeatures };
}

function parseSubjectCommonNames(der: Uint8Array, subject: Tlv): string[] {
  const names: string[] = [];
  for (const rdn of children(der, subject)) {
    for (const atv of children(der, expectTag(rdn, TAG.SET, "relative distinguished name"))) {
      const parts = children(der, expectTag(atv, TAG.SEQUENCE, "attribute type and value"));
      if (parts.length !== 2) throw new DerError("malformed name attribute", atv.start);
      if (readOid(der, parts[0]) === OID.commonName) names.push(readString(der, parts[1]));
    }
  }
  return names;
}

function parseKey(der: Uint8Array, spki: Tlv): CsrKey {
  const parts = children(der, spki);
  if (parts.length !== 2) throw new DerError("malformed subjectPublicKeyInfo", spki.start);
  const algorithm = children(der, expectTag(parts[0], TAG.SEQUENCE, "key algorithm"));
  if (algorithm.length < 1) throw new DerError("empty key algorithm", parts[0].start);
  const oid = readOid(der, algorithm[0]);
  const keyBytes = readBitStringBytes(der, parts[1]);
  if (oid === OID.rsaEncryption || oid === OID.rsaPss) {
    const rsa = readOuter(keyBytes, TAG.SEQUENCE);
    const fields = children(keyBytes, rsa);
    if (fields.length !== 2) throw new DerError("malformed RSA public key", parts[1].start);
    const bits = integerBitLength(keyBytes, fields[0]);
    return oid === OID.rsaEncryption ? { type: "RSA", bits } : { type: "other", name: `RSA-PSS ${bits}` };
  }
  if (oid === OID.ecPublicKey) {
    const params = algorithm[1];
    if (!params) throw new DerError("EC key without curve parameters", parts[0].start);
    if (params.tag !== TAG.OID) return { type: "other", name: "EC (explicit curve parameters)" };
    const curveOid = readOid(der, params);
    return { type: "EC", curve: CURVES[curveOid] ?? curveOid };
  }
  return { type: "other", name: KEY_ALGORITHMS[oid] ?? `key algorithm ${oid}` };
}

const GENERAL_NAME_TYPES: Record<number, SanEntry["type"]> = {
  0xa0: "otherName",
  0x81: "email",
  0x82: "dns",
  0xa3: "x400Address",
  0xa4: "directoryName",
  0xa5: "ediPartyName",
  0x86: "uri",
  0x87: "ip",
  0x88: "registeredId",
};

/** The entries of a subjectAltName extension value (its OCTET STRING). */
export function parseGeneralNames(der: Uint8Array, octets: Tlv): SanEntry[] {
  const inner = content(der, octets);
  const sequence = readOuter(inner, TAG.SEQUENCE);
  const out: SanEntry[] = [];
  for (const name of children(inner, sequence)) {
    const type = GENERAL_NAME_TYPES[name.tag];
    if (!type) throw new DerError(`unknown subjectAltName entry tag 0x${name.tag.toString(16)}`, name.start);
    const bytes = content(inner, name);
    switch (type) {
      case "dns":
      case "email":
      case "uri":
        // IA5String, implicitly tagged: decode like one.
        out.push({ type, value: readString(inner, { ...name, tag: TAG.IA5_STRING }) });
        break;
      case "ip":
        out.push({
          type,
          value: bytes.length === 4
            ? formatIp(4, bytes)
            : bytes.length === 16
            ? formatIp(6, bytes)
            : `(${bytes.length} bytes)`,
        });
        break;
      case "registeredId":
        out.push({ type, value: readOid(inner, { ...name, tag: TAG.OID }) });
        break;
      case "otherName": {
        const parts = children(inner, name);
        out.push({ type, value: parts.length > 0 && parts[0].tag === TAG.OID ? readOid(inner, parts[0]) : "" });
        break;
      }
      default:
        out.push({ type, value: "" });
    }
  }
  return out;
}

function parseTlsFeatures(der: Uint8Array, octets: Tlv): number[] {
  const inner = content(der, octets);
  const sequence = readOuter(inner, TAG.SEQUENCE);
  return children(inner, sequence).map((feature) => readSmallInteger(inner, feature));
}
