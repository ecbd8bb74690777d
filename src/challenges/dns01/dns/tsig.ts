/**
 * TSIG (RFC 8945) on Web Crypto HMAC: signs requests and verifies the server's signed responses.
 *
 * Only hmac-sha256/384/512 (MD5 and SHA-1 are refused by the config). Time-signed with a fudge of 300 s; full-length
 * MACs only (no truncation). The secret lives in a non-extractable CryptoKey: nothing here can print it.
 */
import type { TsigAlgorithm } from "../../../config/types.ts";
import { CLASS_ANY, DnsWireError, encodeName, readHeader, readName, recordSpans, TYPE_TSIG } from "./wire.ts";

export const TSIG_FUDGE = 300;

const HASHES: Record<TsigAlgorithm, { hash: string; bytes: number }> = {
  "hmac-sha256": { hash: "SHA-256", bytes: 32 },
  "hmac-sha384": { hash: "SHA-384", bytes: 48 },
  "hmac-sha512": { hash: "SHA-512", bytes: 64 },
};

/** What the signer needs: the key's name, algorithm and base64 secret (TsigKey of the config fits). */
export interface TsigKeyInput {
  name: string;
  algorithm: TsigAlgorithm;
  secret: string;
}

/** A TSIG record as found in a message. */
export interface TsigRecord {
  keyName: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  mac: Uint8Array<ArrayBuffer>;
  originalId: number;
  error: number;
  otherData: Uint8Array;
  /** The message without the TSIG record: ARCOUNT decremented and the original ID restored (what the MAC covers). */
  unsigned: Uint8Array;
}

/**
 * Finds the TSIG record, which must be the last additional record; null when the message has none. Throws only a
 * `DnsWireError` (malformed message or TSIG record).
 */
export function extractTsig(message: Uint8Array): TsigRecord | null {
  const spans = recordSpans(message);
  const last = spans.at(-1);
  if (!last || last.section !== "additional" || last.type !== TYPE_TSIG) {
    if (spans.some((s) => s.type === TYPE_TSIG)) {
      throw new DnsWireError("TSIG record is not the last record of the message");
    }
    return null;
  }
  const keyName = readName(message, last.start).name;
  const rd = message.subarray(last.rdataOffset, last.end);
  const view = new DataView(rd.buffer, rd.byteOffset, rd.byteLength);
  const alg = readName(rd, 0);
  let o = alg.next;
  if (o + 10 > rd.length) throw new DnsWireError("Truncated TSIG record");
  const timeSigned = view.getUint16(o) * 2 ** 32 + view.getUint32(o + 2);
  const fudge = view.getUint16(o + 6);
  const macSize = view.getUint16(o + 8);
  o += 10;
  if (o + macSize + 6 > rd.length) throw new DnsWireError("Truncated TSIG MAC");
  const mac = rd.slice(o, o + macSize);
  o += macSize;
  const originalId = view.getUint16(o);
  const error = view.getUint16(o + 2);
  const otherLen = view.getUint16(o + 4);
  o += 6;
  if (o + otherLen !== rd.length) throw new DnsWireError("TSIG record length does not match its fields");
  const otherData = rd.slice(o, o + otherLen);

  const unsigned = message.slice(0, last.start);
  const arcount = readHeader(message).arcount - 1;
  unsigned[0] = originalId >> 8;
  unsigned[1] = originalId & 0xff;
  unsigned[10] = arcount >> 8;
  unsigned[11] = arcount & 0xff;
  return { keyName, algorithm: alg.name, timeSigned, fudge, mac, originalId, error, otherData, unsigned };
}

function u16(n: number): Uint8Array {
  return new Uint8Array([n >> 8, n & 0xff]);
}

