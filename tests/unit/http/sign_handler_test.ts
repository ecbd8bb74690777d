/**
 * POST /sign in-process: `handler(new Request(…), info)` with a real issuer in front of a fake CA.
 * One case per documented status.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../../support/assert.ts";
import { FakeCa, type FakeCaOptions, rateLimited, serverDown } from "../../support/fake_ca.ts";
import { makeCsr } from "../../support/csr.ts";
import { load } from "../config/helpers.ts";
import { Http01Responder } from "../../../src/challenges/http01/responder.ts";
import { Http01Solver } from "../../../src/challenges/http01/solver.ts";
import { createCsrParser } from "../../../src/csr/intake.ts";
import { createMgmtHandler } from "../../../src/http/sign_handler.ts";
import { IssuanceService } from "../../../src/issuance/service.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { compilePolicy } from "../../../src/policy/authorize.ts";
import { CaUnavailableError } from "../../../src/account/session.ts";
import { createStorages } from "../../../src/storage/factory.ts";

const HMAC_KEY = "n048aX0G2Gc8zAvUfcbz8fFIpRwi1D";

const CONFIG = `[account]
dir = /tmp/acmems-test-account
[mgmt]
max-size = 4k
sign-timeout = 2s
[verification "http"]
type = http01
listener = 127.0.0.1:5002
[storage "none"]
type = none
[auth "hmac"]
ip = 10.0.0.0/8
hmac_type = sha256
hmac_key = ${HMAC_KEY}
domain = *.secure.test
[auth "local"]
ip = 127.0.0.1
ip = 2001:db8::/32
domain = *.example.test
domain = example.test
[auth "short"]
ip = 127.0.0.1
domain = *.short.test
profile = shortlived
`;

function info(hostname = "127.0.0.1"): Deno.ServeHandlerInfo {
  return {
    remoteAddr: { transport: "tcp", hostname, port: 40000 },
    completed: Promise.resolve(),
  } as Deno.ServeHandlerInfo;
}

function setup(ca: FakeCaOptions | "down" = {}) {
  const result = load(CONFIG);
  assert(result.ok, JSON.stringify(result.errors));
  const config = result.config!;
  const log = memoryLogger("debug", [HMAC_KEY]);
  const responder = new Http01Responder();
  const fake = new FakeCa(
    ca === "down" ? {} : {
      httpCheck: async (name, token) => {
        const response = await responder.handle(
          new Request(`http://${name}:5002/.well-known/acme-challenge/${token}`, { headers: { host: `${name}:5002` } }),
        );
        return response.status === 200 ? await response.text() : undefined;
      },
      ...ca,
    },
  );
  const issuer = new IssuanceService({
    client: () => {
      if (ca === "down") throw new CaUnavailableError("The ACME CA is not available: connection refused");
      return fake.asClient();
    },
    directoryUrl: config.account.acmeServer,
    solvers: new Map([["http", new Http01Solver(responder)]]),
    storages: createStorages(config, log),
    log,
  });
  const handler = createMgmtHandler({
    config,
    parser: createCsrParser({ maxEntries: 10 }),
    policy: compilePolicy(config.auth),
    issuer,
    log,
    bodyTimeoutMs: 500,
  });
  return { handler, fake, log, responder, issuer };
}

function post(body: string | Uint8Array, headers: Record<string, string> = {}, path = "/sign"): Request {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : new Uint8Array(body);
  return new Request(`http://127.0.0.1:1313${path}`, {
    method: "POST",
    body: bytes,
    headers: { "content-length": String(bytes.length), ...headers },
  });
}

async function hmacHex(body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(HMAC_KEY),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body));
  return Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0")).join("");
}

const www = await makeCsr({ names: ["www.example.test", "example.test"] });

Deno.test("sign: 200 with the chain, leaf first, blank line between blocks, final newline", async () => {
  const { handler, fake, responder } = setup();
  const response = await handler(post(www.csrPem), info());
  const body = await response.text();
  assertEquals(response.status, 200, body);
  assertEquals(response.headers.get("content-type"), "application/pem-certificate-chain");
  const blocks = body.trimEnd().split("\n\n");
  assertEquals(blocks.length, 2);
  assert(blocks.every((b) => b.startsWith("-----BEGIN CERTIFICATE-----") && b.endsWith("-----END CERTIFICATE-----")));
  assert(body.endsWith("-----END CERTIFICATE-----\n"));
  assertEquals(fake.answered.sort(), ["example.test", "www.example.test"]);
  assertEquals(responder.size, 0, "challenges are removed when the authorization ends");
});

Deno.test("sign: IPv4-mapped peers match IPv4 networks; IPv6 networks match", async () => {
  const { handler } = setup();
  assertEquals((await handler(post(www.csrPem), info("::ffff:127.0.0.1"))).status, 200);
  assertEquals((await handler(post(www.csrPem), info("2001:db8::5"))).status, 200);
});

Deno.test("sign: 404 other path, 405 other method with Allow: POST", async () => {
  const { handler } = setup();
  const notFound = await handler(post(www.csrPem, {}, "/signing"), info());
  assertEquals(notFound.status, 404);
  await notFound.body?.cancel();
  const get = await handler(new Request("http://127.0.0.1:1313/sign"), info());
  assertEquals(get.status, 405);
  assertEquals(get.headers.get("allow"), "POST");
  await get.body?.cancel();
});

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

Deno.test("sign: 415 for non-CSR bodies and CN-only CSRs, with the fix in the body", async () => {
  const { handler, fake } = setup();
  for (const body of ["", "hello", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"]) {
    const response = await handler(post(body), info());
    assertEquals(response.status, 415, JSON.stringify(body));
    await response.body?.cancel();
  }
  const cnOnly = await makeCsr({ names: [], cn: "www.example.test" });
  const response = await handler(post(cnOnly.csrPem), info());
  assertEquals(response.status, 415);
  assertStringIncludes(await response.text(), "-addext 'subjectAltName=DNS:");
  assertEquals(fake.orders, 0);
});

Deno.test("sign: 403 for CSR rules (IP SAN, must-staple, too many names for the profile)", async () => {
  const { handler, fake } = setup();
  const ipSan = await makeCsr({ names: ["www.example.test", "127.0.0.1"] });
  const staple = await makeCsr({ names: ["www.example.test"], extraAddext: ["tlsfeature=status_request"] });
  const many = await makeCsr({ names: Array.from({ length: 26 }, (_, i) => `h${i}.short.test`) });
  for (const [csr, pattern] of [[ipSan, /IP/], [staple, /[Mm]ust-[Ss]taple/], [many, /26 names.*25|25.*26/]] as const) {
    const response = await handler(post(csr.csrPem), info());
    const text = await response.text();
    assertEquals(response.status, 403, text);
    assertMatch(text, pattern);
  }
  assertEquals(fake.orders, 0);
});

Deno.test("sign: 403 when no block admits the client, without revealing other rules; no order made", async () => {
  const { handler, fake } = setup();
  const outside = await makeCsr({ names: ["www.other.test"] });
  const response = await handler(post(outside.csrPem), info());
  const text = await response.text();
  assertEquals(response.status, 403);
  assert(!text.includes("10.0.0.0") && !text.includes("secure.test") && !text.includes("hmac"), text);
  const wrongIp = await handler(post(www.csrPem), info("192.0.2.1"));
  assertEquals(wrongIp.status, 403);
  await wrongIp.body?.cancel();
  assertEquals(fake.orders, 0);
});

Deno.test("sign: HMAC blocks: both README forms and sha2-256 pass; a wrong or malformed header is 403, never 500", async () => {
  const { handler } = setup();
  const csr = await makeCsr({ names: ["mail.secure.test"] });
  const hex = await hmacHex(csr.csrPem);
  const headers = [
    `hmac name=sha256, hash=${hex}`,
    `hmac name=sha256 hash=${hex}`,
    `hmac name=sha2-256, hash=${hex.toUpperCase()}`,
  ];
  for (const value of headers) {
    const response = await handler(post(csr.csrPem, { authentication: value }), info("10.1.2.3"));
    assertEquals(response.status, 200, `${value}: ${await response.clone().text()}`);
    await response.body?.cancel();
  }
  for (const value of [`hmac name=sha256, hash=${"0".repeat(64)}`, "hmac", "Bearer x", `hmac name=md5, hash=${hex}`]) {
    const response = await handler(post(csr.csrPem, { authentication: value }), info("10.1.2.3"));
    assertEquals(response.status, 403, value);
    await response.body?.cancel();
  }
  const noHeader = await handler(post(csr.csrPem), info("10.1.2.3"));
  assertEquals(noHeader.status, 403);
  await noHeader.body?.cancel();
});

Deno.test("sign: 403 for a wildcard name under an http01 verification", async () => {
  const { handler, fake } = setup();
  const wildcard = await makeCsr({ names: ["*.example.test"] });
  const response = await handler(post(wildcard.csrPem), info());
  assertEquals(response.status, 403);
  assertMatch(await response.text(), /wildcard .*dns-01/);
  assertEquals(fake.orders, 0);
});

Deno.test("sign: 429 with the CA's Retry-After when rate-limited", async () => {
  const { handler } = setup({ newOrderError: () => rateLimited(3600) });
  const response = await handler(post(www.csrPem), info());
  assertEquals(response.status, 429);
  const retryAfter = Number(response.headers.get("retry-after"));
  assert(retryAfter > 3590 && retryAfter <= 3600, `Retry-After ${retryAfter}`);
  assertMatch(await response.text(), /rate-limited/);
});

Deno.test("sign: 421 with the CA's detail when validation fails", async () => {
  const { handler } = setup({ failValidation: { "example.test": "Connection refused to 127.0.0.2:5002" } });
  const response = await handler(post(www.csrPem), info());
  assertEquals(response.status, 421);
  assertMatch(await response.text(), /example\.test.*Connection refused to 127\.0\.0\.2:5002/);
});

Deno.test("sign: 503 with Retry-After when the CA is unreachable or unavailable", async () => {
  const { handler } = setup({ newOrderError: serverDown });
  const response = await handler(post(www.csrPem), info());
  assertEquals(response.status, 503);
  assert(Number(response.headers.get("retry-after")) > 0);
  await response.body?.cancel();

  const down = setup("down");
  const unavailable = await down.handler(post(www.csrPem), info());
  assertEquals(unavailable.status, 503);
  assert(Number(unavailable.headers.get("retry-after")) > 0);
  assertMatch(await unavailable.text(), /not available/);
});

Deno.test("sign: sign-timeout gives 503, the order goes on, and the retry gets its result", async () => {
  const { handler, fake } = setup({ finalizeDelayMs: 2500 });
  const first = await handler(post(www.csrPem), info());
  assertEquals(first.status, 503);
  assert(Number(first.headers.get("retry-after")) > 0);
  await first.body?.cancel();
  await new Promise((r) => setTimeout(r, 800));
  const retry = await handler(post(www.csrPem), info());
  assertEquals(retry.status, 200, await retry.clone().text());
  await retry.body?.cancel();
  assertEquals(fake.orders, 1, "the retry reuses the running order instead of ordering again");
});

Deno.test("sign: 500 with an error id that is also in the log, never a stack trace", async () => {
  const { handler, log } = setup({ finalizeError: () => new TypeError("Cannot read properties of undefined") });
  const response = await handler(post(www.csrPem), info());
  const text = await response.text();
  assertEquals(response.status, 500);
  const id = /error id ([0-9a-f]{8})/.exec(text)?.[1];
  assert(id, text);
  assert(!/\bat .*\.ts:\d+/.test(text), "no stack trace in the body");
  assert(log.lines.some((l) => l.includes(id)), "the error id is in the log");
});

Deno.test("sign: identical concurrent requests share one order; distinct ones do not wait on each other", async () => {
  // The order takes a moment, so the requests overlap however the machine schedules them (caching is off here:
  // a request after the order ended would order again).
  const { handler, fake } = setup({ finalizeDelayMs: 300 });
  const other = await makeCsr({ names: ["other.example.test"] });
  const responses = await Promise.all([
    handler(post(www.csrPem), info()),
    handler(post(www.csrPem), info()),
    handler(post(other.csrPem), info()),
  ]);
  const bodies = await Promise.all(responses.map((r) => r.text()));
  assertEquals(responses.map((r) => r.status), [200, 200, 200]);
  assertEquals(bodies[0], bodies[1]);
  assert(bodies[0] !== bodies[2]);
  assertEquals(fake.orders, 2);
});

Deno.test("sign: authorizations that are already valid are skipped", async () => {
  const { handler, fake } = setup({ validAlready: ["example.test"] });
  const response = await handler(post(www.csrPem), info());
  assertEquals(response.status, 200);
  await response.body?.cancel();
  assertEquals(fake.answered, ["www.example.test"]);
});

Deno.test("sign: the audit log has the decision and never the HMAC key", async () => {
  const { handler, log } = setup();
  const csr = await makeCsr({ names: ["mail.secure.test"] });
  const hex = await hmacHex(csr.csrPem);
  const response = await handler(
    post(csr.csrPem, { authentication: `hmac name=sha256, hash=${hex}` }),
    info("10.9.9.9"),
  );
  assertEquals(response.status, 200);
  await response.body?.cancel();
  const record = log.lines.map((l) => JSON.parse(l)).find((r) => r.event === "sign" && r.status === 200);
  assertEquals([record.client, record.block, record.names, record.outcome], [
    "10.9.9.9",
    "hmac",
    ["mail.secure.test"],
    "issued",
  ]);
  assert(!log.lines.join("\n").includes(HMAC_KEY));
});

Deno.test("sign: every audit record has every key, null when it does not apply", async () => {
  const { handler, log } = setup();
  const records = () => log.lines.map((l) => JSON.parse(l)).filter((r) => r.event === "sign");
  const keys = [
    "time",
    "level",
    "event",
    "client",
    "status",
    "block",
    "names",
    "outcome",
    "durationMs",
    "cache",
    "errorId",
  ];
  const outside = await makeCsr({ names: ["www.other.test"] });
  await (await handler(post(outside.csrPem), info())).body?.cancel();
  await (await handler(new Request("http://127.0.0.1:1313/sign"), info())).body?.cancel();
  await (await handler(post(www.csrPem), info())).body?.cancel();
  const [refused, method, issued] = records();
  for (const record of [refused, method, issued]) assertEquals(Object.keys(record).sort(), [...keys].sort());
  assertEquals([refused.status, refused.block, refused.cache, refused.errorId], [403, null, null, null]);
  assertEquals([method.status, method.block, method.names], [405, null, []]);
  assertEquals([issued.status, issued.block, issued.cache, issued.errorId], [200, "local", "miss", null]);
});

Deno.test("sign: 421, 429 and 503 carry an error id in the body and in the audit record", async () => {
  const cases: [number, ReturnType<typeof setup>][] = [
    [421, setup({ failValidation: { "example.test": "Connection refused" } })],
    [429, setup({ newOrderError: () => rateLimited(60) })],
    [503, setup({ newOrderError: serverDown })],
    [503, setup("down")],
  ];
  for (const [status, { handler, log }] of cases) {
    const response = await handler(post(www.csrPem), info());
    const body = await response.text();
    assertEquals(response.status, status, body);
    const id = /\(error id ([0-9a-f]{8})\)/.exec(body)?.[1];
    assert(id, `${status}: no error id in ${body}`);
    const record = log.lines.map((l) => JSON.parse(l)).find((r) => r.event === "sign");
    assertEquals([record.status, record.errorId, record.block], [status, id, "local"]);
  }
});
