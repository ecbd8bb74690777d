/**
 * POST /sign in-process (src/http/sign.ts): `handler(new Request(…), info)` with a real issuer in front of a fake CA.
 * One case per documented status.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../../support/assert.ts";
import { rateLimited, serverDown } from "../../support/fake_ca.ts";
import { makeCsr } from "../../support/csr.ts";
import { IssueFailure } from "../../../src/issuance/failure.ts";
import type { IssueRequest, IssueResult } from "../../../src/issuance/request.ts";
import { hmacHex, info, post, setup, setupWith, www } from "./_sign_setup.ts";

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

Deno.test("sign: 403 for CSR rules (IP SAN no ip-identifiers admit, must-staple, too many names)", async () => {
  const { handler, fake } = setup();
  const ipSan = await makeCsr({ names: ["www.example.test", "127.0.0.1"] });
  const staple = await makeCsr({ names: ["www.example.test"], extraAddext: ["tlsfeature=status_request"] });
  const many = await makeCsr({ names: Array.from({ length: 26 }, (_, i) => `h${i}.short.test`) });
  for (
    const [csr, pattern] of [[ipSan, /admits this client for www\.example\.test, 127\.0\.0\.1:/], [
      staple,
      /[Mm]ust-[Ss]taple/,
    ], [many, /26 names.*25|25.*26/]] as const
  ) {
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

Deno.test("sign: a 200 carries the cache and renewal hints as X-Acmems-* headers and hands the issuer the request", async () => {
  const requests: IssueRequest[] = [];
  const chain = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  const answers: IssueResult[] = [
    { chain, cache: "miss" },
    {
      chain,
      cache: "stale",
      renewAfter: new Date("2030-01-02T03:04:05.678Z"),
      window: { start: new Date("2030-01-01T00:00:00Z"), end: new Date("2030-01-03T00:00:00.999Z") },
    },
    { chain, cache: "hit", renewAfter: new Date("+012345-01-01T00:00:00.000Z") },
  ];
  const { handler, decisions } = setupWith({
    issue(request, _deadline) {
      requests.push(request);
      return Promise.resolve(answers[requests.length - 1]);
    },
  });
  const seen = [];
  for (let i = 0; i < answers.length; i++) {
    const response = await handler(post(www.csrPem), info("::ffff:127.0.0.1"));
    assertEquals([response.status, await response.text()], [200, chain]);
    seen.push(
      Object.fromEntries([...response.headers].filter(([k]) => k.startsWith("x-acmems") || k === "content-type")),
    );
  }
  assertEquals(seen, [
    { "content-type": "application/pem-certificate-chain", "x-acmems-cache": "miss" },
    {
      "content-type": "application/pem-certificate-chain",
      "x-acmems-cache": "hit",
      "x-acmems-stale": "renewal-failed",
      "x-acmems-renew-after": "2030-01-02T03:04:05Z",
      "x-acmems-renewal-window": "2030-01-01T00:00:00Z/2030-01-03T00:00:00Z",
    },
    {
      "content-type": "application/pem-certificate-chain",
      "x-acmems-cache": "hit",
      "x-acmems-renew-after": "+012345-01-01T00:00:00Z",
    },
  ]);
  assertEquals(decisions.map((d) => [d.status, d.outcome, d.cache, d.block, d.errorId]), [
    [200, "issued", "miss", "local", null],
    [200, "served stale", "stale", "local", null],
    [200, "cache hit", "hit", "local", null],
  ]);
  const { csrDer, csrSha256, ...rest } = requests[0];
  assert(csrDer.length > 0 && /^[0-9a-f]{64}$/.test(csrSha256));
  assertEquals(rest, {
    names: ["www.example.test", "example.test"],
    profile: undefined,
    verification: "http",
    storage: "none",
    block: "local",
    client: "127.0.0.1",
  });
});

Deno.test("sign: an IssueFailure from the issuer is answered through the status table", async () => {
  /** [failure, status, Retry-After, error id in the body] */
  const cases: [IssueFailure, number, string | null, boolean][] = [
    [new IssueFailure("rate-limited", "The CA rate-limited this request: slow down", 120), 429, "120", true],
    [new IssueFailure("names-refused", "Validation of example.test failed: refused"), 421, null, true],
    [new IssueFailure("unavailable", "The CA could not be reached: reset", 30), 503, "30", true],
    [new IssueFailure("refused", "The CA refused this CSR: bad key"), 403, null, false],
  ];
  for (const [failure, status, retryAfter, withId] of cases) {
    const { handler, decisions } = setupWith({ issue: () => Promise.reject(failure) });
    const response = await handler(post(www.csrPem), info());
    const text = await response.text();
    assertEquals([response.status, response.headers.get("retry-after")], [status, retryAfter], text);
    assert(text.startsWith(failure.message), text);
    const id = /\(error id ([0-9a-f]{8})\)\n$/.exec(text)?.[1] ?? null;
    assertEquals(id !== null, withId, text);
    const [decision] = decisions;
    assertEquals([decision.status, decision.outcome, decision.block, decision.errorId, decision.names], [
      status,
      `issue failed: ${status}`,
      "local",
      id,
      ["www.example.test", "example.test"],
    ]);
  }
});

Deno.test("sign: an internal IssueFailure keeps its error id; anything else thrown is a logged 500 'internal error'", async () => {
  const internal = new IssueFailure("internal", "Issuance failed (error id 0123abcd): boom", undefined, "0123abcd");
  const one = setupWith({ issue: () => Promise.reject(internal) });
  const response = await one.handler(post(www.csrPem), info());
  assertEquals([response.status, await response.text()], [500, "Issuance failed (error id 0123abcd): boom\n"]);
  assertEquals([one.decisions[0].outcome, one.decisions[0].errorId], ["issue failed: 500", "0123abcd"]);

  const other = setupWith({ issue: () => Promise.reject(new TypeError("x is undefined")) });
  const crashed = await other.handler(post(www.csrPem), info());
  const text = await crashed.text();
  assertEquals(crashed.status, 500);
  assertMatch(text, /^Internal error \(error id ([0-9a-f]{8})\); the server log has the details\.\n$/);
  const id = /error id ([0-9a-f]{8})/.exec(text)![1];
  assertEquals([other.decisions[0].outcome, other.decisions[0].errorId], ["internal error", id]);
  const logged = other.log.lines.map((l) => JSON.parse(l)).find((r) => r.event === "sign handler error");
  assertEquals([logged.errorId, logged.error], [id, "x is undefined"]);
});
