/**
 * PEM (RFC 7468) encode/decode.
 *
 * Contract: `decodePemBlocks` returns every `-----BEGIN X-----` … `-----END X-----` block in order and
 * ignores text between blocks (openssl's "Bag Attributes" etc.); a block with mismatched labels or a
 * body that is not base64 throws a `TypeError` naming the label.
 */
import { fromBase64Std, toBase64Std } from "./encoding.ts";

/** One decoded PEM block. */
export interface PemBlock {
  label: string;
  der: Uint8Array<ArrayBuffer>;
}

const BLOCK_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** Decodes all PEM blocks in `text`. */
export function decodePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK_RE)) {
    const [, begin, body, end] = m;
    if (begin !== end) throw new TypeError(`PEM block "BEGIN ${begin}" ends with "END ${end}"`);
    // RFC 7468 permits (legacy) headers such as "Proc-Type:" only in encrypted keys, which we reject.
    if (body.includes(":")) throw new TypeError(`PEM block "${begin}" has headers (encrypted keys are not supported)`);
    try {
      blocks.push({ label: begin, der: fromBase64Std(body) });
    } catch {
      throw new TypeError(`PEM block "${begin}" does not contain valid base64`);
    }
  }
  return blocks;
}

/** Decodes the first block with one of the given labels; throws if there is none. */
export function decodePem(text: string, labels: string[]): PemBlock {
  const block = decodePemBlocks(text).find((b) => labels.includes(b.label));
  if (!block) throw new TypeError(`No PEM block labelled ${labels.map((l) => `"${l}"`).join(" or ")} found`);
  return block;
}

/** Encodes DER as PEM with 64-character lines and a trailing newline. */
export function encodePem(label: string, der: Uint8Array): string {
  const body = toBase64Std(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${body.join("\n")}\n-----END ${label}-----\n`;
}

/** Splits a PEM certificate chain into one PEM string per certificate, leaf first (as the CA sent it). */
export function splitPemChain(text: string): string[] {
  return decodePemBlocks(text).filter((b) => b.label === "CERTIFICATE").map((b) => encodePem(b.label, b.der));
}
