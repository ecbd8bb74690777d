/**
 * The body of `POST /revoke`: a certificate (PEM) followed by a fresh CSR (PEM) signed by the certificate's key.
 * The CSR's verified self-signature proves possession of the key; its public key must be the certificate's. The
 * first certificate is the one revoked; more certificates after it (the chain of a host's installed PEM file, so
 * `cat host.pem revoke.csr` works) are ignored.
 *
 * Contract: pure apart from the signature check; never throws. A body that is not certificates followed by exactly
 * one CERTIFICATE REQUEST block, or one whose parts cannot be parsed or whose CSR signature does not verify, is
 * `bad-request` (400); a CSR for another key than the certificate's is `refused` (403).
 */
import type * as x509 from "@peculiar/x509";
import { loadX509, type X509 } from "../lib/x509.ts";
import { hex, sameBytes } from "../lib/bytes.ts";
import type { CsrParser } from "../csr/parser.ts";
import type { FailureKind } from "../issuance/failure.ts";
import { ipName } from "../csr/names.ts";

/** A checked certificate/CSR pair. */
export interface RevocationPair {
  /** The certificate's DER. */
  certDer: Uint8Array;
  /** Its serial number, lower-case hex as the CA shows it. */
  serial: string;
  /**
   * Its subjectAltNames, in certificate order (what the auth block must admit): DNS names lower-cased, IP addresses
   * in acmems' text form (`ipName`: what `/sign` orders and `ip-identifiers` admits).
   */
  names: string[];
  /** Lower-case hex SHA-256 of the SubjectPublicKeyInfo DER shared by both (the compromised-keys key). */
  spkiSha256: string;
  notAfter: Date;
}

export type PairResult =
  | { ok: true; pair: RevocationPair }
  | { ok: false; kind: Extract<FailureKind, "bad-request" | "refused">; reason: string; code: string };

const BLOCK = /-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g;

/** Checks a /revoke body: the certificate, the CSR, the CSR's signature and that both carry the same public key. */
export async function checkRevocationPair(body: Uint8Array, parser: CsrParser): Promise<PairResult> {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(body);
  const blocks = [...text.matchAll(BLOCK)].map((m) => ({ type: m[1], pem: m[0] }));
  const certs = blocks.filter((b) => b.type === "CERTIFICATE");
  const csrs = blocks.filter((b) => b.type === "CERTIFICATE REQUEST" || b.type === "NEW CERTIFICATE REQUEST");
  const last = blocks[blocks.length - 1];
  if (certs.length === 0 || csrs.length !== 1 || last !== csrs[0] || certs.length + 1 !== blocks.length) {
    return bad(
      "not-a-pair",
      `The body must be one PEM certificate (its chain may follow) and then one PEM CSR signed by its key; found ` +
        `${describe(blocks)}.`,
    );
  }
  const { X509Certificate, Pkcs10CertificateRequest, SubjectAlternativeNameExtension } = await loadX509();
  let cert: x509.X509Certificate;
  try {
    cert = new X509Certificate(certs[0].pem);
  } catch (error) {
    return bad(
      "bad-certificate",
      `The certificate cannot be parsed: ${error instanceof Error ? error.message : error}`,
    );
  }
  const parsed = await parser.parse(csrs[0].pem);
  if (!parsed.ok) return bad(`csr ${parsed.code}`, `The CSR is not usable: ${parsed.reason}`);
  const csrKey = new Uint8Array(new Pkcs10CertificateRequest(new Uint8Array(parsed.csr.der)).publicKey.rawData);
  const certKey = new Uint8Array(cert.publicKey.rawData);
  if (!sameBytes(csrKey, certKey)) {
    return {
      ok: false,
      kind: "refused",
      code: "key-mismatch",
      reason: "The CSR is signed by another key than the certificate's: sign the CSR with the certificate's key.",
    };
  }
  const spkiSha256 = await sha256Hex(certKey);
  return {
    ok: true,
    pair: {
      certDer: new Uint8Array(cert.rawData),
      serial: cert.serialNumber.toLowerCase(),
      names: certificateNames(cert, SubjectAlternativeNameExtension),
      spkiSha256,
      notAfter: cert.notAfter,
    },
  };
}

/** The lower-case hex SHA-256 of a CSR's SubjectPublicKeyInfo (what /sign compares with the compromised keys). */
export async function csrKeySha256(csrDer: Uint8Array): Promise<string> {
  const { Pkcs10CertificateRequest } = await loadX509();
  return await sha256Hex(new Uint8Array(new Pkcs10CertificateRequest(new Uint8Array(csrDer)).publicKey.rawData));
}

/** The lower-case hex SHA-256 of a certificate's SubjectPublicKeyInfo (`acmems revoke --reason keyCompromise`). */
export async function certKeySha256(certDer: Uint8Array): Promise<string> {
  const { X509Certificate } = await loadX509();
  return await sha256Hex(new Uint8Array(new X509Certificate(new Uint8Array(certDer)).publicKey.rawData));
}

/** Lower-case hex SHA-256 of `bytes` (a SubjectPublicKeyInfo: the compromised-keys key). */
async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

/**
 * The certificate's DNS and IP subjectAltNames, each once: DNS names lower case, IP addresses in acmems' text form
 * (`ipName`; one that cannot be read stays as written, so no auth block admits it by accident).
 */
export function certificateNames(
  cert: x509.X509Certificate,
  sanExtension: X509["SubjectAlternativeNameExtension"],
): string[] {
  const san = cert.getExtension(sanExtension);
  const names = (san?.names.items ?? []).filter((n) => n.type === "dns" || n.type === "ip").map((n) =>
    n.type === "ip" ? ipName(n.value) ?? n.value : n.value.toLowerCase()
  );
  return [...new Set(names)];
}

function bad(code: string, reason: string): PairResult {
  return { ok: false, kind: "bad-request", code, reason };
}

function describe(blocks: { type: string }[]): string {
  if (blocks.length === 0) return "no PEM block";
  return blocks.map((b) => b.type).join(", ");
}
