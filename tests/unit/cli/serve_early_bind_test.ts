/**
 * `acmems serve` binds its listeners before it loads the server (src/server/early_listeners.ts): a request that
 * arrives before the App takes them over is answered by the App's handler once it does; one still waiting when
 * the start fails is answered 503; an address that cannot be bound stops serve before anything is created on disk.
 */
import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { freePorts } from "../../support/ports.ts";
import { loadConfig } from "../../../src/config/load.ts";
import type { Config } from "../../../src/config/types.ts";
import { EarlyListeners } from "../../../src/server/early_listeners.ts";
import { runServe } from "../../../cli/serve.ts";

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

async function setup(): Promise<{ dir: string; file: string; config: Config; mgmtPort: number; httpPort: number }> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-early-bind-" });
  const [mgmtPort, httpPort, caPort] = await freePorts(3);
  const file = `${dir}/acmems.ini`;
  await Deno.writeTextFile(
    file,
    `[account]
acme-server = https://127.0.0.1:${caPort}/dir
dir = account
accept-terms-of-service = yes
[mgmt]
listener = 127.0.0.1:${mgmtPort}
[logging]
destination = ${dir}/acmems.log
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
    { mode: 0o600 },
  );
  const result = await loadConfig([file]);
  assert(result.ok && result.config, JSON.stringify(result.errors));
  return { dir, file, config: result.config, mgmtPort, httpPort };
}

Deno.test("early listeners: a request before the App takes over is answered by the App's handler", async () => {
  const { dir, config, mgmtPort, httpPort } = await setup();
  try {
    const early = await EarlyListeners.bind(config);
    assertEquals(early.listeners.map((l) => [l.role, l.port, l.verification]), [
      ['http01 "http"', httpPort, "http"],
      ["mgmt", mgmtPort, undefined],
    ]);
    const early1 = fetch(`http://127.0.0.1:${mgmtPort}/health`).then((r) => r.text());
    const early2 = fetch(`http://127.0.0.1:${httpPort}/.well-known/acme-challenge/x`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 50)); // both are waiting now
    const servers = early.attach((l) => () => new Response(`${l.role} answers`));
    assertEquals(await early1, "mgmt answers");
    assertEquals(await early2, 'http01 "http" answers');
    await early.close(); // the App owns them now: nothing happens
    assertEquals(await (await fetch(`http://127.0.0.1:${mgmtPort}/`)).text(), "mgmt answers");
    await Promise.all(servers.map((l) => l.server.shutdown()));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("early listeners: closed before the App took them, a waiting request gets 503 and the ports are free", async () => {
  const { dir, config, mgmtPort, httpPort } = await setup();
  try {
    const early = await EarlyListeners.bind(config);
    const waiting = fetch(`http://127.0.0.1:${mgmtPort}/health`);
    await new Promise((r) => setTimeout(r, 50));
    await early.close();
    const response = await waiting;
    assertEquals(response.status, 503);
    await response.body?.cancel();
    for (const port of [mgmtPort, httpPort]) Deno.listen({ hostname: "127.0.0.1", port }).close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve: a busy address stops it before anything is created on disk, nothing left bound", async () => {
  const { dir, file, mgmtPort, httpPort } = await setup();
  const busy = Deno.listen({ hostname: "127.0.0.1", port: mgmtPort });
  const errors: string[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => errors.push(args.join(" "));
  try {
    assertEquals(await runServe([file]), 1);
    console.error = consoleError;
    assertStringIncludes(errors.join("\n"), `Cannot listen on 127.0.0.1:${mgmtPort} for mgmt (${file}:6)`);
    for (const path of ["acmems.log", "account", "cache"]) assertEquals(await exists(`${dir}/${path}`), false, path);
    Deno.listen({ hostname: "127.0.0.1", port: httpPort }).close(); // bound before the busy one, free again
  } finally {
    console.error = consoleError;
    busy.close();
    await Deno.remove(dir, { recursive: true });
  }
});
