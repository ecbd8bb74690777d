/**
 * A slow upstream order: finalize answers `processing` with Retry-After once the finalize wait has passed, the host
 * polls until `valid`, and nothing is ordered twice, also when another instance (its own finalizations, the same
 * storage and issuer) answers the poll. Also: the base URL behind a trusted proxy, and a wildcard authorization.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { makeCsr } from "../../support/csr.ts";
import { AcmeProblem } from "../../../src/acme/mod.ts";
import { EAB_KEY, EAB_KID, setup } from "./_setup.ts";

const EAB = { kid: EAB_KID, hmacKey: EAB_KEY };

Deno.test("acme front: a slow order is processing with Retry-After, polled to valid, ordered once", async () => {
  const s = setup({ cache: true, fake: { finalizeDelayMs: 1_500 }, finalizeWaitMs: 100 });
  const client = await s.client();
  const other = await s.client(client.accountKey, "second");
  try {
    await client.newAccount({ eab: EAB });
    await other.findAccount();
    const order = await client.newOrder({ identifiers: ["slow.example.test"] });
    const csr = await makeCsr({ names: ["slow.example.test"] });
    const finalized = await client.finalize(order, csr.csrPem);
    assertEquals(finalized.status, "processing");
    // The other instance has no finalization of its own for this order: it asks the issuer, which joins the order.
    const polledThere = await other.getOrder(order.url);
    assert(["processing", "valid"].includes(polledThere.status), polledThere.status);
    const done = await client.pollOrder(order.url, { deadline: Date.now() + 10_000 });
    assertEquals(done.status, "valid");
    const thereToo = await other.pollOrder(order.url, { deadline: Date.now() + 10_000 });
    assertEquals(thereToo.status, "valid");
    assertEquals(s.fake.orders, 1, "one upstream order");
    const chain = await other.downloadCertificate(done.certificate!);
    assert(chain.pem.includes("BEGIN CERTIFICATE"));
  } finally {
    client.close();
    other.close();
    await s.close();
  }
});

Deno.test("acme front: the processing answer carries Retry-After", async () => {
  const s = setup({ fake: { finalizeDelayMs: 1_500 }, finalizeWaitMs: 50 });
  const client = await s.client();
  try {
    await client.newAccount({ eab: EAB });
    const order = await client.newOrder({ identifiers: ["ra.example.test"] });
    const csr = await makeCsr({ names: ["ra.example.test"] });
    const seen: (string | null)[] = [];
    const original = s.fetch;
    const watching = await s.client(client.accountKey);
    await watching.findAccount();
    // Finalize by hand to see the headers.
    const finalized = await watching.finalize(order, csr.csrPem);
    assertEquals(finalized.status, "processing");
    const nonce = (await original("http://acmems.test:1313/acme/new-nonce", { method: "HEAD" })).headers.get(
      "replay-nonce",
    )!;
    const { signJws } = await import("../../../src/acme/mod.ts");
    const body = await signJws({
      privateKey: client.accountKey.privateKey,
      url: order.url,
      nonce,
      kid: (await watching.findAccount()).url,
    });
    const polled = await original(order.url, {
      method: "POST",
      headers: { "Content-Type": "application/jose+json" },
      body: JSON.stringify(body),
    });
    seen.push(polled.headers.get("retry-after"));
    const json = await polled.json();
    assertEquals(json.status, "processing");
    assertEquals(seen[0], "2");
    await watching.pollOrder(order.url, { deadline: Date.now() + 10_000 });
    watching.close();
  } finally {
    client.close();
    await s.close();
  }
});

Deno.test("acme front: behind a trusted proxy the URLs use X-Forwarded-Proto and -Host; others are ignored", async () => {
  const s = setup({ trustedProxy: "127.0.0.1" });
  try {
    const headers = {
      "X-Forwarded-Proto": "https",
      "X-Forwarded-Host": "acme.example.org",
      "X-Forwarded-For": "127.0.0.1",
    };
    const viaProxy = await (await s.fetch("http://10.0.0.1:1313/acme/directory", { headers })).json();
    assertEquals(viaProxy.newAccount, "https://acme.example.org/acme/new-account");
  } finally {
    await s.close();
  }
  const direct = setup({ peer: "127.0.0.1" });
  try {
    const headers = { "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example" };
    const dir = await (await direct.fetch("http://10.0.0.1:1313/acme/directory", { headers })).json();
    assertEquals(dir.newAccount, "http://10.0.0.1:1313/acme/new-account");
  } finally {
    await direct.close();
  }
});

Deno.test("acme front: a wildcard identifier under an http01 verification is rejectedIdentifier naming it", async () => {
  const s = setup();
  const client = await s.client();
  try {
    await client.newAccount({ eab: EAB });
    const refused = await client.newOrder({ identifiers: ["*.example.test"] }).catch((error) => error);
    // The block's verification is http01: a wildcard is refused at newOrder, naming it.
    assert(refused instanceof AcmeProblem && refused.is("rejectedIdentifier"), String(refused));
    assert(refused.detail.includes("*.example.test") && refused.detail.includes("dns-01"), refused.detail);
  } finally {
    client.close();
    await s.close();
  }
});

Deno.test("acme front: ACME requests take max-inflight slots (a finalize in progress makes the next one busy)", async () => {
  const s = setup({ fake: { finalizeDelayMs: 3_000 }, finalizeWaitMs: 2_500, mgmt: "max-inflight = 1" });
  const client = await s.client();
  try {
    await client.newAccount({ eab: EAB });
    const order = await client.newOrder({ identifiers: ["busy.example.test"] });
    const csr = await makeCsr({ names: ["busy.example.test"] });
    let settled = false;
    const finalizing = client.finalize(order, csr.csrPem).finally(() => settled = true);
    // While the finalize holds the one slot (it waits for the slow order), the next request is refused at once.
    // The upstream order has started only once the finalize request is inside (holding the slot).
    while (s.fake.orders === 0 && !settled) await new Promise((resolve) => setTimeout(resolve, 10));
    let busy: Response | undefined;
    while (!settled) {
      const answer = await s.fetch("http://acmems.test:1313/acme/directory");
      await answer.body?.cancel();
      if (answer.status === 503) {
        busy = answer;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert(busy, "a request while the finalize held the slot was answered busy");
    assert(busy.headers.get("retry-after"));
    assertEquals(busy.headers.get("content-type"), "application/problem+json");
    assert(busy.headers.get("replay-nonce"));
    assertEquals((await finalizing).status, "processing");
    await client.pollOrder(order.url, { deadline: Date.now() + 10_000 });
  } finally {
    client.close();
    await s.close();
  }
});
