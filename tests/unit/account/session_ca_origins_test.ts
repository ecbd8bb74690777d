/**
 * `[account] ca-origins` reaches the session's AcmeClient: a CA whose account URL is on another origin is refused
 * (the session stays unavailable, naming the URL) unless that origin is listed.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { json, startStubCa } from "../acme/_stub_ca.ts";
import { generateKeyPair } from "../../../src/acme/mod.ts";
import { AccountSession } from "../../../src/account/session.ts";
import { loadConfig } from "../../../src/config/load.ts";
import { memoryLogger } from "../../../src/ops/log.ts";

async function sessionWith(caOrigins: (other: string) => string) {
  await using other = await startStubCa();
  await using stub = await startStubCa({
    "POST /new-acct": () => json({ status: "valid" }, 201, { location: `${other.origin}/acct/1` }),
  });
  const dir = await Deno.makeTempDir({ prefix: "acmems-session-" });
  try {
    await Deno.writeTextFile(
      `${dir}/a.ini`,
      `[account]\nacme-server = ${stub.directoryUrl}\ndir = ${dir}/account\naccept-terms-of-service = yes\n` +
        `${caOrigins(other.origin)}\n[auth "a"]\nip = 127.0.0.1\ndomain = *.example.test\n`,
    );
    const loaded = await loadConfig([`${dir}/a.ini`]);
    assert(loaded.ok, JSON.stringify(loaded.errors));
    const session = new AccountSession({
      account: loaded.config!.account,
      keyPair: await generateKeyPair("ec-p256"),
      log: memoryLogger(),
      retryDelayMs: 60_000,
    });
    try {
      await session.start();
      return { state: session.state, reason: session.reason, other: other.origin };
    } finally {
      session.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("session: an account URL on another origin is refused without ca-origins", async () => {
  const { state, reason, other } = await sessionWith(() => "");
  assertEquals(state, "unavailable");
  assert(reason.includes(`Refused the CA's Location header ${other}/acct/1`), reason);
});

Deno.test("session: ca-origins lets the CA's account URL live on another origin", async () => {
  const { state, reason } = await sessionWith((other) => `ca-origins = ${other}`);
  assertEquals(state, "ready", reason);
});
