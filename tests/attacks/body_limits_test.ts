/**
 * Attack: making /sign read (and buffer) more than `max-size` (4k here).
 *
 * In-process, the body is an endless stream that counts what is pulled from it: whatever the Content-Length says,
 * acmems stops within one chunk of min(Content-Length, max-size), and with no Content-Length (chunked) or one above
 * max-size it answers without reading the body at all. Over raw TCP against a real listener: a large body behind a
 * small Content-Length, a huge Content-Length with no body, chunked bodies (with and without a Content-Length next to
 * them), and a stalled body; the CSR parser never sees more than max-size bytes and the listener stays healthy.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { makeCsr } from "../support/csr.ts";
import { answer, peer, postSign, signStack } from "./_sign_stack.ts";

const MAX = 4096;
const CHUNK = 512;
const csr = await makeCsr({ names: ["www.example.test"] });

/** An endless body of CHUNK-byte chunks ("AAAA…"), counting the bytes handed out. */
function endlessBody(): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const chunk = new Uint8Array(CHUNK).fill(0x41);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += CHUNK;
      controller.enqueue(chunk.slice());
    },
  }, { highWaterMark: 0 });
  return { stream, pulled: () => pulled };
}

function streamRequest(stream: ReadableStream<Uint8Array>, headers: Record<string, string>): Request {
  return new Request("http://127.0.0.1:1313/sign", { method: "POST", body: stream, headers });
}

Deno.test("attack: an endless body is read no further than min(Content-Length, max-size) + one chunk", async () => {
  const stack = signStack();
  const cases: { headers: Record<string, string>; status: number; limit: number; what: string }[] = [
    { headers: { "content-length": "100" }, status: 400, limit: 100 + CHUNK, what: "small Content-Length" },
    { headers: { "content-length": String(MAX) }, status: 400, limit: MAX + CHUNK, what: "Content-Length = max-size" },
    { headers: { "content-length": String(MAX + 1) }, status: 413, limit: 0, what: "Content-Length > max-size" },
    { headers: { "content-length": "99999999999999" }, status: 413, limit: 0, what: "huge Content-Length" },
    { headers: {}, status: 411, limit: 0, what: "no Content-Length (chunked)" },
    { headers: { "transfer-encoding": "chunked" }, status: 411, limit: 0, what: "Transfer-Encoding: chunked" },
    {
      headers: { "transfer-encoding": "chunked", "content-length": "100" },
      status: 400,
      limit: 0,
      what: "Transfer-Encoding with Content-Length",
    },
    { headers: { "content-length": "-1" }, status: 400, limit: 0, what: "negative Content-Length" },
    { headers: { "content-length": "1e3" }, status: 400, limit: 0, what: "exponent Content-Length" },
    { headers: { "content-length": "0x100" }, status: 400, limit: 0, what: "hex Content-Length" },
    { headers: { "content-length": "100, 100" }, status: 400, limit: 0, what: "list Content-Length" },
    { headers: { "content-length": "+100" }, status: 400, limit: 0, what: "signed Content-Length" },
  ];
  for (const c of cases) {
    const body = endlessBody();
    const { status } = await answer(await stack.handler(streamRequest(body.stream, c.headers), peer()));
    assertEquals(status, c.status, c.what);
    assert(body.pulled() <= c.limit, `${c.what}: ${body.pulled()} bytes pulled, limit ${c.limit}`);
    await body.stream.cancel().catch(() => {});
  }
  assertEquals(stack.parsedBodies, [], "nothing reached the CSR parser");
});

Deno.test("attack: a body shorter than its Content-Length is 400 and never parsed", async () => {
  const stack = signStack();
  const bytes = new TextEncoder().encode(csr.csrPem);
  const short = new Request("http://127.0.0.1:1313/sign", {
    method: "POST",
    body: bytes,
    headers: { "content-length": String(bytes.length + 10) },
  });
  assertEquals((await answer(await stack.handler(short, peer()))).status, 400);
  const long = new Request("http://127.0.0.1:1313/sign", {
    method: "POST",
    body: bytes,
    headers: { "content-length": String(bytes.length - 10) },
  });
  assertEquals((await answer(await stack.handler(long, peer()))).status, 400);
  assertEquals(stack.parsedBodies, []);
  assertEquals((await answer(await stack.handler(postSign(csr.csrPem), peer()))).status, 200, "control");
});

// ---------------------------------------------------------------------------------------------------------------
// Raw TCP against a real listener

interface Raw {
  status: number | null;
  text: string;
  ms: number;
}

