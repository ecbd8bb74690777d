/**
 * Fuzz: POST /sign end to end in-process (`createMgmtHandler` + real issuer + fake CA, tests/attacks/_sign_stack.ts)
 * with random methods, paths, peers, Content-Length values, Authentication and forwarding headers, streamed bodies,
 * and CSR bodies from the intake corpus (mutated DER, re-signed structural edits, damaged PEM, random bytes).
 *
 * Properties:
 *  - never a 5xx: the fake CA never fails, so everything that goes wrong is the client's fault (4xx);
 *  - every status is a documented one; refusals are one line of text/plain without control characters;
 *  - a 200 is a PEM chain with X-Acmems-Cache, and only ever for a request its block admits (the oracle below:
 *    the TCP peer for ip blocks, forwarding headers never count; the exact HMAC of the body for the hmac block);
 *  - and the converse: an admissible request (POST /sign, the body's length, no Transfer-Encoding, an unmutated seed
 *    CSR whose names one block covers, sent by that block's peer, or with the right HMAC from any IP address) gets
 *    200 from that block,
 *    whatever else the fuzz added (junk, forwarding and Authentication headers, a body in pieces);
 *  - every order placed with the CA has valid lower-case DNS names inside the admitting block's domains;
 *  - the in-flight counter does not leak: afterwards, max-inflight concurrent valid requests all get 200.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { makeCsr } from "../support/csr.ts";
import { answer, ATTACK_HMAC_KEY, hmacHex, peer, signStack } from "../attacks/_sign_stack.ts";
import { csrBody, derToPem, makeSeeds, mutateSignedNames } from "./_csr_corpus.ts";
import { type Rng, runCases } from "./_fuzz.ts";

const seeds = await makeSeeds();
const DOCUMENTED = new Set([200, 400, 403, 404, 405, 411, 413, 415]);
const BLOCK_DOMAINS: Record<string, RegExp> = {
  office: /^[a-z0-9.-]+\.office\.test$/,
  hmac: /^[a-z0-9.-]+\.secure\.test$/,
  local: /^([a-z0-9.-]+\.)?example\.test$/,
};
const LABEL = "([a-z0-9]|[a-z0-9][a-z0-9-]{0,61}[a-z0-9])";
const DNS_NAME = new RegExp(`^(${LABEL}\\.)+${LABEL}$`);
const PEERS = [
  "127.0.0.1",
  "127.0.0.1",
  "127.0.0.1",
  "::1",
  "::ffff:127.0.0.1",
  "10.1.2.3",
  "::ffff:10.1.2.3",
  "10.1.2.4",
  "2001:db8::1",
  "198.51.100.7",
  "fe80::1%eth0",
  "not-an-address",
  "",
];
const LOCAL = new Set(["127.0.0.1", "::1", "::ffff:127.0.0.1"]);
/**
 * The seeds (tests/fuzz/_csr_corpus.ts) that every intake rule accepts and one block covers, with that block. The
 * others are refused whoever sends them: "wildcard" (http01 verification), "outside" (no block), "ip and email" (SAN
 * types), "must-staple".
 */
const ADMISSIBLE_SEEDS: Record<string, string> = {
  "one name": "local",
  "three names": "local",
  "rsa": "local",
  "hmac block": "hmac",
  "office block": "office",
};
const OFFICE = new Set(["10.1.2.3", "::ffff:10.1.2.3"]);
/** Peers that are no IP address: refused (403) before any block is tried, even with the right HMAC. */
const UNPARSEABLE_PEERS = new Set(["not-an-address", ""]);

function contentLength(rng: Rng, length: number): string | null {
  const r = rng.next();
  if (r < 0.75) return String(length);
  if (r < 0.8) return null;
  return rng.pick([
    String(length + 1),
    String(Math.max(0, length - 1)),
    "0",
    "-1",
    "4097",
    "99999999999999999999",
    "1e3",
    "0x10",
    ` ${length} `,
    `${length}, ${length}`,
    "abc",
    "",
    String(length) + "\t",
  ]);
}

function randomHeaderValue(rng: Rng): string {
  return rng.string(rng.length(120), "abcdefXYZ0123456789 =,;:\"'./\\-_*?%()[]{}<>@!#$&+~`^|\u00e9");
}

