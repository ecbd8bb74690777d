/** The session's `since` (the operator page's "unavailable since …"): moved when the state changes. */
import { assert, assertEquals } from "../../support/assert.ts";
import { startStubCa } from "../acme/_stub_ca.ts";
import { generateKeyPair } from "../../../src/acme/mod.ts";
import { AccountSession } from "../../../src/account/session.ts";
import { loadConfig } from "../../../src/config/load.ts";
import { memoryLogger } from "../../../src/ops/log.ts";

Deno.test("session: since is when the state last changed (starting → unavailable)", async () => {
  await using stub = await startStubCa({ "GET /dir": () => new Response("down", { status: 503 }) });
  const dir = await Deno.makeTempDir({ prefix: "acmems-session-" });
  try {
    await Deno.writeTextFile(
      `${dir}/a.ini`,
      `[account]\nacme-server = ${stub.directoryUrl}\ndir = ${dir}/account\naccept-terms-of-service = yes\n` +
        '[auth "a"]\nip = 127.0.0.1\ndomain = *.example.test\n',
    );
    const config = (await loadConfig([`${dir}/a.ini`])).config!;
    const session = new AccountSession({
      account: config.account,
      keyPair: await generateKeyPair("ec-p256"),
      log: memoryLogger(),
      retryDelayMs: 60_000,
    });
    try {
      const created = session.since;
      await new Promise((resolve) => setTimeout(resolve, 5));
      await session.start();
      assertEquals(session.state, "unavailable");
      const unavailableSince = session.since;
      assert(unavailableSince > created, `since moved with the state (${created} → ${unavailableSince})`);
    } finally {
      session.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