/** Writes `head` then `body` (errors ignored: the server may close early); reads the first response. */
async function rawExchange(
  port: number,
  head: string,
  body: Uint8Array = new Uint8Array(0),
  readMs = 5_000,
): Promise<Raw> {
  const started = Date.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const writing = (async () => {
      try {
        const all = new Uint8Array([...new TextEncoder().encode(head), ...body]);
        let written = 0;
        while (written < all.length) written += await conn.write(all.subarray(written, written + 65_536));
      } catch {
        // The server closed the connection: fine.
      }
    })();
    const text = await readResponse(conn, readMs);
    const ms = Date.now() - started;
    try {
      conn.closeWrite();
    } catch {
      // already closed
    }
    conn.close();
    await writing;
    const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
    return { status: m ? Number(m[1]) : null, text, ms };
  } catch (error) {
    try {
      conn.close();
    } catch {
      // already closed
    }
    throw error;
  }
}

/** Reads until one full response (headers + Content-Length body) is in, the peer closes, or the time is up. */
async function readResponse(conn: Deno.Conn, timeoutMs: number): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(8192);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buffer).catch(() => null),
      new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), Math.max(1, deadline - Date.now())))),
    ]).finally(() => clearTimeout(timer));
    if (n === null || n === "timeout") break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? "0");
      if (text.length - end - 4 >= length) break;
    }
  }
  return text;
}

Deno.test("attack: raw HTTP: lying Content-Length, huge Content-Length, chunked and stalled bodies", async () => {
  const stack = signStack({ bodyTimeoutMs: 700 });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, stack.handler);
  const port = server.addr.port;
  const head = (headers: string) => `POST /sign HTTP/1.1\r\nHost: acmems\r\n${headers}\r\n`;
  const megabyte = new TextEncoder().encode(csr.csrPem.repeat(Math.ceil(1_048_576 / csr.csrPem.length)));
  try {
    // A 1 MB body behind Content-Length: 10: the handler gets 10 bytes; the rest is never a /sign body.
    const lying = await rawExchange(port, head("Content-Length: 10\r\n"), megabyte);
    assertEquals(lying.status, 415, lying.text);

    // A huge Content-Length and no body: 413 at once, nobody waits for the body.
    const huge = await rawExchange(port, head("Content-Length: 1073741824\r\n"));
    assertEquals(huge.status, 413, huge.text);
    assert(huge.ms < 2_000, `413 took ${huge.ms} ms`);

    // Chunked with no end: 411 at once, the chunks are not read.
    const chunk = `1000\r\n${"A".repeat(0x1000)}\r\n`;
    const chunked = await rawExchange(port, head("Transfer-Encoding: chunked\r\n"), new TextEncoder().encode(chunk));
    assertEquals(chunked.status, 411, chunked.text);
    assert(chunked.ms < 2_000, `411 took ${chunked.ms} ms`);

    // Chunked 1 MB next to a small Content-Length (request-smuggling shape): refused, never more than max-size read.
    const chunks = new TextEncoder().encode(chunk.repeat(256) + "0\r\n\r\n");
    const both = await rawExchange(port, head("Content-Length: 100\r\nTransfer-Encoding: chunked\r\n"), chunks);
    assert(both.status !== null && both.status >= 400 && both.status < 500, `CL + TE: ${both.text.slice(0, 200)}`);
    const bothReversed = await rawExchange(
      port,
      head("Transfer-Encoding: chunked\r\nContent-Length: 4096\r\n"),
      chunks,
    );
    assert(
      bothReversed.status !== null && bothReversed.status >= 400 && bothReversed.status < 500,
      `TE + CL: ${bothReversed.text.slice(0, 200)}`,
    );

    // A body that stalls after one byte: 408 after body-timeout, not a held connection.
    const stalled = await rawExchange(port, head("Content-Length: 100\r\n"), new Uint8Array([0x2d]));
    assertEquals(stalled.status, 408, stalled.text);
    assert(stalled.ms < 3_000, `408 took ${stalled.ms} ms`);

    assert(
      stack.parsedBodies.every((n) => n <= MAX),
      `the parser saw more than max-size: ${JSON.stringify(stack.parsedBodies)}`,
    );
    assert(stack.parsedBodies.every((n) => n <= 100), `bodies parsed: ${JSON.stringify(stack.parsedBodies)}`);
    assertEquals(stack.orders, []);

    // The listener is still healthy.
    const response = await fetch(`http://127.0.0.1:${port}/sign`, { method: "POST", body: csr.csrPem });
    assertEquals(response.status, 200, await response.text());
  } finally {
    await server.shutdown();
  }
});
