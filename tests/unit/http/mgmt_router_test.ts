/**
 * The mgmt router in-process: /sign vs other routes, the 404, and the in-flight cap.
 */
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import type { SignIssuer } from "../../../src/http/sign.ts";
import type { IssueResult } from "../../../src/issuance/request.ts";
import { info, post, setup, setupWith, www } from "./_sign_setup.ts";

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
