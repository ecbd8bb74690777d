/**
 * A minimal, strict DER reader: just enough ASN.1 to take a PKCS#10 certificate request apart.
 *
 * Every function either returns a value or throws `DerError`; callers turn that into a typed refusal. Lengths are
 * checked against the enclosing element, indefinite and non-minimal lengths are refused (that is BER, not DER), and
 * nothing allocates more than the input it reads.
 */

/** A structural problem in DER input. `offset` is the byte position where it was found. */
export class DerError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = "DerError";
  }
}

/** One tag-length-value element. Offsets are absolute positions in the buffer it was read from. */
export interface Tlv {
  /** The identifier octet as written (class, constructed bit, tag number < 31). */
  tag: number;
  /** Position of the identifier octet. */
  start: number;
  /** Position of the first content byte. */
  contentStart: number;
  /** Position just after the last content byte. */
  end: number;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  NUMERIC_STRING: 0x12,
  PRINTABLE_STRING: 0x13,
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  VISIBLE_STRING: 0x1a,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Reads the element starting at `offset`, which must end at or before `limit`. */
export function readTlv(buf: Uint8Array, offset: number, limit: number = buf.length): Tlv {
  if (offset >= limit) throw new DerError("unexpected end of data", offset);
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte tag numbers are not supported", offset);
  let pos = offset + 1;
  if (pos >= limit) throw new DerError("unexpected end of data in a length", pos);
  const first = buf[pos++];
  let length: number;
  if (first < 0x80) {
    length = first;
  } else if (first === 0x80) {
    throw new DerError("indefinite length (BER) is not DER", pos - 1);
  } else {
    const count = first & 0x7f;
    if (count > 4) throw new DerError("length field too long", pos - 1);
    if (pos + count > limit) throw new DerError("unexpected end of data in a length", pos);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[pos++];
    if (length < 0x80 || buf[pos - count] === 0) throw new DerError("non-minimal length encoding", pos - count - 1);
  }
  const end = pos + length;
  if (end > limit) throw new DerError("element runs past the end of its container", offset);
  return { tag, start: offset, contentStart: pos, end };
}

/**
 * Checks every element inside `tlv`, recursively, including the parts a caller does not interpret: lengths as
 * `readTlv` checks them, and the form of the universal types (SEQUENCE and SET constructed, every other universal
 * type primitive, as DER requires; the reserved tags 0 and 15 refused). A CA parses the whole CSR, so one malformed
 * deep inside (a subject value, an attribute acmems skips) is refused here rather than by the CA after an order.
 */
export function checkWellFormed(buf: Uint8Array, tlv: Tlv, depth = 0): void {
  if (depth > 32) throw new DerError("elements nested more than 32 deep", tlv.start);
  const constructed = (tlv.tag & 0x20) !== 0;
  if ((tlv.tag & 0xc0) === 0) {
    const number = tlv.tag & 0x1f;
    if (number === 0 || number === 15) throw new DerError(`reserved universal tag ${number}`, tlv.start);
    const mustBeConstructed = number === 16 || number === 17;
    if (constructed !== mustBeConstructed) {
      throw new DerError(
        `universal tag ${number} in ${constructed ? "constructed" : "primitive"} form is not DER`,
        tlv.start,
      );
    }
  }
  if (!constructed) return;
  for (let offset = tlv.contentStart; offset < tlv.end;) {
    const child = readTlv(buf, offset, tlv.end);
    checkWellFormed(buf, child, depth + 1);
    offset = child.end;
  }
}

/** Reads exactly one element that must fill `buf` completely, with the given tag. */
export function readOuter(buf: Uint8Array, tag: number): Tlv {
  const tlv = readTlv(buf, 0, buf.length);
  if (tlv.tag !== tag) throw new DerError(`expected tag 0x${hex(tag)}, found 0x${hex(tlv.tag)}`, 0);
  if (tlv.end !== buf.length) throw new DerError("trailing bytes after the outer element", tlv.end);
  return tlv;
}

/** The elements inside a constructed element, in order. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  if ((parent.tag & 0x20) === 0) throw new DerError("expected a constructed element", parent.start);
  const out: Tlv[] = [];
  let pos = parent.contentStart;
  while (pos < parent.end) {
    const child = readTlv(buf, pos, parent.end);
    out.push(child);
    pos = child.end;
  }
  return out;
}

/** Throws unless `tlv` has the given tag. */
export function expectTag(tlv: Tlv, tag: number, what: string): Tlv {
  if (tlv.tag !== tag) throw new DerError(`${what}: expected tag 0x${hex(tag)}, found 0x${hex(tlv.tag)}`, tlv.start);
  return tlv;
}

/** The content bytes of an element (a view, not a copy). */
export function content(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.contentStart, tlv.end);
}

