/**
 * Load on one acmems (a subprocess) over loopback, and its request limits.
 *
 * 1. Mixed load for LOAD_SECONDS (default 10; `LOAD_SECONDS=60` for the full run): challenge GETs for a known token
 *    at full speed (wrk), cache-hit `/sign` requests with HMAC (wrk + bench/lua/sign.lua), a new issuance every
 *    second against pebble, and 200 idle sockets (half silent, half stopped in the middle of a header). Must hold:
 *    no wrk error or non-2xx answer, every issuance 200, RSS (sampled every second) below RSS_LIMIT_MB, and a
 *    request made while the idle sockets are open still answers. p99 under load is printed next to the unloaded p99.
 * 2. `[mgmt] body-timeout` answers 408 in time, and `max-inflight` answers 503 with Retry-After beyond the limit.
 * `LOAD_SECONDS` below 2 or not an integer is refused before anything starts (it would check no issuance).
 */
import { assert, assertEquals } from "../support/assert.ts";
import { startAcmems } from "../support/acmems.ts";
import { makeCsr } from "../support/csr.ts";
import { startNamed } from "../support/named.ts";
import { startPebble } from "../support/pebble.ts";
import { intKnob } from "../support/knobs.ts";
import { freePorts } from "../support/ports.ts";
import { Cleanup } from "../support/stack.ts";
import {
  benchConfig,
  fetchMetrics,
  hmacHeader,
  memoryMb,
  metricSum,
  randomToken,
  startAcmemsWithToken,
} from "../../bench/lib/stack.ts";
import { runWrk, type WrkResult } from "../../bench/lib/wrk.ts";
import { type RawExchange, rawSend, within } from "./raw_http.ts";

/** At least 2: the issuance trickle posts LOAD_SECONDS - 1 CSRs, so 1 s (or less) would issue nothing. */
const LOAD_SECONDS = intKnob("LOAD_SECONDS", {
  fallback: 10,
  min: 2,
  why: "the trickle posts LOAD_SECONDS - 1 new issuances; fewer than 2 s would check none",
});
const RSS_LIMIT_MB = intKnob("LOAD_RSS_LIMIT_MB", { fallback: 300, min: 1 });
const IDLE_SOCKETS = 200;
const HOST = "load.example.test";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function describeWrk(r: WrkResult): string {
  return `${r.rps} req/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms, ` +
    `non-2xx ${r.non2xx}, socket errors ${r.socketErrors} (${JSON.stringify(r.errors)})`;
}

/**
 * One timed GET on a new connection (so it competes with the idle sockets for accept), written by hand because
 * fetch does not send a Host header of our choosing. Status 0: no answer within 10 s.
 */
