/**
 * ACME Renewal Information (RFC 9773): certificate ids and renewalInfo parsing.
 *
 * Contract: pure. The certificate id is base64url(AKI keyIdentifier) "." base64url(serial's DER
 * content bytes), both unpadded (§4.1). Serials given as bytes/hex are normalised to minimal positive
 * DER (a 0x00 is prepended when the top bit is set, redundant leading zeros are dropped). A renewalInfo
 * answer with an unparsable or empty window (`end <= start`) is rejected (§4.2: treat as no answer).
 */
import { children, decodeOid, DerError, expectTag, readNode, readOnly, TAG } from "./der.ts";
import { b64url, fromHex } from "./encoding.ts";
import { AcmeProtocolError } from "./errors.ts";
import { decodePem } from "./pem.ts";
import { delayUntil, parseRetryAfter } from "./retry_after.ts";
import type { RenewalInfo } from "./types.ts";

/** RFC 9773 §4.3: default re-check interval when Retry-After is missing or invalid. */
export const ARI_DEFAULT_RETRY_MS = 6 * 3600_000;
/** Lower clamp for the CA's Retry-After. */
export const ARI_MIN_RETRY_MS = 60_000;
/** Upper clamp for the CA's Retry-After. */
export const ARI_MAX_RETRY_MS = 24 * 3600_000;

const OID_AKI = "2.5.29.35";

/** The parts of a certificate an ARI id is built from. */
export interface AriCertParts {
  /** AuthorityKeyIdentifier keyIdentifier: bytes or hex (colons allowed). */
  aki: Uint8Array | string;
  /** Serial number: bytes or hex (colons allowed). */
  serial: Uint8Array | string;
}

/** The ARI certificate id of a certificate (PEM text or DER bytes). */
export function ariCertId(cert: string | Uint8Array): string {
  const der = typeof cert === "string" ? decodePem(cert, ["CERTIFICATE"]).der : cert;
  const { aki, serial } = readAriParts(der);
  return `${b64url(aki)}.${b64url(serial)}`;
}

/** The ARI certificate id from an AKI keyIdentifier and a serial number. */
export function ariCertIdFromParts(parts: AriCertParts): string {
  const aki = typeof parts.aki === "string" ? fromHex(parts.aki) : parts.aki;
  const serial = normaliseSerial(typeof parts.serial === "string" ? fromHex(parts.serial) : parts.serial);
  if (aki.length === 0) throw new TypeError("AKI keyIdentifier is empty");
  return `${b64url(aki)}.${b64url(serial)}`;
}

/** Reads the AKI keyIdentifier and the serial's DER content bytes from a DER certificate. */
export function readAriParts(der: Uint8Array): { aki: Uint8Array; serial: Uint8Array } {
  try {
    const [tbs] = children(readOnly(der, TAG.SEQUENCE));
    const fields = children(expectTag(tbs, TAG.SEQUENCE));
    let i = fields[0]?.tag === 0xa0 ? 1 : 0; // optional [0] EXPLICIT version
    const serial = expectTag(fields[i++], TAG.INTEGER).content;
    const extensions = fields.find((f) => f.tag === 0xa3); // [3] EXPLICIT Extensions
    if (!extensions) throw new TypeError("Certificate has no extensions, so no Authority Key Identifier");
    for (const ext of children(expectTag(children(extensions)[0], TAG.SEQUENCE))) {
      const parts = children(expectTag(ext, TAG.SEQUENCE));
      if (decodeOid(expectTag(parts[0], TAG.OID).content) !== OID_AKI) continue;
      const value = expectTag(parts[parts.length - 1], TAG.OCTET_STRING).content;
      const keyId = children(readNode(value)).find((n) => n.tag === 0x80); // [0] IMPLICIT KeyIdentifier
      if (!keyId || keyId.content.length === 0) {
        throw new TypeError("Certificate's Authority Key Identifier has no keyIdentifier");
      }
      return { aki: keyId.content, serial };
    }
    throw new TypeError("Certificate has no Authority Key Identifier extension");
  } catch (e) {
    if (e instanceof DerError) throw new TypeError(`Malformed certificate DER: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Minimal positive DER INTEGER content for a serial given as unsigned bytes. */
export function normaliseSerial(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0 && bytes[start + 1] < 0x80) start++;
  const trimmed = bytes.subarray(start);
  if (trimmed.length === 0) throw new TypeError("Serial number is empty");
  if (trimmed[0] >= 0x80) {
    const out = new Uint8Array(trimmed.length + 1);
    out.set(trimmed, 1);
    return out;
  }
  return trimmed;
}

/** Joins the directory's renewalInfo base URL and a certificate id. */
export function renewalInfoUrl(base: string, certId: string): string {
  return `${base.replace(/\/+$/, "")}/${certId}`;
}

/** Validates a renewalInfo JSON body and applies the Retry-After rules. */
export function parseRenewalInfo(
  body: unknown,
  retryAfterHeader: string | null,
  url: string,
  now: Date = new Date(),
): RenewalInfo {
  const obj = body as { suggestedWindow?: { start?: unknown; end?: unknown }; explanationURL?: unknown } | null;
  const win = obj?.suggestedWindow;
  const start = typeof win?.start === "string" ? new Date(win.start) : undefined;
  const end = typeof win?.end === "string" ? new Date(win.end) : undefined;
  if (!start || !end || Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) {
    throw new AcmeProtocolError(url, `renewalInfo from ${url} has no valid suggestedWindow`);
  }
  if (end.getTime() <= start.getTime()) {
    throw new AcmeProtocolError(
      url,
      `renewalInfo from ${url} has an empty window (end ${end.toISOString()} <= start ${start.toISOString()})`,
    );
  }
  const parsed = parseRetryAfter(retryAfterHeader, now);
  const wanted = parsed ? delayUntil(parsed, now) : ARI_DEFAULT_RETRY_MS;
  const clamped = Math.min(ARI_MAX_RETRY_MS, Math.max(ARI_MIN_RETRY_MS, wanted));
  const info: RenewalInfo = { suggestedWindow: { start, end }, retryAfter: new Date(now.getTime() + clamped) };
  if (typeof obj?.explanationURL === "string") info.explanationURL = obj.explanationURL;
  return info;
}
