/**
 * CSR intake for `POST /sign`: decode the PEM body, take the CSR apart, verify its self-signature, and check it
 * against what a public CA will issue. Pure functions (WebCrypto only), no I/O.
 *
 * Two steps, so the handler can authorize between them if it wants:
 *  1. `parseCsrPem(body)` → a `ParsedCsr`, or an `unusable-csr` refusal (not a PEM CSR, bad base64, not a CSR, bad
 *     signature).
 *  2. `checkCsrRules(csr, { maxNames })` → the normalized names, or a refusal, rules in this order:
 *     no subjectAltName (`unusable-csr`); a DNS SAN or CN that is not ASCII, checked raw before any case folding
 *     (`refused`); CN not among the DNS (or IP) SANs (`unusable-csr`); key type and size, signature hash, SANs
 *     other than DNS names and IP addresses, OCSP Must-Staple, too many names, invalid DNS names (`refused`).
 *     The names are the DNS names, then the IP addresses (RFC 8738) in canonical text (`ipName`), each once;
 *     whether a client may have an IP address is the policy's business (`ip-identifiers`), not the CSR's.
 *
 * Refusals carry a failure kind, never an HTTP status (src/http/respond.ts maps kinds to statuses).
 *
 * Every refusal reason is one line, sentence case, names the offending value and says how to fix it.
 * `createCsrParser()` memoises step 1 by the SHA-256 of the DER, so a repeated CSR skips signature verification.
 */
import { loadX509 } from "../lib/x509.ts";
import { verifyCsrSignatureNatively } from "./signature.ts";
import { hex } from "../lib/bytes.ts";
import { DerError } from "../lib/der.ts";
import type { FailureKind } from "../issuance/failure.ts";
import { showValue } from "./display.ts";
import { asciiLower, ipName, nonAsciiProblem, normalizeDnsName } from "./names.ts";
import { extractCsrDer } from "./pem.ts";
import {
  type CsrKey,
  describeKey,
  parseCsrStructure,
  type SanEntry,
  SIGNATURE_ALGORITHMS,
  WEAK_SIGNATURE_OIDS,
} from "./structure.ts";

export type { CsrKey, SanEntry };

/** A CSR that parsed and whose self-signature verified. Treat as read-only (cached instances are shared). */
export interface ParsedCsr {
  /** The exact DER of the CSR (PEM whitespace and surrounding text do not matter). */
  der: Uint8Array;
  /** Lower-case hex SHA-256 of `der`: the cache key for issuance. */
  sha256: string;
  /**
   * DNS subjectAltNames lower-cased (A–Z only, never Unicode folding), duplicates removed, in CSR order. Not yet validated as DNS names: use the
   * `names` that `checkCsrRules` returns.
   */
  names: string[];
  /** The first subject CN, if any. */
  commonName?: string;
  /** Every subject CN, in order. */
  commonNames: string[];
  key: CsrKey;
  /** e.g. "EC P-256", "RSA 2048", "Ed25519". */
  keyDescription: string;
  /** e.g. "sha256WithRSAEncryption", "ecdsa-with-SHA256", or a dotted OID. */
  signatureAlgorithm: string;
  signatureOid: string;
  /** Every subjectAltName entry in CSR order, or null when the extension is absent. */
  subjectAltNames: SanEntry[] | null;
  /** True when the CSR asks for OCSP Must-Staple (TLS feature status_request or status_request_v2). */
  mustStaple: boolean;
}

export type CsrRefusalCode =
  | "empty"
  | "der"
  | "not-pem"
  | "wrong-pem-type"
  | "private-key"
  | "multiple"
  | "bad-pem"
  | "not-csr"
  | "bad-signature"
  | "no-san"
  | "cn-not-in-san"
  | "key"
  | "signature-algorithm"
  | "san-type"
  | "must-staple"
  | "too-many-names"
  | "bad-name";

/**
 * The failure kind of a refusal (src/issuance/failure.ts): `unusable-csr` for a body that is not a usable CSR,
 * `refused` for a CSR acmems will not get signed. The status each maps to is http/respond.ts's business.
 */
export type CsrRefusalKind = Extract<FailureKind, "unusable-csr" | "refused">;

/** Why a CSR is refused. */
export interface CsrRefusal {
  ok: false;
  kind: CsrRefusalKind;
  code: CsrRefusalCode;
  /** One line, sentence case, naming the offending value and the fix. */
  reason: string;
}

export type CsrParseResult = { ok: true; csr: ParsedCsr } | CsrRefusal;
export type CsrRulesResult = { ok: true; names: string[] } | CsrRefusal;

/** Names per certificate: 100 for the classic profile, 25 for `tlsserver` and `shortlived` (Let's Encrypt). */
export function maxNamesForProfile(profile?: string): number {
  return profile === "tlsserver" || profile === "shortlived" ? 25 : 100;
}

