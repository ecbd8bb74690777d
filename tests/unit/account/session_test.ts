/**
 * The account session's permanent failures against the in-process stub CA: the session says which problem it has
 * (`problem.kind`, what `acmems serve` acts on) and keeps the reason text it always had (logged, and shown by /ready).
 */
import { assertEquals } from "../../support/assert.ts";
import { json, problem, startStubCa } from "../acme/_stub_ca.ts";
import { generateKeyPair } from "../../../src/acme/mod.ts";
import { AccountSession } from "../../../src/account/session.ts";
import { loadConfig } from "../../../src/config/load.ts";
import { memoryLogger } from "../../../src/ops/log.ts";

async function failedSession(meta: Record<string, unknown>, account: string) {
  await using stub = await startStubCa({
    "GET /dir": (_req, s) =>
      json({ newNonce: `${s.origin}/nonce`, newAccount: `${s.origin}/new-acct`, newOrder: `${s.origin}/o`, meta }),
    // The CA knows no account for any key; creating one is what the session must not get to.
    "POST /new-acct": () => problem(400, "accountDoesNotExist", "no account for this key"),
  });
  const dir = await Deno.makeTempDir({ prefix: "acmems-session-" });
  try {
    await Deno.writeTextFile(
      `${dir}/a.ini`,
      `[account]\nacme-server = ${stub.directoryUrl}\ndir = ${dir}/account\n${account}` +
        '[auth "a"]\nip = 127.0.0.1\ndomain = *.example.test\n',
    );
    const config = (await loadConfig([`${dir}/a.ini`])).config!;
    const session = new AccountSession({
      account: config.account,
      keyPair: await generateKeyPair("ec-p256"),
      log: memoryLogger(),
    });
    try {
      await session.start();
      return { state: session.state, problem: session.problem, reason: session.reason };
    } finally {
      session.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("session: no account and the terms not accepted: failed with problem terms-not-accepted", async () => {
  const failed = await failedSession({ termsOfService: "https://ca.example/tos" }, "");
  assertEquals(failed, {
    state: "failed",
    problem: {
      kind: "terms-not-accepted",
      why: "no ACME account for this key and the terms of service at https://ca.example/tos are not accepted",
    },
    reason: "no ACME account for this key and the terms of service at https://ca.example/tos are not accepted: " +
      "run acmems register --register --accept-terms-of-service CONFIG",
  });
});

Deno.test("session: external account binding required and not configured: failed with problem eab-required", async () => {
  const failed = await failedSession({ externalAccountRequired: true }, "accept-terms-of-service = yes\n");
  assertEquals(failed, {
    state: "failed",
    problem: {
      kind: "eab-required",
      why: "the CA requires external account binding: set eab-kid and eab-hmac-key in [account]",
    },
    reason: "the CA requires external account binding: set eab-kid and eab-hmac-key in [account], " +
      "or run acmems register",
  });
});
