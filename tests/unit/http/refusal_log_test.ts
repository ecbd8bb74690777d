/**
 * A 403 "not authorized" on /sign: the log line says which check failed for the closest auth block (address not
 * allowed, Authentication header missing, HMAC mismatch, a name not covered, an IP identifier not allowed) and which
 * block that was; the response body says none of it.
 */
import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { makeCsr } from "../../support/csr.ts";
import { createCsrParser } from "../../../src/csr/parser.ts";
import { createMgmtHandler } from "../../../src/http/mgmt_router.ts";
import type { SignIssuer } from "../../../src/http/sign.ts";
import { createLogger } from "../../../src/ops/log.ts";
import { compilePolicy } from "../../../src/policy/authorize.ts";
import { HMAC_KEY, hmacHex, info, loadConfig, post } from "./_sign_setup.ts";

const neverIssues: SignIssuer = {
  issue: () => Promise.reject(new Error("the issuer must not be reached by a refused request")),
};

/** The handler of _sign_setup.ts's config (blocks "hmac", "local", "short") with a logger of `format`. */
function handlerWith(format: "text" | "json") {
  const config = loadConfig();
  const lines: string[] = [];
  const log = createLogger({
    level: "info",
    format,
    destination: "memory",
    secrets: [HMAC_KEY],
    write: (l) => lines.push(l),
  });
  const handler = createMgmtHandler({
    config,
    parser: createCsrParser({ maxEntries: 10 }),
    policy: compilePolicy(config.auth),
    issuer: neverIssues,
    log,
    bodyTimeoutMs: 500,
  });
  return { handler, lines };
}

const other = await makeCsr({ names: ["www.other.test"] });
const secure = await makeCsr({ names: ["mail.secure.test"] });
const ipSan = await makeCsr({ names: ["www.example.test", "192.0.2.44"] });

interface Case {
  what: string;
  client: string;
  csr: string;
  headers?: Record<string, string>;
  closest: string;
  /** Words the log must have (and the response must not). */
  reason: string[];
}

const cases: Case[] = [
  {
    what: "client address not allowed (no block's ip holds it: the first block is the closest)",
    client: "192.0.2.7",
    csr: other.csrPem,
    closest: "hmac",
    reason: ["client address 192.0.2.7 not allowed"],
  },
  {
    what: "Authentication header missing",
    client: "10.1.2.3",
    csr: secure.csrPem,
    closest: "hmac",
    reason: ["Authentication header missing", "hmac name=sha256"],
  },
  {
    what: "HMAC mismatch",
    client: "10.1.2.3",
    csr: secure.csrPem,
    headers: { authentication: `hmac name=sha256, hash=${"ab".repeat(32)}` },
    closest: "hmac",
    reason: ["HMAC mismatch"],
  },
  {
    what: "name not covered (the HMAC block admitted the client but not the name)",
    client: "10.1.2.3",
    csr: other.csrPem,
    headers: { authentication: `hmac name=sha256, hash=${await hmacHex(other.csrPem)}` },
    closest: "hmac",
    reason: ["name www.other.test not covered"],
  },
  {
    what: "name not covered (two blocks allow the address: the first is the closest)",
    client: "127.0.0.1",
    csr: other.csrPem,
    closest: "local",
    reason: ["name www.other.test not covered"],
  },
  {
    what: "IP identifier not allowed",
    client: "127.0.0.1",
    csr: ipSan.csrPem,
    closest: "local",
    reason: ["IP identifier 192.0.2.44 not allowed"],
  },
];

for (const format of ["json", "text"] as const) {
  Deno.test(`sign 403 (${format} log): the log names the closest block and the failed check, the response does not`, async () => {
    const { handler, lines } = handlerWith(format);
    for (const c of cases) {
      lines.length = 0;
      const response = await handler(post(c.csr, c.headers), info(c.client));
      const body = await response.text();
      assertEquals(response.status, 403, `${c.what}: ${body}`);
      assertStringIncludes(body, "No auth block admits this client", c.what);
      for (const word of [...c.reason, c.closest, "closest", "not allowed", "not covered", "mismatch", "missing"]) {
        assert(!body.includes(word), `${c.what}: the response reveals ${JSON.stringify(word)}: ${body}`);
      }
      const line = lines.find((l) => format === "json" ? JSON.parse(l).event === "sign" : / sign /.test(l));
      assert(line, `${c.what}: no sign line in ${lines.join("\n")}`);
      for (const word of c.reason) assertStringIncludes(line, word, c.what);
      if (format === "json") {
        const record = JSON.parse(line);
        assertEquals([record.status, record.block, record.closest], [403, null, c.closest], c.what);
        assert(record.outcome.startsWith("not authorized"), record.outcome);
      } else {
        assertStringIncludes(line, ` closest=${c.closest} `, c.what);
        assert(/^\S+ WARNING sign client=/.test(line), line);
      }
      assert(!line.includes(HMAC_KEY), "the key never reaches the log");
    }
  });
}

Deno.test("sign: an admitted request and a non-policy refusal have closest and reason null", async () => {
  const { handler, lines } = handlerWith("json");
  const bad = await handler(post("not a csr"), info("127.0.0.1"));
  await bad.body?.cancel();
  assertEquals(bad.status, 415);
  const record = JSON.parse(lines.find((l) => JSON.parse(l).event === "sign")!);
  assertEquals([record.closest, record.reason], [null, null]);
});
