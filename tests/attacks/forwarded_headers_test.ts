/**
 * Attack: client-address spoofing (landscape §D2.6). Forwarding headers from peers that are not configured
 * `trusted-proxy` networks must change nothing: not the `ip =` decision, not the audit record, not /metrics access,
 * not the http-01 responder's Host check. From a trusted proxy, `X-Forwarded-For` is read right to left, so a client
 * prepending an allowed address gains nothing, and `Forwarded`/`X-Real-IP`/… are never read.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { configText } from "../support/config.ts";
import { makeCsr } from "../support/csr.ts";
import { load } from "../unit/config/helpers.ts";
import { generateKeyPair } from "../../src/acme/mod.ts";
import { App } from "../../src/server/app.ts";
import { Http01Responder } from "../../src/challenges/http01/responder.ts";
import { memoryLogger } from "../../src/ops/log.ts";
import { answer, attackConfig, peer, postSign, signStack } from "./_sign_stack.ts";

const office = await makeCsr({ names: ["www.office.test"] });

/** Every header a client might use to claim another address. */
function spoofHeaders(address: string): Record<string, string>[] {
  const v6 = address.includes(":");
  return [
    { "x-forwarded-for": address },
    { "x-forwarded-for": `${address}, ${address}` },
    { "x-forwarded-for": `${address}:4711` },
    { "x-forwarded-for": `::ffff:${address}` },
    { forwarded: `for=${v6 ? `"[${address}]"` : address}` },
    { forwarded: `for=${address};proto=https;by=${address}` },
    { "x-real-ip": address },
    { "x-client-ip": address },
    { "true-client-ip": address },
    { "cf-connecting-ip": address },
    { "x-cluster-client-ip": address },
    { "x-original-forwarded-for": address },
    { "fastly-client-ip": address },
    { "x-forwarded": `for=${address}` },
    { "forwarded-for": address },
    { "x-forwarded-for": address, forwarded: `for=${address}`, "x-real-ip": address },
  ];
}

Deno.test("attack: spoofed forwarding headers from an untrusted peer do not pass an ip = rule", async () => {
  const stack = signStack();
  for (const peerAddress of ["127.0.0.1", "198.51.100.7", "::1", "2001:db8::66"]) {
    for (const headers of spoofHeaders("10.1.2.3")) {
      const { status, body } = await answer(await stack.handler(postSign(office.csrPem, headers), peer(peerAddress)));
      assertEquals(status, 403, `${peerAddress} with ${JSON.stringify(headers)}: ${body}`);
    }
  }
  assertEquals(stack.orders, [], "no order was placed for a spoofed client");
  // The audit record names the TCP peer, never the claimed address.
  assert(stack.decisions.length > 0);
  for (const d of stack.decisions) {
    assert(d.client !== "10.1.2.3", `audit record took the spoofed address: ${d.client}`);
  }
});

Deno.test("attack: forwarding headers cannot take an allowed client's access away (or change its audit address)", async () => {
  const stack = signStack();
  for (const headers of spoofHeaders("203.0.113.9")) {
    const { status, body } = await answer(await stack.handler(postSign(office.csrPem, headers), peer("10.1.2.3")));
    assertEquals(status, 200, `10.1.2.3 with ${JSON.stringify(headers)}: ${body}`);
  }
  assert(stack.decisions.every((d) => d.client === "10.1.2.3"), JSON.stringify(stack.decisions.map((d) => d.client)));
});

Deno.test("attack: with trusted-proxy set, only that proxy's X-Forwarded-For counts, read right to left", async () => {
  const stack = signStack({ config: attackConfig({ mgmt: { "trusted-proxy": "192.0.2.10/32" } }) });
  const cases: { peer: string; headers: Record<string, string>; status: number; client: string; why: string }[] = [
    {
      peer: "198.51.100.7",
      headers: { "x-forwarded-for": "10.1.2.3" },
      status: 403,
      client: "198.51.100.7",
      why: "an untrusted peer's X-Forwarded-For is ignored",
    },
    {
      peer: "192.0.2.10",
      headers: { "x-forwarded-for": "10.1.2.3, 203.0.113.9" },
      status: 403,
      client: "203.0.113.9",
      why: "a client prepending an allowed address: the proxy appended the real one",
    },
    {
      peer: "192.0.2.10",
      headers: { "x-forwarded-for": "10.1.2.3, garbage" },
      status: 403,
      client: "192.0.2.10",
      why: "an unparsable hop ends what can be believed",
    },
    {
      peer: "192.0.2.10",
      headers: { forwarded: "for=10.1.2.3" },
      status: 403,
      client: "192.0.2.10",
      why: "Forwarded is never read",
    },
    {
      peer: "192.0.2.10",
      headers: { "x-real-ip": "10.1.2.3" },
      status: 403,
      client: "192.0.2.10",
      why: "X-Real-IP is never read",
    },
    {
      peer: "192.0.2.10",
      headers: { "x-forwarded-for": "" },
      status: 403,
      client: "192.0.2.10",
      why: "an empty header leaves the peer",
    },
    {
      peer: "192.0.2.10",
      headers: { "x-forwarded-for": "10.1.2.3" },
      status: 200,
      client: "10.1.2.3",
      why: "control: the proxy's own report is believed",
    },
    {
      peer: "::ffff:192.0.2.10",
      headers: { "x-forwarded-for": "10.1.2.3:55000" },
      status: 200,
      client: "10.1.2.3",
      why: "control: an IPv4-mapped proxy address and a hop with a port",
    },
  ];
  for (const c of cases) {
    const before = stack.decisions.length;
    const { status, body } = await answer(await stack.handler(postSign(office.csrPem, c.headers), peer(c.peer)));
    assertEquals(status, c.status, `${c.why}: ${body}`);
    assertEquals(stack.decisions[before]?.client, c.client, `${c.why}: audit client`);
  }
  // Two X-Forwarded-For header lines arrive joined: the last address is still the proxy's.
  const two = new Request("http://127.0.0.1:1313/sign", {
    method: "POST",
    body: office.csrPem,
    headers: [
      ["content-length", String(new TextEncoder().encode(office.csrPem).length)],
      ["x-forwarded-for", "10.1.2.3"],
      ["x-forwarded-for", "203.0.113.9"],
    ],
  });
  assertEquals((await answer(await stack.handler(two, peer("192.0.2.10")))).status, 403, "two header lines");
});