async function timedGet(port: number, path: string, host: string): Promise<{ status: number; ms: number }> {
  const exchange = await rawSend(port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  try {
    const answer = await within(exchange.answer, 10_000, null);
    return { status: answer?.status ?? 0, ms: Math.round((answer?.ms ?? 10_000) * 10) / 10 };
  } finally {
    await exchange.close();
  }
}

Deno.test(`mixed load for ${LOAD_SECONDS} s: challenges, cache-hit signs, new issuances, ${IDLE_SOCKETS} idle sockets`, async () => {
  const cleanup = new Cleanup();
  const work = await Deno.makeTempDir({ prefix: "acmems-load-" });
  cleanup.add(() => Deno.remove(work, { recursive: true }));
  const idle: RawExchange[] = [];
  cleanup.add(() => Promise.all(idle.map((s) => s.close())));
  try {
    const named = await startNamed();
    cleanup.add(() => named.stop());
    const [mgmtPort, challengePort] = await freePorts(2);
    const pebble = await startPebble({ dnsServer: named.address, httpPort: challengePort });
    cleanup.add(() => pebble.stop());
    const hmacKey = randomToken();
    const token = randomToken();
    const keyAuthorization = `${token}.${randomToken()}`;
    const acmems = await startAcmemsWithToken({
      dir: `${work}/acmems`,
      setup: { directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, mgmtPort, challengePort, hmacKey },
      host: HOST,
      token,
      keyAuthorization,
    });
    cleanup.add(() => acmems.stop());

    // The cache-hit CSR (issued once now), and one new CSR per second of load for the trickle.
    const csrDir = `${work}/csrs`;
    const signCsr = await makeCsr({ names: ["cached.example.test"], dir: csrDir });
    const signAuth = await hmacHeader(hmacKey, signCsr.csrPem);
    const first = await fetch(`${acmems.mgmtUrl}/sign`, {
      method: "POST",
      body: signCsr.csrPem,
      headers: { Authentication: signAuth },
    });
    const firstBody = await first.text();
    assertEquals(first.status, 200, `first /sign: ${firstBody}`);
    const trickleCsrs = await Promise.all(
      Array.from({ length: LOAD_SECONDS + 2 }, (_, i) => makeCsr({ names: [`new${i}.example.test`], dir: csrDir })),
    );

    const challengePath = `/.well-known/acme-challenge/${token}`;
    const challengeUrl = `${acmems.challengeUrl}${challengePath}`;
    const known = (seconds: number) =>
      runWrk({ url: challengeUrl, threads: 1, connections: 32, seconds, headers: [`Host: ${HOST}`] });
    const sign = (seconds: number) =>
      runWrk({
        url: `${acmems.mgmtUrl}/sign`,
        threads: 1,
        connections: 32,
        seconds,
        script: "sign.lua",
        env: { WRK_BODY_FILE: signCsr.csrFile, WRK_AUTH: signAuth },
      });

    // Unloaded: each kind alone, with the same wrk settings as under load.
    const unloadedSeconds = Math.min(5, Math.max(2, Math.floor(LOAD_SECONDS / 3)));
    const knownAlone = await known(unloadedSeconds);
    const signAlone = await sign(unloadedSeconds);
    const rssBefore = await memoryMb(acmems.pid);

    // 200 idle sockets, half on each listener; half silent, half stopped in the middle of a header.
    for (let i = 0; i < IDLE_SOCKETS; i++) {
      const port = i % 2 === 0 ? challengePort : mgmtPort;
      const partial = i % 4 >= 2 ? `GET /health HTTP/1.1\r\nHost: ${HOST}\r\nX-Slow: ` : "";
      idle.push(await rawSend(port, partial));
    }
    await sleep(200);
    const withIdle = {
      health: await timedGet(mgmtPort, "/health", "127.0.0.1"),
      challenge: await timedGet(challengePort, challengePath, HOST),
    };
    assertEquals(withIdle.health.status, 200, `GET /health with ${IDLE_SOCKETS} idle sockets open`);
    assertEquals(withIdle.challenge.status, 200, `challenge GET with ${IDLE_SOCKETS} idle sockets open`);

    // RSS every second while the load runs.
    const rss: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        rss.push((await memoryMb(acmems.pid)).rss);
        await sleep(1000);
      }
    })();
    const before = await fetchMetrics(acmems.mgmtUrl);
    const loadStarted = performance.now();
    const knownRun = known(LOAD_SECONDS);
    const signRun = sign(LOAD_SECONDS);
    // New issuances: one CSR posted every second (not waiting for the previous one), and a probe of a fresh
    // connection every second.
    const issuances: Promise<{ status: number; cache: string | null; ms: number; body: string }>[] = [];
    const probes: { status: number; ms: number }[] = [];
    for (let i = 0; i < LOAD_SECONDS - 1; i++) {
      const csr = trickleCsrs[i];
      issuances.push((async () => {
        const started = performance.now();
        const response = await fetch(`${acmems.mgmtUrl}/sign`, {
          method: "POST",
          body: csr.csrPem,
          headers: { Authentication: await hmacHeader(hmacKey, csr.csrPem) },
          signal: AbortSignal.timeout(90_000),
        });
        const body = await response.text();
        const ms = Math.round(performance.now() - started);
        return { status: response.status, cache: response.headers.get("x-acmems-cache"), ms, body };
      })());
      probes.push(await timedGet(challengePort, challengePath, HOST));
      await sleep(Math.max(0, (i + 1) * 1000 - (performance.now() - loadStarted)));
    }
    const [knownLoaded, signLoaded] = await Promise.all([knownRun, signRun]);
    const issued = await Promise.all(issuances);
    sampling = false;
    await sampler;
    const after = await fetchMetrics(acmems.mgmtUrl);
    const rssAfter = await memoryMb(acmems.pid);

    // What the idle sockets saw: still open, closed by the server, or answered.
    const idleState = { open: 0, closed: 0, answered: 0 };
    for (const s of idle) {
      const answer = await within(s.answer, 0, "open" as const);
      if (answer === "open") idleState.open++;
      else if (answer === null) idleState.closed++;
      else idleState.answered++;
    }
    await Promise.all(idle.splice(0).map((s) => s.close()));

    const hits = metricSum(after, "acmems_cache_requests_total", { result: "hit" }) -
      metricSum(before, "acmems_cache_requests_total", { result: "hit" });
    const served = metricSum(after, "acmems_challenge_requests_total", { result: "served" }) -
      metricSum(before, "acmems_challenge_requests_total", { result: "served" });
    const issuedMs = issued.map((r) => r.ms);
    console.log(
      [
        `load: ${LOAD_SECONDS} s on 127.0.0.1, ${navigator.hardwareConcurrency} cores, load average ` +
        (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" "),
        `challenge (known token), alone:  ${describeWrk(knownAlone)}`,
        `challenge (known token), loaded: ${describeWrk(knownLoaded)}`,
        `  p99 under load ${knownLoaded.p99_ms} ms vs ${knownAlone.p99_ms} ms alone ` +
        `(${(knownLoaded.p99_ms / knownAlone.p99_ms).toFixed(1)}×); answers counted by acmems: ${served}`,
        `/sign cache hit, alone:  ${describeWrk(signAlone)}`,
        `/sign cache hit, loaded: ${describeWrk(signLoaded)}`,
        `  p99 under load ${signLoaded.p99_ms} ms vs ${signAlone.p99_ms} ms alone ` +
        `(${(signLoaded.p99_ms / signAlone.p99_ms).toFixed(1)}×); cache hits counted by acmems: ${hits}`,
        `new issuances: ${issued.length}, statuses ${[...new Set(issued.map((r) => r.status))].join(",")}, ` +
        `ms min ${Math.min(...issuedMs)} median ${issuedMs.sort((a, b) => a - b)[issuedMs.length >> 1]} ` +
        `max ${Math.max(...issuedMs)}`,
        `with ${IDLE_SOCKETS} idle sockets open: GET /health ${withIdle.health.ms} ms, challenge GET ` +
        `${withIdle.challenge.ms} ms; challenge GETs on a new connection under load: ` +
        `${probes.map((p) => p.ms).join(", ")} ms`,
        `idle sockets after the load: ${idleState.open} still open, ${idleState.closed} closed by acmems, ` +
        `${idleState.answered} answered`,
        `RSS (MiB) before ${rssBefore.rss}, every second: ${rss.join(", ")}; after ${rssAfter.rss}, ` +
        `peak (VmHWM) ${rssAfter.hwm}`,
      ].join("\n"),
    );

    for (const [name, r] of [["challenge", knownLoaded], ["cache-hit /sign", signLoaded]] as const) {
      assertEquals(r.socketErrors, 0, `${name} under load: socket errors ${JSON.stringify(r.errors)}`);
      assertEquals(r.non2xx, 0, `${name} under load: non-2xx answers`);
      assert(r.requests > 0, `${name} under load: no request completed`);
    }
    for (const [name, r] of [["challenge", knownAlone], ["cache-hit /sign", signAlone]] as const) {
      assertEquals(r.socketErrors + r.non2xx, 0, `${name} alone: errors ${JSON.stringify(r.errors)}`);
    }
    assert(hits >= signLoaded.requests, `acmems counted ${hits} cache hits for ${signLoaded.requests} wrk requests`);
    assert(served >= knownLoaded.requests, `acmems counted ${served} answers for ${knownLoaded.requests} requests`);
    assertEquals(issued.length, LOAD_SECONDS - 1, "new issuances posted during the load");
    assertEquals(probes.length, LOAD_SECONDS - 1, "challenge probes made during the load");
    for (const r of issued) {
      assertEquals(r.status, 200, `a new issuance under load failed: ${r.body}`);
      assertEquals(r.cache, "miss");
    }
    for (const p of probes) assertEquals(p.status, 200, "a challenge probe (new connection) under load failed");
    const maxRss = Math.max(...rss, rssAfter.rss);
    assert(maxRss < RSS_LIMIT_MB, `RSS reached ${maxRss} MiB (limit ${RSS_LIMIT_MB}): ${rss.join(", ")}`);
    assertEquals(acmems.proc.exitStatus, undefined, "acmems exited during the load");
  } finally {
    await cleanup.run();
  }
});

