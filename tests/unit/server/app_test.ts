/**
 * The app in-process against the ACME stub CA of the client tests: the challenge answer metric, `[logging]` changes
 * on reload, and the mgmt TLS reload (checked before anything is swapped, skipped for unchanged files, rebinding
 * without waiting for in-flight requests, which finish on the old server).
 */
import { assert, assertEquals, assertMatch, assertRejects, assertStringIncludes } from "../../support/assert.ts";
import { freePorts } from "../../support/ports.ts";
import { makeCsr } from "../../support/csr.ts";
import { makeTestCa } from "../../support/test_ca.ts";
import { problem, startStubCa } from "../acme/_stub_ca.ts";
import { generateKeyPair } from "../../../src/acme/mod.ts";
import { App } from "../../../src/server/app.ts";
import { checkTlsFiles } from "../../../src/server/listeners.ts";
import { loggingChanges } from "../../../src/server/reload.ts";
import { loadConfig } from "../../../src/config/load.ts";
import type { Config } from "../../../src/config/types.ts";
import { memoryLogger } from "../../../src/ops/log.ts";

const keyPair = await generateKeyPair("ec-p256");

interface Setup {
  dir: string;
  configFile: string;
  mgmtPort: number;
  write(extra: { mgmt?: string; logging?: string; auth?: string }): Promise<Config>;
}

/** A config in a temp dir for the CA at `directoryUrl`. */
async function setup(dir: string, directoryUrl: string, mgmt = ""): Promise<Setup> {
  const [mgmtPort, httpPort] = await freePorts(2);
  const configFile = `${dir}/acmems.ini`;
  const write = async (extra: { mgmt?: string; logging?: string; auth?: string }) => {
    await Deno.writeTextFile(
      configFile,
      `[account]
acme-server = ${directoryUrl}
dir = ${dir}/account
accept-terms-of-service = yes
[mgmt]
listener = 127.0.0.1:${mgmtPort}
sign-timeout = 5s
${mgmt}${extra.mgmt ?? ""}
[logging]
${extra.logging ?? "level = info"}
[verification "http"]
type = http01
listener = 127.0.0.1:${httpPort}
[storage "none"]
type = none
[auth "local"]
ip = 127.0.0.1
domain = *.example.test
${extra.auth ?? ""}`,
    );
    const result = await loadConfig([configFile]);
    assert(result.ok && result.config, JSON.stringify(result.errors));
    return result.config;
  };
  return { dir, configFile, mgmtPort, write };
}

async function get(url: string, client: Deno.HttpClient): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { client, signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: await response.text() };
}

/** What `promise` settled to within `ms`, or "pending" (the timer is cleared either way). */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = new Promise<"pending">((resolve) => (timer = setTimeout(() => resolve("pending"), ms)));
  try {
    return await Promise.race([promise, pending]);
  } finally {
    clearTimeout(timer);
  }
}

/** The text of a stream from an already read first chunk to its end. */
async function readAll(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  first: ReadableStreamReadResult<Uint8Array>,
): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for (let chunk = first; !chunk.done; chunk = await reader.read()) {
    text += decoder.decode(chunk.value, { stream: true });
  }
  return text + decoder.decode();
}

