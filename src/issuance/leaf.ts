/**
 * The leaf check's fast path without the X.509 library: reads the CA's leaf certificate with acmems' DER reader and
 * accepts it only when everything holds — the leaf's SubjectPublicKeyInfo is byte for byte the CSR's, it has exactly
 * one subjectAltName extension whose entries are DNS names and IP addresses (4 or 16 bytes) that are exactly the
 * ordered names, and it is valid at `at` (not after its notAfter, not more than 5 minutes before its notBefore).
 *
 * Contract: pure apart from the PEM decoding; returns the validity when all of that holds, `undefined` otherwise
 * (anything unusual, unreadable or mismatched) — then chain.ts runs the full check with `@peculiar/x509`, which
 * gives the precise error. Its conditions (key, names, validity) are the full check's, none looser; it reads only
 * the fields it checks.
 */
import { decodePemBlocks } from "../acme/mod.ts";
import { sameBytes } from "../lib/bytes.ts";
import { children, content, expectTag, readOid, readOuter, TAG, type Tlv } from "../lib/der.ts";
import { ipName } from "../csr/names.ts";
import { parseGeneralNames } from "../csr/structure.ts";
import type { LeafInfo } from "./chain.ts";

const SAN_OID = "2.5.29.17";
const SKEW_MS = 5 * 60_000;

/** The leaf's validity when the fast path can accept it (see the contract), else undefined. */
export function quickLeafCheck(leafPem: string, csrDer: Uint8Array, names: string[], at: Date): LeafInfo | undefined {
  try {
    const blocks = decodePemBlocks(leafPem);
    if (blocks.length !== 1 || blocks[0].label !== "CERTIFICATE") return undefined;
    const der = blocks[0].der;
    const certificate = children(der, readOuter(der, TAG.SEQUENCE));
    if (certificate.length !== 3) return undefined;
    const tbs = children(der, expectTag(certificate[0], TAG.SEQUENCE, "tbsCertificate"));
    // [0] version, serial, signature, issuer, validity, subject, subjectPublicKeyInfo, [1], [2], [3] extensions
    const offset = tbs[0]?.tag === 0xa0 ? 1 : 0;
    const validity = tbs[offset + 3];
    const spki = tbs[offset + 5];
    if (!validity || !spki || validity.tag !== TAG.SEQUENCE || spki.tag !== TAG.SEQUENCE) return undefined;
    const times = children(der, validity);
    if (times.length !== 2) return undefined;
    const notBefore = readTime(der, times[0]);
    const notAfter = readTime(der, times[1]);
    if (!notBefore || !notAfter) return undefined;
    const now = at.getTime();
    if (notAfter.getTime() <= now || notBefore.getTime() > now + SKEW_MS) return undefined;
    if (!sameBytes(der.subarray(spki.start, spki.end), csrSpki(csrDer))) return undefined;
    const extensions = tbs.slice(offset + 6).find((t) => t.tag === 0xa3);
    if (!extensions) return undefined;
    const sans: Tlv[] = [];
    for (const extension of children(der, expectTag(children(der, extensions)[0], TAG.SEQUENCE, "extensions"))) {
      const parts = children(der, expectTag(extension, TAG.SEQUENCE, "extension"));
      if (readOid(der, parts[0]) === SAN_OID) sans.push(parts[parts.length - 1]);
    }
    if (sans.length !== 1) return undefined;
    const have = new Set<string>();
    for (const entry of parseGeneralNames(der, expectTag(sans[0], TAG.OCTET_STRING, "subjectAltName"))) {
      if (entry.type === "dns") have.add(`dns|${entry.value.toLowerCase()}`);
      else if (entry.type === "ip" && ipName(entry.value) !== null) have.add(`ip|${ipName(entry.value)}`);
      else return undefined;
    }
    const wanted = new Set(names.map((n) => ipName(n) !== null ? `ip|${ipName(n)}` : `dns|${n.toLowerCase()}`));
    if (have.size !== wanted.size || [...have].some((name) => !wanted.has(name))) return undefined;
    return { notBefore, notAfter };
  } catch {
    return undefined;
  }
}

/** The DER SubjectPublicKeyInfo of a CSR. */
function csrSpki(csrDer: Uint8Array): Uint8Array {
  const info = children(csrDer, children(csrDer, readOuter(csrDer, TAG.SEQUENCE))[0]);
  return csrDer.subarray(info[2].start, info[2].end);
}

/** UTCTime (YYMMDDHHMMSSZ, 50–99 → 19xx) or GeneralizedTime (YYYYMMDDHHMMSSZ); null for any other form. */
function readTime(der: Uint8Array, tlv: Tlv): Date | null {
  const text = new TextDecoder().decode(content(der, tlv));
  let m: RegExpMatchArray | null;
  let year: number;
  if (tlv.tag === 0x17 && (m = text.match(/^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/))) {
    year = Number(m[1]) + (Number(m[1]) >= 50 ? 1900 : 2000);
  } else if (tlv.tag === 0x18 && (m = text.match(/^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/))) {
    year = Number(m[1]);
  } else {
    return null;
  }
  const ms = Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isFinite(ms) ? new Date(ms) : null;
}