async function authentication(rng: Rng, body: Uint8Array): Promise<{ value: string | null; right: boolean }> {
  const r = rng.next();
  if (r < 0.5) return { value: null, right: false };
  if (r < 0.65) return { value: `hmac name=sha256, hash=${await hmacHex(body)}`, right: true };
  if (r < 0.75) {
    const right = await hmacHex(body);
    const i = rng.int(right.length);
    const wrong = right.slice(0, i) + (right[i] === "0" ? "1" : "0") + right.slice(i + 1);
    return { value: `hmac name=sha256, hash=${wrong}`, right: false };
  }
  if (r < 0.8) return { value: `hmac name=sha256, hash=${await hmacHex(body, "another-key-123456")}`, right: false };
  return {
    value: rng.bool()
      ? randomHeaderValue(rng)
      : `hmac name=${rng.pick(["sha256", "md5", "sha512"])}, hash=${rng.string(64, "0123456789abcdefg")}`,
    right: false,
  };
}

/** A body stream that delivers `bytes` in random pieces. */
function pieces(bytes: Uint8Array, rng: Rng): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = 1 + rng.int(Math.max(1, Math.min(bytes.length - i, 700)));
    parts.push(bytes.slice(i, i + n));
    i += n;
  }
  return new ReadableStream({
    pull(controller) {
      const next = parts.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
}

Deno.test("fuzz: POST /sign in-process never answers 5xx to client faults and never admits the wrong client", async () => {
  const stack = signStack();
  const max = stack.config.mgmt.maxInflight;
  await runCases("sign handler", async (rng) => {
    const seed = rng.pick(seeds);
    const generated = rng.bool(0.2)
      ? { body: seed.pem, kind: "seed" }
      : rng.bool(0.3)
      ? { body: derToPem(await mutateSignedNames(rng.pick(seeds), rng)), kind: "names" }
      : await csrBody(seeds, rng);
    const body = typeof generated.body === "string"
      ? new TextEncoder().encode(generated.body)
      : new Uint8Array(generated.body);
    // Half the cases are well-formed requests from an admitted peer, so the body alone decides.
    const envelope = rng.bool(0.5);
    const method = envelope || rng.bool(0.92) ? "POST" : rng.pick(["GET", "PUT", "HEAD", "OPTIONS", "DELETE", "PATCH"]);
    const path = envelope || rng.bool(0.93) ? "/sign" : rng.pick([
      "/sign/",
      "/SIGN",
      "/sign?x=1",
      "//sign",
      "/sign%00",
      "/",
      "/health",
      "/metrics",
      "/.well-known/acme-challenge/x",
    ]);
    const headers = new Headers();
    const length = envelope ? String(body.length) : contentLength(rng, body.length);
    if (length !== null) headers.set("content-length", length);
    const auth = await authentication(rng, body);
    try {
      if (auth.value !== null) {
        headers.set(rng.pick(["authentication", "Authentication", "AUTHENTICATION"]), auth.value);
      }
      if (rng.bool(0.3)) {
        headers.set("x-forwarded-for", rng.pick(["127.0.0.1", "10.1.2.3", "::1", randomHeaderValue(rng)]));
      }
      if (rng.bool(0.1)) headers.set("forwarded", `for=${rng.pick(["127.0.0.1", "10.1.2.3"])}`);
      if (rng.bool(0.2)) {
        headers.set(rng.pick(["x-junk", "content-type", "expect", "transfer-encoding"]), randomHeaderValue(rng));
      }
    } catch {
      return "invalid-header-value"; // Headers refused it: no client can send it
    }
    const peerAddress = envelope ? rng.pick(["127.0.0.1", "::1", "10.1.2.3", "198.51.100.7"]) : rng.pick(PEERS);
    const hasBody = method !== "GET" && method !== "HEAD";
    const request = new Request(`http://127.0.0.1:1313${path}`, {
      method,
      headers,
      body: hasBody ? (rng.bool(0.2) ? pieces(body, rng) : body) : undefined,
    });
    // The converse oracle: who must get a certificate (and from which block).
    const cleanSeed = seeds.find((candidate) => candidate.pem === generated.body);
    const seedBlock = cleanSeed ? ADMISSIBLE_SEEDS[cleanSeed.label] : undefined;
    const wellFramed = method === "POST" && path === "/sign" && length?.trim() === String(body.length) &&
      !headers.has("transfer-encoding");
    const admits: Record<string, boolean> = {
      local: LOCAL.has(peerAddress),
      office: OFFICE.has(peerAddress),
      hmac: auth.right && !UNPARSEABLE_PEERS.has(peerAddress),
    };
    const mustAdmit = wellFramed && seedBlock !== undefined && admits[seedBlock];
    const before = stack.orders.length;
    const decisionsBefore = stack.decisions.length;
    const { status, body: text, headers: responseHeaders } = await answer(
      await stack.handler(request, peer(peerAddress)),
    );

    assert(status < 500, `${generated.kind} body from ${peerAddress}: ${status} ${text}`);
    if (mustAdmit) {
      assertEquals(status, 200, `admissible seed "${cleanSeed?.label}" from ${peerAddress}: ${text}`);
      assertEquals(stack.decisions[decisionsBefore]?.block, seedBlock, "the admitting block");
    }
    assert(DOCUMENTED.has(status), `undocumented status ${status}: ${text}`);
    if (status !== 200) {
      assert((responseHeaders.get("content-type") ?? "").startsWith("text/plain"), `content-type for ${status}`);
      // deno-lint-ignore no-control-regex -- control characters are what this looks for
      assert(text.endsWith("\n") && !/[\x00-\x09\x0b-\x1f\x7f]/.test(text), `reason ${JSON.stringify(text)}`);
      assertEquals(text.trimEnd().split("\n").length, 1, `one-line reason: ${JSON.stringify(text)}`);
      return `${status}`;
    }
    assertEquals(responseHeaders.get("content-type"), "application/pem-certificate-chain");
    assert(text.startsWith("-----BEGIN CERTIFICATE-----\n"), "a PEM chain");
    assert(["hit", "miss"].includes(responseHeaders.get("x-acmems-cache") ?? ""), "X-Acmems-Cache");
    const decision = stack.decisions[decisionsBefore];
    assert(decision?.block, "a 200 names its block");
    // The oracle: who may get a certificate from which block.
    const admitted = decision.block === "local"
      ? LOCAL.has(peerAddress)
      : decision.block === "office"
      ? OFFICE.has(peerAddress)
      : decision.block === "hmac" && auth.right && length?.trim() === String(body.length);
    assert(admitted, `block ${decision.block} admitted peer ${peerAddress} (right HMAC: ${auth.right})`);
    for (const name of decision.names) {
      assert(DNS_NAME.test(name) && name.length <= 253, `served name ${JSON.stringify(name)}`);
      assert(BLOCK_DOMAINS[decision.block].test(name), `name ${name} outside block ${decision.block}`);
    }
    for (const order of stack.orders.slice(before)) assertEquals(order, decision.names, "the order's identifiers");
    return `200-${decision.block}${mustAdmit ? "-admissible" : ""}`;
  });

  // Every order ever placed stayed inside one block's domains.
  for (const order of stack.orders) {
    assert(Object.values(BLOCK_DOMAINS).some((re) => order.every((n) => re.test(n))), `order ${JSON.stringify(order)}`);
  }
  // No leaked in-flight slot: max-inflight concurrent valid requests all get through.
  const csrs = await Promise.all(Array.from({ length: max }, (_, i) => makeCsr({ names: [`final${i}.example.test`] })));
  const finals = await Promise.all(csrs.map(async (c) => {
    const bytes = new TextEncoder().encode(c.csrPem);
    const request = new Request("http://127.0.0.1:1313/sign", {
      method: "POST",
      body: bytes,
      headers: { "content-length": String(bytes.length) },
    });
    return (await answer(await stack.handler(request, peer("127.0.0.1")))).status;
  }));
  assertEquals(finals, Array(max).fill(200), "in-flight slots after the run");
  assert(!stack.log.lines.some((l) => l.includes(ATTACK_HMAC_KEY)), "the HMAC key reached the log");
});
