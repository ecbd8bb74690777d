/**
 * The certificate cache and renewal against the real peers: pebble 2.10 (ARI, profiles, /set-renewal-info/)
 * resolving through bind9, http-01 answered by acmems' own listener on pebble's `httpPort`.
 *
 * acmems runs in-process (`App` from `loadConfig`, `sweepIntervalMs: 0` so the tests trigger sweeps) and talks to
 * its mgmt listener over real HTTP; ACME requests are counted by wrapping fetch (tests/support/acme_traffic.ts) and
 * cross-checked with pebble's log. The case that needs two processes runs `main.ts serve` twice behind nginx.
 */
import * as x509 from "@peculiar/x509";
import { generateKeyPair } from "../../src/acme/mod.ts";
import { App } from "../../src/server/app.ts";
import { loadConfig } from "../../src/config/load.ts";
import { memoryLogger } from "../../src/ops/log.ts";
import type { Entry } from "../../src/storage/mod.ts";
import { AcmeTraffic } from "../support/acme_traffic.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
} from "../support/assert.ts";
import { type Acmems, runAcmems, startAcmems } from "../support/acmems.ts";
import { type ConfigSpec, fileStorage, ipAuth, type Options, testConfig, writeConfig } from "../support/config.ts";
import { makeCsr } from "../support/csr.ts";
import type { Named } from "../support/named.ts";
import { startNginx } from "../support/nginx.ts";
import { type Pebble, startPebble } from "../support/pebble.ts";
import { freePort, freePorts } from "../support/ports.ts";
import { startApp as startAppStack, startStack } from "../support/stack.ts";

const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------------------------
// Config and app helpers

interface ConfigOptions {
  directoryUrl: string;
  caFile: string;
  accountDir: string;
  cacheDir: string;
  mgmtPort: number;
  httpPort: number;
  /** `[account] profile` (default "default": pebble picks a random profile for orders that name none). */
  accountProfile?: string;
  /** `[logging]` (default: debug, text). */
  logging?: Options;
}

/**
 * Blocks are tried in order: `*.short.example.test` gets the 6-day profile, `*.bogus.example.test` a profile pebble
 * does not offer, every other `*.example.test` name the account's profile.
 */
function cacheConfig(o: ConfigOptions): ConfigSpec {
  return testConfig({
    comment: "tests/integration/cache_test.ts",
    ca: o,
    accountDir: o.accountDir,
    account: { profile: o.accountProfile ?? "default" },
    mgmtPort: o.mgmtPort,
    httpPort: o.httpPort,
    logging: o.logging,
    storages: { cache: fileStorage(o.cacheDir) },
    auth: {
      short: ipAuth("*.short.example.test", "127.0.0.1", { profile: "shortlived" }),
      bogus: ipAuth("*.bogus.example.test", "127.0.0.1", { profile: "no-such-profile" }),
      local: ipAuth(),
    },
  });
}

/** Shared by the steps of the in-process test. */
interface Stack {
  named: Named;
  pebble: Pebble;
  keyPair: CryptoKeyPair;
  traffic: AcmeTraffic;
  newOrderUrl: string;
}

interface RunningApp {
  app: App;
  /** http://127.0.0.1:PORT of the mgmt listener. */
  url: string;
  config: ConfigOptions;
  /** JSON log lines, parsed. */
  events(): Record<string, unknown>[];
  stop(): Promise<void>;
}

/** A work dir with `account/` and `cache/` below it (removed at the end of the step). */
async function withWorkDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-cache-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Builds the config with `loadConfig` (as `serve` does) and starts an App on it. */
async function startApp(
  stack: Stack,
  dir: string,
  overrides: Partial<ConfigOptions> = {},
): Promise<RunningApp> {
  const config: ConfigOptions = {
    directoryUrl: stack.pebble.directoryUrl,
    caFile: stack.pebble.caFile,
    accountDir: `${dir}/account`,
    cacheDir: `${dir}/cache`,
    mgmtPort: await freePort(),
    httpPort: stack.pebble.httpPort,
    ...overrides,
  };
  const running = await startAppStack({
    configFile: `${dir}/acmems.ini`,
    config: cacheConfig(config),
    keyPair: stack.keyPair,
    caCerts: [await Deno.readTextFile(config.caFile)],
    name: "app",
  });
  return { app: running.app, url: running.url, config, events: running.events, stop: running.stop };
}

/** Starts an app, runs `fn`, always shuts the app down. */
async function withApp<T>(
  stack: Stack,
  dir: string,
  overrides: Partial<ConfigOptions>,
  fn: (running: RunningApp) => Promise<T>,
): Promise<T> {
  const running = await startApp(stack, dir, overrides);
  try {
    return await fn(running);
  } finally {
    await running.stop();
  }
}

interface Signed {
  status: number;
  body: string;
  cache: string | null;
  renewAfter: string | null;
  window: string | null;
}