const ALLOWED_RSA_BITS: ReadonlySet<number> = new Set([2048, 3072, 4096]);
const ALLOWED_CURVES: ReadonlySet<string> = new Set(["P-256", "P-384"]);
const ALLOWED_SIGNATURE_OIDS: ReadonlySet<string> = new Set([
  "1.2.840.113549.1.1.11",
  "1.2.840.113549.1.1.12",
  "1.2.840.113549.1.1.13",
  "1.2.840.10045.4.3.2",
  "1.2.840.10045.4.3.3",
  "1.2.840.10045.4.3.4",
]);
/** TLS feature values meaning OCSP Must-Staple: status_request (5), status_request_v2 (17). */
const MUST_STAPLE_FEATURES: ReadonlySet<number> = new Set([5, 17]);

/** Decodes a PEM body and verifies the CSR's self-signature. Never throws: failures are `unusable-csr` (rarely `refused`) refusals. */
export async function parseCsrPem(body: Uint8Array | string): Promise<CsrParseResult> {
  const pem = extractCsrDer(body);
  if (!pem.ok) return refuse("unusable-csr", pem.code, pem.reason);
  return parseCsrDer(pem.der, await sha256Hex(pem.der));
}

/** Checks a parsed CSR against the issuance rules; returns the normalized, de-duplicated names. */
export function checkCsrRules(csr: ParsedCsr, options: { maxNames: number }): CsrRulesResult {
  const sans = csr.subjectAltNames;
  if (!sans || sans.length === 0) {
    const what = sans ? "an empty subjectAltName extension" : "no subjectAltName extension";
    return refuse(
      "unusable-csr",
      "no-san",
      `The CSR has ${what}: add -addext 'subjectAltName=DNS:${hintName(csr.commonName)}' to openssl req ` +
        "(CAs take names from SANs only)",
    );
  }
  // Before any case folding: the raw names, byte for byte (a U+212A KELVIN SIGN would fold to an ASCII `k`).
  for (const raw of [...sans.filter((s) => s.type === "dns").map((s) => s.value), ...csr.commonNames]) {
    const notAscii = nonAsciiProblem(raw);
    if (notAscii) return refuse("refused", "bad-name", notAscii);
  }
  const dnsNames = new Set(sans.filter((s) => s.type === "dns").map((s) => asciiLower(s.value)));
  const ips = sans.filter((s) => s.type === "ip").map((s) => ipName(s.value));
  for (const cn of csr.commonNames) {
    if (!dnsNames.has(asciiLower(cn)) && !(ipName(cn) !== null && ips.includes(ipName(cn)))) {
      return refuse(
        "unusable-csr",
        "cn-not-in-san",
        `The CSR common name ${showValue(cn)} is not among its subjectAltName DNS names: add -addext ` +
          `'subjectAltName=DNS:${hintName(cn)}' (listing every name) or drop the CN (CAs take names from SANs only)`,
      );
    }
  }
  const keyProblem = keyRefusal(csr.key);
  if (keyProblem) return keyProblem;
  if (!ALLOWED_SIGNATURE_OIDS.has(csr.signatureOid)) {
    const weak = WEAK_SIGNATURE_OIDS.has(csr.signatureOid) ? " (too weak)" : "";
    return refuse(
      "refused",
      "signature-algorithm",
      `The CSR is signed with ${csr.signatureAlgorithm}${weak}: sign it with SHA-256, SHA-384 or SHA-512 using ` +
        "PKCS#1 v1.5 or ECDSA (openssl req -sha256, without rsa_padding_mode:pss)",
    );
  }
  const other = sans.find((s) => s.type !== "dns" && !(s.type === "ip" && ipName(s.value) !== null));
  if (other) {
    return refuse(
      "refused",
      "san-type",
      `The CSR has ${describeSan(other)}: acmems requests certificates for DNS names and IP addresses only; ` +
        "remove it from subjectAltName",
    );
  }
  const ipNames = [...new Set(ips as string[])];
  if (csr.mustStaple) {
    return refuse(
      "refused",
      "must-staple",
      "The CSR requests OCSP Must-Staple (TLS feature status_request): remove -addext 'tlsfeature=status_request' " +
        "(CAs no longer issue Must-Staple certificates)",
    );
  }
  const count = csr.names.length + ipNames.length;
  if (count > options.maxNames) {
    return refuse(
      "refused",
      "too-many-names",
      `The CSR has ${count} names, more than the ${options.maxNames} allowed per certificate: ` +
        "split them over several CSRs",
    );
  }
  const names: string[] = [];
  const seen = new Set<string>();
  for (const raw of csr.names) {
    const checked = normalizeDnsName(raw);
    if (!checked.ok) return refuse("refused", "bad-name", checked.reason);
    if (!seen.has(checked.name)) {
      seen.add(checked.name);
      names.push(checked.name);
    }
  }
  names.push(...ipNames);
  return { ok: true, names };
}

