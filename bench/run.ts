/**
 * The acmems benchmark (`deno task bench`): challenge answers, /sign cache hits, issuance against pebble, and
 * footprint, each next to a ceiling measured in the same run. Writes bench/results/latest.json, a dated copy, and
 * the results table in bench/README.md. Figures are reported, never asserted (see bench/README.md).
 *
 * Environment: BENCH_WRK_SECONDS (default 10), BENCH_REPS (default 3), BENCH_NO_README=1 (leave README alone),
 * ACMEMS_KEEP_FIXTURES=1 (keep the work dir with every log: acmems, pebble, named, nginx).
 * `deno task bench --table` only re-renders the README table from bench/results/latest.json.
 */
import { makeCsr } from "../tests/support/csr.ts";
import { startNamed } from "../tests/support/named.ts";
import { startPebble } from "../tests/support/pebble.ts";
import { writeConfig } from "../tests/support/config.ts";
import { freePorts } from "../tests/support/ports.ts";
import { timeToExit, timeToListen } from "./lib/footprint.ts";
import { type Block, type BlockResult, type Failure, runBlock } from "./lib/issuance.ts";
import { renderReadmeTable, updateReadme } from "./lib/report.ts";
import {
  BARE_SERVER,
  benchConfig,
  fetchMetrics,
  hmacHeader,
  MAIN_TS,
  memoryMb,
  metricSum,
  randomToken,
  REPO_ROOT,
  startAcmemsWithToken,
  startBare,
  startBarePost,
  startStaticNginx,
} from "./lib/stack.ts";
import { median, round, runWrk, wrkCommand, type WrkOptions, type WrkResult } from "./lib/wrk.ts";

const WRK_SECONDS = Number(Deno.env.get("BENCH_WRK_SECONDS") ?? 10);
const REPS = Number(Deno.env.get("BENCH_REPS") ?? 3);
const WARMUP_SECONDS = 2;
const CONNECTIONS = 64;
const THREADS = 2;
/** An n=1 issuance below this did not wait for the ACME client's poll backoff (see bench/README.md). */
const FAST_ISSUANCE_MS = 400;
const HOST = "bench.example.test";
const RESULTS = `${REPO_ROOT}bench/results`;

const log = (message: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
const started = performance.now();

/** A command's output, or "" when it fails. */
async function text(command: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
    if (!out.success) return "";
    return (new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr)).trim();
  } catch {
    return "";
  }
}

async function loadAverage(): Promise<number[]> {
  return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).map(Number);
}

async function machine() {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  return {
    cores: navigator.hardwareConcurrency,
    cpu_model: cpuinfo.match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "unknown",
    kernel: Deno.osRelease(),
    mem_total_mb: Math.round(Number((await Deno.readTextFile("/proc/meminfo")).match(/MemTotal:\s+(\d+)/)?.[1]) / 1024),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    wrk: (await text("dpkg-query", ["-W", "-f=${Version}", "wrk"])) || "unknown",
    nginx: (await text("dpkg-query", ["-W", "-f=${Version}", "nginx-light"])) || (await text("nginx", ["-v"])),
    pebble: (await text("dpkg-query", ["-W", "-f=${Version}", "pebble"])) || "unknown",
    load_avg_before: await loadAverage(),
    load_avg_after: [] as number[],
    note: "loopback only; wrk, the server under test and everything else share these cores",
  };
}

async function git() {
  const commit = (await text("git", ["-C", REPO_ROOT, "rev-parse", "HEAD"])) || "unknown";
  const dirty = await text("git", ["-C", REPO_ROOT, "status", "--porcelain", "--", "src", "cli", "main.ts"]);
  return { commit, product_dirty: dirty !== "", dirty_files: dirty ? dirty.split("\n").map((l) => l.slice(3)) : [] };
}

interface Series {
  rps: number;
  /** CPU time of the server process (all its threads, and nginx's worker) per answered request, in µs. */
  cpu_us_per_req: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  non2xx: number;
  socket_errors: number;
  runs: Pick<WrkResult, "rps" | "p50_ms" | "p90_ms" | "p99_ms" | "max_ms" | "requests" | "non2xx" | "socketErrors">[];
}