Deno.test("attack: /metrics (App.mgmtHandler) goes by the TCP peer, never by forwarding headers", async () => {
  const result = load(configText(attackConfig({ mgmt: { "trusted-proxy": "198.51.100.0/24" } })));
  assert(result.ok && result.config, JSON.stringify(result.errors));
  const app = new App({
    config: result.config,
    log: memoryLogger("error"),
    keyPair: await generateKeyPair("ec-p256"),
    sweepIntervalMs: 0,
  });
  try {
    for (const headers of spoofHeaders("127.0.0.1")) {
      const response = await app.mgmtHandler(
        new Request("http://127.0.0.1:1313/metrics", { headers }),
        peer("198.51.100.7"),
      );
      const { status } = await answer(response);
      assertEquals(status, 403, `/metrics from 198.51.100.7 with ${JSON.stringify(headers)}`);
    }
    // /sign through the App: the same spoofing is refused before the (unstarted) CA session is asked.
    const { status, body } = await answer(
      await app.mgmtHandler(postSign(office.csrPem, { "x-forwarded-for": "10.1.2.3" }), peer("203.0.113.50")),
    );
    assertEquals(status, 403, body);
    const local = await answer(await app.mgmtHandler(new Request("http://127.0.0.1:1313/metrics"), peer("127.0.0.1")));
    assertEquals(local.status, 200, "control: the local peer may read /metrics");
  } finally {
    await app.shutdown();
  }
});

Deno.test("attack: the http-01 responder matches the Host header only, never X-Forwarded-Host or Forwarded", async () => {
  const responder = new Http01Responder();
  const token = "pAZpZ0vAfPqS6aIbzpO3W9hgNRRp0Oq6Tl7tSMsDW5g";
  responder.add("www.example.test", token, `${token}.thumb`);
  const path = `/.well-known/acme-challenge/${token}`;
  // As Deno.serve builds it: the URL's authority is the Host header (the responder reads the host there).
  const request = (headers: Record<string, string>) => new Request(`http://${headers.host}${path}`, { headers });
  const spoofed: Record<string, string>[] = [
    { host: "evil.test", "x-forwarded-host": "www.example.test" },
    { host: "evil.test", forwarded: "host=www.example.test" },
    { host: "evil.test", "x-original-host": "www.example.test" },
    { host: "evil.test", "x-host": "www.example.test" },
    { host: "www.example.test.evil.test" },
    { host: "evil.test:80@www.example.test" },
    { host: "www.example.test\u0000.evil.test" },
  ];
  for (const headers of spoofed) {
    let response: Response;
    try {
      response = await responder.handle(request(headers));
    } catch {
      continue; // Request or Headers refused the value (credentials in the URL, NUL): it never reaches the responder.
    }
    const { status } = await answer(response);
    assertEquals(status, 404, JSON.stringify(headers));
  }
  for (const host of ["www.example.test", "WWW.Example.Test:80", "www.example.test."]) {
    const { status, body } = await answer(await responder.handle(request({ host })));
    assertEquals(status, 200, `control: Host ${host}`);
    assertEquals(body, `${token}.thumb`);
  }
  // Over a real listener, where Deno.serve puts the Host header into the URL.
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, responder.handle);
  try {
    for (const headers of spoofed.filter((h) => !h.host.includes("\u0000") && !h.host.includes("@"))) {
      const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join("\r\n");
      assertEquals(await rawStatus(server.addr.port, `GET ${path} HTTP/1.1\r\n${lines}\r\n`), 404, lines);
    }
    const ok = await rawStatus(server.addr.port, `GET ${path} HTTP/1.1\r\nhost: www.example.test\r\n`);
    assertEquals(ok, 200, "control over a real listener");
  } finally {
    await server.shutdown();
  }
});

/** The status of one raw HTTP/1.1 request (`head` without the final empty line; the connection is closed after). */
async function rawStatus(port: number, head: string): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(`${head}connection: close\r\n\r\n`));
    const buffer = new Uint8Array(4096);
    const n = await conn.read(buffer);
    const status = /^HTTP\/1\.1 (\d{3})/.exec(new TextDecoder().decode(buffer.subarray(0, n ?? 0)))?.[1];
    return Number(status ?? NaN);
  } finally {
    conn.close();
  }
}
