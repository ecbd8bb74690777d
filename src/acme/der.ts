/**
 * A tiny DER reader/writer: just enough ASN.1 for PKCS#1/SEC1 → PKCS#8 wrapping and for reading a
 * certificate's serial number and Authority Key Identifier (ARI certificate ids).
 *
 * Contract: readers never read past the slice they are given and throw `DerError` naming the tag and
 * offset on malformed input (truncated lengths, indefinite lengths, trailing garbage where forbidden).
 * Only single-byte tags are supported, which covers everything X.509 and PKCS#8 use.
 */

/** A malformed or unexpected DER structure. */
export class DerError extends Error {
  override name = "DerError";
}

/** One decoded TLV: `tag` is the identifier octet; `content` is a view into the input. */
export interface DerNode {
  tag: number;
  content: Uint8Array;
  /** Offset just past this TLV in the buffer it was read from. */
  end: number;
}

/** Well-known tags. */
export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
  BOOLEAN: 0x01,
} as const;

/** Reads the TLV starting at `offset`. */
export function readNode(bytes: Uint8Array, offset = 0): DerNode {
  if (offset + 2 > bytes.length) throw new DerError(`Truncated DER at offset ${offset}`);
  const tag = bytes[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError(`Multi-byte DER tag at offset ${offset} is not supported`);
  let pos = offset + 1;
  const first = bytes[pos++];
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const count = first & 0x7f;
    if (count === 0) throw new DerError(`Indefinite DER length at offset ${offset} (BER is not DER)`);
    if (count > 4) throw new DerError(`DER length of ${count} octets at offset ${offset} is too large`);
    if (pos + count > bytes.length) throw new DerError(`Truncated DER length at offset ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[pos++];
  }
  if (pos + length > bytes.length) {
    throw new DerError(`DER tag 0x${tag.toString(16)} at offset ${offset} claims ${length} bytes past the end`);
  }
  return { tag, content: bytes.subarray(pos, pos + length), end: pos + length };
}

/** Reads the single TLV that must span all of `bytes`, checking its tag. */
export function readOnly(bytes: Uint8Array, tag: number): DerNode {
  const node = expectTag(readNode(bytes, 0), tag);
  if (node.end !== bytes.length) throw new DerError(`Trailing bytes after DER tag 0x${tag.toString(16)}`);
  return node;
}

/** Splits a constructed node's content into its child TLVs. */
export function children(node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  let offset = 0;
  while (offset < node.content.length) {
    const child = readNode(node.content, offset);
    out.push(child);
    offset = child.end;
  }
  return out;
}

/** Throws unless the node has the given tag. */
export function expectTag(node: DerNode, tag: number): DerNode {
  if (node.tag !== tag) {
    throw new DerError(`Expected DER tag 0x${tag.toString(16)}, found 0x${node.tag.toString(16)}`);
  }
  return node;
}

/** Decodes an OBJECT IDENTIFIER's content to dotted form. */
export function decodeOid(content: Uint8Array): string {
  if (content.length === 0) throw new DerError("Empty OBJECT IDENTIFIER");
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs[0];
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join(".");
}

/** Encodes a TLV. */
export function encodeNode(tag: number, content: Uint8Array): Uint8Array<ArrayBuffer> {
  const len = content.length;
  let header: number[];
  if (len < 0x80) {
    header = [tag, len];
  } else {
    const lenBytes: number[] = [];
    for (let n = len; n > 0; n = Math.floor(n / 256)) lenBytes.unshift(n & 0xff);
    header = [tag, 0x80 | lenBytes.length, ...lenBytes];
  }
  const out = new Uint8Array(header.length + len);
  out.set(header, 0);
  out.set(content, header.length);
  return out;
}

/** Encodes a SEQUENCE of already-encoded elements. */
export function encodeSequence(...elements: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const total = elements.reduce((n, e) => n + e.length, 0);
  const content = new Uint8Array(total);
  let offset = 0;
  for (const e of elements) {
    content.set(e, offset);
    offset += e.length;
  }
  return encodeNode(TAG.SEQUENCE, content);
}

/** Encodes a dotted OBJECT IDENTIFIER. */
export function encodeOid(dotted: string): Uint8Array<ArrayBuffer> {
  const arcs = dotted.split(".").map((a) => {
    if (!/^\d+$/.test(a)) throw new DerError(`Invalid OID "${dotted}"`);
    return Number(a);
  });
  if (arcs.length < 2) throw new DerError(`Invalid OID "${dotted}"`);
  const values = [arcs[0] * 40 + arcs[1], ...arcs.slice(2)];
  const bytes: number[] = [];
  for (const v of values) {
    const chunk: number[] = [v & 0x7f];
    for (let n = Math.floor(v / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift((n & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return encodeNode(TAG.OID, new Uint8Array(bytes));
}

/** Encodes a small non-negative INTEGER. */
export function encodeSmallInteger(value: number): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(value) || value < 0 || value > 127) {
    throw new DerError(`encodeSmallInteger supports 0..127, got ${value}`);
  }
  return encodeNode(TAG.INTEGER, new Uint8Array([value]));
}

/** The DER NULL. */
export const DER_NULL: Uint8Array<ArrayBuffer> = new Uint8Array([TAG.NULL, 0]);
