/**
 * DNS transport against tiny local servers: TCP framing, timeouts that close everything, refused connections, UDP
 * answers from strangers ignored, and the UDP → TCP fallback on truncation.
 */
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../../support/assert.ts";
import { DnsTransportError, exchangeTcp, exchangeUdp } from "../../../../src/challenges/dns01/dns/transport.ts";
import { networkExchange } from "../../../../src/challenges/dns01/dns/client.ts";
import { buildQuery, readHeader } from "../../../../src/challenges/dns01/dns/wire.ts";
import { freePort } from "../../../support/ports.ts";
import { server } from "./fake_dns.ts";
import { loadDnsCodec as loadDnsCodecForTests } from "../../../../src/challenges/dns01/dns/wire.ts";

// The codec is loaded at the first exchange in acmems; these tests build and decode directly.
await loadDnsCodecForTests();

/** An answer to `query`: same ID, QR set, optional TC. */
function answerTo(query: Uint8Array, opts: { tc?: boolean; id?: number } = {}): Uint8Array {
  const out = new Uint8Array(query);
  const id = opts.id ?? readHeader(query).id;
  out[0] = id >> 8;
  out[1] = id & 0xff;
  out[2] |= 0x80 | (opts.tc ? 0x02 : 0);
  return out;
}

/** A TCP DNS server answering each framed query with `respond` (null: never answer, keep the connection). */
function tcpServer(respond: (q: Uint8Array) => Uint8Array | null, port = 0) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const conns = new Set<Deno.Conn>();
  const handlers: Promise<void>[] = [];
  let queries = 0;
  const serving = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      handlers.push((async () => {
        try {
          const head = new Uint8Array(2);
          if ((await conn.read(head)) !== 2) return;
          const body = new Uint8Array((head[0] << 8) | head[1]);
          let got = 0;
          while (got < body.length) got += (await conn.read(body.subarray(got))) ?? Infinity;
          queries++;
          const answer = respond(body);
          if (!answer) {
            await conn.read(new Uint8Array(1)); // hold until the client hangs up
            return;
          }
          // Split the answer in two writes: the reader must reassemble.
          const framed = new Uint8Array([answer.length >> 8, answer.length & 0xff, ...answer]);
          await conn.write(framed.subarray(0, 5));
          await conn.write(framed.subarray(5));
        } catch {
          // client went away
        } finally {
          if (conns.delete(conn)) conn.close();
        }
      })());
    }
  })();
  return {
    port: listener.addr.port,
    get queries() {
      return queries;
    },
    async close() {
      listener.close();
      await serving.catch(() => {});
      for (const c of conns) {
        conns.delete(c);
        c.close();
      }
      await Promise.all(handlers);
    },
  };
}

/** A UDP DNS server; `respond` returns the datagrams to send back. */
async function udpServer(respond: (q: Uint8Array) => Uint8Array[], port = 0) {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(port, "127.0.0.1", resolve));
  socket.on("message", (msg: Buffer, from: dgram.RemoteInfo) => {
    for (const d of respond(new Uint8Array(msg))) socket.send(Buffer.from(d), from.port, from.address);
  });
  return {
    port: socket.address().port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

Deno.test("dns transport: TCP sends a length-prefixed query and reassembles the answer", async () => {
  const srv = tcpServer((q) => answerTo(q));
  try {
    const query = buildQuery(4242, "www.example.test", "TXT");
    const answer = await exchangeTcp(server(srv.port), query, 1_000);
    assertEquals(readHeader(answer).id, 4242);
    assertEquals(answer.length, query.length);
  } finally {
    await srv.close();
  }
});

Deno.test("dns transport: a silent TCP server times out within the bound; a closed port is refused", async () => {
  const srv = tcpServer(() => null);
  try {
    const started = Date.now();
    const error = await assertRejects(() => exchangeTcp(server(srv.port), buildQuery(1, "a.test", "SOA"), 200));
    assert(error instanceof DnsTransportError && error.timedOut, String(error));
    assertStringIncludes(error.message, `127.0.0.1:${srv.port} did not answer within 200 ms (TCP)`);
    assert(Date.now() - started < 1_500, "bounded");
  } finally {
    await srv.close();
  }
  const closed = await freePort();
  const refused = await assertRejects(() => exchangeTcp(server(closed), buildQuery(1, "a.test", "SOA"), 1_000));
  assert(refused instanceof DnsTransportError && !refused.timedOut);
  assertStringIncludes(refused.message, "connection refused");
});

Deno.test("dns transport: UDP ignores datagrams with another ID and takes the right one", async () => {
  const srv = await udpServer((q) => [answerTo(q, { id: (readHeader(q).id + 1) & 0xffff }), answerTo(q)]);
  try {
    const answer = await exchangeUdp(server(srv.port), buildQuery(777, "a.test", "TXT"), 1_000);
    assertEquals(readHeader(answer).id, 777);
  } finally {
    await srv.close();
  }
});

Deno.test("dns transport: UDP times out when only strangers answer", async () => {
  const srv = await udpServer((q) => [answerTo(q, { id: (readHeader(q).id + 1) & 0xffff })]);
  try {
    const error = await assertRejects(() => exchangeUdp(server(srv.port), buildQuery(5, "a.test", "TXT"), 150));
    assert(error instanceof DnsTransportError && error.timedOut, String(error));
    assertStringIncludes(error.message, "(UDP)");
  } finally {
    await srv.close();
  }
});

Deno.test("dns transport: a truncated UDP answer is retried over TCP", async () => {
  const tcp = tcpServer((q) => answerTo(q));
  const udp = await udpServer((q) => [answerTo(q, { tc: true })], tcp.port);
  try {
    const answer = await networkExchange(server(tcp.port), buildQuery(9, "a.test", "TXT"), {
      transport: "udp",
      timeoutMs: 1_000,
    });
    assertEquals([readHeader(answer).tc, tcp.queries], [false, 1]);
    const direct = await networkExchange(server(tcp.port), buildQuery(10, "a.test", "TXT"), {
      transport: "tcp",
      timeoutMs: 1_000,
    });
    assertEquals([readHeader(direct).id, tcp.queries], [10, 2]);
  } finally {
    await udp.close();
    await tcp.close();
  }
});
