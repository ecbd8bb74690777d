/**
 * Operating acmems against pebble 2.10 resolving through bind9: Prometheus metrics, /health and /ready,
 * notifications (webhook and exec), the mgmt listener over HTTPS, trusted proxies and X-Forwarded-For, live reload
 * (SIGHUP and the reload EventTarget), and a grep for secrets in everything a full run writes.
 *
 * One named and one pebble serve every step (steps 2 and 7 start their own pebble: one is stopped on purpose, the
 * other requires external account binding). acmems runs in-process through `runServe` (steps 1, 2, 3, 5) or as
 * `deno run --allow-all main.ts serve CONFIG` (steps 4, 6, 7: a TLS listener that cannot start ends the whole Deno
 * process; SIGHUP; its stdout/stderr for the secret grep).
 */
import { SubjectAlternativeNameExtension, X509Certificate } from "@peculiar/x509";
import { assert, assertEquals, assertMatch, assertRejects, assertStringIncludes } from "../support/assert.ts";
import { makeCsr, type TestCsr } from "../support/csr.ts";
import { type Pebble, PEBBLE_BIN, startPebble } from "../support/pebble.ts";
import { freePort, freePorts } from "../support/ports.ts";
import { type PeerProcess, run, spawnLogged } from "../support/process.ts";
import { type Acmems, ACMEMS_MAIN, startAcmems } from "../support/acmems.ts";
import {
  type ConfigSpec,
  fileStorage,
  ipAuth,
  NO_STORAGE,
  type Options,
  testConfig,
  writeConfig,
} from "../support/config.ts";
import { postSign, request } from "../support/http.ts";
import { type Served, serveInProcess, startStack } from "../support/stack.ts";
import { waitForLog, waitUntil } from "../support/wait.ts";
import { parsePrometheus } from "../support/prometheus.ts";
import { makeTestCa } from "../support/test_ca.ts";

/** Extra `deno run` flags for the TLS step's child (none: it runs the way an operator would run it). */
const TLS_DENO_FLAGS: string[] = [];

interface ConfigParts {
  pebble: Pebble;
  accountDir: string;
  mgmtPort: number;
  /** More `[account]` options. */
  account?: Options;
  /** More `[mgmt]` options. */
  mgmt?: Options;
  logFile: string;
  logFormat?: "text" | "json";
  /** More verifications (after `http`, on pebble's http-01 port). */
  verifications?: Record<string, Options>;
  storages?: Record<string, Options>;
  notify?: Record<string, Options>;
  auth: Record<string, Options>;
  /** Raw text appended (the blocks a reload adds). */
  raw?: string;
}

function operateConfig(p: ConfigParts): ConfigSpec {
  return testConfig({
    comment: "operate_test",
    ca: p.pebble,
    accountDir: p.accountDir,
    account: p.account,
    mgmtPort: p.mgmtPort,
    mgmt: p.mgmt,
    httpPort: p.pebble.httpPort,
    logging: { level: "debug", format: p.logFormat ?? "json", destination: p.logFile },
    verifications: p.verifications,
    storages: p.storages,
    notify: p.notify,
    auth: p.auth,
    raw: p.raw,
  });
}

/** JSON log lines of `event`. */
async function logEvents(file: string, event: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(file);
  return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)).filter((e) => e.event === event);
}

/** The first certificate of a PEM chain. */
function leaf(chain: string): X509Certificate {
  const first = chain.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/);
  assert(first, `no certificate in: ${chain.slice(0, 200)}`);
  return new X509Certificate(first[0]);
}

/** The DNS names of a certificate's subjectAltName. */
function sanNames(cert: X509Certificate): string[] {
  const san = cert.getExtension(SubjectAlternativeNameExtension);
  return san ? san.names.items.filter((n) => n.type === "dns").map((n) => n.value) : [];
}

/** curl from a chosen loopback source address (fetch cannot pick one): status and body. */
async function curlFrom(source: string, url: string, args: string[] = []): Promise<{ status: number; body: string }> {
  const r = await run("curl", ["-sS", "--max-time", "30", "--interface", source, "-w", "\n%{http_code}", ...args, url]);
  assertEquals(r.code, 0, `curl failed: ${r.output}`);
  const cut = r.stdout.lastIndexOf("\n");
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function hmacSha256Hex(key: string, body: string): Promise<string> {
  const k = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return hex(new Uint8Array(await crypto.subtle.sign("HMAC", k, new TextEncoder().encode(body))));
}

/** A local HTTP server for webhooks: `/fail…` answers 500 after `failDelayMs`, anything else 200. */
function startWebhookServer(failDelayMs = 0) {
  const received: { path: string; body: Record<string, unknown>; at: number }[] = [];
  const failures: { path: string; at: number }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const text = await req.text();
    if (path.startsWith("/fail")) {
      failures.push({ path, at: Date.now() });
      if (failDelayMs > 0) await new Promise((r) => setTimeout(r, failDelayMs));
      return new Response("broken on purpose\n", { status: 500 });
    }
    received.push({ path, body: JSON.parse(text), at: Date.now() });
    return new Response("ok\n");
  });
  return { received, failures, url: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
}

