/** The http-01 responder's handler: what it answers, and that everything else is 404 (nginx http_404 chaining). */
import { assertEquals } from "../../../support/assert.ts";
import { Http01Responder, normalizeHost } from "../../../../src/challenges/http01/responder.ts";

const TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
const KEY_AUTH = `${TOKEN}.thumbprint`;

function responder() {
  const counts = { served: 0, notFound: 0 };
  const r = new Http01Responder({ served: () => counts.served++, notFound: () => counts.notFound++ });
  r.add("www.example.test", TOKEN, KEY_AUTH);
  return { r, counts };
}

function request(method: string, path: string, host = "www.example.test"): Request {
  return new Request(`http://${host}${path}`, { method, headers: { host } });
}

Deno.test("http-01: the pending token answers with its key authorization (GET and HEAD)", async () => {
  const { r, counts } = responder();
  const get = await r.handle(request("GET", `/.well-known/acme-challenge/${TOKEN}`));
  assertEquals([get.status, await get.text(), get.headers.get("content-type")], [200, KEY_AUTH, "text/plain"]);
  const head = await r.handle(request("HEAD", `/.well-known/acme-challenge/${TOKEN}`, "WWW.Example.Test.:80"));
  assertEquals([head.status, head.headers.get("content-length")], [200, String(KEY_AUTH.length)]);
  await head.body?.cancel();
  assertEquals(counts, { served: 2, notFound: 0 });
});

Deno.test("http-01: everything else is 404, never 405 or 500 (table)", async () => {
  const cases: [string, string, string, string?][] = [
    ["unknown token", "GET", "/.well-known/acme-challenge/unknownToken"],
    ["other host", "GET", `/.well-known/acme-challenge/${TOKEN}`, "other.example.test"],
    ["POST to a pending token", "POST", `/.well-known/acme-challenge/${TOKEN}`],
    ["PUT", "PUT", `/.well-known/acme-challenge/${TOKEN}`],
    ["DELETE", "DELETE", "/"],
    ["other path", "GET", "/index.html"],
    ["path traversal", "GET", "/.well-known/acme-challenge/..%2f..%2fetc%2fpasswd"],
    ["not base64url", "GET", "/.well-known/acme-challenge/abc.def"],
  ];
  for (const [name, method, path, host] of cases) {
    const { r, counts } = responder();
    const res = await r.handle(request(method, path, host));
    assertEquals(res.status, 404, name);
    await res.body?.cancel();
    assertEquals(counts, { served: 0, notFound: 1 }, name);
  }
});

Deno.test("http-01: a removed token is 404", async () => {
  const { r } = responder();
  r.remove("www.example.test", TOKEN);
  const res = await r.handle(request("GET", `/.well-known/acme-challenge/${TOKEN}`));
  assertEquals(res.status, 404);
  await res.body?.cancel();
});

Deno.test("http-01: one token pending for two names answers each Host its own; removing one keeps the other", async () => {
  const { r } = responder();
  r.add("API.Example.Test.", TOKEN, `${TOKEN}.other`);
  assertEquals(r.size, 2);
  const path = `/.well-known/acme-challenge/${TOKEN}?x=1`;
  const texts = async (host: string) => {
    const res = await r.handle(request("GET", path, host));
    return [res.status, await res.text()];
  };
  assertEquals(await texts("www.example.test"), [200, KEY_AUTH]);
  assertEquals(await texts("api.example.test:8080"), [200, `${TOKEN}.other`], "Host normalized after an exact miss");
  r.remove("www.example.test", TOKEN);
  assertEquals(r.size, 1);
  assertEquals((await texts("www.example.test"))[0], 404);
  assertEquals(await texts("api.example.test"), [200, `${TOKEN}.other`]);
  r.remove("api.example.test", TOKEN);
  assertEquals(r.size, 0);
  r.remove("api.example.test", TOKEN); // removing what is gone is a no-op
  assertEquals(r.lookup(null, TOKEN), undefined);
});

