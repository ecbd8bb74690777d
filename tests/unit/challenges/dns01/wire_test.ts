/**
 * RFC 2136 message building (what dns-packet lacks: the UPDATE opcode, class NONE, class ANY deletes) and the record
 * walker TSIG relies on. The recorded nsupdate messages in tests/fixtures/dns are the reference for the layout.
 */
// @ts-types="npm:@types/dns-packet@5.6.5"
import * as dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import { assertEquals, assertThrows } from "../../../support/assert.ts";
import {
  buildQuery,
  buildUpdate,
  CLASS_ANY,
  CLASS_IN,
  CLASS_NONE,
  decodeMessage,
  encodeName,
  normalizeName,
  readHeader,
  readName,
  recordSpans,
  TYPE_SOA,
  TYPE_TXT,
} from "../../../../src/challenges/dns01/dns/wire.ts";
import { extractTsig } from "../../../../src/challenges/dns01/dns/tsig.ts";
import { loadDnsCodec as loadDnsCodecForTests } from "../../../../src/challenges/dns01/dns/wire.ts";

// The codec is loaded at the first exchange in acmems; these tests build and decode directly.
await loadDnsCodecForTests();

const VECTORS = JSON.parse(
  await Deno.readTextFile(new URL("../../../fixtures/dns/tsig_vectors.json", import.meta.url)),
) as { vectors: { owner: string; value: string; exchanges: { request: string; response: string }[] }[] };

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
}

function u16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] << 8) | bytes[offset + 1];
}

/** The zone question of an UPDATE: name, type, class. */
function zoneSection(bytes: Uint8Array) {
  const { name, next } = readName(bytes, 12);
  return { name, type: u16(bytes, next), class: u16(bytes, next + 2) };
}

Deno.test("dns wire: UPDATE header carries opcode 5 and the section counts", () => {
  const bytes = buildUpdate({
    id: 0x1234,
    zone: "Example.TEST.",
    add: [{ name: "_acme-challenge.www.example.test", value: "v1", ttl: 60 }],
    remove: [{ name: "_acme-challenge.www.example.test", value: "v0" }],
  });
  const h = readHeader(bytes);
  assertEquals([h.id, h.qr, h.opcode, h.rcode], [0x1234, false, 5, 0]);
  assertEquals(u16(bytes, 2), 0x2800, "flags: opcode UPDATE only, RD clear");
  assertEquals([h.qdcount, h.ancount, h.nscount, h.arcount], [1, 0, 2, 0], "ZOCOUNT 1, PRCOUNT 0, UPCOUNT 2");
  assertEquals(zoneSection(bytes), { name: "example.test", type: TYPE_SOA, class: CLASS_IN }, "zone section");
});

Deno.test("dns wire: add is class IN with the TTL; delete-by-value is class NONE, TTL 0, same RDATA", () => {
  const bytes = buildUpdate({
    id: 1,
    zone: "example.test",
    add: [{ name: "_acme-challenge.a.example.test", value: "added", ttl: 300 }],
    remove: [{ name: "_acme-challenge.a.example.test", value: "gone" }, {
      name: "_acme-challenge.b.example.test",
      value: "gone2",
    }],
  });
  const spans = recordSpans(bytes);
  assertEquals(spans.map((s) => [s.section, s.type, s.class, s.ttl]), [
    ["authority", TYPE_TXT, CLASS_IN, 300],
    ["authority", TYPE_TXT, CLASS_NONE, 0],
    ["authority", TYPE_TXT, CLASS_NONE, 0],
  ]);
  const rdata = (i: number) => bytes.slice(spans[i].rdataOffset, spans[i].end);
  assertEquals([...rdata(1)], [4, ...new TextEncoder().encode("gone")], "RDATA is one character-string");
  assertEquals(readName(bytes, spans[2].start).name, "_acme-challenge.b.example.test");
});

Deno.test("dns wire: RRset deletion is class ANY, TTL 0, RDLENGTH 0", () => {
  const bytes = buildUpdate({ id: 2, zone: "example.test", removeRrsets: ["_acme-challenge.x.example.test"] });
  const [span] = recordSpans(bytes);
  assertEquals([span.type, span.class, span.ttl, span.rdlength], [TYPE_TXT, CLASS_ANY, 0, 0]);
  assertEquals(span.end, bytes.length);
});