/** POST /sign over HTTP, the way a host does it (`curl --data-binary @host.csr`). */
async function sign(url: string, csrPem: string): Promise<Signed> {
  const res = await fetch(`${url}/sign`, { method: "POST", body: csrPem });
  const body = await res.text();
  return {
    status: res.status,
    body,
    // A stale answer is `X-Acmems-Cache: hit` plus `X-Acmems-Stale` (the header's values are hit|miss only).
    cache: res.headers.get("x-acmems-stale")
      ? `${res.headers.get("x-acmems-cache") === "hit" ? "" : "not-a-hit-but-"}stale`
      : res.headers.get("x-acmems-cache"),
    renewAfter: res.headers.get("x-acmems-renew-after"),
    window: res.headers.get("x-acmems-renewal-window"),
  };
}

function assertOk(signed: Signed, cache: "hit" | "miss" | "stale"): void {
  assertEquals(signed.status, 200, `expected 200, got ${signed.status}: ${signed.body}`);
  assertEquals(signed.cache, cache, "X-Acmems-Cache");
  assertMatch(signed.body, /^-----BEGIN CERTIFICATE-----\n/);
}

/** The leaf (first PEM block) of a served chain. */
function leafOf(chain: string): x509.X509Certificate {
  return new x509.X509Certificate(chain.split("\n\n")[0]);
}

/** Every entry in a file cache directory. */
async function readEntries(cacheDir: string): Promise<{ path: string; entry: Entry }[]> {
  const found: { path: string; entry: Entry }[] = [];
  for await (const item of Deno.readDir(cacheDir)) {
    if (!item.isFile || !/^[0-9a-f]{64}\.json$/.test(item.name)) continue;
    const path = `${cacheDir}/${item.name}`;
    found.push({ path, entry: JSON.parse(await Deno.readTextFile(path)) });
  }
  return found;
}

/** The one entry for `name` (throws unless there is exactly one). */
async function entryFor(cacheDir: string, name: string): Promise<{ path: string; entry: Entry }> {
  const matches = (await readEntries(cacheDir)).filter((e) => e.entry.names.includes(name));
  assertEquals(matches.length, 1, `entries for ${name} in ${cacheDir}`);
  return matches[0];
}

