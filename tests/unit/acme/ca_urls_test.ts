/**
 * Issue 13 item 5: a URL the CA hands out (directory entries, Location headers, Link alternates, order and
 * authorization objects, renewalInfo) is only followed when it is https: (http: too when the directory itself is
 * http:) and on the directory's origin or an allowed one (`caOrigins`); a redirect is an error, never followed.
 */
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import { AcmeClient, type AcmeClientOptions } from "../../../src/acme/client.ts";
import { AcmeUrlRefusedError } from "../../../src/acme/errors.ts";
import type { FetchLike } from "../../../src/acme/http.ts";
import { generateKeyPair } from "../../../src/acme/keys.ts";
import { json, type Route, startStubCa, type StubCa } from "./_stub_ca.ts";

const accountKey = await generateKeyPair("ec-p256");

/** Runs `fn` with a stub CA (an http: directory on 127.0.0.1) and a client with an account. */
async function withStub(
  routes: Record<string, Route>,
  fn: (client: AcmeClient, stub: StubCa) => Promise<void>,
  opts: Partial<AcmeClientOptions> = {},
): Promise<void> {
  const stub = await startStubCa(routes);
  const client = new AcmeClient({ directoryUrl: stub.directoryUrl, accountKey, retries: 0, ...opts });
  try {
    await client.newAccount({ termsOfServiceAgreed: true });
    await fn(client, stub);
  } finally {
    client.close();
    await stub.close();
  }
}

/** Asserts `fn` rejects with AcmeUrlRefusedError whose message names `url`. */
async function assertRefused(fn: () => Promise<unknown>, url: string, why: RegExp): Promise<void> {
  const error = await assertRejects(fn);
  assert(error instanceof AcmeUrlRefusedError, `expected AcmeUrlRefusedError, got ${error}`);
  assert(error.message.includes(url), `the message names ${url}: ${error.message}`);
  assert(why.test(error.message), `${why}: ${error.message}`);
  assertEquals(error.url, url);
}

/** A scripted CA at https://ca.test (an https directory) behind a fake fetch that records every URL asked for. */
function httpsCa(answers: Record<string, (url: string) => Response>): { fetch: FetchLike; fetched: string[] } {
  const fetched: string[] = [];
  let nonce = 0;
  const fetch: FetchLike = (input, init) => {
    const url = String(input);
    fetched.push(url);
    const key = `${init?.method ?? "GET"} ${url}`;
    const answer = answers[key]?.(url) ?? (key === "GET https://ca.test/dir"
      ? json({
        newNonce: "https://ca.test/nonce",
        newAccount: "https://ca.test/new-acct",
        newOrder: "https://ca.test/new-order",
      })
      : key === "HEAD https://ca.test/nonce"
      ? new Response(null)
      : json({ type: "urn:ietf:params:acme:error:malformed", detail: `no ${key}`, status: 404 }, 404));
    answer.headers.set("replay-nonce", `n${++nonce}`);
    return Promise.resolve(answer);
  };
  return { fetch, fetched };
}

Deno.test("ca urls: an http: Location from a CA whose directory is https: is refused", async () => {
  const { fetch } = httpsCa({
    "POST https://ca.test/new-acct": () => json({ status: "valid" }, 201, { location: "http://ca.test/acct/1" }),
  });
  const client = new AcmeClient({ directoryUrl: "https://ca.test/dir", accountKey, fetch, retries: 0 });
  await assertRefused(() => client.newAccount({ termsOfServiceAgreed: true }), "http://ca.test/acct/1", /https:/);
  assertEquals(client.accountUrl, undefined, "the refused account URL is not kept");
});

Deno.test("ca urls: an http: certificate URL under an https: directory is never fetched", async () => {
  const { fetch, fetched } = httpsCa({});
  const client = new AcmeClient({
    directoryUrl: "https://ca.test/dir",
    accountKey,
    accountUrl: "https://ca.test/acct/1",
    fetch,
    retries: 0,
  });
  await assertRefused(() => client.downloadCertificate("http://ca.test/cert/1"), "http://ca.test/cert/1", /https:/);
  assertEquals(fetched.filter((u) => !u.startsWith("https:")), [], "nothing but https: was fetched");
});

Deno.test("ca urls: an order whose authorization or finalize URL is http: is refused as it arrives", async () => {
  const { fetch, fetched } = httpsCa({
    "POST https://ca.test/new-order": () =>
      json(
        {
          status: "pending",
          identifiers: [{ type: "dns", value: "a.test" }],
          authorizations: ["https://ca.test/authz/1"],
          finalize: "http://ca.test/order/1/finalize",
        },
        201,
        { location: "https://ca.test/order/1" },
      ),
  });
  const client = new AcmeClient({
    directoryUrl: "https://ca.test/dir",
    accountKey,
    accountUrl: "https://ca.test/acct/1",
    fetch,
    retries: 0,
  });
  await assertRefused(
    () => client.newOrder({ identifiers: ["a.test"] }),
    "http://ca.test/order/1/finalize",
    /finalize/,
  );
  assertEquals(fetched.filter((u) => !u.startsWith("https:")), []);
});

