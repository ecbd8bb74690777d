/**
 * The mgmt router in-process: /sign vs other routes, the 404, and the in-flight cap.
 */
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import type { SignIssuer } from "../../../src/http/sign.ts";
import type { IssueResult } from "../../../src/issuance/request.ts";
import { configText, info, loadConfig, post, setup, setupWith, www } from "./_sign_setup.ts";
import { load } from "../config/helpers.ts";

Deno.test("sign: 404 other path, 405 other method with Allow: POST", async () => {
  const { handler } = setup();
  const notFound = await handler(post(www.csrPem, {}, "/signing"), info());
  assertEquals(notFound.status, 404);
  await notFound.body?.cancel();
  const get = await handler(new Request("http://127.0.0.1:1313/sign"), info());
  assertEquals(get.status, 405);
  assertEquals(get.headers.get("allow"), "POST");
  assertEquals(get.headers.get("content-type"), "text/plain; charset=utf-8");
  assertEquals(await get.text(), "Only POST is supported on /sign.\n");
});

const CHAIN = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

/** An issuer whose answers wait until `release()`. */
function gatedIssuer(): SignIssuer & { release(): void; calls: number } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  const issuer = {
    calls: 0,
    release: () => open(),
    async issue(): Promise<IssueResult> {
      issuer.calls++;
      await gate;
      return { chain: CHAIN, cache: "miss" };
    },
  };
  return issuer;
}

Deno.test("mgmt router: extra routes are tried before the 404; the 404 names the path and is no /sign decision", async () => {
  const issuer = gatedIssuer();
  const { handler, decisions } = setupWith(issuer, {
    extraRoutes: (request) => new URL(request.url).pathname === "/health" ? new Response("ok\n") : null,
  });
  const health = await handler(new Request("http://127.0.0.1:1313/health"), info());
  assertEquals([health.status, await health.text()], [200, "ok\n"]);
  const missing = await handler(new Request("http://127.0.0.1:1313/nothing?x=1"), info());
  assertEquals(missing.status, 404);
  assertEquals(missing.headers.get("content-type"), "text/plain; charset=utf-8");
  assertEquals(await missing.text(), "Not found: /nothing. Certificates are requested with POST /sign.\n");
  assertEquals(decisions, []);
  assertEquals(issuer.calls, 0);
});