Deno.test("operate: metrics, health and readiness, notifications, TLS, proxies, reload, secrets", async (t) => {
  const started = Date.now();
  const { work, named, pebble, cleanup } = await startStack({ prefix: "acmems-operate-" });
  try {
    const shared = pebble;
    /** One account for the in-process steps on the shared pebble. */
    const accountDir = `${work}/account`;
    const csrDir = `${work}/csr`;
    const csrs = new Map<string, Promise<TestCsr>>();
    /** One CSR per name (asking twice gives the same CSR, hence the same cache key). */
    const csr = (name: string) => {
      if (!csrs.has(name)) csrs.set(name, makeCsr({ names: [name], dir: csrDir }));
      return csrs.get(name)!;
    };
    const stepDir = async (name: string) => {
      const dir = `${work}/${name}`;
      await Deno.mkdir(dir, { recursive: true });
      return dir;
    };

    await t.step(
      "1. metrics after 3 issuances and a cache hit; 403 to other addresses; the metrics listener",
      async () => {
        const dir = await stepDir("metrics");
        const [mgmtPort, metricsPort] = await freePorts(2);
        const logFile = `${dir}/acmems.log`;
        await writeConfig(
          `${dir}/acmems.ini`,
          operateConfig({
            pebble: shared,
            accountDir,
            mgmtPort,
            logFile,
            mgmt: { "metrics-listener": `127.0.0.1:${metricsPort}`, "metrics-ip": "127.0.0.1" },
            storages: { cache: fileStorage(`${dir}/cache`) },
            auth: { local: ipAuth() },
          }),
        );
        const served = await serveInProcess([`${dir}/acmems.ini`]);
        try {
          const names = ["m1.example.test", "m2.example.test", "m3.example.test"];
          const notAfter = new Map<string, number>();
          for (const name of names) {
            const r = await postSign(served.url, (await csr(name)).csrPem);
            assertEquals(r.status, 200, r.body);
            assertEquals(r.headers.get("x-acmems-cache"), "miss");
            notAfter.set(name, leaf(r.body).notAfter.getTime() / 1000);
          }
          const again = await postSign(served.url, (await csr("m1.example.test")).csrPem);
          assertEquals(again.status, 200, again.body);
          assertEquals(again.headers.get("x-acmems-cache"), "hit");
          const refused = await postSign(served.url, (await csr("m4.example.org")).csrPem);
          assertEquals(refused.status, 403, refused.body);

          const metricsUrl = `http://127.0.0.1:${metricsPort}`;
          const scraped = await request(`${metricsUrl}/metrics`);
          assertEquals(scraped.status, 200, scraped.body);
          assertMatch(scraped.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
          const m = parsePrometheus(scraped.body);
          assertEquals(m.value("acmems_sign_requests_total", { status: "200", block: "local" }), 4);
          assertEquals(m.value("acmems_sign_requests_total", { status: "403", block: "" }), 1);
          assertEquals(m.value("acmems_cache_requests_total", { result: "hit" }), 1);
          assertEquals(m.value("acmems_cache_requests_total", { result: "miss" }), 3);
          assertEquals(m.value("acmems_cache_requests_total", { result: "stale" }), undefined);
          assertEquals(m.value("acmems_issuance_duration_seconds_count"), 3);
          assertEquals(m.value("acmems_issuance_duration_seconds_bucket", { le: "+Inf" }), 3);
          assert((m.value("acmems_issuance_duration_seconds_sum") ?? 0) > 0, "issuance duration sum is 0");
          assertEquals(m.value("acmems_acme_requests_total", { endpoint: "newOrder", status: "201" }), 3);
          assertEquals(m.value("acmems_acme_requests_total", { endpoint: "finalize", status: "200" }), 3);
          const served01 = m.value("acmems_challenge_requests_total", { result: "served" }) ?? 0;
          assert(served01 >= 3, `challenge answers served: ${served01}`);
          for (const name of names) {
            assertEquals(m.value("acmems_certificate_not_after_seconds", { name }), notAfter.get(name), name);
            assert(m.value("acmems_certificate_renewal_due_seconds", { name })! < notAfter.get(name)!, name);
          }
          assertEquals(m.find("acmems_certificate_not_after_seconds").length, 3);
          assertEquals(m.types.get("acmems_sign_requests_total"), "counter");
          assertEquals(m.types.get("acmems_issuance_duration_seconds"), "histogram");
          assertEquals(m.types.get("acmems_certificate_not_after_seconds"), "gauge");

          // The mgmt listener serves /metrics too, to the same addresses.
          const viaMgmt = await request(`${served.url}/metrics`);
          assertEquals(viaMgmt.status, 200);
          assertEquals(parsePrometheus(viaMgmt.body).value("acmems_cache_requests_total", { result: "hit" }), 1);

          // Not from 127.0.0.2, on either listener.
          for (const url of [metricsUrl, served.url]) {
            const other = await curlFrom("127.0.0.2", `${url}/metrics`);
            assertEquals(other.status, 403, `${url}: ${other.body}`);
            assertStringIncludes(other.body, "metrics-ip");
            assert(!other.body.includes("acmems_"), "a 403 carries no metrics");
          }
          // 127.0.0.2 can still see /health (it is not a metrics path).
          assertEquals((await curlFrom("127.0.0.2", `${metricsUrl}/health`)).status, 200);

          // The operator page (GET /) too: to metrics-ip only, on either listener.
          for (const url of [metricsUrl, served.url]) {
            const page = await request(`${url}/`);
            assertEquals([page.status, page.headers.get("content-type")], [200, "text/html; charset=utf-8"], url);
            assertStringIncludes(page.body, "m1.example.test");
            const other = await curlFrom("127.0.0.2", `${url}/`);
            assertEquals(other.status, 403, `${url}: ${other.body}`);
            assert(!other.body.includes("m1.example.test"), "a 403 shows no certificate");
          }

          // The metrics listener serves /metrics, /health, /ready and /, and nothing else.
          const health = await request(`${metricsUrl}/health`);
          assertEquals([health.status, health.body], [200, "ok\n"]);
          const ready = await request(`${metricsUrl}/ready`);
          assertEquals([ready.status, ready.body], [200, "ready\n"]);
          const signThere = await postSign(metricsUrl, (await csr("m1.example.test")).csrPem);
          assertEquals(signThere.status, 404, `POST /sign on the metrics listener: ${signThere.body}`);
          for (const path of ["/sign", "/index.html", "/metrics/", "/healthz"]) {
            assertEquals((await request(`${metricsUrl}${path}`)).status, 404, path);
          }
          // The 404 above did not issue anything.
          const after = parsePrometheus((await request(`${metricsUrl}/metrics`)).body);
          assertEquals(after.value("acmems_sign_requests_total", { status: "200", block: "local" }), 4);
        } finally {
          assertEquals(await served.stop(), 0);
        }
      },
    );

    await t.step("2. /health; /ready: 200, 503 with the reason when pebble stops, 200 when it is back", async () => {
      const dir = await stepDir("ready");
      const ca = await startPebble({ dnsServer: named.address });
      let relaunched: PeerProcess | undefined;
      let served: Served | undefined;
      const realNow = Date.now;
      try {
        const mgmtPort = await freePort();
        await writeConfig(
          `${dir}/acmems.ini`,
          operateConfig({
            pebble: ca,
            accountDir: `${dir}/account`,
            mgmtPort,
            logFile: `${dir}/acmems.log`,
            storages: { none: NO_STORAGE },
            auth: { local: ipAuth() },
          }),
        );
        served = await serveInProcess([`${dir}/acmems.ini`]);
        const url = served.url;
        const health = await request(`${url}/health`);
        assertEquals([health.status, health.body, health.headers.get("content-type")], [200, "ok\n", "text/plain"]);
        const head = await request(`${url}/health`, { method: "HEAD" });
        assertEquals(head.status, 200);
        const up = await request(`${url}/ready`);
        assertEquals([up.status, up.body], [200, "ready\n"]);

        // Stop pebble's process but keep its dir: a CA that comes back keeps its HTTPS certificate (a new
        // startPebble() would make a new CA for its HTTPS listener, which acmems' ca-file does not trust).
        const port = Number(new URL(ca.directoryUrl).port);
        Deno.kill(ca.pid, "SIGTERM");
        await waitUntil(async () => {
          try {
            (await Deno.connect({ hostname: "127.0.0.1", port })).close();
            return false;
          } catch {
            return true;
          }
        }, "pebble did not stop");

        // /ready re-probes the CA only when its last good directory fetch is over 60 s old (within that minute it
        // still answers 200): move the clock on rather than wait a minute.
        Date.now = () => realNow() + 61_000;
        const down = await request(`${url}/ready`);
        assertEquals(down.status, 503, down.body);
        assertEquals(
          down.body,
          `not ready: ACME CA: the directory at ${ca.directoryUrl} did not answer\n`,
        );
        assertEquals(down.headers.get("retry-after"), "10");
        assert(down.ms < 6_000, `/ready took ${down.ms} ms with the CA down`);
        // /health does not depend on the CA.
        assertEquals((await request(`${url}/health`)).status, 200);
        // Still down on the next probe.
        assertEquals((await request(`${url}/ready`)).status, 503);

        // The same pebble (config, ports, HTTPS certificate) comes back.
        relaunched = spawnLogged({
          name: "pebble (relaunched)",
          command: PEBBLE_BIN,
          args: ["-config", ca.configFile, "-strict=false", "-dnsserver", named.address],
          env: { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0" },
          logFile: `${dir}/pebble-relaunched.log`,
          cwd: ca.dir,
        });
        const back = relaunched;
        const client = Deno.createHttpClient({ caCerts: [ca.caPem] });
        try {
          await back.waitFor(async (signal) => {
            const r = await fetch(ca.directoryUrl, { client, signal });
            await r.body?.cancel();
            return r.ok;
          });
        } finally {
          client.close();
        }
        const again = await request(`${url}/ready`);
        assertEquals([again.status, again.body], [200, "ready\n"]);
      } finally {
        Date.now = realNow;
        if (served) assertEquals(await served.stop(), 0);
        await relaunched?.stop();
        await ca.stop();
      }
    });

    await t.step(
      "3. notifications: issue-failed to a webhook and an exec script; a failing webhook is retried",
      async () => {
        const dir = await stepDir("notify");
        const hooks = startWebhookServer(300);
        let served: Served | undefined;
        try {
          const mgmtPort = await freePort();
          const logFile = `${dir}/acmems.log`;
          const script = `${dir}/notify.sh`;
          const execOut = `${dir}/exec-events.jsonl`;
          await Deno.writeTextFile(script, '#!/bin/sh\ncat >> "$1"\n');
          await Deno.chmod(script, 0o755);
          await writeConfig(
            `${dir}/acmems.ini`,
            operateConfig({
              pebble: shared,
              accountDir,
              mgmtPort,
              logFile,
              storages: { none: NO_STORAGE },
              auth: { local: ipAuth() },
              notify: {
                hook: { type: "webhook", url: `${hooks.url}/events`, events: "issue-failed" },
                script: { type: "exec", command: `${script} ${execOut}`, events: "issue-failed" },
                broken: {
                  type: "webhook",
                  url: `${hooks.url}/fail`,
                  events: "issue-failed",
                  retries: 2,
                  timeout: "5s",
                },
              },
            }),
          );
          served = await serveInProcess([`${dir}/acmems.ini`]);

          // bind9 points unreachable.example.test at 127.0.0.2, where nothing listens: pebble's validation fails.
          const failed = await postSign(served.url, (await csr("unreachable.example.test")).csrPem);
          assertEquals(failed.status, 421, failed.body);
          assertStringIncludes(failed.body, "unreachable.example.test");
          // /sign answered without waiting for the broken webhook (it takes 300 ms per attempt, then 1 s, 2 s).
          const brokenAttemptsAtAnswer = hooks.failures.length;
          assert(brokenAttemptsAtAnswer <= 1, `broken webhook attempts when /sign answered: ${brokenAttemptsAtAnswer}`);

          // /sign keeps working while the broken webhook is retried.
          const ok = await postSign(served.url, (await csr("n1.example.test")).csrPem);
          assertEquals(ok.status, 200, ok.body);
          assert(hooks.failures.length < 3, `broken webhook already done after a second /sign (${ok.ms} ms)`);

          await waitUntil(() => hooks.received.length >= 1, "the webhook received nothing");
          const event = hooks.received[0];
          assertEquals(event.path, "/events");
          assertEquals(event.body.event, "issue-failed");
          assertEquals(event.body.names, ["unreachable.example.test"]);
          assertEquals(event.body.status, 421);
          assertEquals(event.body.client, "127.0.0.1");
          assertMatch(String(event.body.message), /unreachable\.example\.test/);
          assertMatch(String(event.body.time), /^\d{4}-\d\d-\d\dT/);
          assertEquals(typeof event.body.host, "string");

          await waitUntil(
            async () => (await Deno.readTextFile(execOut).catch(() => "")).endsWith("\n"),
            "exec wrote nothing",
          );
          const execLines = (await Deno.readTextFile(execOut)).trim().split("\n");
          assertEquals(execLines.length, 1, execLines.join("\n"));
          const execEvent = JSON.parse(execLines[0]);
          assertEquals([execEvent.event, execEvent.names, execEvent.status], ["issue-failed", [
            "unreachable.example.test",
          ], 421]);

          // The broken webhook: 1 try + 2 retries, then one error line; never a 4th attempt.
          const [failedLine] = await waitForLog(logFile, /"event":"notification failed"/, { timeoutMs: 20_000 });
          const failure = JSON.parse(failedLine);
          assertEquals([failure.notifier, failure.kind, failure.attempts], ["broken", "issue-failed", 3]);
          assertStringIncludes(String(failure.error), "500");
          assertEquals(hooks.failures.length, 3);
          const gaps = hooks.failures.slice(1).map((f, i) => f.at - hooks.failures[i].at);
          assert(gaps[0] >= 1_000 && gaps[1] >= 2_000, `retry gaps ${gaps.join(", ")} ms (want backoff 1 s, 2 s)`);

          const m = parsePrometheus((await request(`${served.url}/metrics`)).body);
          assertEquals(m.value("acmems_notifications_total", { notifier: "hook", result: "ok" }), 1);
          assertEquals(m.value("acmems_notifications_total", { notifier: "script", result: "ok" }), 1);
          assertEquals(m.value("acmems_notifications_total", { notifier: "broken", result: "failed" }), 1);
          assertEquals(m.value("acmems_sign_requests_total", { status: "421", block: "local" }), 1);
        } finally {
          if (served) assertEquals(await served.stop(), 0);
          await hooks.stop();
        }
        // Nothing more arrived after the stop (one event, one delivery each).
        assertEquals(hooks.received.length, 1);
        assertEquals(hooks.failures.length, 3);
      },
    );

    await t.step(
      "4. HTTPS mgmt (tls-cert, tls-key): POST /sign over https; SIGHUP loads a new certificate",
      async () => {
        // A child process: a TLS listener with reusePort needs --unstable-net, and without it Deno exits the whole
        // process (exit status 70) instead of throwing.
        const dir = await stepDir("tls");
        const tls = await makeTestCa(`${dir}/tls`);
        const mgmtPort = await freePort();
        const logFile = `${dir}/acmems.log`;
        await writeConfig(
          `${dir}/acmems.ini`,
          operateConfig({
            pebble: shared,
            accountDir,
            mgmtPort,
            logFile,
            mgmt: { "tls-cert": tls.serverCertFile, "tls-key": tls.serverKeyFile },
            storages: { none: NO_STORAGE },
            auth: { local: ipAuth() },
          }),
        );
        const url = `https://127.0.0.1:${mgmtPort}`;
        const client = Deno.createHttpClient({ caCerts: [tls.caPem] });
        let proc: Acmems | undefined;
        try {
          proc = await startAcmems({
            configFile: `${dir}/acmems.ini`,
            dir,
            outputFile: `${dir}/acmems.out`,
            logFile,
            ready: { url: `${url}/ready`, client },
            denoFlags: TLS_DENO_FLAGS,
          });
          const [listening] = (await logEvents(logFile, "listening")).filter((e) => e.role === "mgmt");
          assertEquals([listening.port, listening.tls], [mgmtPort, true]);
          const health = await request(`${url}/health`, { client });
          assertEquals([health.status, health.body], [200, "ok\n"]);

          const signed = await postSign(url, (await csr("tls1.example.test")).csrPem, {}, client);
          assertEquals(signed.status, 200, signed.body);
          assertEquals(signed.headers.get("content-type"), "application/pem-certificate-chain");
          assertEquals(sanNames(leaf(signed.body)), ["tls1.example.test"]);

          const viaCurl = await run("curl", [
            "-sS",
            "--fail",
            "--max-time",
            "60",
            "--cacert",
            tls.caFile,
            "--data-binary",
            `@${(await csr("tls2.example.test")).csrFile}`,
            `https://localhost:${mgmtPort}/sign`,
          ]);
          assertEquals(viaCurl.code, 0, viaCurl.output);
          assertMatch(viaCurl.stdout, /^-----BEGIN CERTIFICATE-----/);

          // Plain HTTP on the TLS port, and TLS without trusting the test CA, both fail.
          await assertRejects(() => request(`http://127.0.0.1:${mgmtPort}/health`));
          await assertRejects(() => request(`${url}/health`));

          // SIGHUP re-reads the TLS files: a certificate from another CA is served on the same port, same process.
          const renewed = await makeTestCa(`${dir}/tls-renewed`);
          await Deno.copyFile(renewed.serverKeyFile, tls.serverKeyFile);
          await Deno.copyFile(renewed.serverCertFile, tls.serverCertFile);
          Deno.kill(proc.pid, "SIGHUP");
          await waitForLog(logFile, /"event":"mgmt TLS certificate reloaded"/);
          const renewedClient = Deno.createHttpClient({ caCerts: [renewed.caPem] });
          try {
            const again = await request(`${url}/health`, { client: renewedClient });
            assertEquals(again.status, 200);
            // Fresh connections: the old CA no longer fits.
            const oldOnly = Deno.createHttpClient({ caCerts: [tls.caPem] });
            try {
              await assertRejects(() => request(`${url}/health`, { client: oldOnly }));
            } finally {
              oldOnly.close();
            }
          } finally {
            renewedClient.close();
          }
          assertEquals(proc.exitStatus, undefined);
          const status = await proc.stop(10_000);
          assertEquals(status.code, 0);
        } finally {
          client.close();
          await proc?.stop();
        }
      },
    );

    await t.step(
      "5. X-Forwarded-For: ignored from untrusted peers; right-most untrusted hop behind trusted-proxy",
      async () => {
        const dir = await stepDir("proxy");
        const mgmtPort = await freePort();
        const logFile = `${dir}/acmems.log`;
        const write = (mgmt: Options) =>
          writeConfig(
            `${dir}/acmems.ini`,
            operateConfig({
              pebble: shared,
              accountDir,
              mgmtPort,
              logFile,
              mgmt,
              storages: { none: NO_STORAGE },
              auth: { ten: ipAuth("xff.example.test", "10.0.0.1") },
            }),
          );
        await write({});
        const served = await serveInProcess([`${dir}/acmems.ini`]);
        try {
          const pem = (await csr("xff.example.test")).csrPem;
          const decisions = async () => (await logEvents(logFile, "sign")).map((e) => `${e.client} ${e.status}`);

          // No trusted-proxy: the header is never read.
          for (const xff of ["10.0.0.1", "192.0.2.1, 10.0.0.1"]) {
            const r = await postSign(served.url, pem, { "X-Forwarded-For": xff });
            assertEquals(r.status, 403, `${xff}: ${r.body}`);
          }
          assertEquals(await decisions(), ["127.0.0.1 403", "127.0.0.1 403"]);

          // Live reload (the EventTarget that stands for SIGHUP) with trusted-proxy = 127.0.0.1.
          await write({ "trusted-proxy": "127.0.0.1" });
          served.reload();
          await waitForLog(logFile, /"event":"config reloaded"/);

          const admitted = await postSign(served.url, pem, { "X-Forwarded-For": "192.0.2.1, 10.0.0.1" });
          assertEquals(admitted.status, 200, admitted.body);
          const spoofedLeft = await postSign(served.url, pem, { "X-Forwarded-For": "10.0.0.1, 192.0.2.1" });
          assertEquals(spoofedLeft.status, 403, spoofedLeft.body);
          // A peer that is not a trusted proxy (127.0.0.2) still cannot claim 10.0.0.1.
          const untrusted = await curlFrom("127.0.0.2", `${served.url}/sign`, [
            "-H",
            "X-Forwarded-For: 10.0.0.1",
            "--data-binary",
            pem,
          ]);
          assertEquals(untrusted.status, 403, untrusted.body);
          const plain = await postSign(served.url, pem);
          assertEquals(plain.status, 403, plain.body);
          assertEquals((await decisions()).slice(2), [
            "10.0.0.1 200",
            "192.0.2.1 403",
            "127.0.0.2 403",
            "127.0.0.1 403",
          ]);
        } finally {
          assertEquals(await served.stop(), 0);
        }
      },
    );

    await t.step("6. SIGHUP adds an auth block live (same PID and listeners); a broken config is refused", async () => {
      const dir = await stepDir("sighup");
      const mgmtPort = await freePort();
      const logFile = `${dir}/acmems.log`;
      const configFile = `${dir}/acmems.ini`;
      const write = (raw: string) =>
        writeConfig(
          configFile,
          operateConfig({
            pebble: shared,
            accountDir: `${dir}/account`,
            mgmtPort,
            logFile,
            logFormat: "text",
            storages: { none: NO_STORAGE },
            auth: { one: ipAuth("one.example.test") },
            raw,
          }),
        );
      await write("");
      const url = `http://127.0.0.1:${mgmtPort}`;
      const proc = await startAcmems({
        configFile,
        dir,
        outputFile: `${dir}/acmems.out`,
        logFile,
        ready: { url: `${url}/ready` },
      });
      try {
        const two = (await csr("two.example.test")).csrPem;
        assertEquals((await postSign(url, (await csr("one.example.test")).csrPem)).status, 200);
        const before = await postSign(url, two);
        assertEquals(before.status, 403, before.body);
        const listening = (await waitForLog(logFile, / INFO +listening /, { count: 2 })).length;

        await write(`\n[auth "two"]\nip = 127.0.0.1\ndomain = two.example.test\n`);
        Deno.kill(proc.pid, "SIGHUP");
        await waitForLog(logFile, / INFO +config reloaded /);
        const after = await postSign(url, two);
        assertEquals(after.status, 200, after.body);
        assertEquals(proc.exitStatus, undefined, "acmems exited on SIGHUP");

        // A broken config: the error is logged, the old config (with "two") stays.
        await write(`\n[auth "bad"]\nip = 10.0.0.300\ndomain = bad.example.test\n`);
        Deno.kill(proc.pid, "SIGHUP");
        const [refusedLine] = await waitForLog(logFile, / ERROR +config reload refused/);
        assertStringIncludes(refusedLine, "10.0.0.300");
        assertStringIncludes(refusedLine, configFile);
        const still = await postSign(url, two);
        assertEquals(still.status, 200, still.body);
        assertEquals(proc.exitStatus, undefined, "acmems exited on a broken reload");

        const log = await Deno.readTextFile(logFile);
        assertEquals(log.split("\n").filter((l) => / INFO +listening /.test(l)).length, listening, "listeners again");
        assertEquals(log.split("\n").filter((l) => / INFO +starting /.test(l)).length, 1, "restarted");
        const status = await proc.stop(10_000);
        assertEquals([status.code, status.signal], [0, null]);
        assertMatch(await Deno.readTextFile(logFile), / INFO +stopped/);
      } finally {
        await proc.stop();
      }
    });

    await t.step("7. no secret in the log, the output, or check-config --json after a full run", async () => {
      const dir = await stepDir("secrets");
      const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
      const secrets = {
        hmac_key: `hmac${hex(random(12))}`,
        "tsig-secret": btoa(String.fromCharCode(...random(32))),
        "eab-hmac-key": btoa(String.fromCharCode(...random(32))).replace(/\+/g, "-").replace(/\//g, "_")
          .replace(/=+$/, ""),
        "webhook token": `tok${hex(random(16))}`,
      };
      const eabPebble = await startPebble({
        dnsServer: named.address,
        eabRequired: true,
        eabKeys: { "kid-1": secrets["eab-hmac-key"] },
      });
      const hooks = startWebhookServer();
      let proc: Acmems | undefined;
      try {
        const [mgmtPort, closedPort] = await freePorts(2);
        const logFile = `${dir}/acmems.log`;
        const configFile = `${dir}/acmems.ini`;
        const write = (extra: string) =>
          writeConfig(
            configFile,
            operateConfig({
              pebble: eabPebble,
              accountDir: "account",
              mgmtPort,
              logFile: "acmems.log",
              logFormat: "text",
              account: { email: "ops@example.test", "eab-kid": "kid-1", "eab-hmac-key": secrets["eab-hmac-key"] },
              mgmt: { "default-verification": "http", "default-storage": "cache" },
              verifications: {
                dns: {
                  type: "dns01-dnsUpdate",
                  "dns-server": `127.0.0.1:${named.port}`,
                  "tsig-key-name": "acmems-key",
                  "tsig-algorithm": "hmac-sha256",
                  "tsig-secret": secrets["tsig-secret"],
                },
              },
              storages: { cache: fileStorage("cache") },
              auth: {
                hmac: { ip: "127.0.0.1", domain: "hmac.example.test", hmac_type: "sha256", hmac_key: secrets.hmac_key },
                local: ipAuth(["s?.example.test", "unreachable.example.test"]),
              },
              notify: {
                hook: {
                  type: "webhook",
                  url: `${hooks.url}/fail/hooks/${secrets["webhook token"]}`,
                  events: "issue-failed",
                  retries: 1,
                },
                down: {
                  type: "webhook",
                  url: `http://127.0.0.1:${closedPort}/hooks/${secrets["webhook token"]}?token=${
                    secrets["webhook token"]
                  }`,
                  events: "issue-failed",
                  retries: 0,
                },
              },
              raw: extra,
            }),
          );
        await write("");
        const deno = (args: string[]) => run(Deno.execPath(), ["run", "--allow-all", "--quiet", ACMEMS_MAIN, ...args]);
        const outputs: Record<string, string> = {};

        const checked = await deno(["check-config", "--json", configFile]);
        assertEquals(checked.code, 0, checked.output);
        outputs["check-config --json"] = checked.output;
        const parsed = JSON.parse(checked.stdout);
        assertEquals(parsed.ok, true);
        const checkedText = await deno(["check-config", configFile]);
        assertEquals(checkedText.code, 0, checkedText.output);
        outputs["check-config"] = checkedText.output;

        const registered = await deno(["register", "--gen-key", "--register", "--accept-terms-of-service", configFile]);
        assertEquals(registered.code, 0, registered.output);
        assertStringIncludes(registered.output, "Registered");
        outputs.register = registered.output;

        const url = `http://127.0.0.1:${mgmtPort}`;
        proc = await startAcmems({
          configFile,
          dir,
          outputFile: `${dir}/acmems.out`,
          logFile,
          ready: { url: `${url}/ready` },
        });
        for (const name of ["s1.example.test", "s2.example.test", "s1.example.test"]) {
          const r = await postSign(url, (await csr(name)).csrPem);
          assertEquals(r.status, 200, `${name}: ${r.body}`);
        }
        const hmacCsr = (await csr("hmac.example.test")).csrPem;
        const digest = await hmacSha256Hex(secrets.hmac_key, hmacCsr);
        const withHmac = await postSign(url, hmacCsr, { Authentication: `hmac name=sha256, hash=${digest}` });
        assertEquals(withHmac.status, 200, withHmac.body);
        const wrongDigest = digest.replace(/^./, (c) => (c === "0" ? "1" : "0"));
        const badHmac = await postSign(url, hmacCsr, { Authentication: `hmac name=sha256, hash=${wrongDigest}` });
        assertEquals(badHmac.status, 403, badHmac.body);
        const unreachable = await postSign(url, (await csr("unreachable.example.test")).csrPem);
        assertEquals(unreachable.status, 421, unreachable.body);

        await write(`\n[auth "late"]\nip = 127.0.0.1\ndomain = late.example.test\n`);
        Deno.kill(proc.pid, "SIGHUP");
        await waitForLog(logFile, / INFO +config reloaded /);
        assertEquals((await postSign(url, (await csr("late.example.test")).csrPem)).status, 200);
        const hmacAgain = await postSign(url, hmacCsr, { Authentication: `hmac name=sha256, hash=${digest}` });
        assertEquals(hmacAgain.status, 200, hmacAgain.body);

        // Both webhooks fail (HTTP 500 twice; connection refused), and say so in the log.
        await waitForLog(logFile, / ERROR +notification failed /, { count: 2, timeoutMs: 20_000 });
        assertEquals(hooks.failures.length, 2);
        assertEquals(hooks.failures[0].path, `/fail/hooks/${secrets["webhook token"]}`);
        const status = await proc.stop(10_000);
        assertEquals(status.code, 0);

        const log = await Deno.readTextFile(logFile);
        assertMatch(log, / DEBUG /);
        assertMatch(log, / INFO +stopped/);
        outputs["log file"] = log;
        outputs["serve stdout/stderr"] = await Deno.readTextFile(proc.outputFile);
        const leaks: string[] = [];
        for (const [where, text] of Object.entries(outputs)) {
          for (const [name, secret] of Object.entries(secrets)) {
            if (!text.includes(secret)) continue;
            const line = text.split("\n").find((l) => l.includes(secret))!;
            leaks.push(`${name} in ${where}: ${line.trim().slice(0, 300)}`);
          }
        }
        assertEquals(leaks, [], `secrets leaked:\n${leaks.join("\n")}`);
      } finally {
        await proc?.stop();
        await hooks.stop();
        await eabPebble.stop();
      }
    });
  } finally {
    await cleanup.run();
    console.log(`operate_test: ${Date.now() - started} ms`);
  }
});