Deno.test("ca urls: a directory entry on another origin is refused, unless that origin is allowed", async () => {
  await using other = await startStubCa({
    "GET /ari/a.b": () => json({ suggestedWindow: { start: "2026-12-01T00:00:00Z", end: "2026-12-02T00:00:00Z" } }),
  });
  const onOther = (stub: StubCa) => {
    const original = stub.routes.get("GET /dir")!;
    stub.routes.set("GET /dir", async (req, s) => {
      const dir = await (await original(req, s)).json();
      return json({ ...dir, renewalInfo: `${other.origin}/ari/` });
    });
  };
  await withStub({}, async (client, stub) => {
    onOther(stub);
    // The directory's own entries are checked when it is read: the refusal shows there first.
    await assertRefused(() => client.refreshDirectory(), `${other.origin}/ari/`, /origin .* is not the directory's/);
    await assertRefused(
      () => client.renewalInfo({ certId: "a.b" }),
      `${other.origin}/ari/`,
      /origin .* is not the directory's/,
    );
    assertEquals(other.requests.length, 0, "the other origin was never asked");
  });
  await withStub({}, async (client, stub) => {
    onOther(stub);
    await client.refreshDirectory();
    const info = await client.renewalInfo({ certId: "a.b" });
    assertEquals(info.suggestedWindow.end.toISOString(), "2026-12-02T00:00:00.000Z");
    assertEquals(other.requests.map((r) => r.path), ["/ari/a.b"]);
  }, { caOrigins: [other.origin] });
});

Deno.test("ca urls: a Location header on another origin is refused", async () => {
  await withStub({
    "POST /new-order": (_req, s) =>
      json(
        {
          status: "pending",
          identifiers: [{ type: "dns", value: "a.test" }],
          authorizations: [`${s.origin}/authz/1`],
          finalize: `${s.origin}/order/1/finalize`,
        },
        201,
        { location: "https://other.example/order/1" },
      ),
  }, async (client) => {
    await assertRefused(
      () => client.newOrder({ identifiers: ["a.test"] }),
      "https://other.example/order/1",
      /origin https:\/\/other\.example is not the directory's/,
    );
  });
});

Deno.test("ca urls: a file: URL is refused, never read", async () => {
  await withStub({}, async (client, stub) => {
    const original = stub.routes.get("GET /dir")!;
    stub.routes.set(
      "GET /dir",
      async (req, s) => json({ ...await (await original(req, s)).json(), renewalInfo: "file:///etc" }),
    );
    await assertRefused(() => client.refreshDirectory(), "file:///etc", /renewalInfo/);
    stub.routes.set("GET /dir", original);
    await client.refreshDirectory();
    await assertRefused(() => client.getAuthorization("file:///etc/passwd"), "file:///etc/passwd", /https:/);
  });
});

Deno.test("ca urls: a redirect is an error naming the URL, and its target is not followed", async () => {
  await withStub({
    "POST /cert/1": (_req, s) => new Response(null, { status: 302, headers: { location: `${s.origin}/elsewhere` } }),
    "GET /elsewhere": () => new Response("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
    "POST /elsewhere": () => new Response("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
  }, async (client, stub) => {
    const url = `${stub.origin}/cert/1`;
    await assertRefused(() => client.downloadCertificate(url), url, /redirect \(HTTP 302 to .*\/elsewhere\)/);
    assertEquals(stub.requests.filter((r) => r.path === "/elsewhere").length, 0, "the redirect was not followed");
  });
});

Deno.test("ca urls: a Link alternate on another origin is refused", async () => {
  await withStub({
    "POST /cert/1": () =>
      new Response("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", {
        headers: { link: '</cert/1/1>;rel="alternate", <https://other.example/cert/1/2>;rel="alternate"' },
      }),
  }, async (client, stub) => {
    await assertRefused(
      () => client.downloadCertificate(`${stub.origin}/cert/1`),
      "https://other.example/cert/1/2",
      /alternate/,
    );
  });
});

Deno.test("ca urls: the same origin is followed (the issuance flow in client_test covers it end to end)", async () => {
  await withStub({
    "POST /cert/1": () =>
      new Response("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", {
        headers: { link: '</cert/1/1>;rel="alternate"' },
      }),
  }, async (client, stub) => {
    const chain = await client.downloadCertificate(`${stub.origin}/cert/1`);
    assertEquals(chain.alternates, [`${stub.origin}/cert/1/1`]);
  });
});

Deno.test("ca urls: caOrigins are checked when the client is built", () => {
  for (
    const [directoryUrl, origins, message] of [
      ["https://ca.test/dir", ["https://other.example/path"], /"https:\/\/other\.example\/path" is not an origin/],
      ["https://ca.test/dir", ["ftp://other.example"], /"ftp:\/\/other\.example" is not an https: origin/],
      ["https://ca.test/dir", ["http://other.example"], /"http:\/\/other\.example" is not an https: origin/],
      ["https://ca.test/dir", ["not a url"], /"not a url" is not an origin/],
      ["file:///etc/acme/dir.json", [], /directory URL "file:\/\/\/etc\/acme\/dir.json" must be https:/],
    ] as const
  ) {
    let error: unknown;
    try {
      new AcmeClient({ directoryUrl, accountKey, caOrigins: [...origins] }).close();
    } catch (e) {
      error = e;
    }
    assert(error instanceof TypeError && message.test(error.message), `${message}: ${error}`);
  }
  // An http: origin is fine beside an http: (test) directory; a trailing slash is accepted.
  new AcmeClient({ directoryUrl: "http://127.0.0.1:1/dir", accountKey, caOrigins: ["http://127.0.0.2:1/"] }).close();
});