function u48(n: number): Uint8Array {
  const hi = Math.floor(n / 2 ** 32);
  const lo = n >>> 0;
  return new Uint8Array([hi >> 8, hi & 0xff, lo >>> 24, (lo >> 16) & 0xff, (lo >> 8) & 0xff, lo & 0xff]);
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** RFC 8945 §4.3.3: the TSIG variables appended to the message for the digest. */
export function tsigVariables(
  keyName: string,
  algorithm: string,
  timeSigned: number,
  fudge: number,
  error: number,
  otherData: Uint8Array,
): Uint8Array {
  return concat([
    encodeName(keyName),
    u16(CLASS_ANY),
    new Uint8Array(4), // TTL 0
    encodeName(algorithm),
    u48(timeSigned),
    u16(fudge),
    u16(error),
    u16(otherData.length),
    otherData,
  ]);
}

/** The TSIG resource record (uncompressed names) for the additional section. */
export function encodeTsigRecord(
  keyName: string,
  algorithm: string,
  timeSigned: number,
  fudge: number,
  mac: Uint8Array,
  originalId: number,
  error = 0,
  otherData: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const rdata = concat([
    encodeName(algorithm),
    u48(timeSigned),
    u16(fudge),
    u16(mac.length),
    mac,
    u16(originalId),
    u16(error),
    u16(otherData.length),
    otherData,
  ]);
  return concat([
    encodeName(keyName),
    u16(TYPE_TSIG),
    u16(CLASS_ANY),
    new Uint8Array(4),
    u16(rdata.length),
    rdata,
  ]);
}

export type TsigFailure =
  /** The response carries no TSIG record although the request was signed. */
  | "missing"
  /** Signed with another key or algorithm than ours. */
  | "wrong-key"
  /** The MAC does not verify. */
  | "bad-mac"
  /** Signed outside the fudge window (clock skew or a replay). */
  | "bad-time"
  /** The server reports a TSIG error (BADSIG, BADKEY, BADTIME...) in the record's error field. */
  | "server-error";

/**
 * `verified`: the answer's MAC verified with our key, so what it says is the server's own word (a signed BADTIME).
 * Unsigned error answers (BADSIG/BADKEY carry no MAC, RFC 8945 §5.3.2) could come from anyone on the path.
 */
export type TsigCheck = { ok: true } | {
  ok: false;
  failure: TsigFailure;
  tsigError?: number;
  detail: string;
  verified?: boolean;
};

export interface SignedMessage {
  bytes: Uint8Array;
  /** The request MAC: the response MAC covers it. */
  mac: Uint8Array;
  timeSigned: number;
}

/** Signs and verifies with one key. */
export class TsigSigner {
  readonly keyName: string;
  readonly algorithm: TsigAlgorithm;
  readonly #raw: Uint8Array<ArrayBuffer>;
  readonly #hash: string;
  #key: Promise<CryptoKey> | undefined;

  constructor(key: TsigKeyInput) {
    const spec = HASHES[key.algorithm];
    if (!spec) throw new Error(`TSIG algorithm ${key.algorithm} is not supported: use hmac-sha256, -384 or -512`);
    this.keyName = key.name.replace(/\.$/, "").toLowerCase();
    this.algorithm = key.algorithm;
    let raw: Uint8Array<ArrayBuffer>;
    try {
      raw = Uint8Array.from(atob(key.secret.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
    } catch {
      throw new Error(`The secret of TSIG key ${this.keyName} is not base64: paste the secret from tsig-keygen`);
    }
    if (raw.length === 0) throw new Error(`The secret of TSIG key ${this.keyName} is empty`);
    this.#raw = raw;
    this.#hash = spec.hash;
  }

  /** Imported on first use, so an unused signer holds no pending operation. */
  #cryptoKey(): Promise<CryptoKey> {
    this.#key ??= crypto.subtle.importKey("raw", this.#raw, { name: "HMAC", hash: this.#hash }, false, [
      "sign",
      "verify",
    ]);
    return this.#key;
  }

  /** Appends a TSIG record to `message` (whose ID is the original ID) and bumps ARCOUNT. */
  async sign(message: Uint8Array, opts: { timeSigned?: number; fudge?: number } = {}): Promise<SignedMessage> {
    const timeSigned = opts.timeSigned ?? Math.floor(Date.now() / 1000);
    const fudge = opts.fudge ?? TSIG_FUDGE;
    const header = readHeader(message);
    const variables = tsigVariables(this.keyName, this.algorithm, timeSigned, fudge, 0, new Uint8Array(0));
    const mac = new Uint8Array(
      await crypto.subtle.sign("HMAC", await this.#cryptoKey(), concat([message, variables])),
    );
    const record = encodeTsigRecord(this.keyName, this.algorithm, timeSigned, fudge, mac, header.id);
    const bytes = concat([message, record]);
    const arcount = header.arcount + 1;
    bytes[10] = arcount >> 8;
    bytes[11] = arcount & 0xff;
    return { bytes, mac, timeSigned };
  }

  /**
   * Checks a signed request (as a server would): used against `nsupdate` vectors. `now` in seconds (default: the
   * clock); pass the vector's time to check only the MAC.
   */
  async verifyRequest(message: Uint8Array, opts: { now?: number } = {}): Promise<TsigCheck> {
    const tsig = extractTsig(message);
    if (!tsig) return { ok: false, failure: "missing", detail: "the message is not signed" };
    return await this.#check(tsig, new Uint8Array(0), opts.now);
  }

  /** Checks the response to a request signed with MAC `requestMac` (RFC 8945 §5.3). */
  async verifyResponse(response: Uint8Array, requestMac: Uint8Array, opts: { now?: number } = {}): Promise<TsigCheck> {
    const tsig = extractTsig(response);
    if (!tsig) return { ok: false, failure: "missing", detail: "the response is not signed" };
    return await this.#check(tsig, concat([u16(requestMac.length), requestMac]), opts.now);
  }

  async #check(tsig: TsigRecord, prefix: Uint8Array, now?: number): Promise<TsigCheck> {
    if (tsig.keyName !== this.keyName || tsig.algorithm !== this.algorithm) {
      return {
        ok: false,
        failure: "wrong-key",
        detail: `signed with key ${tsig.keyName} (${tsig.algorithm}), expected ${this.keyName} (${this.algorithm})`,
      };
    }
    if (tsig.error !== 0 && tsig.mac.length === 0) {
      // RFC 8945 §5.3.2: BADSIG/BADKEY answers are unsigned; the error field is all there is.
      return { ok: false, failure: "server-error", tsigError: tsig.error, detail: "the server reports a TSIG error" };
    }
    if (tsig.mac.length !== HASHES[this.algorithm].bytes) {
      return { ok: false, failure: "bad-mac", detail: `MAC of ${tsig.mac.length} bytes (truncated MACs are refused)` };
    }
    const variables = tsigVariables(
      tsig.keyName,
      tsig.algorithm,
      tsig.timeSigned,
      tsig.fudge,
      tsig.error,
      tsig.otherData,
    );
    const valid = await crypto.subtle.verify(
      "HMAC",
      await this.#cryptoKey(),
      tsig.mac,
      concat([prefix, tsig.unsigned, variables]),
    );
    if (!valid) return { ok: false, failure: "bad-mac", detail: "the MAC does not verify" };
    if (tsig.error !== 0) {
      return {
        ok: false,
        failure: "server-error",
        tsigError: tsig.error,
        detail: "the server reports a TSIG error",
        verified: true,
      };
    }
    const clock = now ?? Math.floor(Date.now() / 1000);
    if (Math.abs(clock - tsig.timeSigned) > tsig.fudge) {
      return {
        ok: false,
        failure: "bad-time",
        detail: `signed at ${tsig.timeSigned}, ${clock - tsig.timeSigned} s from our clock (fudge ${tsig.fudge} s)`,
      };
    }
    return { ok: true };
  }
}
