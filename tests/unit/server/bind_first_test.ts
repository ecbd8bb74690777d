/**
 * Bind first: an address that cannot be bound stops `App.start()` before the storages are prepared (no cache
 * directory appears) and leaves nothing bound; `EarlyListeners.bind` (what `acmems serve` runs before it creates the
 * log file and the account key) names the address, its role and its config line, and leaves nothing bound either.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../support/assert.ts";
import { freePorts } from "../../support/ports.ts";
import { generateKeyPair } from "../../../src/acme/mod.ts";
import { App } from "../../../src/server/app.ts";
import { EarlyListeners } from "../../../src/server/early_listeners.ts";
import { loadConfig } from "../../../src/config/load.ts";
import { memoryLogger } from "../../../src/ops/log.ts";

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("a busy listen address: nothing created on disk, nothing left bound", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-bind-first-" });
  const [mgmtPort, httpPort, caPort] = await freePorts(3);
  const busy = Deno.listen({ hostname: "127.0.0.1", port: mgmtPort });
  try {
    await Deno.writeTextFile(
      `${dir}/acmems.ini`,
      `[account]
acme-server = https://127.0.0.1:${caPort}/dir
dir = account
accept-terms-of-service = yes
[mgmt]
listener = 127.0.0.1:${mgmtPort}
[verification "http"]
type = http01
listener = 127.0.0.1:${httpPort}
[storage "cache"]
type = file
directory = cache
[auth "local"]
ip = 127.0.0.1
domain = *.example.test
`,
    );
    const result = await loadConfig([`${dir}/acmems.ini`]);
    assert(result.ok && result.config, JSON.stringify(result.errors));
    const config = result.config;

    let error: Error | undefined;
    try {
      await EarlyListeners.bind(config);
    } catch (e) {
      error = e as Error;
    }
    assert(error, "EarlyListeners.bind throws");
    assertStringIncludes(error.message, `Cannot listen on 127.0.0.1:${mgmtPort} for mgmt (${dir}/acmems.ini:6)`);
    assertStringIncludes(error.message, "already in use");
    // The http01 address it bound before reaching the busy one is free again.
    Deno.listen({ hostname: "127.0.0.1", port: httpPort }).close();

    const app = new App({ config, log: memoryLogger(), keyPair: await generateKeyPair("ec-p256"), sweepIntervalMs: 0 });
    await assertRejects(() => app.start(), /already in use/);
    assertEquals(await exists(`${dir}/cache`), false, "no storage directory");
    assertEquals(await exists(`${dir}/account`), false, "no account directory");
    Deno.listen({ hostname: "127.0.0.1", port: httpPort }).close();
  } finally {
    busy.close();
    await Deno.remove(dir, { recursive: true });
  }
});
