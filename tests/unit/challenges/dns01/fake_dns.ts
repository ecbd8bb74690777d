/**
 * An in-memory authoritative DNS server for solver unit tests, plugged in as the client's `Exchange`: it answers
 * SOA/TXT/CNAME queries and applies RFC 2136 TXT updates (add, delete by value, delete RRset) from the raw bytes,
 * optionally requiring and producing TSIG signatures. Outages and refusals are switches.
 */
// @ts-types="npm:@types/dns-packet@5.6.5"
import * as dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import type { DnsServerAddress } from "../../../../src/config/types.ts";
import type { Exchange } from "../../../../src/challenges/dns01/dns/client.ts";
import { DnsTransportError } from "../../../../src/challenges/dns01/dns/transport.ts";
import {
  CLASS_ANY,
  CLASS_IN,
  CLASS_NONE,
  readHeader,
  readName,
  recordSpans,
  TYPE_TSIG,
  TYPE_TXT,
} from "../../../../src/challenges/dns01/dns/wire.ts";
import {
  encodeTsigRecord,
  extractTsig,
  type TsigKeyInput,
  TsigSigner,
  tsigVariables,
} from "../../../../src/challenges/dns01/dns/tsig.ts";

export function server(port: number, hostname = "127.0.0.1"): DnsServerAddress {
  return { hostname, port, display: hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}` };
}

export interface FakeDnsOptions {
  zones: string[];
  cnames?: Record<string, string>;
  /** Updates must be signed with this key; answers are signed with it. */
  key?: TsigKeyInput;
}

export class FakeDns {
  readonly zones: Set<string>;
  readonly cnames: Map<string, string>;
  /** TXT values by owner name. */
  readonly txt = new Map<string, string[]>();
  /** Every message received (with a valid signature, or none): server display, opcode, question, signed or not. */
  readonly log: { server: string; opcode: number; qname: string; signed: boolean }[] = [];
  /** Servers (by display) that are down: connection refused. */
  readonly down = new Set<string>();
  /** Answer every UPDATE with this rcode (e.g. 5 REFUSED) instead of applying it. */
  updateRcode: number | undefined;
  /** Apply updates but never show TXT records in answers (propagation never completes). */
  hideTxt = false;
  /** Seconds added to the clock of signed answers. */
  clockSkew = 0;
  /** Flip a bit of the MAC of every UPDATE answer (the update itself is applied). */
  corruptUpdateMac = false;
  /** Answer signed UPDATEs unsigned (a server that ignores the key). */
  unsignedUpdateAnswers = false;
  /**
   * Answer every signed QUERY NOTAUTH with TSIG error BADKEY, unsigned: Knot DNS does so in a zone whose ACL does not
   * name the key.
   */
  refuseSignedQueries = false;
  readonly #signer?: TsigSigner;
  readonly #key?: TsigKeyInput;

  constructor(opts: FakeDnsOptions) {
    this.zones = new Set(opts.zones);
    this.cnames = new Map(Object.entries(opts.cnames ?? {}));
    if (opts.key) {
      this.#signer = new TsigSigner(opts.key);
      this.#key = opts.key;
    }
  }

  values(name: string): string[] {
    return this.txt.get(name) ?? [];
  }

  /** All TXT values left anywhere. */
  leftovers(): string[] {
    return [...this.txt.entries()].flatMap(([n, vs]) => vs.map((v) => `${n}=${v}`));
  }

  readonly exchange: Exchange = async (srv, message) => {
    await Promise.resolve();
    if (this.down.has(srv.display)) throw new DnsTransportError(`${srv.display}: connection refused (TCP)`, false);
    const header = readHeader(message);
    let requestMac = new Uint8Array(0);
    let body = message;
    const tsig = extractTsig(message);
    if (tsig) {
      requestMac = tsig.mac;
      body = tsig.unsigned;
      const refused = this.refuseSignedQueries && header.opcode === 0;
      if (refused || !this.#signer || !(await this.#signer.verifyRequest(message)).ok) {
        // RFC 8945: BADSIG (or BADKEY), unsigned, NOTAUTH.
        return tsigErrorAnswer(this.#answer(body, header.opcode, 9, []), message, refused ? 17 : 16);
      }
    }
    const question = dnsPacket.decode(Buffer.from(body)).questions?.[0];
    const qname = (question?.name ?? "").toLowerCase();
    this.log.push({ server: srv.display, opcode: header.opcode, qname, signed: tsig !== null });
    let reply: Uint8Array;
    if (header.opcode === 5) {
      let rcode = this.updateRcode ?? 0;
      if (rcode === 0 && this.#signer && !tsig) rcode = 5;
      if (rcode === 0 && !this.zones.has(qname)) rcode = 9;
      if (rcode === 0) this.#applyUpdate(body);
      reply = this.#answer(body, 5, rcode, []);
    } else {
      reply = this.#query(body, qname, question?.type ?? "A");
    }
    const sign = tsig && this.#signer && !(header.opcode === 5 && this.unsignedUpdateAnswers);
    return sign ? await this.#signResponse(reply, requestMac) : reply;
  };

  /** RFC 8945 §5.3: the response MAC covers the request MAC, the response and the TSIG variables. */
  async #signResponse(reply: Uint8Array, requestMac: Uint8Array): Promise<Uint8Array> {
    const key = this.#key!;
    const hash = { "hmac-sha256": "SHA-256", "hmac-sha384": "SHA-384", "hmac-sha512": "SHA-512" }[key.algorithm];
    const raw = Uint8Array.from(atob(key.secret), (c) => c.charCodeAt(0));
    const cryptoKey = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash }, false, ["sign"]);
    const time = Math.floor(Date.now() / 1000) + this.clockSkew;
    const prefix = new Uint8Array([requestMac.length >> 8, requestMac.length & 0xff, ...requestMac]);
    const variables = tsigVariables(key.name, key.algorithm, time, 300, 0, new Uint8Array());
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, concat(concat(prefix, reply), variables)));
    if (this.corruptUpdateMac && readHeader(reply).opcode === 5) mac[0] ^= 1;
    return appendRecord(reply, encodeTsigRecord(key.name, key.algorithm, time, 300, mac, readHeader(reply).id));
  }

  #zoneOf(name: string): string | undefined {
    return [...this.zones].filter((z) => name === z || name.endsWith(`.${z}`)).sort((a, b) => b.length - a.length)[0];
  }

  #query(body: Uint8Array, qname: string, type: string): Uint8Array {
    const zone = this.#zoneOf(qname);
    if (!zone) return this.#answer(body, 0, 5, []);
    const answers: dnsPacket.Answer[] = [];
    const cname = this.cnames.get(qname);
    if (cname) answers.push({ type: "CNAME", name: qname, ttl: 60, data: cname });
    else if (type === "SOA" && this.zones.has(qname)) {
      answers.push({ type: "SOA", name: qname, ttl: 60, data: { mname: `ns.${qname}`, rname: `hostmaster.${qname}` } });
    } else if (type === "TXT" && !this.hideTxt) {
      for (const v of this.values(qname)) answers.push({ type: "TXT", name: qname, ttl: 60, data: [Buffer.from(v)] });
    }
    const exists = answers.length > 0 || this.zones.has(qname) || this.values(qname).length > 0;
    return this.#answer(body, 0, exists ? 0 : 3, answers);
  }

  #answer(request: Uint8Array, opcode: number, rcode: number, answers: dnsPacket.Answer[]): Uint8Array {
    const q = dnsPacket.decode(Buffer.from(request));
    return new Uint8Array(dnsPacket.encode({
      type: "response",
      id: readHeader(request).id,
      flags: (opcode << 11) | dnsPacket.AUTHORITATIVE_ANSWER | rcode,
      questions: q.questions,
      answers,
    }));
  }

  #applyUpdate(body: Uint8Array): void {
    for (const span of recordSpans(body)) {
      if (span.section !== "authority" || span.type === TYPE_TSIG) continue;
      if (span.type !== TYPE_TXT) continue;
      const name = readName(body, span.start).name;
      const value = txtValue(body.subarray(span.rdataOffset, span.rdataOffset + span.rdlength));
      const list = this.values(name);
      if (span.class === CLASS_IN && !list.includes(value)) this.txt.set(name, [...list, value]);
      if (span.class === CLASS_NONE) this.txt.set(name, list.filter((v) => v !== value));
      if (span.class === CLASS_ANY) this.txt.set(name, []);
      if ((this.txt.get(name) ?? []).length === 0) this.txt.delete(name);
    }
  }
}

function txtValue(rdata: Uint8Array): string {
  let out = "";
  for (let o = 0; o < rdata.length;) {
    const len = rdata[o];
    out += new TextDecoder().decode(rdata.subarray(o + 1, o + 1 + len));
    o += 1 + len;
  }
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * `reply` (the answer to the signed `request`) with an unsigned TSIG record carrying `error` (16 BADSIG, 17 BADKEY),
 * as a server that rejects the key sends it, or as anyone on the path could forge it.
 */
export function tsigErrorAnswer(reply: Uint8Array, request: Uint8Array, error: number): Uint8Array {
  const tsig = extractTsig(request)!;
  const record = encodeTsigRecord(
    tsig.keyName,
    tsig.algorithm,
    tsig.timeSigned,
    tsig.fudge,
    new Uint8Array(),
    readHeader(request).id,
    error,
  );
  return appendRecord(reply, record);
}

/** Appends a record to the additional section. */
export function appendRecord(message: Uint8Array, record: Uint8Array): Uint8Array {
  const out = concat(message, record);
  const arcount = readHeader(message).arcount + 1;
  out[10] = arcount >> 8;
  out[11] = arcount & 0xff;
  return out;
}