Deno.test("app: challenge answers are counted as result=served and result=404", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-app-" });
  try {
    const config = await (await setup(dir, "https://127.0.0.1:9/dir")).write({});
    const app = new App({ config, log: memoryLogger(), keyPair });
    const responder = app.responders.get("http")!;
    const token = "A".repeat(43);
    responder.add("www.example.test", token, `${token}.thumb`);
    const answer = async (t: string) => {
      const response = await responder.handle(
        new Request(`http://www.example.test/.well-known/acme-challenge/${t}`, {
          headers: { host: "www.example.test" },
        }),
      );
      await response.body?.cancel();
      return response.status;
    };
    assertEquals(await answer(token), 200);
    assertEquals(await answer("B".repeat(43)), 404);
    assertEquals(await answer("B".repeat(43)), 404);
    assertEquals(app.metrics.challengeAnswers.get({ result: "served" }), 1);
    assertEquals(app.metrics.challengeAnswers.get({ result: "404" }), 2);
    assertEquals(app.metrics.challengeAnswers.get({ result: "not_found" }), 0);
    const text = app.metrics.registry.render();
    assertStringIncludes(text, 'acmems_challenge_requests_total{result="404"} 2');
    assertStringIncludes(text, "by result (served, 404)");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("app: [logging] changes on reload are reported as needing a restart, naming the option", async () => {
  assertEquals(
    loggingChanges(
      { level: "info", format: "text", destination: "stderr" },
      { level: "debug", format: "text", destination: "/var/log/acmems.log" },
    ),
    [
      "[logging] level changed (info -> debug): it needs a restart; the old setting stays in use until then",
      "[logging] destination changed (stderr -> /var/log/acmems.log): it needs a restart; the old setting stays " +
      "in use until then",
    ],
  );
  const dir = await Deno.makeTempDir({ prefix: "acmems-app-" });
  const ca = await startStubCa();
  const log = memoryLogger();
  let app: App | undefined;
  try {
    const s = await setup(dir, ca.directoryUrl);
    app = new App({ config: await s.write({}), log, keyPair });
    await app.start();
    const notes = await app.reload(await s.write({ logging: "level = debug\nformat = json" }));
    assert(notes.some((n) => n.startsWith("[logging] level changed") && n.includes("needs a restart")), `${notes}`);
    assert(notes.some((n) => n.startsWith("[logging] format changed")), `${notes}`);
    assertEquals(app.config.logging.level, "debug", "the rest of the config is applied");
  } finally {
    await app?.shutdown();
    await ca.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("app: checkTlsFiles refuses garbage and mismatched pairs, naming both files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-app-" });
  try {
    const one = await makeTestCa(`${dir}/one`);
    const two = await makeTestCa(`${dir}/two`);
    const cert = await Deno.readTextFile(one.serverCertFile);
    const key = await Deno.readTextFile(one.serverKeyFile);
    const files = { certFile: "/etc/acmems/tls.pem", keyFile: "/etc/acmems/tls.key" };
    checkTlsFiles({ cert, key }, files);
    for (
      const bad of [{ cert, key: "garbage" }, { cert: "garbage", key }, {
        cert,
        key: await Deno.readTextFile(two.serverKeyFile),
      }]
    ) {
      let message = "";
      try {
        checkTlsFiles(bad, files);
      } catch (error) {
        message = (error as Error).message;
      }
      assertMatch(message, /tls-cert \/etc\/acmems\/tls\.pem and tls-key \/etc\/acmems\/tls\.key are not a usable/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("app: mgmt TLS reload: broken files refuse the reload, unchanged files keep the server, new ones rebind at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-app-tls-" });
  const tls = await makeTestCa(`${dir}/tls`);
  const renewed = await makeTestCa(`${dir}/renewed`);
  // The CA holds every new order until released: a /sign waiting for it is a request in flight.
  const release = Promise.withResolvers<void>();
  const ca = await startStubCa({
    "POST /new-order": async () => {
      await release.promise;
      return problem(429, "rateLimited", "too many orders", { "retry-after": "60" });
    },
  });
  const certFile = `${dir}/mgmt.pem`;
  const keyFile = `${dir}/mgmt.key`;
  await Deno.copyFile(tls.serverCertFile, certFile);
  await Deno.copyFile(tls.serverKeyFile, keyFile);
  const oldClient = Deno.createHttpClient({ caCerts: [tls.caPem] });
  const newClient = Deno.createHttpClient({ caCerts: [renewed.caPem] });
  const log = memoryLogger();
  let app: App | undefined;
  try {
    const s = await setup(dir, ca.directoryUrl, `tls-cert = ${certFile}\ntls-key = ${keyFile}\n`);
    app = new App({ config: await s.write({}), log, keyPair });
    await app.start();
    assertEquals(app.session.state, "ready", app.session.reason);
    const url = `https://127.0.0.1:${s.mgmtPort}`;
    const mgmt = () => app!.listeners.find((l) => l.role === "mgmt")!;
    assertEquals(await get(`${url}/health`, oldClient), { status: 200, body: "ok\n" });

    // Unchanged files (and an added auth block): the config is applied, the mgmt server is not restarted.
    const server = mgmt().server;
    let notes = await app.reload(await s.write({ auth: '[auth "more"]\nip = 127.0.0.2\ndomain = *.more.test\n' }));
    assertEquals(notes, []);
    assertEquals(app.config.auth.length, 2);
    assert(mgmt().server === server, "unchanged TLS files: the mgmt server is kept");
    assert(!log.lines.some((l) => l.includes("mgmt TLS certificate reloaded")));

    // A key that is not a key: the whole reload is refused (the third auth block is not applied), the listener
    // keeps serving the old certificate.
    await Deno.writeTextFile(keyFile, "not a key\n");
    notes = await app.reload(
      await s.write({
        auth: '[auth "more"]\nip = 127.0.0.2\ndomain = *.more.test\n[auth "third"]\nip = ::1\ndomain = *.third.test\n',
      }),
    );
    assertEquals(notes.length, 1, `${notes}`);
    assertStringIncludes(notes[0], `tls-key ${keyFile}`);
    assertStringIncludes(notes[0], "keeping the old config");
    assertEquals(app.config.auth.length, 2, "the refused config is not applied");
    assert(mgmt().server === server);
    assert(log.lines.some((l) => l.includes("config reload refused, the old config stays") && l.includes(keyFile)));
    assertEquals(await get(`${url}/health`, oldClient), { status: 200, body: "ok\n" });

    // A /sign in flight on the old server (its order waits for the CA) while new files arrive.
    const csr = await makeCsr({ names: ["inflight.example.test"], dir: `${dir}/csr` });
    const conn = await Deno.connectTls({ hostname: "127.0.0.1", port: s.mgmtPort, caCerts: [tls.caPem] });
    const body = new TextEncoder().encode(csr.csrPem);
    await conn.write(new TextEncoder().encode(
      `POST /sign HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    ));
    await conn.write(body);
    // The first read is pending from now on: any byte (or the connection closing) during the reload settles it.
    const reader = conn.readable.getReader();
    const firstRead = reader.read();
    const waitUntil = Date.now() + 5_000;
    while (!ca.requests.some((r) => r.path === "/new-order")) {
      assert(Date.now() < waitUntil, "the order did not reach the CA");
      await new Promise((r) => setTimeout(r, 20));
    }
    await Deno.copyFile(renewed.serverCertFile, certFile);
    await Deno.copyFile(renewed.serverKeyFile, keyFile);
    notes = await app.reload(await s.write({}));
    assertEquals(notes, []);
    // The CA still holds its answer, so the request is unanswered: the reload did not wait for it, and it neither
    // answered nor dropped the connection (no byte and no end of stream within 300 ms after the reload returned).
    assertEquals(
      await settledWithin(firstRead.then((r) => r.done ? "closed" : "answered"), 300),
      "pending",
      "the reload returned while the request was still in flight",
    );
    assert(mgmt().server !== server, "new TLS files: rebound");
    assertEquals(mgmt().port, s.mgmtPort, "same port");
    assert(log.lines.some((l) => l.includes("mgmt TLS certificate reloaded")));
    // New connections get the new certificate; the old CA no longer fits.
    assertEquals(await get(`${url}/health`, newClient), { status: 200, body: "ok\n" });
    const oldOnly = Deno.createHttpClient({ caCerts: [tls.caPem] });
    try {
      await assertRejects(() => get(`${url}/health`, oldOnly));
    } finally {
      oldOnly.close();
    }
    // The in-flight request finishes on the old server once the CA answers.
    release.resolve();
    assertMatch(await readAll(reader, await firstRead), /^HTTP\/1\.1 429 /);
  } finally {
    release.resolve();
    oldClient.close();
    newClient.close();
    await app?.shutdown();
    await ca.close();
    await Deno.remove(dir, { recursive: true });
  }
});