function series(runs: WrkResult[], cpu: number[] = []): Series {
  return {
    rps: median(runs.map((r) => r.rps)),
    cpu_us_per_req: round(median(cpu), 2),
    p50_ms: median(runs.map((r) => r.p50_ms)),
    p90_ms: median(runs.map((r) => r.p90_ms)),
    p99_ms: median(runs.map((r) => r.p99_ms)),
    max_ms: Math.max(...runs.map((r) => r.max_ms)),
    non2xx: runs.reduce((s, r) => s + r.non2xx, 0),
    socket_errors: runs.reduce((s, r) => s + r.socketErrors, 0),
    runs: runs.map(({ rps, p50_ms, p90_ms, p99_ms, max_ms, requests, non2xx, socketErrors }) => ({
      rps,
      p50_ms,
      p90_ms,
      p99_ms,
      max_ms,
      requests,
      non2xx,
      socketErrors,
    })),
  };
}

const ratio = (a: number, b: number) => round(a / b, 3);

/** User + system CPU seconds of a process and its direct children (nginx's worker), all threads. */
async function cpuSeconds(pid: number): Promise<number> {
  const pids = [pid];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`).catch(() => "");
    if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) pids.push(Number(entry.name));
  }
  let ticks = 0;
  for (const p of pids) {
    for await (const task of Deno.readDir(`/proc/${p}/task`)) {
      const stat = await Deno.readTextFile(`/proc/${p}/task/${task.name}/stat`).catch(() => "");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
    }
  }
  return ticks / 100; // USER_HZ is 100 on Linux
}

async function main() {
  const info = await machine();
  const gitInfo = await git();
  log(`${info.cores} cores, load average ${info.load_avg_before.join(" ")}; wrk ${REPS} × ${WRK_SECONDS} s per target`);
  const work = await Deno.makeTempDir({ prefix: "acmems-bench-" });
  const stops: (() => Promise<unknown>)[] = [];
  const commands: Record<string, string> = {};
  try {
    const [mgmtPort, challengePort, barePort, nginxPort, readyMgmt, readyChallenge, bareReadyPort, postPort] =
      await freePorts(8);
    const named = await startNamed();
    stops.push(() => named.stop());
    const pebble = await startPebble({ dnsServer: named.address, httpPort: challengePort });
    stops.push(() => pebble.stop());
    commands.pebble = `PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 pebble -config ` +
      `pebble-config.json -strict=false -dnsserver ${named.address}  (profiles default and shortlived; the ` +
      `issuance runs add PEBBLE_VA_ALWAYS_VALID=1 for the overhead figure)`;

    const hmacKey = randomToken();
    const token = randomToken();
    const keyAuthorization = `${token}.${randomToken()}`;
    const setup = { directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, mgmtPort, challengePort, hmacKey };

    // ------------------------------------------------------------------ footprint (fresh processes)
    log("footprint: check-config and serve start-up");
    const fpDir = `${work}/footprint`;
    await Deno.mkdir(fpDir);
    const fpConfig = `${fpDir}/acmems.ini`;
    await writeConfig(fpConfig, benchConfig({ ...setup, mgmtPort: readyMgmt, challengePort: readyChallenge }));
    const deno = Deno.execPath();
    const checkArgs = ["run", "--allow-all", "--quiet", MAIN_TS, "check-config", fpConfig];
    const serveArgs = ["run", "--allow-all", "--quiet", MAIN_TS, "serve", fpConfig];
    const noopArgs = ["run", "--allow-all", "--quiet", `${REPO_ROOT}bench/servers/noop.ts`];
    const bareArgs = ["run", "--allow-net", BARE_SERVER, String(bareReadyPort), keyAuthorization];
    commands.check_config = `deno ${checkArgs.join(" ")}`;
    commands.serve = `deno ${serveArgs.join(" ")}`;
    commands.noop = `deno ${noopArgs.join(" ")}`;
    commands.bare_deno = `deno ${bareArgs.join(" ")}`;
    // The first runs fill caches (and register the account); they are not counted.
    await timeToExit(deno, checkArgs, fpDir);
    await timeToExit(deno, noopArgs, fpDir);
    await timeToListen(deno, serveArgs, readyMgmt, { cwd: fpDir, idleMs: 200 });
    const check: number[] = [];
    const noop: number[] = [];
    const serve: { ms: number; rssMb?: number }[] = [];
    const bareStart: { ms: number; rssMb?: number }[] = [];
    for (let i = 0; i < 5; i++) {
      check.push(await timeToExit(deno, checkArgs, fpDir));
      noop.push(await timeToExit(deno, noopArgs, fpDir));
      serve.push(await timeToListen(deno, serveArgs, readyMgmt, { cwd: fpDir, idleMs: 1000 }));
      bareStart.push(await timeToListen(deno, bareArgs, bareReadyPort, { idleMs: 1000 }));
    }

    // ------------------------------------------------------------------ acmems under test
    log("starting acmems (subprocess) with a planted http-01 answer");
    const acmems = await startAcmemsWithToken({ dir: `${work}/acmems`, setup, host: HOST, token, keyAuthorization });
    stops.push(() => acmems.stop());
    commands.acmems = acmems.command;
    await new Promise((r) => setTimeout(r, 1000));
    const rssIdleBench = await memoryMb(acmems.pid);

    // ------------------------------------------------------------------ issuance
    // Fresh rigs (pebble for acmems, pebble for the floor, acmems, floor client) per block, and per pair for n = 50.
    const runId = randomToken(3).toLowerCase().replace(/[^a-z0-9]/g, "x");
    const csrDir = `${work}/csrs`;
    const blocks: Block[] = [
      { key: "n1", n: 1, reps: 8, alwaysValid: false, rigPerPair: false },
      { key: "n10", n: 10, reps: REPS, alwaysValid: false, rigPerPair: false },
      { key: "n50", n: 50, reps: REPS, alwaysValid: false, rigPerPair: true },
      { key: "av_n1", n: 1, reps: 12, alwaysValid: true, rigPerPair: false },
      { key: "av_n10", n: 10, reps: REPS, alwaysValid: true, rigPerPair: false },
      { key: "av_n50", n: 50, reps: REPS, alwaysValid: true, rigPerPair: true },
    ];
    const issuance: Record<string, BlockResult> = {};
    const failures: Failure[] = [];
    for (const block of blocks) {
      log(`issuance ${block.key}: ${block.reps} pairs of ${block.n}${block.alwaysValid ? " (always valid)" : ""}`);
      const { result, failures: f } = await runBlock(block, {
        dir: work,
        dnsServer: named.address,
        alwaysValid: block.alwaysValid,
        hmacKey,
        host: HOST,
        csrDir,
        runId,
        log,
      });
      issuance[block.key] = result;
      failures.push(...f);
    }
    const fast = (runs: number[]) => runs.filter((ms) => ms < FAST_ISSUANCE_MS);

    // ------------------------------------------------------------------ /sign cache hits
    log("sign cache hits");
    const signCsr = await makeCsr({ names: [`sign-${runId}.example.test`], dir: csrDir });
    const signAuth = await hmacHeader(hmacKey, signCsr.csrPem);
    const first = await fetch(`${acmems.mgmtUrl}/sign`, {
      method: "POST",
      body: signCsr.csrPem,
      headers: { Authentication: signAuth },
    });
    const chain = await first.text();
    if (first.status !== 200) throw new Error(`the first /sign of the cache-hit CSR answered ${first.status}`);
    const chainFile = `${work}/chain.pem`;
    await Deno.writeTextFile(chainFile, chain);
    const barePost = await startBarePost({ dir: work, port: postPort, hmacKey, chainFile });
    stops.push(() => barePost.stop());
    commands.bare_post = barePost.command;
    const signOpts: WrkOptions = {
      url: `${acmems.mgmtUrl}/sign`,
      threads: THREADS,
      connections: CONNECTIONS,
      script: "sign.lua",
      env: { WRK_BODY_FILE: signCsr.csrFile, WRK_AUTH: signAuth },
    };

    // ------------------------------------------------------------------ challenge answers and ceilings
    const bare = await startBare({ dir: work, port: barePort, text: keyAuthorization });
    stops.push(() => bare.stop());
    const nginx = await startStaticNginx({ dir: work, port: nginxPort, token, text: keyAuthorization });
    stops.push(() => nginx.stop());
    commands.nginx = nginx.command;
    const path = `/.well-known/acme-challenge/${token}`;
    const unknownPath = `/.well-known/acme-challenge/${randomToken()}`;
    const base = { threads: THREADS, connections: CONNECTIONS, headers: [`Host: ${HOST}`] };
    const targets: Record<string, WrkOptions> = {
      ceiling_deno: { ...base, url: `http://127.0.0.1:${barePort}${path}` },
      ceiling_nginx: { ...base, url: `http://127.0.0.1:${nginxPort}${path}` },
      known: { ...base, url: `${acmems.challengeUrl}${path}` },
      unknown: { ...base, url: `${acmems.challengeUrl}${unknownPath}` },
      ceiling_post: { ...signOpts, url: `http://127.0.0.1:${postPort}/sign` },
      sign_cache_hit: signOpts,
    };
    for (const [name, opts] of Object.entries(targets)) {
      commands[`wrk_${name}`] = wrkCommand({ ...opts, seconds: WRK_SECONDS });
    }
    log(`warm-up (${WARMUP_SECONDS} s per target)`);
    for (const opts of Object.values(targets)) await runWrk({ ...opts, seconds: WARMUP_SECONDS });

    const before = await fetchMetrics(acmems.mgmtUrl);
    const results: Record<string, WrkResult[]> = {};
    const cpu: Record<string, number[]> = {};
    const serverPid: Record<string, number> = {
      ceiling_deno: bare.pid,
      ceiling_nginx: nginx.pid,
      known: acmems.pid,
      unknown: acmems.pid,
      ceiling_post: barePost.pid,
      sign_cache_hit: acmems.pid,
    };
    for (let rep = 0; rep < REPS; rep++) {
      for (const [name, opts] of Object.entries(targets)) {
        log(`wrk ${name} run ${rep + 1}/${REPS}`);
        const cpuBefore = await cpuSeconds(serverPid[name]);
        const r = await runWrk({ ...opts, seconds: WRK_SECONDS });
        const cpuUsed = (await cpuSeconds(serverPid[name])) - cpuBefore;
        (results[name] ??= []).push(r);
        (cpu[name] ??= []).push((cpuUsed * 1e6) / Math.max(1, r.requests));
        log(
          `  ${r.rps} req/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, non-2xx ${r.non2xx}, errors ${r.socketErrors}, ` +
            `server CPU ${((cpuUsed * 1e6) / Math.max(1, r.requests)).toFixed(1)} µs/request`,
        );
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    const after = await fetchMetrics(acmems.mgmtUrl);
    const rssAfterLoad = await memoryMb(acmems.pid);
    info.load_avg_after = await loadAverage();

    // ------------------------------------------------------------------ results
    const s = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, series(v, cpu[k])]));
    const hitsCounted = metricSum(after, "acmems_cache_requests_total", { result: "hit" }) -
      metricSum(before, "acmems_cache_requests_total", { result: "hit" });
    const servedCounted = metricSum(after, "acmems_challenge_requests_total", { result: "served" }) -
      metricSum(before, "acmems_challenge_requests_total", { result: "served" });
    const signRequests = s.sign_cache_hit.runs.reduce((sum, r) => sum + r.requests, 0);
    const knownRequests = s.known.runs.reduce((sum, r) => sum + r.requests, 0);

    const toS = (ms: number) => round(ms / 1000, 3);
    const iss = (key: string) => ({ acmems: median(issuance[key].acmems), floor: median(issuance[key].floor) });
    const n1 = iss("n1");
    const n10 = iss("n10");
    const n50 = iss("n50");
    const fastA = fast(issuance.av_n1.acmems);
    const fastF = fast(issuance.av_n1.floor);
    const overheadFast = median(fastA) - median(fastF);
    const av1 = iss("av_n1");
    const av10 = iss("av_n10");
    const av50 = iss("av_n50");

    const result = {
      version: 1,
      date: new Date().toISOString(),
      duration_s: 0,
      git: gitInfo,
      machine: info,
      settings: {
        wrk_seconds: WRK_SECONDS,
        wrk_reps: REPS,
        wrk_threads: THREADS,
        wrk_connections: CONNECTIONS,
        warmup_seconds: WARMUP_SECONDS,
        aggregate: "median over runs (max_ms: max over runs; non2xx and socket_errors: sums)",
        acmems_logging: "level = info to a file (one line per /sign)",
        fast_issuance_ms: FAST_ISSUANCE_MS,
      },
      commands,
      challenge: {
        known: s.known,
        unknown: s.unknown,
        ceiling_deno: s.ceiling_deno,
        ceiling_nginx: s.ceiling_nginx,
        ceiling_deno_rps: s.ceiling_deno.rps,
        ceiling_nginx_rps: s.ceiling_nginx.rps,
        ratio_to_deno: ratio(s.known.rps, s.ceiling_deno.rps),
        ratio_to_nginx: ratio(s.known.rps, s.ceiling_nginx.rps),
        unknown_ratio_to_deno: ratio(s.unknown.rps, s.ceiling_deno.rps),
        unknown_ratio_to_nginx: ratio(s.unknown.rps, s.ceiling_nginx.rps),
        p99_ratio_to_deno: ratio(s.known.p99_ms, s.ceiling_deno.p99_ms),
        p99_ratio_to_nginx: ratio(s.known.p99_ms, s.ceiling_nginx.p99_ms),
        cpu_ratio_to_deno: ratio(s.known.cpu_us_per_req, s.ceiling_deno.cpu_us_per_req),
        served_counted: servedCounted,
        known_requests: knownRequests,
      },
      sign_cache_hit: {
        ...s.sign_cache_hit,
        ratio_to_deno: ratio(s.sign_cache_hit.rps, s.ceiling_deno.rps),
        ratio_to_nginx: ratio(s.sign_cache_hit.rps, s.ceiling_nginx.rps),
        p99_ratio_to_deno: ratio(s.sign_cache_hit.p99_ms, s.ceiling_deno.p99_ms),
        cpu_ratio_to_deno: ratio(s.sign_cache_hit.cpu_us_per_req, s.ceiling_deno.cpu_us_per_req),
        ceiling_post: s.ceiling_post,
        ceiling_post_rps: s.ceiling_post.rps,
        ratio_to_post: ratio(s.sign_cache_hit.rps, s.ceiling_post.rps),
        post_ratio_to_deno: ratio(s.ceiling_post.rps, s.ceiling_deno.rps),
        cpu_ratio_to_post: ratio(s.sign_cache_hit.cpu_us_per_req, s.ceiling_post.cpu_us_per_req),
        hits_counted: hitsCounted,
        wrk_requests: signRequests,
      },
      issuance: {
        n1_s: toS(n1.acmems),
        n10_s: toS(n10.acmems),
        n50_s: toS(n50.acmems),
        floor_n1_s: toS(n1.floor),
        floor_n10_s: toS(n10.floor),
        floor_n50_s: toS(n50.floor),
        ratio_n1_to_floor: ratio(n1.acmems, n1.floor),
        ratio_n10_to_floor: ratio(n10.acmems, n10.floor),
        ratio_n50_to_floor: ratio(n50.acmems, n50.floor),
        overhead_ms_per_cert: round(overheadFast, 1),
        overhead_method: "PEBBLE_VA_ALWAYS_VALID pebble, n=1: median of the runs that did not wait for the poll " +
          `backoff (< ${FAST_ISSUANCE_MS} ms), acmems minus floor`,
        n1_fast_ms: round(median(fastA), 1),
        floor_n1_fast_ms: round(median(fastF), 1),
        fast_runs: { acmems: fastA.length, floor: fastF.length, of: issuance.av_n1.acmems.length },
        overhead_n10_ms_per_cert: round((av10.acmems - av10.floor) / 10, 1),
        overhead_n50_ms_per_cert: round((av50.acmems - av50.floor) / 50, 1),
        av_n1_s: toS(av1.acmems),
        av_n10_s: toS(av10.acmems),
        av_n50_s: toS(av50.acmems),
        av_floor_n1_s: toS(av1.floor),
        av_floor_n10_s: toS(av10.floor),
        av_floor_n50_s: toS(av50.floor),
        av_n50_over_n1: ratio(av50.acmems, av1.acmems),
        av_floor_n50_over_n1: ratio(av50.floor, av1.floor),
        n50_over_n1: ratio(n50.acmems, n1.acmems),
        floor_n50_over_n1: ratio(n50.floor, n1.floor),
        failures,
        rss_ready_mb: issuance.n50.rssReadyMb,
        rss_after_n50_mb: issuance.n50.rssAfterMb,
        runs_ms: Object.fromEntries(
          Object.entries(issuance).map(([k, v]) => [k, {
            acmems: v.acmems.map((x) => round(x, 1)),
            floor: v.floor.map((x) => round(x, 1)),
          }]),
        ),
      },
      footprint: {
        rss_idle_mb: median(serve.map((x) => x.rssMb ?? NaN)),
        rss_idle_bench_process_mb: rssIdleBench.rss,
        rss_after_mb: median(issuance.n50.rssAfterMb),
        rss_after_load_mb: rssAfterLoad.rss,
        rss_peak_mb: rssAfterLoad.hwm,
        check_config_ms: round(median(check), 1),
        serve_ready_ms: round(median(serve.map((x) => x.ms)), 1),
        ceiling_noop_exit_ms: round(median(noop), 1),
        ceiling_bare_ready_ms: round(median(bareStart.map((x) => x.ms)), 1),
        ceiling_bare_rss_mb: median(bareStart.map((x) => x.rssMb ?? NaN)),
        check_config_ratio_to_noop: ratio(median(check), median(noop)),
        serve_ready_ratio_to_bare: ratio(median(serve.map((x) => x.ms)), median(bareStart.map((x) => x.ms))),
        rss_idle_ratio_to_bare: ratio(
          median(serve.map((x) => x.rssMb ?? NaN)),
          median(bareStart.map((x) => x.rssMb ?? NaN)),
        ),
        rss_after_ratio_to_bare: ratio(
          median(issuance.n50.rssAfterMb),
          median(bareStart.map((x) => x.rssMb ?? NaN)),
        ),
        samples: {
          check_config_ms: check.map((x) => round(x, 1)),
          serve_ready_ms: serve.map((x) => round(x.ms, 1)),
          serve_rss_idle_mb: serve.map((x) => x.rssMb),
          noop_exit_ms: noop.map((x) => round(x, 1)),
          bare_ready_ms: bareStart.map((x) => round(x.ms, 1)),
          bare_rss_idle_mb: bareStart.map((x) => x.rssMb),
        },
      },
      targets: [] as { name: string; target: string; value: string; met: boolean }[],
    };
    const t = result.targets;
    const c = result.challenge;
    const sh = result.sign_cache_hit;
    const is = result.issuance;
    t.push({
      name: "challenge req/s vs bare Deno.serve",
      target: "≥ 0.8×",
      value: `${c.ratio_to_deno}×`,
      met: c.ratio_to_deno >= 0.8,
    });
    t.push({ name: "challenge p99", target: "< 5 ms", value: `${c.known.p99_ms} ms`, met: c.known.p99_ms < 5 });
    t.push({
      name: "/sign cache hit req/s vs bare Deno.serve",
      target: "≥ 0.5×",
      value: `${sh.ratio_to_deno}×`,
      met: sh.ratio_to_deno >= 0.5,
    });
    t.push({ name: "/sign cache hit p99", target: "< 10 ms", value: `${sh.p99_ms} ms`, met: sh.p99_ms < 10 });
    t.push({
      name: "issuance overhead per certificate",
      target: "≤ 50 ms",
      value: `${is.overhead_ms_per_cert} ms`,
      met: is.overhead_ms_per_cert <= 50,
    });
    t.push({ name: "50 concurrent vs one", target: "≤ 2×", value: `${is.n50_over_n1}×`, met: is.n50_over_n1 <= 2 });
    result.duration_s = Math.round((performance.now() - started) / 1000);

    await Deno.mkdir(RESULTS, { recursive: true });
    const json = JSON.stringify(result, null, 2) + "\n";
    const stamp = result.date.slice(0, 16).replace(":", "-");
    await Deno.writeTextFile(`${RESULTS}/latest.json`, json);
    await Deno.writeTextFile(`${RESULTS}/${stamp}.json`, json);
    if (Deno.env.get("BENCH_NO_README") !== "1") await updateReadme(`${REPO_ROOT}bench/README.md`, result);
    console.log(renderReadmeTable(result));
    log(`done in ${result.duration_s} s: bench/results/latest.json, bench/results/${stamp}.json`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch((e) => log(`stop failed: ${e}`));
    if (Deno.env.get("ACMEMS_KEEP_FIXTURES") === "1") log(`ACMEMS_KEEP_FIXTURES=1: keeping ${work}`);
    else await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (Deno.args.includes("-h") || Deno.args.includes("--help")) {
  console.log(`Usage: deno task bench [--table]

Runs the benchmark (about 5 minutes) and writes bench/results/latest.json, a dated copy and the README table.
--table only re-renders the README table from bench/results/latest.json.
Environment: BENCH_WRK_SECONDS (10), BENCH_REPS (3), BENCH_NO_README=1, ACMEMS_KEEP_FIXTURES=1.`);
} else if (Deno.args.includes("--table")) {
  // Re-render the README table from the last results without running anything.
  const result = JSON.parse(await Deno.readTextFile(`${RESULTS}/latest.json`));
  await updateReadme(`${REPO_ROOT}bench/README.md`, result);
  console.log(renderReadmeTable(result));
} else {
  await main();
}
