/**
 * Fuzz: DNS message parsing for dns-01 (src/challenges/dns01/dns/wire.ts, tsig.ts, client.ts).
 *
 * - The parsers (`readHeader`, `readName`, `recordSpans`, `decodeMessage`, `extractTsig`) on random and mutated
 *   messages (real BIND exchanges from tests/fixtures/dns/tsig_vectors.json, answers with compression pointers,
 *   pointer loops): they return or throw a `DnsWireError` (the parsers' own type: not a RangeError from a read past
 *   the end), quickly; nothing else.
 * - TSIG: a real BIND response whose bytes before the TSIG record are altered never verifies.
 * - `DnsClient` over an exchange that damages the server's answers: queries and updates resolve or reject with a
 *   `DnsError` (which the solver maps to 421/503), never another exception; with TSIG, an UPDATE answer altered
 *   before its TSIG record is never accepted (lookups go unsigned: their answers carry no TSIG record).
 */
// @ts-types="npm:@types/dns-packet@5.6.5"
import * as dnsPacket from "dns-packet";
import { assert } from "../support/assert.ts";
import { FakeDns, server } from "../unit/challenges/dns01/fake_dns.ts";
import { DnsClient, DnsError, type Exchange } from "../../src/challenges/dns01/dns/client.ts";
import { decodeMessage, DnsWireError, readHeader, readName, recordSpans } from "../../src/challenges/dns01/dns/wire.ts";
import { extractTsig, TsigSigner } from "../../src/challenges/dns01/dns/tsig.ts";
import { concatBytes, mutateBytes, type Rng, runCases } from "./_fuzz.ts";
import { loadDnsCodec as loadDnsCodecForTests } from "../../src/challenges/dns01/dns/wire.ts";

// The codec is loaded at the first exchange in acmems; these tests build and decode directly.
await loadDnsCodecForTests();

interface Vector {
  algorithm: "hmac-sha256" | "hmac-sha384" | "hmac-sha512";
  keyName: string;
  secret: string;
  exchanges: { request: string; response: string }[];
}

const vectors: Vector[] = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/dns/tsig_vectors.json", import.meta.url)),
).vectors;
const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));

/** An answer with compression pointers (dns-packet writes none): SOA + TXT + CNAME under one owner. */
function compressedAnswer(): Uint8Array<ArrayBuffer> {
  const header = Uint8Array.of(0x12, 0x34, 0x84, 0x00, 0, 1, 0, 3, 0, 0, 0, 0);
  const qname = Uint8Array.of(
    3,
    0x77,
    0x77,
    0x77,
    7,
    ...new TextEncoder().encode("example"),
    4,
    0x74,
    0x65,
    0x73,
    0x74,
    0,
  );
  const question = concatBytes(qname, Uint8Array.of(0, 16, 0, 1));
  const ptr = Uint8Array.of(0xc0, 12);
  const txt = concatBytes(ptr, Uint8Array.of(0, 16, 0, 1, 0, 0, 0, 60, 0, 6, 5, 0x68, 0x65, 0x6c, 0x6c, 0x6f));
  const cname = concatBytes(ptr, Uint8Array.of(0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 1, 0x78, 0xc0, 16));
  const soa = concatBytes(
    Uint8Array.of(0xc0, 16),
    Uint8Array.of(0, 6, 0, 1, 0, 0, 0, 60, 0, 26, 2, 0x6e, 0x73, 0xc0, 16, 1, 0x68, 0xc0, 16),
    new Uint8Array(20),
  );
  return concatBytes(header, question, txt, cname, soa);
}

/** A name that points at itself, and one that points forward. */
const LOOPS = [
  concatBytes(Uint8Array.of(0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0), Uint8Array.of(0xc0, 12, 0, 1, 0, 1)),
  concatBytes(Uint8Array.of(0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0), Uint8Array.of(0xc0, 14, 0xc0, 12, 0, 1, 0, 1)),
];