Deno.test("mgmt router: beyond max-inflight 503 with Retry-After and an error id, body not read; the slot comes back", async () => {
  const issuer = gatedIssuer();
  const { handler, decisions } = setupWith(issuer, { extraMgmt: "max-inflight = 1" });
  const first = handler(post(www.csrPem), info());
  // The first request holds the only slot once the issuer has it.
  while (issuer.calls === 0) await new Promise((r) => setTimeout(r, 5));

  let cancelled = false;
  let pulled = false;
  const body = new ReadableStream({
    pull(c) {
      pulled = true;
      c.enqueue(new TextEncoder().encode(www.csrPem));
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  const over = await handler(
    new Request("http://127.0.0.1:1313/sign", {
      method: "POST",
      body,
      headers: { "content-length": String(www.csrPem.length) },
    }),
    info(),
  );
  const text = await over.text();
  assertEquals(over.status, 503, text);
  assertEquals(over.headers.get("retry-after"), "5");
  assertMatch(text, /^Too many requests in progress \(more than 1\); retry shortly\. \(error id [0-9a-f]{8}\)\n$/);
  assert(cancelled && !pulled, "the body of a request beyond the cap is cancelled, not read");
  const busy = decisions.at(-1)!;
  assertEquals([busy.status, busy.outcome, busy.errorId], [
    503,
    "too many in flight",
    /error id ([0-9a-f]{8})/.exec(text)![1],
  ]);

  // The method is checked before the cap.
  const get = await handler(new Request("http://127.0.0.1:1313/sign"), info());
  assertEquals(get.status, 405);
  await get.body?.cancel();

  issuer.release();
  const done = await first;
  assertEquals([done.status, await done.text()], [200, CHAIN]);
  const again = await handler(post(www.csrPem), info());
  assertEquals(again.status, 200, "the slot is given back when the request ends");
  await again.body?.cancel();
  assertEquals(issuer.calls, 2);
});

/** A body stream that records whether it was read or cancelled (it never ends on its own). */
function watchedBody() {
  const seen = { pulled: false, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull() {
      seen.pulled = true;
      return new Promise(() => {}); // stalled
    },
    cancel() {
      seen.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, seen };
}

function stalledPost(body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}): Request {
  return new Request("http://127.0.0.1:1313/sign", {
    method: "POST",
    body,
    headers: { "content-length": "900", ...headers },
  });
}

Deno.test("mgmt router: a client no block could admit gets 403 before its body, and takes no slot", async () => {
  const issuer = gatedIssuer();
  const { handler, decisions } = setupWith(issuer, { extraMgmt: "max-inflight = 1" });
  const first = handler(post(www.csrPem), info());
  while (issuer.calls === 0) await new Promise((r) => setTimeout(r, 5));

  // 192.0.2.9 is in no block's networks; the only slot is taken, yet the answer is 403, not 503.
  const outsider = watchedBody();
  const refused = await handler(stalledPost(outsider.stream), info("192.0.2.9"));
  assertEquals(
    [refused.status, await refused.text()],
    [403, "No auth block admits this client: check the client address and the Authentication header\n"],
  );
  assert(outsider.seen.cancelled && !outsider.seen.pulled, "the outsider's body is cancelled, not read");
  assertEquals([decisions.at(-1)!.status, decisions.at(-1)!.outcome, decisions.at(-1)!.client], [
    403,
    "not authorized before the body",
    "192.0.2.9",
  ]);

  // 10.0.0.5 is in the HMAC block's network, but without a well-formed sha256 header that block cannot admit it.
  for (
    const [authentication, reason] of [
      [undefined, "No auth block admits this client"],
      [`hmac name=sha512, hash=${"0".repeat(128)}`, "No auth block admits this client"],
      ["hmac name=sha256", "Authentication"],
    ] as const
  ) {
    const body = watchedBody();
    const answer = await handler(
      stalledPost(body.stream, authentication ? { authentication } : {}),
      info("10.0.0.5"),
    );
    const text = await answer.text();
    assertEquals(answer.status, 403, text);
    assert(text.includes(reason), text);
    assert(!body.seen.pulled, `the body was read (${authentication})`);
  }
  // A header the HMAC block could accept: the body is needed, so this one waits for the slot like anyone admitted.
  const hopeful = watchedBody();
  const busy = await handler(
    stalledPost(hopeful.stream, { authentication: `hmac name=sha256, hash=${"0".repeat(64)}` }),
    info("10.0.0.5"),
  );
  assertEquals(busy.status, 503);
  await busy.body?.cancel();

  issuer.release();
  const done = await first;
  assertEquals(done.status, 200);
  await done.body?.cancel();
  assertEquals(issuer.calls, 1);
});

Deno.test("mgmt router: max-inflight-per-client caps one client address; other addresses keep their slots", async () => {
  const issuer = gatedIssuer();
  const { handler, decisions } = setupWith(issuer, { extraMgmt: "max-inflight = 4\nmax-inflight-per-client = 2" });
  const held = [handler(post(www.csrPem), info()), handler(post(www.csrPem), info())];
  while (issuer.calls < 2) await new Promise((r) => setTimeout(r, 5));

  const third = watchedBody();
  const over = await handler(stalledPost(third.stream), info());
  const text = await over.text();
  assertEquals(over.status, 503, text);
  assertEquals(over.headers.get("retry-after"), "5");
  assertMatch(
    text,
    /^Too many requests in progress from 127\.0\.0\.1 \(more than 2 per client\); retry shortly\. \(error id [0-9a-f]{8}\)\n$/,
  );
  assert(third.seen.cancelled && !third.seen.pulled, "the body beyond the per-client cap is cancelled, not read");
  assertEquals(decisions.at(-1)!.outcome, "too many in flight for this client");

  // Another admitted address (the local block's 2001:db8::/32) still gets a slot.
  const other = handler(post(www.csrPem), info("2001:db8::7"));
  while (issuer.calls < 3) await new Promise((r) => setTimeout(r, 5));

  issuer.release();
  for (const response of [...await Promise.all(held), await other]) {
    assertEquals(response.status, 200);
    await response.body?.cancel();
  }
  // The slots came back: the address gets two again.
  const again = await Promise.all([handler(post(www.csrPem), info()), handler(post(www.csrPem), info())]);
  assertEquals(again.map((r) => r.status), [200, 200]);
  await Promise.all(again.map((r) => r.body?.cancel()));
});

Deno.test("mgmt router: max-inflight-per-client defaults to max-inflight / 4, at least 1", () => {
  assertEquals(loadConfig().mgmt.maxInflightPerClient, 64);
  assertEquals(loadConfig("max-inflight = 20").mgmt.maxInflightPerClient, 5);
  assertEquals(loadConfig("max-inflight = 3").mgmt.maxInflightPerClient, 1);
  assertEquals(loadConfig("max-inflight = 7\nmax-inflight-per-client = 7").mgmt.maxInflightPerClient, 7);
});

Deno.test("config: max-inflight-per-client above max-inflight is a warning naming both", () => {
  const result = load(configText("max-inflight = 4\nmax-inflight-per-client = 5"));
  assert(result.ok);
  const warning = result.warnings.find((w) => w.message.includes("max-inflight-per-client"));
  assertEquals(
    warning?.message,
    "[mgmt] max-inflight-per-client 5 is above max-inflight 4: one client can take every /sign slot; lower it",
  );
});
