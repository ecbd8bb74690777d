/**
 * Body framing and reading (src/http/body.ts): through the handler, and `checkFraming` / `receiveBody` directly.
 */
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import { checkFraming, receiveBody } from "../../../src/http/body.ts";
import { BodyDeadlines } from "../../../src/http/body_deadlines.ts";
import { statusOf } from "../../../src/http/respond.ts";
import { info, post, setup, www } from "./_sign_setup.ts";

Deno.test("sign: 411 without Content-Length, 400 for a bad one, 413 above max-size (body not read)", async () => {
  const { handler, fake } = setup();
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode(www.csrPem));
      c.close();
    },
  });
  const chunked = new Request("http://127.0.0.1:1313/sign", { method: "POST", body: stream });
  const noLength = await handler(chunked, info());
  assertEquals(noLength.status, 411);
  assertMatch(await noLength.text(), /Content-Length is required/);

  for (const bad of ["-1", "abc", "1e3", "4 096"]) {
    const response = await handler(post(www.csrPem, { "content-length": bad }), info());
    assertEquals(response.status, 400, `Content-Length: ${bad}`);
    await response.body?.cancel();
  }

  let pulled = false;
  const big = new ReadableStream({
    pull(c) {
      pulled = true;
      c.enqueue(new Uint8Array(1024));
    },
  }, { highWaterMark: 0 });
  const tooLarge = new Request("http://127.0.0.1:1313/sign", {
    method: "POST",
    body: big,
    headers: { "content-length": "5000" },
  });
  const response = await handler(tooLarge, info());
  assertEquals(response.status, 413);
  assertMatch(await response.text(), /at most 4096 \(\[mgmt\] max-size\)/);
  assert(!pulled, "the body of a 413 request is not read");
  await big.cancel();
  assertEquals(fake.orders, 0);
});

Deno.test("sign: a Content-Length of any number of digits is an integer: beyond max-size (and 2^53) it is 413", async () => {
  const { handler, fake } = setup();
  for (const huge of ["9007199254740993", "1234567890123456", "9".repeat(400), "000000000000000000005000"]) {
    let pulled = false;
    const body = new ReadableStream({
      pull(c) {
        pulled = true;
        c.enqueue(new Uint8Array(1024));
      },
    }, { highWaterMark: 0 });
    const request = new Request("http://127.0.0.1:1313/sign", {
      method: "POST",
      body,
      headers: { "content-length": huge },
    });
    const response = await handler(request, info());
    const text = await response.text();
    assertEquals(response.status, 413, `Content-Length: ${huge.slice(0, 30)}: ${text}`);
    assertMatch(text, /at most 4096/);
    assert(text.length < 200, "the answer does not echo a huge header");
    assert(!pulled, "the body of a 413 request is not read");
    await body.cancel();
  }
  assertEquals(fake.orders, 0);
});

/** [headers, expected kind or length, outcome, message part] */
const FRAMING: [Record<string, string>, string | number, string, string][] = [
  [{}, "length-required", "no content-length", "Content-Length is required"],
  [
    { "content-length": "10", "transfer-encoding": "chunked" },
    "bad-request",
    "content-length with transfer-encoding",
    "not both",
  ],
  [
    { "content-length": "-1" },
    "bad-request",
    "bad content-length",
    'Content-Length "-1" is not a non-negative integer.',
  ],
  [{ "content-length": "x".repeat(100) }, "bad-request", "bad content-length", `"${"x".repeat(40)}" is not`],
  [{ "content-length": "4097" }, "too-large", "too large", "The CSR is 4097 bytes; this server accepts at most 4096"],
  [{ "content-length": "9".repeat(30) }, "too-large", "too large", `${"9".repeat(20)}… (30 digits)`],
  [{ "content-length": "4096" }, 4096, "", ""],
  [{ "content-length": " 0012 " }, 12, "", ""],
  [{ "content-length": "0" }, 0, "", ""],
];

Deno.test("checkFraming: kinds, outcomes and messages from the headers alone", () => {
  for (const [headers, expected, outcome, part] of FRAMING) {
    const label = JSON.stringify(headers);
    const result = checkFraming(new Headers(headers), 4096);
    if (typeof expected === "number") {
      assertEquals(result, { ok: true, length: expected }, label);
      continue;
    }
    assert(!result.ok, label);
    assertEquals([result.failure.kind, result.outcome], [expected, outcome], label);
    assert(result.failure.message.includes(part), `${label}: ${result.failure.message}`);
    assert(statusOf(result.failure.kind) >= 400, label);
  }
});

function streamRequest(chunks: Uint8Array[], length: number, hang = false): Request {
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]);
      else if (!hang) c.close();
    },
  });
  return new Request("http://127.0.0.1:1313/sign", {
    method: "POST",
    body,
    headers: { "content-length": String(length) },
  });
}