/** RFC 3339 without fractional seconds, as the X-Acmems-* headers carry it. */
function toSeconds(date: Date | number): string {
  return new Date(date).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Polls `probe` every 50 ms until it returns a value (at most 10 s). */
async function waitFor<T>(probe: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  while (true) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** How many certificates pebble says it issued so far (its log is the CA's own account of it). */
async function pebbleIssued(pebble: Pebble): Promise<number> {
  return (await pebble.logTail(1_000_000)).split("\n").filter((l) => /Issued certificate serial/.test(l)).length;
}

/** RFC 9773 §4.1 certificate id, computed here independently: base64url(AKI keyIdentifier) "." base64url(serial). */
function ariCertId(cert: x509.X509Certificate): string {
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  assert(aki?.keyId, "the leaf has an AKI key id");
  let serial = hexBytes(cert.serialNumber);
  while (serial.length > 1 && serial[0] === 0 && serial[1] < 0x80) serial = serial.subarray(1);
  if (serial[0] >= 0x80) serial = Uint8Array.of(0, ...serial);
  return `${b64url(hexBytes(aki.keyId))}.${b64url(serial)}`;
}

function hexBytes(hex: string): Uint8Array {
  const even = hex.length % 2 ? `0${hex}` : hex;
  return Uint8Array.from(even.match(/../g)!, (h) => parseInt(h, 16));
}

function b64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// ---------------------------------------------------------------------------------------------------------------
// In-process: one named and one pebble for every step

Deno.test("certificate cache and renewal against pebble 2.10 (in-process)", async (t) => {
  const traffic = new AcmeTraffic();
  let peers;
  try {
    peers = await startStack({ prefix: "acmems-cache-test-", pebble: { httpPort: await freePort() } });
  } catch (e) {
    traffic.restore();
    throw e;
  }
  const { named, pebble, cleanup } = peers;
  try {
    const directory = await pebble.directory();
    const stack: Stack = {
      named,
      pebble,
      keyPair: await generateKeyPair("ec-p256"),
      traffic,
      newOrderUrl: String(directory.newOrder),
    };
    assert(typeof directory.renewalInfo === "string", "pebble 2.10 advertises ARI");

    await t.step("1. same CSR twice: identical bytes, miss then hit, no CA request the second time", async () => {
      await withWorkDir(async (dir) => {
        await withApp(stack, dir, {}, async ({ url, config }) => {
          const csr = await makeCsr({ names: ["same.example.test"] });
          const issuedBefore = await pebbleIssued(pebble!);
          const m0 = traffic.mark();
          const first = await sign(url, csr.csrPem);
          assertOk(first, "miss");
          const orders = traffic.orders(m0, stack.newOrderUrl);
          assertEquals(orders.length, 1, "one newOrder");
          assertEquals((orders[0].payload as { profile?: string }).profile, "default");
          assertEquals(await pebbleIssued(pebble!), issuedBefore + 1);

          const m1 = traffic.mark();
          const second = await sign(url, csr.csrPem);
          assertOk(second, "hit");
          assert(second.body === first.body, "the cached chain is served byte for byte");
          assertEquals(traffic.since(m1, pebble!.directoryUrl).map((r) => `${r.method} ${r.url}`), []);
          assertEquals(await pebbleIssued(pebble!), issuedBefore + 1);
          assertEquals(second.renewAfter, first.renewAfter);
          assertEquals(second.window, first.window);

          // The chain: leaf first, PEM blocks separated by one empty line, final newline.
          const blocks = first.body.split("\n\n");
          assert(blocks.length >= 2, "leaf and intermediate");
          assert(first.body.endsWith("-----END CERTIFICATE-----\n"));
          const leaf = leafOf(first.body);
          const lifetime = leaf.notAfter.getTime() - leaf.notBefore.getTime();
          assert(Math.abs(lifetime - 90 * DAY_MS) < 3_600_000, `default profile: 90 days, got ${lifetime / DAY_MS}`);

          // Renewal headers: ARI window from pebble, renew-after inside it (earlier than notAfter − 14 days).
          assertMatch(first.window ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
          const [start, end] = first.window!.split("/").map((s) => Date.parse(s));
          const renewAfter = Date.parse(first.renewAfter ?? "");
          assert(renewAfter >= start - 1000 && renewAfter <= end, `${first.renewAfter} in ${first.window}`);
          assert(renewAfter > Date.now(), "renew-after is in the future");

          // On disk: one entry, mode 0600, holding exactly the served chain.
          const { path, entry } = await entryFor(config.cacheDir, "same.example.test");
          assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
          assert(entry.chain === first.body);
          assertEquals(entry.directoryUrl, pebble!.directoryUrl);
          assertEquals(entry.profile, "default");
        });
      });
    });

    await t.step("2. the same CSR with CRLF line endings is still a hit", async () => {
      await withWorkDir(async (dir) => {
        await withApp(stack, dir, {}, async ({ url }) => {
          const csr = await makeCsr({ names: ["crlf.example.test"] });
          const first = await sign(url, csr.csrPem);
          assertOk(first, "miss");
          const crlf = csr.csrPem.replaceAll("\n", "\r\n");
          assert(crlf !== csr.csrPem);
          const m = traffic.mark();
          const second = await sign(url, crlf);
          assertOk(second, "hit");
          assert(second.body === first.body, "identical bytes");
          assertEquals(traffic.since(m, pebble!.directoryUrl).length, 0, "no CA request");
        });
      });
    });

    await t.step("3. 20 identical concurrent CSRs: one order, 20 identical chains", async () => {
      await withWorkDir(async (dir) => {
        await withApp(stack, dir, {}, async ({ url, config }) => {
          const csr = await makeCsr({ names: ["concurrent.example.test", "concurrent2.example.test"] });
          const issuedBefore = await pebbleIssued(pebble!);
          const m = traffic.mark();
          const results = await Promise.all(Array.from({ length: 20 }, () => sign(url, csr.csrPem)));
          for (const r of results) assertEquals(r.status, 200, r.body);
          assertEquals(new Set(results.map((r) => r.body)).size, 1, "20 identical chains");
          assertEquals(traffic.orders(m, stack.newOrderUrl).length, 1, "one newOrder");
          assertEquals(await pebbleIssued(pebble!), issuedBefore + 1, "pebble issued one certificate");
          assertEquals((await readEntries(config.cacheDir)).length, 1);
        });
      });
    });

    await t.step(
      "5. ARI window in the past: the sweep renews with replaces, /sign then hits the new certificate",
      async (t) => {
        await withWorkDir(async (dir) => {
          await withApp(stack, dir, {}, async ({ app, url, config }) => {
            const name = "renew.example.test";
            const csr = await makeCsr({ names: [name] });
            const first = await sign(url, csr.csrPem);
            assertOk(first, "miss");
            const oldLeaf = leafOf(first.body);
            const before = await entryFor(config.cacheDir, name);
            assertEquals(before.entry.ari?.certId, ariCertId(oldLeaf), "ARI id of the cached certificate");

            // The CA moves the renewal window into the past.
            const pastWindow = {
              start: new Date(Date.now() - 2 * DAY_MS).toISOString(),
              end: new Date(Date.now() - DAY_MS).toISOString(),
            };
            await pebble!.setRenewalInfo(first.body.split("\n\n")[0], { suggestedWindow: pastWindow });

            // acmems asked pebble after issuance and got Retry-After (6 h): it does not ask again before that.
            let m = traffic.mark();
            await app.sweep();
            assertEquals(traffic.orders(m, stack.newOrderUrl).length, 0, "Retry-After not passed: no renewal yet");
            assertEquals(traffic.since(m, pebble!.directoryUrl).length, 0, "and no ARI request");

            // Time passes: the stored Retry-After lies in the past (the entry is otherwise untouched).
            const aged = structuredClone(before.entry);
            aged.ari!.retryAfter = new Date(Date.now() - 60_000).toISOString();
            await Deno.writeTextFile(before.path, JSON.stringify(aged, null, 2) + "\n");

            m = traffic.mark();
            await app.sweep();
            const orders = traffic.orders(m, stack.newOrderUrl);
            assertEquals(orders.length, 1, "the sweep renewed with one order");
            const payload = orders[0].payload as { replaces?: string; profile?: string; identifiers?: unknown };
            assertEquals(payload.replaces, ariCertId(oldLeaf), "the new order carried replaces = the old cert's id");
            assertEquals(payload.profile, "default");
            assertEquals(payload.identifiers, [{ type: "dns", value: name }]);

            const after = await entryFor(config.cacheDir, name);
            const newLeaf = leafOf(after.entry.chain);
            assertNotEquals(newLeaf.serialNumber, oldLeaf.serialNumber, "a new certificate is cached");
            assertEquals(after.entry.ari?.certId, ariCertId(newLeaf));

            m = traffic.mark();
            const next = await sign(url, csr.csrPem);
            assertOk(next, "hit");
            assert(next.body === after.entry.chain, "the next /sign serves the renewed chain");
            assertEquals(leafOf(next.body).serialNumber, newLeaf.serialNumber);
            assertEquals(traffic.since(m, pebble!.directoryUrl).length, 0, "no CA request");
            assert(Date.parse(next.renewAfter!) > Date.now(), "the new certificate is not due");

            // A second sweep has nothing to do.
            m = traffic.mark();
            await app.sweep();
            assertEquals(traffic.orders(m, stack.newOrderUrl).length, 0);

            await t.step("alreadyReplaced: the order is retried once without replaces", async () => {
              // The cache goes back to the old certificate (e.g. a backup restored): its renewal names a
              // certificate the CA already saw replaced.
              await Deno.writeTextFile(after.path, JSON.stringify(aged, null, 2) + "\n");
              const m = traffic.mark();
              await app.sweep();
              const orders = traffic.orders(m, stack.newOrderUrl);
              const replaces = orders.map((o) => (o.payload as { replaces?: string }).replaces ?? null);
              assertEquals(replaces, [ariCertId(oldLeaf), null], "first with replaces, then once without");
              const renewed = await entryFor(config.cacheDir, name);
              const third = leafOf(renewed.entry.chain);
              assertNotEquals(third.serialNumber, oldLeaf.serialNumber);
              assertNotEquals(third.serialNumber, newLeaf.serialNumber);
              const again = await sign(url, csr.csrPem);
              assertOk(again, "hit");
              assert(again.body === renewed.entry.chain);
            });
          });
        });
      },
    );

    await t.step("a hit after the stored ARI Retry-After refreshes the window in the background", async () => {
      await withWorkDir(async (dir) => {
        await withApp(stack, dir, {}, async ({ url, config }) => {
          const name = "ari-refresh.example.test";
          const csr = await makeCsr({ names: [name] });
          const first = await sign(url, csr.csrPem);
          assertOk(first, "miss");
          const stored = await entryFor(config.cacheDir, name);
          const newWindow = {
            start: toSeconds(Date.now() + 10 * DAY_MS),
            end: toSeconds(Date.now() + 11 * DAY_MS),
          };
          await pebble!.setRenewalInfo(first.body.split("\n\n")[0], { suggestedWindow: newWindow });
          const aged = structuredClone(stored.entry);
          aged.ari!.retryAfter = new Date(Date.now() - 60_000).toISOString();
          await Deno.writeTextFile(stored.path, JSON.stringify(aged, null, 2) + "\n");

          const m = traffic.mark();
          const hit = await sign(url, csr.csrPem);
          assertOk(hit, "hit");
          assert(hit.body === first.body);
          assertEquals(hit.window, first.window, "served from the cache as it was");
          const refreshed = await waitFor(async () => {
            const { entry } = await entryFor(config.cacheDir, name);
            return entry.ari?.window?.start === new Date(newWindow.start).toISOString() ? entry : undefined;
          }, "the entry's ARI window to be refreshed");
          assert(Date.parse(refreshed.ari!.retryAfter!) > Date.now(), "a new Retry-After was stored");
          assertEquals(refreshed.chain, first.body, "only the ARI state changed");
          const calls = traffic.since(m, pebble!.directoryUrl).map((r) => `${r.method} ${new URL(r.url).pathname}`);
          assertEquals(calls.length, 1, `one ARI request: ${calls}`);
          assertMatch(calls[0], /^GET \/.*renewalInfo\//);

          const next = await sign(url, csr.csrPem);
          assertOk(next, "hit");
          assertEquals(next.window, `${newWindow.start}/${newWindow.end}`, "the new window is announced");
          const renewAfter = Date.parse(next.renewAfter!);
          assert(renewAfter >= Date.parse(newWindow.start) && renewAfter < Date.parse(newWindow.end));
        });
      });
    });

    await t.step("the sweep skips entries nobody fetched within 30 days, and removes them once expired", async () => {
      await withWorkDir(async (dir) => {
        await withApp(stack, dir, {}, async ({ app, url, config }) => {
          const name = "inactive.example.test";
          const csr = await makeCsr({ names: [name] });
          assertOk(await sign(url, csr.csrPem), "miss");
          const { path, entry } = await entryFor(config.cacheDir, name);
          const seen = path.replace(/\.json$/, ".seen");
          const longAgo = new Date(Date.now() - 31 * DAY_MS);
          // Due (ARI window in the past, no new lookup pending) but last fetched 31 days ago.
          const inactive = structuredClone(entry);
          inactive.lastFetchedAt = longAgo.toISOString();
          inactive.ari = {
            ...inactive.ari!,
            window: { start: new Date(Date.now() - 2 * DAY_MS).toISOString(), end: longAgo.toISOString() },
            retryAfter: new Date(Date.now() + DAY_MS).toISOString(),
            fetchedAt: new Date().toISOString(),
          };
          await Deno.writeTextFile(path, JSON.stringify(inactive, null, 2) + "\n");
          await Deno.utime(seen, longAgo, longAgo);

          let m = traffic.mark();
          await app.sweep();
          assertEquals(traffic.orders(m, stack.newOrderUrl).length, 0, "not renewed: nobody fetched it");
          assertEquals((await entryFor(config.cacheDir, name)).entry.chain, entry.chain);

          const expired = structuredClone(inactive);
          expired.notBefore = new Date(Date.now() - 98 * DAY_MS).toISOString();
          expired.notAfter = new Date(Date.now() - 8 * DAY_MS).toISOString();
          await Deno.writeTextFile(path, JSON.stringify(expired, null, 2) + "\n");
          m = traffic.mark();
          await app.sweep();
          assertEquals(traffic.orders(m, stack.newOrderUrl).length, 0);
          assertEquals((await readEntries(config.cacheDir)).length, 0, "expired for more than 7 days: removed");
        });
      });
    });

    await t.step("a background renewal is not a client fetch: it keeps the last-fetched time", async () => {
      await withWorkDir(async (dir) => {
        await withApp(stack, dir, {}, async ({ app, url, config }) => {
          const name = "abandoned.example.test";
          const csr = await makeCsr({ names: [name] });
          assertOk(await sign(url, csr.csrPem), "miss");
          const { path, entry } = await entryFor(config.cacheDir, name);
          const seen = path.replace(/\.json$/, ".seen");
          // Last fetched 29 days ago (still active) and due now.
          const lastFetch = new Date(Date.now() - 29 * DAY_MS);
          const due = structuredClone(entry);
          due.lastFetchedAt = lastFetch.toISOString();
          due.ari = {
            ...due.ari!,
            window: {
              start: new Date(Date.now() - 2 * DAY_MS).toISOString(),
              end: new Date(Date.now() - DAY_MS).toISOString(),
            },
            retryAfter: new Date(Date.now() + DAY_MS).toISOString(),
          };
          await Deno.writeTextFile(path, JSON.stringify(due, null, 2) + "\n");
          await Deno.utime(seen, lastFetch, lastFetch);

          const m = traffic.mark();
          await app.sweep();
          assertEquals(traffic.orders(m, stack.newOrderUrl).length, 1, "renewed: fetched within 30 days");
          const renewed = await entryFor(config.cacheDir, name);
          assertNotEquals(renewed.entry.chain, entry.chain);
          // What FileStorage.get reports as the last fetch: the later of the entry's field and the .seen mtime.
          const seenAt = (await Deno.stat(seen)).mtime?.getTime() ?? 0;
          const effective = Math.max(Date.parse(renewed.entry.lastFetchedAt), seenAt);
          assert(
            Math.abs(effective - lastFetch.getTime()) < 60_000,
            `the renewal must not count as a fetch: last fetch ${toSeconds(lastFetch)}, now recorded as ` +
              `${toSeconds(effective)} (a 6-day certificate nobody fetches would then be renewed forever)`,
          );
        });
      });
    });

    await t.step("a failed background renewal backs off: 1 min, then 10 min", async () => {
      await withWorkDir(async (dir) => {
        await withApp(stack, dir, {}, async ({ app, url, config }) => {
          const name = "backoff.example.test";
          const csr = await makeCsr({ names: [name] });
          assertOk(await sign(url, csr.csrPem), "miss");
          const { path, entry } = await entryFor(config.cacheDir, name);
          // Due, and renewing it fails: the CA no longer offers the profile it was issued under.
          const failing = structuredClone(entry);
          failing.profile = "withdrawn-profile";
          failing.ari = {
            ...failing.ari!,
            window: {
              start: new Date(Date.now() - 2 * DAY_MS).toISOString(),
              end: new Date(Date.now() - DAY_MS).toISOString(),
            },
            retryAfter: new Date(Date.now() + DAY_MS).toISOString(),
            fetchedAt: new Date().toISOString(),
          };
          await Deno.writeTextFile(path, JSON.stringify(failing, null, 2) + "\n");

          const renewalState = async () => (await entryFor(config.cacheDir, name)).entry.renewal;
          let before = Date.now();
          await app.sweep();
          const once = await renewalState();
          assertEquals(once?.failures, 1, "one failure recorded");
          assertStringIncludes(once?.lastError ?? "", "withdrawn-profile");
          const next1 = Date.parse(once!.nextAttemptAt!) - before;
          assert(next1 >= 60_000 && next1 < 60_000 + 10_000, `next attempt in about 1 min, got ${next1} ms`);

          await app.sweep();
          assertEquals((await renewalState())?.failures, 1, "no attempt before nextAttemptAt");

          // The minute has passed.
          const waited = (await entryFor(config.cacheDir, name)).entry;
          waited.renewal!.nextAttemptAt = new Date(Date.now() - 1000).toISOString();
          await Deno.writeTextFile(path, JSON.stringify(waited, null, 2) + "\n");
          before = Date.now();
          await app.sweep();
          const twice = await renewalState();
          assertEquals(twice?.failures, 2);
          const next2 = Date.parse(twice!.nextAttemptAt!) - before;
          assert(next2 >= 600_000 && next2 < 600_000 + 10_000, `next attempt in about 10 min, got ${next2} ms`);
          assertEquals((await entryFor(config.cacheDir, name)).entry.chain, entry.chain, "the certificate is kept");
        });
      });
    });

    await t.step("a due certificate is served stale while the CA is down", async () => {
      const own = await startPebble({ dnsServer: named.address, httpPort: pebble!.httpPort });
      try {
        await withWorkDir(async (dir) => {
          await withApp(stack, dir, { directoryUrl: own.directoryUrl, caFile: own.caFile }, async ({ url, config }) => {
            const name = "stale.example.test";
            const csr = await makeCsr({ names: [name] });
            const first = await sign(url, csr.csrPem);
            assertOk(first, "miss");
            const { path, entry } = await entryFor(config.cacheDir, name);
            const due = structuredClone(entry);
            due.ari = {
              ...due.ari!,
              window: {
                start: new Date(Date.now() - 2 * DAY_MS).toISOString(),
                end: new Date(Date.now() - DAY_MS).toISOString(),
              },
              retryAfter: new Date(Date.now() + DAY_MS).toISOString(),
            };
            await Deno.writeTextFile(path, JSON.stringify(due, null, 2) + "\n");
            await own.stop();
            const t0 = Date.now();
            const stale = await sign(url, csr.csrPem);
            assertOk(stale, "stale");
            assert(stale.body === first.body, "the cached chain, byte for byte");
            assert(Date.now() - t0 < 30_000, "answered well before sign-timeout");
          });
        });
      } finally {
        await own.stop();
      }
    });

    await t.step(
      "6. renew-within ≥ lifetime (6-day profile, 14 days): renew-after by the two-thirds rule",
      async () => {
        await withWorkDir(async (dir) => {
          await withApp(stack, dir, {}, async ({ url, config }) => {
            const name = "www.short.example.test";
            const csr = await makeCsr({ names: [name] });
            const m = traffic.mark();
            const signed = await sign(url, csr.csrPem);
            assertOk(signed, "miss");
            const orders = traffic.orders(m, stack.newOrderUrl);
            assertEquals((orders[0].payload as { profile?: string }).profile, "shortlived", "[auth] profile");

            const leaf = leafOf(signed.body);
            const lifetime = leaf.notAfter.getTime() - leaf.notBefore.getTime();
            const twoThirds = leaf.notBefore.getTime() + (lifetime * 2) / 3;
            const renewAfter = Date.parse(signed.renewAfter ?? "");
            assert(renewAfter <= twoThirds, `${signed.renewAfter} ≤ notBefore + 2/3 lifetime ${toSeconds(twoThirds)}`);
            assert(renewAfter > Date.now(), `${signed.renewAfter} is in the future`);
            // Exactly: the earlier of the two-thirds point and the point chosen in pebble's ARI window.
            const { entry } = await entryFor(config.cacheDir, name);
            assert(entry.ari?.chosen, "an ARI point was chosen");
            assertEquals(signed.renewAfter, toSeconds(Math.min(twoThirds, Date.parse(entry.ari.chosen))));
            // And nowhere near notAfter − 14 days (which lies before notBefore).
            assert(renewAfter > leaf.notBefore.getTime() + 3 * DAY_MS);
          });
        });
      },
    );

    await t.step("7. [account] profile = shortlived: about 6 days of validity", async () => {
      await withWorkDir(async (dir) => {
        await withApp(stack, dir, { accountProfile: "shortlived" }, async ({ url }) => {
          const csr = await makeCsr({ names: ["six-days.example.test"] });
          const m = traffic.mark();
          const signed = await sign(url, csr.csrPem);
          assertOk(signed, "miss");
          assertEquals((traffic.orders(m, stack.newOrderUrl)[0].payload as { profile?: string }).profile, "shortlived");
          const leaf = leafOf(signed.body);
          const days = (leaf.notAfter.getTime() - leaf.notBefore.getTime()) / DAY_MS;
          assert(Math.abs(days - 6) < 1 / 24, `about 6 days of validity, got ${days.toFixed(3)} days`);
          assert(leaf.notAfter.getTime() - Date.now() < 6 * DAY_MS + 3_600_000);
        });
      });
    });

    await t.step(
      "8. a restart (new App on the same dirs) keeps the cache: hit without a CA request; another profile misses",
      async () => {
        await withWorkDir(async (dir) => {
          const csr = await makeCsr({ names: ["restart.example.test"] });
          const first = await withApp(stack, dir, {}, async ({ url }) => {
            const signed = await sign(url, csr.csrPem);
            assertOk(signed, "miss");
            return signed;
          });
          await withApp(stack, dir, {}, async ({ url }) => {
            const m = traffic.mark();
            const again = await sign(url, csr.csrPem);
            assertOk(again, "hit");
            assert(again.body === first.body, "identical bytes after the restart");
            assertEquals(again.renewAfter, first.renewAfter);
            assertEquals(traffic.since(m, pebble!.directoryUrl).length, 0, "no CA request");
          });
          // The profile is part of the key: a restart with another profile never serves the old certificate.
          await withApp(stack, dir, { accountProfile: "shortlived" }, async ({ url }) => {
            const m = traffic.mark();
            const other = await sign(url, csr.csrPem);
            assertOk(other, "miss");
            assertEquals(traffic.orders(m, stack.newOrderUrl).map((o) => (o.payload as { profile?: string }).profile), [
              "shortlived",
            ]);
            assertEquals((await readEntries(`${dir}/cache`)).length, 2, "one entry per profile");
          });
        });
      },
    );

    await t.step("9. changing acme-server (a second pebble) is a miss; switching back is a hit again", async () => {
      // Same http-01 port: pebble only connects to it, so both CAs validate through the same acmems listener.
      const pebble2 = await startPebble({ dnsServer: named.address, httpPort: pebble!.httpPort });
      try {
        const newOrder2 = String((await pebble2.directory()).newOrder);
        await withWorkDir(async (dir) => {
          const csr = await makeCsr({ names: ["switch.example.test"] });
          const first = await withApp(stack, dir, {}, async ({ url }) => {
            const signed = await sign(url, csr.csrPem);
            assertOk(signed, "miss");
            return signed;
          });
          const m = traffic.mark();
          const second = await withApp(
            stack,
            dir,
            { directoryUrl: pebble2.directoryUrl, caFile: pebble2.caFile },
            async ({ url }) => {
              const signed = await sign(url, csr.csrPem);
              assertOk(signed, "miss");
              return signed;
            },
          );
          assertEquals(traffic.orders(m, newOrder2).length, 1, "one order at the new CA");
          assertEquals(traffic.orders(m, stack.newOrderUrl).length, 0, "none at the old one");
          assertNotEquals(second.body, first.body);
          assertNotEquals(leafOf(second.body).issuer, leafOf(first.body).issuer, "issued by the second pebble");
          const entries = await readEntries(`${dir}/cache`);
          assertEquals(
            entries.map((e) => e.entry.directoryUrl).sort(),
            [pebble!.directoryUrl, pebble2.directoryUrl].sort(),
            "one entry per CA",
          );

          await withApp(stack, dir, {}, async ({ url }) => {
            const m = traffic.mark();
            const back = await sign(url, csr.csrPem);
            assertOk(back, "hit");
            assert(back.body === first.body, "the first CA's certificate is still cached");
            assertEquals(traffic.since(m, pebble!.directoryUrl).length, 0);
          });
        });
      } finally {
        await pebble2.stop();
      }
    });

    await t.step("10. a corrupt cache file is logged and treated as a miss (200, not 500)", async () => {
      await withWorkDir(async (dir) => {
        await withApp(stack, dir, {}, async ({ url, config, events }) => {
          const name = "corrupt.example.test";
          const csr = await makeCsr({ names: [name] });
          assertOk(await sign(url, csr.csrPem), "miss");
          const { path } = await entryFor(config.cacheDir, name);
          const corruptions: [string, string][] = [
            ["torn JSON", (await Deno.readTextFile(path)).slice(0, 200)],
            ["JSON that is not an entry", '{"hello": "world"}\n'],
            ["an empty file", ""],
          ];
          for (const [what, content] of corruptions) {
            await Deno.writeTextFile(path, content);
            const logged = events().length;
            const m = traffic.mark();
            const signed = await sign(url, csr.csrPem);
            assertOk(signed, "miss");
            assertEquals(traffic.orders(m, stack.newOrderUrl).length, 1, `${what}: ordered again`);
            const warnings = events().slice(logged).filter((e) =>
              e.level === "warning" && String(e.event).startsWith("cache entry corrupt")
            );
            assertEquals(warnings.length >= 1, true, `${what}: a warning is logged`);
            assertEquals(warnings[0].path, path, `${what}: the warning names the file`);
            // The entry was rewritten: the next request is a hit again.
            const again = await sign(url, csr.csrPem);
            assertOk(again, "hit");
            assert(again.body === signed.body);
          }
        });
      });
    });

    await t.step("a profile the CA does not offer: 503 naming it, no order, logged at start", async () => {
      await withWorkDir(async (dir) => {
        await withApp(stack, dir, {}, async ({ url, events }) => {
          const logged = events().filter((e) => e.event === "profile not offered by the CA");
          assertEquals(logged.map((e) => e.profile), ["no-such-profile"]);
          const csr = await makeCsr({ names: ["x.bogus.example.test"] });
          const m = traffic.mark();
          const signed = await sign(url, csr.csrPem);
          assertEquals(signed.status, 503, signed.body);
          assertStringIncludes(signed.body, "no-such-profile");
          assertEquals(traffic.orders(m, stack.newOrderUrl).length, 0);
        });
      });
    });
  } finally {
    traffic.restore();
    await cleanup.run();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Two acmems processes on one cache directory

Deno.test("4. two acmems processes on one cache directory: 10 concurrent requests, one order", async () => {
  const { work: dir, pebble, cleanup } = await startStack({ prefix: "acmems-cache-2proc-" });
  try {
    const [mgmtA, mgmtB, httpA, httpB] = await freePorts(4);
    // pebble validates on one port: nginx there tries both instances (an unknown token is a 404, then the other).
    const nginx = await startNginx({ port: pebble.httpPort, upstreams: [`127.0.0.1:${httpA}`, `127.0.0.1:${httpB}`] });
    cleanup.add(() => nginx.stop());

    const shared = {
      directoryUrl: pebble.directoryUrl,
      caFile: pebble.caFile,
      logging: { level: "debug", format: "json" },
    };
    const instances: Acmems[] = [];
    for (const [name, mgmtPort, httpPort] of [["a", mgmtA, httpA], ["b", mgmtB, httpB]] as const) {
      const configFile = await writeConfig(
        `${dir}/${name}.ini`,
        cacheConfig({ ...shared, accountDir: `${dir}/account`, cacheDir: `${dir}/cache`, mgmtPort, httpPort }),
      );
      // One after the other: the first creates and registers the shared account, the second loads it.
      const instance = await startAcmems({ name: `acmems-${name}`, dir, configFile });
      cleanup.add(() => instance.stop());
      instances.push(instance);
    }

    const csr = await makeCsr({ names: ["shared.example.test"] });
    const issuedBefore = await pebbleIssued(pebble);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => sign(instances[i % 2].mgmtUrl, csr.csrPem)),
    );
    const failed = results.filter((r) => r.status !== 200);
    if (failed.length > 0) {
      const logs = await Promise.all(instances.map((i) => i.logTail(40)));
      throw new Error(
        `${failed.length} of 10 requests failed: ${failed.map((r) => `${r.status} ${r.body.trim()}`).join("; ")}\n` +
          logs.map((l, i) => `--- acmems-${"ab"[i]} ---\n${l}`).join("\n"),
      );
    }
    assertEquals(new Set(results.map((r) => r.body)).size, 1, "identical chains from both processes");
    assertEquals(await pebbleIssued(pebble), issuedBefore + 1, "pebble issued one certificate");
    const orderLines = (await Promise.all(instances.map((i) => i.events())))
      .map((events) => events.filter((e) => e.event === "acme new order").length);
    assertEquals(orderLines[0] + orderLines[1], 1, `one "acme new order" across both logs (a: ${orderLines})`);
    assertEquals(results.filter((r) => r.cache === "miss").length >= 1, true);
    assertEquals((await readEntries(`${dir}/cache`)).length, 1, "one cache entry");

    // And afterwards both serve it from the shared directory.
    for (const instance of instances) {
      const again = await sign(instance.mgmtUrl, csr.csrPem);
      assertOk(again, "hit");
      assert(again.body === results[0].body);
    }
    assertEquals(await pebbleIssued(pebble), issuedBefore + 1);
  } finally {
    await cleanup.run().catch((e) => console.error(`cleanup: ${e}`));
  }
});

// ---------------------------------------------------------------------------------------------------------------
// A cache directory that cannot be created

Deno.test("11. a cache directory that cannot be created stops App.start() and serve, naming the path", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-cache-blocked-" });
  try {
    await Deno.writeTextFile(`${dir}/blocker`, "a regular file, not a directory\n");
    const cacheDir = `${dir}/blocker/cache`;
    const [mgmtPort, httpPort] = await freePorts(2);
    const configFile = `${dir}/acmems.ini`;
    // The CA is never contacted: the storage is checked before anything else starts.
    await Deno.writeTextFile(`${dir}/ca.pem`, "");
    await writeConfig(
      configFile,
      cacheConfig({
        directoryUrl: "https://127.0.0.1:9/dir",
        caFile: `${dir}/ca.pem`,
        accountDir: `${dir}/account`,
        cacheDir,
        mgmtPort,
        httpPort,
      }),
    );

    await t.step("App.start() rejects with the path, binds nothing", async () => {
      const loaded = await loadConfig([configFile]);
      assert(loaded.ok && loaded.config, loaded.errors.map((e) => e.message).join("\n"));
      const app = new App({
        config: loaded.config,
        log: memoryLogger("debug"),
        keyPair: await generateKeyPair("ec-p256"),
        sweepIntervalMs: 0,
      });
      try {
        const error = await assertRejects(() => app.start());
        assertStringIncludes(error.message, cacheDir);
        assertMatch(error.message, /Cannot create the cache directory/);
        assertEquals(app.listeners.length, 0, "no listener was bound");
      } finally {
        await app.shutdown();
      }
    });

    await t.step("acmems serve exits 1 and says which path and why", async () => {
      const out = await runAcmems(["serve", configFile], { cwd: dir, timeoutMs: 30_000 });
      assert(!out.timedOut, `serve did not exit: ${out.output}`);
      assertEquals(out.code, 1, out.output);
      assertMatch(out.output, /acmems serve: Cannot create the cache directory \S+blocker\/cache/);
      assertStringIncludes(out.output, cacheDir);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