const SEEDS: Uint8Array[] = [
  ...vectors.flatMap((v) => v.exchanges.flatMap((e) => [fromHex(e.request), fromHex(e.response)])),
  compressedAnswer(),
  ...LOOPS,
  new Uint8Array(dnsPacket.encode({
    type: "response",
    id: 7,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    questions: [{ type: "SOA", name: "example.test" }],
    answers: [{
      type: "SOA",
      name: "example.test",
      ttl: 60,
      data: { mname: "ns.example.test", rname: "h.example.test" },
    }],
    authorities: [{ type: "NS", name: "example.test", ttl: 60, data: "ns.example.test" }],
  })),
];

/** Runs `fn`; a throw must be a DnsWireError. Returns "ok" or "error". */
function tolerate(fn: () => unknown, what: string): "ok" | "error" {
  try {
    fn();
    return "ok";
  } catch (error) {
    assert(
      error instanceof DnsWireError,
      `${what} threw ${error instanceof Error ? error.stack : String(error)}, not a DnsWireError`,
    );
    assert(!/call stack/i.test(error.message), `${what}: stack overflow`);
    return "error";
  }
}

function message(rng: Rng): Uint8Array {
  if (rng.bool(0.15)) return rng.bytes(rng.length(600));
  return mutateBytes(rng.pick(SEEDS), rng, rng.pick(SEEDS));
}

Deno.test("fuzz: DNS parsers return or throw a DnsWireError, quickly, on random and mutated messages", async () => {
  await runCases("dns parse", (rng) => {
    const bytes = message(rng);
    const started = performance.now();
    const results = [
      tolerate(() => readHeader(bytes), "readHeader"),
      tolerate(() => readName(bytes, rng.int(Math.max(1, bytes.length))), "readName"),
      tolerate(() => recordSpans(bytes), "recordSpans"),
      tolerate(() => decodeMessage(bytes), "decodeMessage"),
      tolerate(() => extractTsig(bytes), "extractTsig"),
    ];
    const ms = performance.now() - started;
    assert(ms < 500, `parsing ${bytes.length} bytes took ${ms.toFixed(0)} ms`);
    return results.join("/");
  });
});

Deno.test("DNS parsers: dns-packet's RangeError on a truncated question comes out as a DnsWireError", () => {
  // A response whose question name ends where the message does: dns-packet reads QTYPE past the end.
  const truncated = Uint8Array.of(0, 1, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0);
  const thrown = (fn: () => unknown): unknown => {
    try {
      fn();
    } catch (error) {
      return error;
    }
    throw new Error("a truncated question was accepted");
  };
  const spans = thrown(() => recordSpans(truncated));
  assert(spans instanceof DnsWireError, `recordSpans threw ${spans}`);
  const decoded = thrown(() => decodeMessage(truncated));
  assert(decoded instanceof DnsWireError, `decodeMessage threw ${decoded}`);
  assert(decoded.cause instanceof RangeError, "dns-packet's RangeError is kept as the cause");
  assert(/offset/.test(decoded.message), `dns-packet's message is kept: ${decoded.message}`);
});

Deno.test("fuzz: a real BIND response altered before its TSIG record never verifies", async () => {
  const cases: { signer: TsigSigner; response: Uint8Array; requestMac: Uint8Array; now: number; tsigStart: number }[] =
    [];
  for (const v of vectors) {
    const signer = new TsigSigner({ name: v.keyName, algorithm: v.algorithm, secret: v.secret });
    for (const e of v.exchanges) {
      const request = fromHex(e.request);
      const response = fromHex(e.response);
      const requestTsig = extractTsig(request)!;
      const responseTsig = extractTsig(response)!;
      const now = responseTsig.timeSigned;
      const check = await signer.verifyResponse(response, requestTsig.mac, { now });
      assert(check.ok, `the recorded response verifies: ${JSON.stringify(check)}`);
      const tsigStart = recordSpans(response).at(-1)!.start;
      cases.push({ signer, response, requestMac: requestTsig.mac, now, tsigStart });
    }
  }
  await runCases("dns tsig tamper", async (rng) => {
    const c = rng.pick(cases);
    // Bytes 0-1 (the ID) are restored from the TSIG record before the MAC is checked; everything else counts.
    const body = c.response.subarray(2, c.tsigStart);
    const mutated = mutateBytes(body, rng);
    if (mutated.length === body.length && mutated.every((b, i) => b === body[i])) return "unchanged";
    const tampered = concatBytes(c.response.subarray(0, 2), mutated, c.response.subarray(c.tsigStart));
    let ok = false;
    try {
      ok = (await c.signer.verifyResponse(tampered, c.requestMac, { now: c.now })).ok;
    } catch (error) {
      assert(
        error instanceof DnsWireError,
        `verifyResponse threw ${error instanceof Error ? error.stack : String(error)}, not a DnsWireError`,
      );
      return "threw";
    }
    assert(!ok, "a tampered response verified");
    return "refused";
  });
});