Deno.test("dns wire: long TXT values are split into 255-byte character-strings", () => {
  const value = "x".repeat(300);
  const bytes = buildUpdate({ id: 3, zone: "example.test", add: [{ name: "t.example.test", value, ttl: 1 }] });
  const [span] = recordSpans(bytes);
  assertEquals(span.rdlength, 1 + 255 + 1 + 45);
  assertEquals([bytes[span.rdataOffset], bytes[span.rdataOffset + 256]], [255, 45]);
});

Deno.test("dns wire: our UPDATEs equal nsupdate's byte for byte (before TSIG)", () => {
  for (const v of VECTORS.vectors) {
    const [add, del] = v.exchanges.map((e) => extractTsig(fromHex(e.request))!);
    const zone = "vectors.test";
    assertEquals(
      [...buildUpdate({ id: add.originalId, zone, add: [{ name: v.owner, value: v.value, ttl: 60 }] })],
      [...add.unsigned],
      `add ${v.owner}`,
    );
    assertEquals(
      [...buildUpdate({ id: del.originalId, zone, remove: [{ name: v.owner, value: v.value }] })],
      [...del.unsigned],
      `delete ${v.owner}`,
    );
  }
});

Deno.test("dns wire: queries are non-recursive with one question", () => {
  const bytes = buildQuery(77, "_acme-challenge.WWW.example.test.", "TXT");
  const h = readHeader(bytes);
  assertEquals([h.id, h.opcode, h.qdcount, u16(bytes, 2)], [77, 0, 1, 0]);
  assertEquals(zoneSection(bytes), { name: "_acme-challenge.www.example.test", type: TYPE_TXT, class: CLASS_IN });
});

Deno.test("dns wire: names are normalized and checked", () => {
  assertEquals(normalizeName("WWW.Example.Test."), "www.example.test");
  assertEquals([...encodeName("A.b")], [1, 0x61, 1, 0x62, 0]);
  assertEquals([...encodeName("")], [0]);
  assertThrows(() => normalizeName(`${"a".repeat(64)}.test`), /longer than 63/);
  assertThrows(() => normalizeName("a..test"), /empty label/);
  assertThrows(() => normalizeName(`${"abcdefgh.".repeat(32)}test`), /longer than 253/);
  assertThrows(() => normalizeName("a b.test"), /printable ASCII/);
});

Deno.test("dns wire: readName follows compression pointers and refuses loops", () => {
  // "example.test" at 12, then "www" + pointer to 12 at 26.
  const msg = new Uint8Array([...new Uint8Array(12), ...encodeName("example.test"), 3, 0x77, 0x77, 0x77, 0xc0, 12]);
  assertEquals(readName(msg, 26), { name: "www.example.test", next: 32 });
  const loop = new Uint8Array([...new Uint8Array(12), 0xc0, 12]);
  assertThrows(() => readName(loop, 12), /backwards/);
  assertThrows(() => readName(new Uint8Array([3, 0x61]), 0), /Truncated/);
});

Deno.test("dns wire: truncated messages are rejected, not misread", () => {
  const bytes = buildUpdate({ id: 5, zone: "example.test", add: [{ name: "a.example.test", value: "v", ttl: 1 }] });
  for (const cut of [5, 20, bytes.length - 1]) {
    assertThrows(() => recordSpans(bytes.slice(0, cut)));
  }
});

Deno.test("dns wire: decodeMessage reads header, TXT, CNAME and SOA data", () => {
  const update = decodeMessage(fromHex(VECTORS.vectors[0].exchanges[0].response));
  assertEquals([update.qr, update.opcode, update.rcode, update.answers.length], [true, 5, 0, 0], "bind's answer");

  const answer = new Uint8Array(dnsPacket.encode({
    type: "response",
    id: 9,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | 3,
    questions: [{ type: "TXT", name: "q.example.test" }],
    answers: [
      { type: "TXT", name: "T.Example.Test", data: [Buffer.from("ab"), Buffer.from("cd")] },
      { type: "CNAME", name: "c.example.test", data: "Target.Example.Test." },
    ],
    authorities: [{ type: "SOA", name: "example.test", data: { mname: "ns.example.test", rname: "h.example.test" } }],
  }));
  const m = decodeMessage(answer);
  assertEquals([m.id, m.qr, m.aa, m.rcode], [9, true, true, 3]);
  assertEquals(m.answers, [
    { name: "t.example.test", type: "TXT", data: "abcd" },
    { name: "c.example.test", type: "CNAME", data: "target.example.test" },
  ]);
  assertEquals(m.authorities, [{ name: "example.test", type: "SOA", data: "ns.example.test" }]);
});
