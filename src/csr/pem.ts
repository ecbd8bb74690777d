/**
 * Finds the one PEM `CERTIFICATE REQUEST` block in a /sign body and decodes it to DER.
 *
 * Tolerated: text before and after the block, CRLF line endings, any whitespace inside the base64, the legacy
 * `NEW CERTIFICATE REQUEST` label. Refused, with a reason naming what was found: an empty body, DER, other PEM
 * types (a certificate, a key), more than one CSR, a missing END line, bad base64.
 */
import { latin1 } from "../lib/der.ts";
import { showValue } from "./display.ts";

export type PemResult =
  | { ok: true; der: Uint8Array<ArrayBuffer> }
  | {
    ok: false;
    code: "empty" | "der" | "not-pem" | "wrong-pem-type" | "private-key" | "multiple" | "bad-pem";
    reason: string;
  };

const CSR_LABELS = new Set(["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]);
const BEGIN = /-----BEGIN ([A-Z0-9 ]{1,40})-----/g;
const EXPECTED = "expected -----BEGIN CERTIFICATE REQUEST-----";

/** Extracts and base64-decodes the CSR. Never throws. */
export function extractCsrDer(body: Uint8Array | string): PemResult {
  const text = typeof body === "string" ? body : latin1(body);
  if (text.trim() === "") {
    return { ok: false, code: "empty", reason: `The request body is empty: send a PEM CSR (${EXPECTED})` };
  }
  const blocks = [...text.matchAll(BEGIN)];
  if (blocks.some((m) => m[1].includes("PRIVATE KEY"))) {
    return {
      ok: false,
      code: "private-key",
      reason: "The request body contains a PRIVATE KEY: send only the CSR and keep the key on the host",
    };
  }
  const csrBlocks = blocks.filter((m) => CSR_LABELS.has(m[1]));
  if (csrBlocks.length === 0) {
    if (blocks.length > 0) {
      return {
        ok: false,
        code: "wrong-pem-type",
        reason: `The request body is a PEM ${blocks[0][1]}, not a certificate request: send the CSR (${EXPECTED})`,
      };
    }
    if (text.charCodeAt(0) === 0x30 && text.charCodeAt(1) >= 0x81 && text.charCodeAt(1) <= 0x83) {
      return {
        ok: false,
        code: "der",
        reason:
          "The request body looks like DER, not PEM: convert it with 'openssl req -inform DER -in csr.der -out csr.pem'",
      };
    }
    if (/^\s*MII[A-Za-z0-9+/=\s]+$/.test(text)) {
      return {
        ok: false,
        code: "not-pem",
        reason: `The request body is base64 without PEM lines: send the whole CSR file (${EXPECTED})`,
      };
    }
    return { ok: false, code: "not-pem", reason: `The request body is not a PEM certificate request: ${EXPECTED}` };
  }
  if (csrBlocks.length > 1) {
    return {
      ok: false,
      code: "multiple",
      reason: `The request body contains ${csrBlocks.length} certificate requests: send exactly one per request`,
    };
  }
  const begin = csrBlocks[0];
  const label = begin[1];
  const bodyStart = begin.index + begin[0].length;
  const endMarker = `-----END ${label}-----`;
  const endIndex = text.indexOf(endMarker, bodyStart);
  if (endIndex < 0) {
    return { ok: false, code: "bad-pem", reason: `The PEM ${label} has no '${endMarker}' line: send the whole CSR` };
  }
  const inner = text.slice(bodyStart, endIndex);
  const base64 = inner.replace(/[ \t\r\n\f\v]+/g, "");
  if (base64 === "") return { ok: false, code: "bad-pem", reason: `The PEM ${label} is empty: send the whole CSR` };
  const bad = /[^A-Za-z0-9+/=]/.exec(base64);
  if (bad) {
    const line = Math.max(1, inner.slice(0, inner.indexOf(bad[0])).split("\n").length - 1);
    return {
      ok: false,
      code: "bad-pem",
      reason: `The PEM ${label} is not valid base64: character ${
        showValue(bad[0])
      } on line ${line} of the block; send the CSR file unmodified`,
    };
  }
  if (base64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) {
    return {
      ok: false,
      code: "bad-pem",
      reason: `The PEM ${label} is not valid base64 (truncated or misplaced '='): send the CSR file unmodified`,
    };
  }
  const binary = atob(base64);
  const der = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) der[i] = binary.charCodeAt(i);
  return { ok: true, der };
}
