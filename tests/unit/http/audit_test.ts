/**
 * The /sign audit record (src/http/audit.ts) through the handler: its fields, its log line, the error id.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { rateLimited, serverDown } from "../../support/fake_ca.ts";
import { makeCsr } from "../../support/csr.ts";
import { logDecision, signDecision } from "../../../src/http/audit.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { HMAC_KEY, hmacHex, info, post, setup, www } from "./_sign_setup.ts";

Deno.test("sign: the audit log has the decision and never the HMAC key", async () => {
  const { handler, log } = setup();
  const csr = await makeCsr({ names: ["mail.secure.test"] });
  const hex = await hmacHex(csr.csrPem);
  const response = await handler(
    post(csr.csrPem, { authentication: `hmac name=sha256, hash=${hex}` }),
    info("10.9.9.9"),
  );
  assertEquals(response.status, 200);
  await response.body?.cancel();
  const record = log.lines.map((l) => JSON.parse(l)).find((r) => r.event === "sign" && r.status === 200);
  assertEquals([record.client, record.block, record.names, record.outcome], [
    "10.9.9.9",
    "hmac",
    ["mail.secure.test"],
    "issued",
  ]);
  assert(!log.lines.join("\n").includes(HMAC_KEY));
});

Deno.test("sign: every audit record has every key, null when it does not apply", async () => {
  const { handler, log } = setup();
  const records = () => log.lines.map((l) => JSON.parse(l)).filter((r) => r.event === "sign");
  const keys = [
    "time",
    "level",
    "event",
    "client",
    "status",
    "block",
    "names",
    "outcome",
    "durationMs",
    "cache",
    "errorId",
    "closest",
    "reason",
  ];
  const outside = await makeCsr({ names: ["www.other.test"] });
  await (await handler(post(outside.csrPem), info())).body?.cancel();
  await (await handler(new Request("http://127.0.0.1:1313/sign"), info())).body?.cancel();
  await (await handler(post(www.csrPem), info())).body?.cancel();
  const [refused, method, issued] = records();
  for (const record of [refused, method, issued]) assertEquals(Object.keys(record).sort(), [...keys].sort());
  assertEquals([refused.status, refused.block, refused.cache, refused.errorId], [403, null, null, null]);
  assertEquals([method.status, method.block, method.names], [405, null, []]);
  assertEquals([issued.status, issued.block, issued.cache, issued.errorId], [200, "local", "miss", null]);
});

Deno.test("sign: 421, 429 and 503 carry an error id in the body and in the audit record", async () => {
  const cases: [number, ReturnType<typeof setup>][] = [
    [421, setup({ failValidation: { "example.test": "Connection refused" } })],
    [429, setup({ newOrderError: () => rateLimited(60) })],
    [503, setup({ newOrderError: serverDown })],
    [503, setup("down")],
  ];
  for (const [status, { handler, log }] of cases) {
    const response = await handler(post(www.csrPem), info());
    const body = await response.text();
    assertEquals(response.status, status, body);
    const id = /\(error id ([0-9a-f]{8})\)/.exec(body)?.[1];
    assert(id, `${status}: no error id in ${body}`);
    const record = log.lines.map((l) => JSON.parse(l)).find((r) => r.event === "sign");
    assertEquals([record.status, record.errorId, record.block], [status, id, "local"]);
  }
});

Deno.test("audit: absent fields are null (names empty); the level follows the status class", () => {
  const log = memoryLogger("debug");
  const records = [200, 403, 503].map((status) => signDecision("192.0.2.1", status, 7, { outcome: `o${status}` }));
  for (const record of records) logDecision(log, record);
  assertEquals(records[0], {
    client: "192.0.2.1",
    status: 200,
    block: null,
    names: [],
    outcome: "o200",
    durationMs: 7,
    cache: null,
    errorId: null,
    closest: null,
    reason: null,
  });
  const lines = log.lines.map((l) => JSON.parse(l));
  assertEquals(lines.map((l) => [l.event, l.level, l.status]), [["sign", "info", 200], ["sign", "warning", 403], [
    "sign",
    "error",
    503,
  ]]);
});
