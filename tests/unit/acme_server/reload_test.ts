/**
 * A reload swaps the context the front end works with: accounts (in the storage) survive it, and the block in force
 * decides: a block that dropped acme-eab-kid refuses its accounts (`unauthorized`), narrowed domain globs refuse the
 * names they no longer cover (`rejectedIdentifier`).
 */
import { assert } from "../../support/assert.ts";
import { load } from "../config/helpers.ts";
import { AcmeClient, AcmeProblem, generateKeyPair } from "../../../src/acme/mod.ts";
import type { Config } from "../../../src/config/types.ts";
import { createCsrParser } from "../../../src/csr/parser.ts";
import { createMgmtHandler } from "../../../src/http/mgmt_router.ts";
import type { SignIssuer } from "../../../src/http/sign.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { compilePolicy } from "../../../src/policy/authorize.ts";
import { configText, DIRECTORY, EAB_KEY, EAB_KID, info } from "./_setup.ts";

const noIssuer: SignIssuer = { issue: () => Promise.reject(new Error("not used")) };

function context(text: string) {
  const result = load(text);
  assert(result.ok, JSON.stringify(result.errors));
  const config: Config = result.config!;
  return { config, policy: compilePolicy(config.auth), issuer: noIssuer };
}

Deno.test("acme front: after a reload the block in force decides for existing accounts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acme-front-reload-" });
  const original = configText(dir);
  let current = context(original);
  const handler = createMgmtHandler({
    ...current,
    current: () => current,
    parser: createCsrParser({ maxEntries: 10 }),
    log: memoryLogger("debug"),
  });
  const client = new AcmeClient({
    directoryUrl: DIRECTORY,
    accountKey: await generateKeyPair("ec-p256"),
    fetch: (input, init) => handler(new Request(input, init), info()),
    retries: 0,
  });
  try {
    await client.newAccount({ eab: { kid: EAB_KID, hmacKey: EAB_KEY } });
    assert((await client.newOrder({ identifiers: ["www.example.test"] })).status === "ready");

    current = context(original.replace("domain = *.example.test", "domain = www.example.test"));
    const narrowed = await client.newOrder({ identifiers: ["api.example.test"] }).catch((e) => e);
    assert(narrowed instanceof AcmeProblem && narrowed.is("rejectedIdentifier"), String(narrowed));
    assert((await client.newOrder({ identifiers: ["www.example.test"] })).status === "ready", "still admitted");

    current = context(original.replace(`acme-eab-kid = ${EAB_KID}\nacme-eab-hmac-key = ${EAB_KEY}\n`, ""));
    const dropped = await client.newOrder({ identifiers: ["www.example.test"] }).catch((e) => e);
    assert(dropped instanceof AcmeProblem && dropped.is("unauthorized"), String(dropped));
    assert(dropped.detail.includes(`"acme"`), dropped.detail);
  } finally {
    client.close();
    await handler.close();
    await Deno.remove(dir, { recursive: true });
  }
});