Deno.test("normalizeHost: port, brackets, case and a trailing dot", () => {
  assertEquals(normalizeHost("WWW.Example.Test.:8080"), "www.example.test");
  assertEquals(normalizeHost("[2001:DB8::1]:80"), "2001:db8::1");
  assertEquals(normalizeHost("2001:db8::1"), "2001:db8::1");
  assertEquals(normalizeHost(""), null);
  assertEquals(normalizeHost(null), null);
});

Deno.test("http-01: a token this instance does not know is asked of the shared storage, Host checked", async () => {
  const { r, counts } = responder();
  const asked: string[] = [];
  r.fallback = (token) => {
    asked.push(token);
    return Promise.resolve(
      token === "sharedTok" ? { keyAuthorization: "sharedTok.t", host: "Shared.Example.Test." } : null,
    );
  };
  const served = await r.handle(request("GET", "/.well-known/acme-challenge/sharedTok", "shared.example.test:80"));
  assertEquals([served.status, await served.text()], [200, "sharedTok.t"]);
  const wrongHost = await r.handle(request("GET", "/.well-known/acme-challenge/sharedTok", "other.example.test"));
  assertEquals(wrongHost.status, 404);
  await wrongHost.body?.cancel();
  const unknown = await r.handle(request("GET", "/.well-known/acme-challenge/nope"));
  assertEquals(unknown.status, 404);
  await unknown.body?.cancel();
  // Known locally, or not a token at all: the storage is not asked.
  await (await r.handle(request("GET", `/.well-known/acme-challenge/${TOKEN}`))).body?.cancel();
  await (await r.handle(request("GET", "/.well-known/acme-challenge/abc.def"))).body?.cancel();
  assertEquals(asked, ["sharedTok", "sharedTok", "nope"]);
  assertEquals(counts, { served: 2, notFound: 3 });
});

Deno.test("http-01: a shared lookup that hangs or fails is a 404 within fallbackTimeoutMs", async () => {
  const { r } = responder();
  r.fallbackTimeoutMs = 50;
  let settle: (() => void) | undefined;
  r.fallback = () => new Promise((resolve) => (settle = () => resolve(null)));
  // The fallback never settles on its own: only the 50 ms bound can answer this request.
  const hung = await r.handle(request("GET", "/.well-known/acme-challenge/hangs"));
  assertEquals(hung.status, 404);
  await hung.body?.cancel();
  settle?.();
  r.fallback = () => Promise.reject(new Error("database down"));
  const failed = await r.handle(request("GET", "/.well-known/acme-challenge/fails"));
  assertEquals(failed.status, 404);
  await failed.body?.cancel();
});

Deno.test("http-01: an IP address identifier answers to a Host that is that IP literal (RFC 8738)", async () => {
  const r = new Http01Responder();
  r.add("127.0.0.1", TOKEN, KEY_AUTH);
  r.add("2001:DB8:0::1", TOKEN, `${KEY_AUTH}6`);
  const path = `/.well-known/acme-challenge/${TOKEN}`;
  const status = async (host: string) => {
    const response = await r.handle(request("GET", path, host));
    return `${response.status} ${await response.text()}`;
  };
  assertEquals(await status("127.0.0.1:5002"), `200 ${KEY_AUTH}`);
  assertEquals(await status("127.0.0.1"), `200 ${KEY_AUTH}`);
  assertEquals(await status("[2001:db8::1]:80"), `200 ${KEY_AUTH}6`);
  assertEquals(await status("[2001:0db8:0000::0001]"), `200 ${KEY_AUTH}6`, "any spelling of the address");
  assertEquals(await status("127.0.0.2"), "404 Not found.\n");
  assertEquals(await status("[2001:db8::2]"), "404 Not found.\n");
  assertEquals(normalizeHost("[2001:0DB8:0::1]:443"), "2001:db8::1");
});