/** Decodes an OBJECT IDENTIFIER to dotted text. */
export function readOid(buf: Uint8Array, tlv: Tlv): string {
  expectTag(tlv, TAG.OID, "object identifier");
  const bytes = content(buf, tlv);
  if (bytes.length === 0) throw new DerError("empty object identifier", tlv.start);
  const arcs: number[] = [];
  let value = 0;
  let digits = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (digits === 0 && b === 0x80) throw new DerError("non-minimal object identifier arc", tlv.contentStart + i);
    value = value * 128 + (b & 0x7f);
    digits++;
    if (digits > 7) throw new DerError("object identifier arc too large", tlv.contentStart + i);
    if ((b & 0x80) === 0) {
      arcs.push(value);
      value = 0;
      digits = 0;
    }
  }
  if (digits !== 0) throw new DerError("truncated object identifier", tlv.end);
  const head = arcs[0];
  const first = head < 40 ? 0 : head < 80 ? 1 : 2;
  return [first, head - first * 40, ...arcs.slice(1)].join(".");
}

/** The number of significant bits of a non-negative INTEGER (e.g. an RSA modulus). */
export function integerBitLength(buf: Uint8Array, tlv: Tlv): number {
  expectTag(tlv, TAG.INTEGER, "integer");
  const bytes = content(buf, tlv);
  if (bytes.length === 0) throw new DerError("empty integer", tlv.start);
  if (bytes[0] & 0x80) throw new DerError("negative integer where a positive one is required", tlv.start);
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]));
}

/** A small non-negative INTEGER as a number (at most 6 content bytes). */
export function readSmallInteger(buf: Uint8Array, tlv: Tlv): number {
  expectTag(tlv, TAG.INTEGER, "integer");
  const bytes = content(buf, tlv);
  if (bytes.length === 0 || bytes.length > 6) throw new DerError("integer out of range", tlv.start);
  if (bytes[0] & 0x80) throw new DerError("negative integer", tlv.start);
  let value = 0;
  for (const b of bytes) value = value * 256 + b;
  return value;
}

/** The bytes of a BIT STRING without the unused-bits octet (which must be 0 here: keys and signatures are bytes). */
export function readBitStringBytes(buf: Uint8Array, tlv: Tlv): Uint8Array {
  expectTag(tlv, TAG.BIT_STRING, "bit string");
  const bytes = content(buf, tlv);
  if (bytes.length === 0) throw new DerError("empty bit string", tlv.start);
  if (bytes[0] !== 0) throw new DerError("bit string with unused bits", tlv.start);
  return bytes.subarray(1);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Lenient = new TextDecoder("utf-8");

/** Decodes one of the ASN.1 string types used in names to a JS string. */
export function readString(buf: Uint8Array, tlv: Tlv): string {
  const bytes = content(buf, tlv);
  switch (tlv.tag) {
    case TAG.UTF8_STRING:
      try {
        return utf8.decode(bytes);
      } catch {
        throw new DerError("UTF8String is not valid UTF-8", tlv.start);
      }
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case TAG.VISIBLE_STRING:
    case TAG.NUMERIC_STRING:
      // Should be ASCII; some tools put UTF-8 in them, so show what was meant rather than mojibake.
      return utf8Lenient.decode(bytes);
    case TAG.TELETEX_STRING:
      return latin1(bytes);
    case TAG.BMP_STRING: {
      if (bytes.length % 2 !== 0) throw new DerError("BMPString with an odd length", tlv.start);
      let out = "";
      for (let i = 0; i < bytes.length; i += 2) out += String.fromCharCode((bytes[i] << 8) | bytes[i + 1]);
      return out;
    }
    case TAG.UNIVERSAL_STRING: {
      if (bytes.length % 4 !== 0) throw new DerError("UniversalString length not a multiple of 4", tlv.start);
      let out = "";
      for (let i = 0; i < bytes.length; i += 4) {
        const cp = ((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]) >>> 0;
        if (cp > 0x10ffff) throw new DerError("UniversalString code point out of range", tlv.start);
        out += String.fromCodePoint(cp);
      }
      return out;
    }
    default:
      throw new DerError(`expected a string, found tag 0x${hex(tlv.tag)}`, tlv.start);
  }
}

/** Bytes to a string, one char per byte. */
export function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 8192)));
  }
  return out;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
