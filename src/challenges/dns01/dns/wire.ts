/**
 * DNS messages for the dns-01 solver: RFC 2136 UPDATE and plain queries built with `dns-packet`, plus the little
 * that library cannot do: the UPDATE opcode (set through the flags), class NONE for "delete this RR" (patched into
 * the encoded bytes), and a walker over encoded records so TSIG (tsig.ts) can find and strip its record.
 *
 * Names are handled as lowercase text without the trailing dot; dns-packet neither compresses nor lowercases names.
 *
 * Parsing contract: `readHeader`, `readName`, `recordSpans` and `decodeMessage` (and tsig.ts's `extractTsig`) return
 * or throw a `DnsWireError`, nothing else, on any input (dns-packet's own RangeErrors are wrapped, message kept).
 * The builders (`normalizeName`, `encodeName`, `buildUpdate`, `buildQuery`) throw a plain Error on bad input names.
 */
// @ts-types="npm:@types/dns-packet@5.6.5"
import type * as DnsPacketModule from "dns-packet";
import type { Buffer } from "node:buffer";

/**
 * dns-packet and node:buffer, loaded by `loadDnsCodec` (DnsClient.exchange awaits it) the first time acmems speaks
 * DNS: an acmems without DNS verifications never loads them (tens of ms of start-up and several MB of heap).
 */
let codec: { packet: typeof DnsPacketModule; Buffer: typeof Buffer } | undefined;

/** Loads what `buildUpdate`, `buildQuery` and `decodeMessage` need; call (once is enough) before them. */
export async function loadDnsCodec(): Promise<void> {
  if (codec) return;
  const [packet, buffer] = await Promise.all([import("dns-packet"), import("node:buffer")]);
  codec = { packet: packet as unknown as typeof DnsPacketModule, Buffer: buffer.Buffer };
}

function loaded(): NonNullable<typeof codec> {
  if (!codec) throw new Error("The DNS codec is not loaded: await loadDnsCodec() before building or decoding");
  return codec;
}

/** A received DNS message is malformed (truncated, bad label, pointer loop, ...): the only error parsing throws. */
export class DnsWireError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DnsWireError";
  }
}

export const OPCODE_QUERY = 0;
export const OPCODE_UPDATE = 5;

export const TYPE_CNAME = 5;
export const TYPE_SOA = 6;
export const TYPE_NS = 2;
export const TYPE_TXT = 16;
export const TYPE_TSIG = 250;

export const CLASS_IN = 1;
/** RFC 2136 §2.4: "delete this RR" in the update section. */
export const CLASS_NONE = 254;
/** RFC 2136 §2.4: "delete this RRset"; also the class of TSIG records. */
export const CLASS_ANY = 255;

/** RCODE names (RFC 1035, RFC 2136, RFC 8945 for the TSIG error field). */
const RCODE_NAMES: Record<number, string> = {
  0: "NOERROR",
  1: "FORMERR",
  2: "SERVFAIL",
  3: "NXDOMAIN",
  4: "NOTIMP",
  5: "REFUSED",
  6: "YXDOMAIN",
  7: "YXRRSET",
  8: "NXRRSET",
  9: "NOTAUTH",
  10: "NOTZONE",
  16: "BADSIG",
  17: "BADKEY",
  18: "BADTIME",
  22: "BADTRUNC",
};

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  NOTAUTH: 9,
  NOTZONE: 10,
  BADSIG: 16,
  BADKEY: 17,
  BADTIME: 18,
} as const;

export function rcodeName(code: number): string {
  return RCODE_NAMES[code] ?? `RCODE${code}`;
}

/** Lowercase, no trailing dot; throws on names that cannot go on the wire. */
export function normalizeName(name: string): string {
  const n = name.replace(/\.$/, "").toLowerCase();
  if (n === "") return n;
  if (n.length > 253) throw new Error(`DNS name ${name} is longer than 253 characters`);
  for (const label of n.split(".")) {
    if (label.length === 0 || label.length > 63) {
      throw new Error(`DNS name ${name} has an empty label or one longer than 63 characters`);
    }
    if (!/^[\x21-\x7e]+$/.test(label)) throw new Error(`DNS name ${name} has characters outside printable ASCII`);
  }
  return n;
}

