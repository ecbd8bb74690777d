/**
 * Exact repeats of admitted /sign requests (src/http/admitted_repeats.ts): the memo's own contract, and the pipeline
 * with it (sign.ts): a repeat skips the CSR parse and the authorization, anything else is decided afresh.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { makeCsr } from "../../support/csr.ts";
import type { AuthBlock } from "../../../src/config/types.ts";
import { createCsrParser, type CsrParser } from "../../../src/csr/parser.ts";
import { AdmittedRepeats, type AdmittedRequest, MAX_REPEATS } from "../../../src/http/admitted_repeats.ts";
import type { SignDecision } from "../../../src/http/audit.ts";
import { createMgmtHandler } from "../../../src/http/mgmt_router.ts";
import type { SignContext } from "../../../src/http/sign.ts";
import type { IssueRequest } from "../../../src/issuance/request.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { compilePolicy } from "../../../src/policy/authorize.ts";
import { HMAC_KEY, hmacHex, info, loadConfig, post } from "./_sign_setup.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

function admitted(name: string): AdmittedRequest {
  const block = { name } as AuthBlock;
  return { names: [name], block, profile: undefined, request: { names: [name] } as unknown as IssueRequest };
}

Deno.test("AdmittedRepeats: found only for the same context, client, header and bytes", () => {
  const repeats = new AdmittedRepeats();
  const context = {};
  const body = bytes("-----BEGIN CERTIFICATE REQUEST-----\nabc\n");
  const first = admitted("a");
  repeats.remember(context, "10.0.0.1", "hmac name=sha256, hash=00", body, first);
  assert(repeats.find(context, "10.0.0.1", "hmac name=sha256, hash=00", body.slice()) === first);
  assertEquals(repeats.find({}, "10.0.0.1", "hmac name=sha256, hash=00", body), undefined, "another context");
  assertEquals(repeats.find(context, "10.0.0.2", "hmac name=sha256, hash=00", body), undefined, "another client");
  assertEquals(repeats.find(context, "10.0.0.1", "hmac name=sha256, hash=01", body), undefined, "another header");
  assertEquals(repeats.find(context, "10.0.0.1", null, body), undefined, "no header");
  const changed = body.slice();
  changed[changed.length - 1] ^= 1;
  assertEquals(repeats.find(context, "10.0.0.1", "hmac name=sha256, hash=00", changed), undefined, "a byte off");
  // The memo keeps a copy: changing the caller's buffer afterwards changes nothing.
  const original = body.slice();
  body[0] ^= 1;
  assert(repeats.find(context, "10.0.0.1", "hmac name=sha256, hash=00", original) === first);
  // No header is its own key, and two bodies under one header are both kept.
  const other = admitted("b");
  repeats.remember(context, "10.0.0.1", null, bytes("x"), other);
  repeats.remember(context, "10.0.0.1", null, bytes("y"), admitted("c"));
  assert(repeats.find(context, "10.0.0.1", null, bytes("x")) === other);
  assertEquals(repeats.find(context, "10.0.0.1", null, bytes("y"))?.names, ["c"]);
});

Deno.test("AdmittedRepeats: bounded per context, then it starts over", () => {
  const repeats = new AdmittedRepeats();
  const context = {};
  for (let i = 0; i < MAX_REPEATS; i++) {
    repeats.remember(context, `10.0.${i >> 8}.${i & 255}`, null, bytes("b"), admitted("x"));
  }
  assert(repeats.find(context, "10.0.0.0", null, bytes("b")) !== undefined);
  repeats.remember(context, "192.0.2.1", null, bytes("b"), admitted("y"));
  assertEquals(repeats.find(context, "10.0.0.0", null, bytes("b")), undefined, "the full memo started over");
  assertEquals(repeats.find(context, "192.0.2.1", null, bytes("b"))?.names, ["y"]);
});

/** A parser that counts its calls. */
function countingParser(): CsrParser & { calls: number } {
  const inner = createCsrParser({ maxEntries: 10 });
  const counted = {
    calls: 0,
    parse(body: Uint8Array | string) {
      counted.calls++;
      return inner.parse(body);
    },
    parseKnown(body: Uint8Array | string) {
      counted.calls++;
      return inner.parseKnown!(body);
    },
    get size() {
      return inner.size;
    },
    clear: () => inner.clear(),
  };
  return counted;
}

Deno.test("sign with repeats: an exact repeat skips parse and authorization; anything else is decided afresh", async () => {
  const chain = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  const requests: IssueRequest[] = [];
  const issuer = {
    issue(request: IssueRequest) {
      requests.push(request);
      return Promise.resolve({ chain, cache: "hit" as const });
    },
  };
  const contextOf = (): SignContext => {
    const config = loadConfig();
    return { config, policy: compilePolicy(config.auth), issuer };
  };
  let context = contextOf();
  const parser = countingParser();
  const decisions: SignDecision[] = [];
  const handler = createMgmtHandler({
    ...context,
    current: () => context as never,
    parser,
    log: memoryLogger("debug", [HMAC_KEY]),
    bodyTimeoutMs: 500,
    onDecision: (d) => decisions.push(d),
    repeats: new AdmittedRepeats(),
  });
  const csr = await makeCsr({ names: ["mail.secure.test"] });
  const good = `hmac name=sha256, hash=${await hmacHex(csr.csrPem)}`;
  const ask = async (headers: Record<string, string>, client = "10.1.2.3", body = csr.csrPem) => {
    const response = await handler(post(body, headers), info(client));
    await response.body?.cancel();
    return response.status;
  };

  assertEquals(await ask({ authentication: good }), 200);
  const afterFirst = parser.calls;
  assert(afterFirst > 0);
  assertEquals(await ask({ authentication: good }), 200);
  assertEquals(parser.calls, afterFirst, "the repeat did not parse the CSR again");
  assert(requests[1] === requests[0], "the repeat hands the issuer the same request");
  assertEquals(decisions.map((d) => [d.status, d.block, d.names, d.outcome]), [
    [200, "hmac", ["mail.secure.test"], "cache hit"],
    [200, "hmac", ["mail.secure.test"], "cache hit"],
  ]);

  // A wrong digest for the same body is refused every time: refusals are never remembered.
  const wrong = `hmac name=sha256, hash=${"0".repeat(64)}`;
  assertEquals(await ask({ authentication: wrong }), 403);
  assertEquals(await ask({ authentication: wrong }), 403);
  // Another client in the block's network is decided afresh (and names itself in the request).
  const before = parser.calls;
  assertEquals(await ask({ authentication: good }, "10.9.9.9"), 200);
  assert(parser.calls > before);
  assertEquals(requests.at(-1)?.client, "10.9.9.9");
  // A reload (a new context) starts with nothing remembered: the same request is parsed and authorized again.
  context = contextOf();
  const beforeReload = parser.calls;
  assertEquals(await ask({ authentication: good }), 200);
  assert(parser.calls > beforeReload, "decided afresh under the new context");
  const afterReload = parser.calls;
  assertEquals(await ask({ authentication: good }), 200);
  assertEquals(parser.calls, afterReload, "and remembered again under it");
});