Deno.test("receiveBody: exactly Content-Length bytes, in pieces; short, long and late bodies are refused", async () => {
  const bytes = new TextEncoder().encode("0123456789");
  const whole = await receiveBody(streamRequest([bytes.slice(0, 3), bytes.slice(3)], 10), 10, 4096, 1000);
  assert(whole.ok);
  assertEquals(new TextDecoder().decode(whole.body), "0123456789");

  const short = await receiveBody(streamRequest([bytes.slice(0, 4)], 10), 10, 4096, 1000);
  assert(!short.ok);
  assertEquals([short.failure.kind, short.outcome, short.failure.message], [
    "bad-request",
    "body error",
    "The request body could not be read completely.",
  ]);

  const long = await receiveBody(streamRequest([bytes, bytes], 10), 10, 4096, 1000);
  assert(!long.ok);
  assertEquals([long.failure.kind, long.outcome], ["bad-request", "body error"]);

  const late = await receiveBody(streamRequest([bytes.slice(0, 4)], 10, true), 10, 4096, 50);
  assert(!late.ok);
  assertEquals([late.failure.kind, late.outcome, late.failure.message], [
    "body-timeout",
    "body timeout",
    "The request body did not arrive in time.",
  ]);
});

Deno.test("receiveBody without a length (chunked): the whole body up to max-size; beyond is too-large, a stall is a timeout", async () => {
  const bytes = new TextEncoder().encode("0123456789");
  const whole = await receiveBody(streamRequest([bytes.slice(0, 3), bytes.slice(3)], 10), null, 10, 1000);
  assert(whole.ok);
  assertEquals(new TextDecoder().decode(whole.body), "0123456789");

  const big = await receiveBody(streamRequest([bytes, bytes], 20), null, 15, 1000);
  assert(!big.ok);
  assertEquals([big.failure.kind, big.outcome, big.failure.message], [
    "too-large",
    "too large",
    "The body is larger than 15 bytes ([mgmt] max-size)",
  ]);

  // A stalled chunked body is refused, never cut short and taken as complete.
  const late = await receiveBody(streamRequest([bytes.slice(0, 4)], 10, true), null, 4096, 50);
  assert(!late.ok);
  assertEquals([late.failure.kind, late.outcome], ["body-timeout", "body timeout"]);
});

Deno.test("receiveBody framed (acmems' own listener): the body whole from Deno's HTTP server; a stall is a timeout", async () => {
  const deadlines = new BodyDeadlines(20);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const framing = checkFraming(request.headers, 4096);
    if (!framing.ok) return new Response(framing.outcome, { status: statusOf(framing.failure.kind) });
    const useDeadlines = new URL(request.url).pathname === "/shared";
    const received = await receiveBody(request, framing.length, 4096, 300, useDeadlines ? deadlines : undefined, true);
    if (!received.ok) return new Response(received.outcome, { status: statusOf(received.failure.kind) });
    return new Response(new TextDecoder().decode(received.body));
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  /** One raw HTTP/1.1 request; the status line and the body of the answer. */
  const raw = async (head: string, body: string) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
    try {
      await conn.write(new TextEncoder().encode(head + body));
      const buffer = new Uint8Array(4096);
      const n = await conn.read(buffer);
      const text = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
      return { status: text.split("\r\n")[0], body: text.slice(text.indexOf("\r\n\r\n") + 4) };
    } finally {
      conn.close();
    }
  };
  try {
    for (const path of ["/timer", "/shared"]) {
      const whole = await fetch(`${url}${path}`, { method: "POST", body: "0123456789" });
      assertEquals([whole.status, await whole.text()], [200, "0123456789"], path);

      // More bytes than Content-Length: the server hands over exactly Content-Length of them.
      const long = await raw(
        `POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nConnection: close\r\n\r\n`,
        "01234567",
      );
      assertEquals([long.status, long.body], ["HTTP/1.1 200 OK", "0123"], path);

      // Fewer, and then nothing: refused at the time limit.
      const started = Date.now();
      const stalled = await raw(`POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n`, "0123");
      assertEquals([stalled.status, stalled.body], ["HTTP/1.1 408 Request Timeout", "body timeout"], path);
      const ms = Date.now() - started;
      assert(ms >= 250 && ms < 2_000, `${path}: 408 after ${ms} ms`);
    }
    assertEquals(deadlines.size, 0, "every shared deadline released");
    const after = await fetch(`${url}/timer`, { method: "POST", body: "ok" });
    assertEquals([after.status, await after.text()], [200, "ok"], "the listener still answers");
  } finally {
    deadlines.close();
    await server.shutdown();
  }
});

Deno.test("receiveBody framed: a body whose length differs from the one given is refused", async () => {
  const request = new Request("http://127.0.0.1:1313/sign", { method: "POST", body: "0123456789" });
  const received = await receiveBody(request, 4, 4096, 1000, undefined, true);
  assert(!received.ok);
  assertEquals([received.failure.kind, received.outcome], ["bad-request", "body error"]);
});