/** Uncompressed wire form of a name, lowercased (the canonical form TSIG digests use). */
export function encodeName(name: string): Uint8Array {
  const n = normalizeName(name);
  const labels = n === "" ? [] : n.split(".");
  const out = new Uint8Array(labels.reduce((sum, l) => sum + l.length + 1, 0) + 1);
  let offset = 0;
  for (const label of labels) {
    out[offset++] = label.length;
    for (let i = 0; i < label.length; i++) out[offset++] = label.charCodeAt(i);
  }
  out[offset] = 0;
  return out;
}

/** Reads a (possibly compressed) name; `next` is the offset after it in the original position. */
export function readName(bytes: Uint8Array, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  for (let hops = 0; hops < 128; hops++) {
    if (pos >= bytes.length) throw new DnsWireError("Truncated DNS name");
    const len = bytes[pos];
    if (len === 0) {
      if (next < 0) next = pos + 1;
      return { name: labels.join(".").toLowerCase(), next };
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= bytes.length) throw new DnsWireError("Truncated DNS name pointer");
      if (next < 0) next = pos + 2;
      const target = ((len & 0x3f) << 8) | bytes[pos + 1];
      if (target >= pos) throw new DnsWireError("DNS name pointer does not point backwards");
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsWireError("Bad DNS label type");
    if (pos + 1 + len > bytes.length) throw new DnsWireError("Truncated DNS label");
    labels.push(String.fromCharCode(...bytes.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  throw new DnsWireError("DNS name has too many compression pointers");
}

export interface Header {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

export function readHeader(bytes: Uint8Array): Header {
  if (bytes.length < 12) throw new DnsWireError(`DNS message of ${bytes.length} bytes is shorter than a header`);
  const u16 = (o: number) => (bytes[o] << 8) | bytes[o + 1];
  const flags = u16(2);
  return {
    id: u16(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rcode: flags & 0xf,
    qdcount: u16(4),
    ancount: u16(6),
    nscount: u16(8),
    arcount: u16(10),
  };
}

/** Where one resource record sits in an encoded message. */
export interface RecordSpan {
  section: "answer" | "authority" | "additional";
  /** Offset of the owner name (start of the record). */
  start: number;
  type: number;
  /** Offset of the 2-byte CLASS field. */
  classOffset: number;
  class: number;
  ttl: number;
  rdataOffset: number;
  rdlength: number;
  /** Offset just after the record. */
  end: number;
}

/** Walks every record of an encoded message (questions are skipped). Throws a `DnsWireError` on a malformed one. */
export function recordSpans(bytes: Uint8Array): RecordSpan[] {
  const h = readHeader(bytes);
  let offset = 12;
  for (let i = 0; i < h.qdcount; i++) {
    offset = readName(bytes, offset).next + 4;
    if (offset > bytes.length) throw new DnsWireError("Truncated DNS question");
  }
  const spans: RecordSpan[] = [];
  const sections: [RecordSpan["section"], number][] = [
    ["answer", h.ancount],
    ["authority", h.nscount],
    ["additional", h.arcount],
  ];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const [section, count] of sections) {
    for (let i = 0; i < count; i++) {
      const start = offset;
      const fixed = readName(bytes, offset).next;
      if (fixed + 10 > bytes.length) throw new DnsWireError("Truncated DNS record");
      const rdlength = view.getUint16(fixed + 8);
      const end = fixed + 10 + rdlength;
      if (end > bytes.length) throw new DnsWireError("Truncated DNS record data");
      spans.push({
        section,
        start,
        type: view.getUint16(fixed),
        classOffset: fixed + 2,
        class: view.getUint16(fixed + 2),
        ttl: view.getUint32(fixed + 4),
        rdataOffset: fixed + 10,
        rdlength,
        end,
      });
      offset = end;
    }
  }
  return spans;
}

/** A TXT value as character-strings of at most 255 bytes (our digests are 43 characters: one string). */
function txtStrings(value: string): Buffer[] {
  const { Buffer } = loaded();
  const bytes = Buffer.from(value, "utf8");
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
  return chunks.length > 0 ? chunks : [Buffer.alloc(0)];
}

export interface TxtRecord {
  name: string;
  value: string;
}

export interface UpdateOptions {
  id: number;
  zone: string;
  /** TXT records to add (class IN) with `ttl`. */
  add?: (TxtRecord & { ttl: number })[];
  /** TXT records to delete one by one, by value (class NONE, TTL 0). */
  remove?: TxtRecord[];
  /** Owner names whose whole TXT RRset is deleted (class ANY, TTL 0, no RDATA). Not used by the solver. */
  removeRrsets?: string[];
}

/** An RFC 2136 UPDATE: zone section = the zone's SOA question, no prerequisites, the update section in order. */
export function buildUpdate(opts: UpdateOptions): Uint8Array {
  const zone = normalizeName(opts.zone);
  const add = (opts.add ?? []).map((r) => ({
    type: "TXT" as const,
    class: "IN" as const,
    name: normalizeName(r.name),
    ttl: r.ttl,
    data: txtStrings(r.value),
  }));
  // Encoded as class IN, then patched to NONE below: dns-packet has no class NONE.
  const remove = (opts.remove ?? []).map((r) => ({
    type: "TXT" as const,
    class: "IN" as const,
    name: normalizeName(r.name),
    ttl: 0,
    data: txtStrings(r.value),
  }));
  // An empty TXT data array gives RDLENGTH 0, which is what an RRset deletion needs.
  const rrsets = (opts.removeRrsets ?? []).map((name) => ({
    type: "TXT" as const,
    class: "ANY" as const,
    name: normalizeName(name),
    ttl: 0,
    data: [] as Buffer[],
  }));
  const encoded = loaded().packet.encode({
    type: "query",
    id: opts.id,
    flags: OPCODE_UPDATE << 11,
    questions: [{ type: "SOA", class: "IN", name: zone }],
    authorities: [...add, ...remove, ...rrsets],
  });
  const bytes = new Uint8Array(encoded);
  const spans = recordSpans(bytes).filter((s) => s.section === "authority");
  for (let i = add.length; i < add.length + remove.length; i++) {
    bytes[spans[i].classOffset] = CLASS_NONE >> 8;
    bytes[spans[i].classOffset + 1] = CLASS_NONE & 0xff;
  }
  return bytes;
}

export type QueryType = "SOA" | "TXT" | "CNAME";

/** A non-recursive query (RD clear: we only ask the authoritative server). */
export function buildQuery(id: number, name: string, type: QueryType, recursive = false): Uint8Array {
  const { packet } = loaded();
  return new Uint8Array(packet.encode({
    type: "query",
    id,
    // RD set for a recursive resolver (dns-persist-01's lookup); authoritative queries leave it clear.
    flags: (OPCODE_QUERY << 11) | (recursive ? packet.RECURSION_DESIRED : 0),
    questions: [{ type, class: "IN", name: normalizeName(name) }],
  }));
}

/** A record of a decoded response, reduced to what the solver reads. */
export interface DecodedRecord {
  name: string;
  type: string;
  /** TXT: the joined character-strings; CNAME/NS: the target; SOA: the primary server name. Else "". */
  data: string;
}

export interface DecodedMessage extends Header {
  answers: DecodedRecord[];
  authorities: DecodedRecord[];
}

function reduce(record: DnsPacketModule.Answer): DecodedRecord {
  const name = normalizeName(record.name === "." ? "" : record.name);
  let data = "";
  if (record.type === "TXT") {
    const parts = Array.isArray(record.data) ? record.data : [record.data];
    data = parts.map((p) => (typeof p === "string" ? p : new TextDecoder().decode(new Uint8Array(p)))).join("");
  } else if (record.type === "CNAME" || record.type === "NS") {
    data = normalizeName(record.data);
  } else if (record.type === "SOA") {
    data = normalizeName(record.data.mname);
  }
  return { name, type: record.type, data };
}

/** Decodes a response. Throws a `DnsWireError` on a malformed message. */
export function decodeMessage(bytes: Uint8Array): DecodedMessage {
  const header = readHeader(bytes);
  const { packet: codecPacket, Buffer } = loaded();
  try {
    const packet = codecPacket.decode(Buffer.from(bytes));
    return {
      ...header,
      answers: (packet.answers ?? []).map(reduce),
      authorities: (packet.authorities ?? []).map(reduce),
    };
  } catch (error) {
    // dns-packet reads past the end with RangeErrors ("offset out of range"); a decoded name may not be one we can
    // use (normalizeName): both mean a malformed answer.
    if (error instanceof DnsWireError) throw error;
    throw new DnsWireError(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/** A random message ID (RFC 5452: unpredictable IDs make forged answers harder). */
export function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0];
}