Deno.test("fuzz: DnsClient answers with a DnsError (or a result) whatever the server sends back", async () => {
  const key = { name: "acmems-key", algorithm: "hmac-sha256" as const, secret: btoa("fuzz-secret-0123456789abcdef") };
  await runCases("dns client", async (rng) => {
    const signed = rng.bool(0.5);
    const fake = new FakeDns({
      zones: ["example.test"],
      cnames: { "_acme-challenge.c.example.test": "x.example.test" },
      key: signed ? key : undefined,
    });
    fake.txt.set("_acme-challenge.www.example.test", ["v1", "v2"]);
    /** Some byte changed; `covered`: a byte the TSIG MAC covers changed (bytes 2 to the TSIG record). */
    let altered = false;
    let covered = false;
    const exchange: Exchange = async (srv, msg, opts) => {
      const answer = await fake.exchange(srv, msg, opts);
      const roll = rng.next();
      if (roll < 0.2) return answer;
      altered = true;
      if (roll < 0.3) return rng.bytes(rng.length(300));
      if (signed && rng.bool(0.8)) {
        // Keep the TSIG record, damage what it signs (the ID bytes excepted: a wrong ID is refused anyway).
        const spans = (() => {
          try {
            return recordSpans(answer);
          } catch {
            return [];
          }
        })();
        const start = spans.at(-1)?.start ?? answer.length;
        const body = answer.subarray(2, start);
        const mutated = mutateBytes(body, rng);
        covered = !(mutated.length === body.length && mutated.every((b, i) => b === body[i]));
        altered = covered;
        return concatBytes(answer.subarray(0, 2), mutated, answer.subarray(start));
      }
      const mutated = mutateBytes(answer, rng);
      if (mutated.length === answer.length && mutated.every((b, i) => b === answer[i])) altered = false;
      return mutated;
    };
    const client = new DnsClient(
      { servers: [server(53)], transport: "tcp", timeoutMs: 1000, tsig: signed ? key : undefined },
      exchange,
    );
    const op = rng.int(4);
    try {
      if (op === 0) {
        await client.query(rng.pick(["example.test", "www.example.test", "_acme-challenge.c.example.test"]), "SOA");
      } else if (op === 1) await client.query("_acme-challenge.www.example.test", "TXT");
      else if (op === 2) await client.query("_acme-challenge.c.example.test", "CNAME");
      else {
        await client.update({
          zone: "example.test",
          add: [{ name: "_acme-challenge.www.example.test", value: "digest", ttl: 60 }],
          remove: rng.bool() ? [{ name: "_acme-challenge.www.example.test", value: "v1" }] : [],
        });
      }
    } catch (error) {
      assert(error instanceof DnsError, `DnsClient threw ${error instanceof Error ? error.stack : String(error)}`);
      return `dns-error:${error.kind}`;
    }
    // Only UPDATEs are signed (op 3); lookups go unsigned even with a key.
    const signedExchange = signed && op === 3;
    if (signedExchange && covered) {
      throw new Error("a signed exchange accepted an answer altered before its TSIG record");
    }
    // A signed answer may still differ where the MAC does not look: the TSIG record's TTL, case in its names,
    // bytes after it (ignored by the parser).
    return altered ? (signedExchange ? "accepted-signed-uncovered-change" : "accepted-unsigned-altered") : "accepted";
  });
});