/** Verifies and reads a CSR's DER whose SHA-256 (hex) the caller computed. Never throws (refusals, as `parseCsrPem`). */
export async function parseCsrDer(der: Uint8Array<ArrayBuffer>, sha256: string): Promise<CsrParseResult> {
  let structure;
  try {
    structure = parseCsrStructure(der);
  } catch (error) {
    // Only DerError is expected; anything else is still a CSR we cannot read, never an exception for the caller.
    return notCsr(error instanceof DerError ? `${error.message} at byte ${error.offset}` : "unreadable structure");
  }
  const signatureAlgorithm = SIGNATURE_ALGORITHMS[structure.signatureOid] ?? structure.signatureOid;
  const keyDescription = describeKey(structure.key);
  let verified: boolean;
  try {
    // Web Crypto alone for the usual algorithms; the X.509 library (loaded then) for anything it did not verify.
    verified = await verifyCsrSignatureNatively(der) ||
      await new (await loadX509()).Pkcs10CertificateRequest(der).verify();
  } catch {
    // WebCrypto cannot check this key or algorithm (Ed448, secp256k1, …). If the key would be refused anyway, say
    // that; otherwise an unverifiable signature is a bad CSR. Never hand out a ParsedCsr that did not verify.
    const keyProblem = keyRefusal(structure.key);
    if (keyProblem) return keyProblem;
    return refuse(
      "unusable-csr",
      "bad-signature",
      `The CSR signature (${signatureAlgorithm}, ${keyDescription}) cannot be verified: ` +
        "regenerate the CSR with openssl req -new",
    );
  }
  if (!verified) {
    return refuse(
      "unusable-csr",
      "bad-signature",
      `The CSR signature does not verify (${signatureAlgorithm}, ${keyDescription}): the CSR was altered after ` +
        "signing; send the file openssl req wrote, unmodified",
    );
  }
  const names: string[] = [];
  const seen = new Set<string>();
  for (const san of structure.subjectAltNames ?? []) {
    if (san.type !== "dns") continue;
    const name = asciiLower(san.value);
    if (!seen.has(name)) {
      seen.add(name);
      names.push(name);
    }
  }
  const csr: ParsedCsr = {
    der,
    sha256,
    names,
    commonNames: structure.commonNames,
    key: structure.key,
    keyDescription,
    signatureAlgorithm,
    signatureOid: structure.signatureOid,
    subjectAltNames: structure.subjectAltNames,
    mustStaple: (structure.tlsFeatures ?? []).some((f) => MUST_STAPLE_FEATURES.has(f)),
  };
  if (structure.commonNames.length > 0) csr.commonName = structure.commonNames[0];
  return { ok: true, csr };
}

function keyRefusal(key: CsrKey): CsrRefusal | null {
  if (key.type === "RSA" && ALLOWED_RSA_BITS.has(key.bits)) return null;
  if (key.type === "EC" && ALLOWED_CURVES.has(key.curve)) return null;
  return refuse(
    "refused",
    "key",
    `The CSR key is ${describeKey(key)}: use RSA 2048, 3072 or 4096, or EC P-256 or P-384 ` +
      "(e.g. openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256)",
  );
}

function describeSan(san: SanEntry): string {
  switch (san.type) {
    case "ip":
      return `the IP address SAN ${san.value}`;
    case "email":
      return `the e-mail SAN ${showValue(san.value)}`;
    case "uri":
      return `the URI SAN ${showValue(san.value)}`;
    case "otherName":
      return `an otherName SAN${san.value ? ` (type ${san.value})` : ""}`;
    case "registeredId":
      return `the registered ID SAN ${san.value}`;
    case "directoryName":
      return "a directory name SAN";
    case "x400Address":
      return "an X.400 address SAN";
    case "ediPartyName":
      return "an EDI party name SAN";
    case "dns":
      return `the DNS SAN ${showValue(san.value)}`;
  }
}

/** A name safe to put in an openssl command hint. */
function hintName(name: string | undefined): string {
  return name && /^[A-Za-z0-9*][A-Za-z0-9.-]{0,252}$/.test(name) ? name.toLowerCase() : "example.org";
}

function notCsr(detail: string): CsrRefusal {
  return refuse(
    "unusable-csr",
    "not-csr",
    `The PEM block is not a valid PKCS#10 certificate request (${detail}): regenerate it with openssl req -new`,
  );
}

function refuse(kind: CsrRefusalKind, code: CsrRefusalCode, reason: string): CsrRefusal {
  return { ok: false, kind, code, reason };
}

/** SHA-256 of `bytes` as lowercase hex (a CSR's identity in the caches). */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return hex(digest);
}