Deno.test("[mgmt] body-timeout answers 408 in time; max-inflight answers 503 with Retry-After", async () => {
  const cleanup = new Cleanup();
  const work = await Deno.makeTempDir({ prefix: "acmems-limits-" });
  cleanup.add(() => Deno.remove(work, { recursive: true }));
  const slow: RawExchange[] = [];
  cleanup.add(() => Promise.all(slow.map((s) => s.close())));
  try {
    const named = await startNamed();
    cleanup.add(() => named.stop());
    const [mgmtPort, challengePort] = await freePorts(2);
    const pebble = await startPebble({ dnsServer: named.address, httpPort: challengePort });
    cleanup.add(() => pebble.stop());
    const bodyTimeoutMs = 2000;
    const maxInflight = 4;
    const hmacKey = randomToken();
    const acmems = await startAcmems({
      config: benchConfig({
        directoryUrl: pebble.directoryUrl,
        caFile: pebble.caFile,
        mgmtPort,
        challengePort,
        hmacKey,
        mgmt: {
          "body-timeout": `${bodyTimeoutMs}ms`,
          "max-inflight": maxInflight,
          // One test address holds every slot here: the per-client cap would answer first.
          "max-inflight-per-client": maxInflight,
        },
      }),
    });
    cleanup.add(() => acmems.stop());
    const csr = await makeCsr({ names: ["slow.example.test"], dir: `${work}/csrs` });
    const auth = await hmacHeader(hmacKey, csr.csrPem);

    // max-inflight requests whose body never completes: each holds a slot until body-timeout.
    const head = `POST /sign HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/pkcs10\r\n` +
      `Authentication: ${auth}\r\nContent-Length: ${csr.csrPem.length}\r\n\r\n`;
    for (let i = 0; i < maxInflight; i++) slow.push(await rawSend(mgmtPort, head + csr.csrPem.slice(0, 100)));
    await sleep(300); // the handlers have started (Deno.serve calls them once the header is in)

    const started = performance.now();
    const over = await fetch(`${acmems.mgmtUrl}/sign`, {
      method: "POST",
      body: csr.csrPem,
      headers: { Authentication: auth },
    });
    const overBody = await over.text();
    const overMs = performance.now() - started;
    assertEquals(over.status, 503, `request ${maxInflight + 1} beyond max-inflight: ${overBody}`);
    assert(/^\d+$/.test(over.headers.get("retry-after") ?? ""), "503 without a Retry-After in seconds");
    assert(overMs < 1000, `the 503 took ${overMs} ms (it must not wait for a slot)`);

    const answers = await Promise.all(slow.map((s) => within(s.answer, bodyTimeoutMs + 5000, "timeout" as const)));
    for (const a of answers) {
      assert(a !== "timeout" && a !== null, `a slow body got no answer within body-timeout + 5 s: ${a}`);
      assertEquals(a.status, 408, "slow body");
      assert(
        a.ms >= bodyTimeoutMs - 50 && a.ms <= bodyTimeoutMs + 1500,
        `408 after ${a.ms.toFixed(0)} ms, body-timeout is ${bodyTimeoutMs} ms`,
      );
    }
    await Promise.all(slow.splice(0).map((s) => s.close()));

    // The slots are free again: a complete request is handled (issued), not refused.
    const again = await fetch(`${acmems.mgmtUrl}/sign`, {
      method: "POST",
      body: csr.csrPem,
      headers: { Authentication: auth },
    });
    const againBody = await again.text();
    assertEquals(again.status, 200, `after the 408s: ${againBody}`);
    console.log(
      `408 after ${answers.map((a) => (a !== "timeout" && a ? a.ms.toFixed(0) : "?")).join(", ")} ms ` +
        `(body-timeout ${bodyTimeoutMs} ms); 503 beyond max-inflight ${maxInflight} in ${overMs.toFixed(1)} ms with ` +
        `Retry-After: ${over.headers.get("retry-after")}`,
    );
  } finally {
    await cleanup.run();
  }
});
