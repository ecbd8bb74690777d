/**
 * The acmems benchmark (`deno task bench`): challenge answers, /sign cache hits, issuance against pebble, and
 * footprint, each next to a ceiling measured in the same run. Writes bench/results/latest.json, a dated copy, and
 * the results table in bench/README.md. Figures are reported, never asserted (see bench/README.md).
 *
 * Environment: BENCH_WRK_SECONDS (default 10), BENCH_REPS (default 3), BENCH_NO_README=1 (leave README alone),
 * ACMEMS_KEEP_FIXTURES=1 (keep the work dir with every log: acmems, pebble, named, nginx).
 * `deno task bench --quick`: a trial in about a minute (short wrk runs, fewer issuance runs, no bundle); its results
 * go to bench/results/quick.json and a dated copy, never to latest.json or the README.
 * `deno task bench --table` only re-renders the README table from bench/results/latest.json.
 * `deno run -A bench/compare.ts OLD.json NEW.json` compares two runs (e.g. before and after a merge).
 */
import { makeCsr } from "../tests/support/csr.ts";
import { startNamed } from "../tests/support/named.ts";
import { startPebble } from "../tests/support/pebble.ts";
import { writeConfig } from "../tests/support/config.ts";
import { freePorts } from "../tests/support/ports.ts";
import { timeToExit, timeToListen } from "./lib/footprint.ts";
import { type Block, type BlockResult, type Failure, runBlock } from "./lib/issuance.ts";
import { renderReadmeTable, updateReadme } from "./lib/report.ts";
import { distribution, targetsOf } from "./lib/summary.ts";
import {
  BARE_SERVER,
  benchConfig,
  fetchMetrics,
  heapMb,
  hmacHeader,
  MAIN_TS,
  memoryMb,
  metricSum,
  randomToken,
  REPO_ROOT,
  SERVE_V8_FLAGS,
  startAcmemsWithToken,
  startBare,
  startBarePost,
  startBarePostHit,
  startStaticNginx,
} from "./lib/stack.ts";
import { median, round, runWrk, wrkCommand, type WrkOptions, type WrkResult } from "./lib/wrk.ts";

const QUICK = Deno.args.includes("--quick");
const WRK_SECONDS = Number(Deno.env.get("BENCH_WRK_SECONDS") ?? (QUICK ? 3 : 10));
const REPS = Number(Deno.env.get("BENCH_REPS") ?? (QUICK ? 1 : 3));
const WARMUP_SECONDS = QUICK ? 1 : 2;
/** Start-up samples per command. */
const STARTS = QUICK ? 3 : 9;
/** How long acmems idles after the wrk runs before its memory is read again ("once the load stopped"). */
const AFTER_LOAD_IDLE_MS = QUICK ? 5_000 : 30_000;
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
/** req/s of `runs[i]` over `ceiling[i]`, round by round. */
const pairedRatios = (runs: WrkResult[], ceiling: WrkResult[]) =>
  runs.map((r, i) => ratio(r.rps, ceiling[i]?.rps ?? NaN));

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
    const [
      mgmtPort,
      challengePort,
      barePort,
      nginxPort,
      readyMgmt,
      readyChallenge,
      bareReadyPort,
      postPort,
      urlHostPort,
      hitPort,
    ] = await freePorts(10);
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
    const serveArgs = ["run", "--allow-all", "--quiet", ...SERVE_V8_FLAGS, MAIN_TS, "serve", fpConfig];
    const noopArgs = ["run", "--allow-all", "--quiet", `${REPO_ROOT}bench/servers/noop.ts`];
    const bareArgs = ["run", "--allow-net", BARE_SERVER, String(bareReadyPort), keyAuthorization];
    // The floor of serve: only what serve must do (bench/probes/minimal_serve.ts), with the same config.
    const floorArgs = ["run", "--allow-all", "--quiet", `${REPO_ROOT}bench/probes/minimal_serve.ts`, "serve", fpConfig];
    // The same floor holding serve's code: it imports cli/serve_run.ts (the modules serve loads by the time it idles,
    // bar main.ts and the CLI's own) and runs none of it, so the RSS it adds is what holding that code costs.
    const floorCodeArgs = [...floorArgs, `--import=${REPO_ROOT}cli/serve_run.ts`];
    const health = `http://127.0.0.1:${readyMgmt}/health`;
    commands.check_config = `deno ${checkArgs.join(" ")}`;
    commands.serve = `deno ${serveArgs.join(" ")}`;
    commands.noop = `deno ${noopArgs.join(" ")}`;
    commands.bare_deno = `deno ${bareArgs.join(" ")}`;
    commands.minimal_serve = `deno ${floorArgs.join(" ")}`;
    commands.minimal_serve_with_code = `deno ${floorCodeArgs.join(" ")}`;
    // The first runs fill caches (and register the account); they are not counted.
    await timeToExit(deno, checkArgs, fpDir);
    await timeToExit(deno, noopArgs, fpDir);
    await timeToListen(deno, serveArgs, readyMgmt, { cwd: fpDir, idleMs: 200 });
    const check: number[] = [];
    const noop: number[] = [];
    const serve: { ms: number; rssMb?: number; answerMs?: number }[] = [];
    const bareStart: { ms: number; rssMb?: number }[] = [];
    const floorStart: { ms: number; rssMb?: number; answerMs?: number }[] = [];
    await timeToListen(deno, floorArgs, readyMgmt, { cwd: fpDir, idleMs: 200 });
    await timeToListen(deno, floorCodeArgs, readyMgmt, { cwd: fpDir, idleMs: 200 });
    const floorCodeStart: { ms: number; rssMb?: number }[] = [];
    // V8 keeps one code cache per module and rejects it when the V8 flags differ from the run that wrote it: serve
    // runs with the shipped flags, check-config without, so a run right after the other command compiles the shared
    // config code again. Each round measures both: the first run of a command after the other one ("after"), then
    // the same command again (the figure of the targets, what repeated runs of one command cost).
    const checkAfterServe: number[] = [];
    const serveAfterCheck: number[] = [];
    for (let i = 0; i < STARTS; i++) {
      checkAfterServe.push(await timeToExit(deno, checkArgs, fpDir));
      check.push(await timeToExit(deno, checkArgs, fpDir));
      noop.push(await timeToExit(deno, noopArgs, fpDir));
      serveAfterCheck.push((await timeToListen(deno, serveArgs, readyMgmt, { cwd: fpDir, idleMs: 0 })).ms);
      serve.push(
        await timeToListen(deno, serveArgs, readyMgmt, { cwd: fpDir, idleMs: 1000, answerUrl: health }),
      );
      bareStart.push(await timeToListen(deno, bareArgs, bareReadyPort, { idleMs: 1000 }));
      floorStart.push(
        await timeToListen(deno, floorArgs, readyMgmt, { cwd: fpDir, idleMs: 1000, answerUrl: health }),
      );
      floorCodeStart.push(await timeToListen(deno, floorCodeArgs, readyMgmt, { cwd: fpDir, idleMs: 1000 }));
    }
    // The bundle (what `deno task bundle` builds and a container without `deno compile` runs), not in --quick.
    const bundleCheck: number[] = [];
    const bundleServe: { ms: number; rssMb?: number }[] = [];
    if (!QUICK) {
      log("footprint: the bundle (deno task bundle)");
      const built = await new Deno.Command(deno, {
        args: ["task", "bundle"],
        cwd: REPO_ROOT,
        stdout: "null",
        stderr: "piped",
      })
        .output();
      if (!built.success) throw new Error(`deno task bundle failed: ${new TextDecoder().decode(built.stderr)}`);
      const bundle = `${REPO_ROOT}dist/acmems.js`;
      const bundleCheckArgs = ["run", "--allow-all", "--quiet", bundle, "check-config", fpConfig];
      const bundleServeArgs = ["run", "--allow-all", "--quiet", ...SERVE_V8_FLAGS, bundle, "serve", fpConfig];
      commands.bundle_check_config = `deno ${bundleCheckArgs.join(" ")}`;
      commands.bundle_serve = `deno ${bundleServeArgs.join(" ")}`;
      await timeToExit(deno, bundleCheckArgs, fpDir);
      await timeToListen(deno, bundleServeArgs, readyMgmt, { cwd: fpDir, idleMs: 200 });
      for (let i = 0; i < STARTS; i++) {
        await timeToExit(deno, bundleCheckArgs, fpDir); // after serve: see above
        bundleCheck.push(await timeToExit(deno, bundleCheckArgs, fpDir));
        await timeToListen(deno, bundleServeArgs, readyMgmt, { cwd: fpDir, idleMs: 0 }); // after check-config
        bundleServe.push(
          await timeToListen(deno, bundleServeArgs, readyMgmt, { cwd: fpDir, idleMs: 1000 }),
        );
      }
    }

    // ------------------------------------------------------------------ acmems under test
    log("starting acmems (subprocess) with a planted http-01 answer");
    const acmems = await startAcmemsWithToken({ dir: `${work}/acmems`, setup, host: HOST, token, keyAuthorization });
    stops.push(() => acmems.stop());
    commands.acmems = acmems.command;
    await new Promise((r) => setTimeout(r, 1000));
    const rssIdleBench = await memoryMb(acmems.pid);
    const heapIdleBench = await heapMb(acmems);

    // ------------------------------------------------------------------ issuance
    // Fresh rigs (pebble for acmems, pebble for the floor, acmems, floor client) per block, and per pair for n = 50.
    const runId = randomToken(3).toLowerCase().replace(/[^a-z0-9]/g, "x");
    const csrDir = `${work}/csrs`;
    const blocks: Block[] = [
      { key: "n1", n: 1, reps: QUICK ? 5 : 12, alwaysValid: false, rigPerPair: false },
      { key: "n10", n: 10, reps: REPS, alwaysValid: false, rigPerPair: false },
      { key: "n30", n: 30, reps: REPS, alwaysValid: false, rigPerPair: true },
      ...(QUICK ? [] : [
        { key: "av_n1", n: 1, reps: 12, alwaysValid: true, rigPerPair: false },
        { key: "av_n10", n: 10, reps: REPS, alwaysValid: true, rigPerPair: false },
        { key: "av_n30", n: 30, reps: REPS, alwaysValid: true, rigPerPair: true },
      ]),
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
    const bareHit = await startBarePostHit({ dir: work, port: hitPort, hmacKey, chainFile });
    stops.push(() => bareHit.stop());
    commands.bare_post_hit = bareHit.command;
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
    const bareUrlHost = await startBare({ dir: work, port: urlHostPort, text: keyAuthorization, readUrlHost: true });
    stops.push(() => bareUrlHost.stop());
    commands.bare_url_host = bareUrlHost.command;
    const nginx = await startStaticNginx({ dir: work, port: nginxPort, token, text: keyAuthorization });
    stops.push(() => nginx.stop());
    commands.nginx = nginx.command;
    const path = `/.well-known/acme-challenge/${token}`;
    const unknownPath = `/.well-known/acme-challenge/${randomToken()}`;
    const base = { threads: THREADS, connections: CONNECTIONS, headers: [`Host: ${HOST}`] };
    const targets: Record<string, WrkOptions> = {
      ceiling_deno: { ...base, url: `http://127.0.0.1:${barePort}${path}` },
      ceiling_nginx: { ...base, url: `http://127.0.0.1:${nginxPort}${path}` },
      ceiling_url_host: { ...base, url: `http://127.0.0.1:${urlHostPort}${path}` },
      known: { ...base, url: `${acmems.challengeUrl}${path}` },
      unknown: { ...base, url: `${acmems.challengeUrl}${unknownPath}` },
      ceiling_post: { ...signOpts, url: `http://127.0.0.1:${postPort}/sign` },
      ceiling_hit: { ...signOpts, url: `http://127.0.0.1:${hitPort}/sign` },
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
      ceiling_url_host: bareUrlHost.pid,
      ceiling_post: barePost.pid,
      ceiling_hit: bareHit.pid,
      sign_cache_hit: acmems.pid,
    };
    // Whether acmems' idle trim ran between its previous wrk run and each cache-hit run (acmems_memory_trims_total):
    // a trim shrinks the young generation and drops compiled code (what that costs a run: README, fifth round).
    const trims = async () => metricSum(await fetchMetrics(acmems.mgmtUrl), "acmems_memory_trims_total");
    let trimsAfterAcmemsRun = await trims();
    const trimmedBefore: boolean[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      // Every other round runs the targets in reverse order, so a machine that slows down or speeds up during the
      // run weighs on acmems and on its ceilings alike (the per-round ratios below pair adjacent runs).
      const order = rep % 2 === 0 ? Object.entries(targets) : Object.entries(targets).reverse();
      for (const [name, opts] of order) {
        if (name === "sign_cache_hit") trimmedBefore.push((await trims()) > trimsAfterAcmemsRun);
        log(`wrk ${name} run ${rep + 1}/${REPS}`);
        const cpuBefore = await cpuSeconds(serverPid[name]);
        const r = await runWrk({ ...opts, seconds: WRK_SECONDS });
        const cpuUsed = (await cpuSeconds(serverPid[name])) - cpuBefore;
        (results[name] ??= []).push(r);
        if (serverPid[name] === acmems.pid) trimsAfterAcmemsRun = await trims();
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
    const heapAfterLoad = await heapMb(acmems);
    info.load_avg_after = await loadAverage();
    log(`memory once the load stopped (${AFTER_LOAD_IDLE_MS / 1000} s idle)`);
    await new Promise((r) => setTimeout(r, AFTER_LOAD_IDLE_MS));
    const rssLoadStopped = await memoryMb(acmems.pid);
    const heapLoadStopped = await heapMb(acmems);

    // ------------------------------------------------------------------ results
    const s = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, series(v, cpu[k])]));
    const hitsCounted = metricSum(after, "acmems_cache_requests_total", { result: "hit" }) -
      metricSum(before, "acmems_cache_requests_total", { result: "hit" });
    const servedCounted = metricSum(after, "acmems_challenge_requests_total", { result: "served" }) -
      metricSum(before, "acmems_challenge_requests_total", { result: "served" });
    const signRequests = s.sign_cache_hit.runs.reduce((sum, r) => sum + r.requests, 0);
    const knownRequests = s.known.runs.reduce((sum, r) => sum + r.requests, 0);

    const toS = (ms: number) => round(ms / 1000, 3);
    const empty = { acmems: [] as number[], floor: [] as number[], rssAfterMb: [] as number[], heapAfterMb: [] };
    const block = (key: string) => issuance[key] ?? empty;
    const iss = (key: string) => ({ acmems: median(block(key).acmems), floor: median(block(key).floor) });
    const n1 = iss("n1");
    const n10 = iss("n10");
    const n30 = iss("n30");
    const fastA = fast(block("av_n1").acmems);
    const fastF = fast(block("av_n1").floor);
    const overheadFast = median(fastA) - median(fastF);
    const av1 = iss("av_n1");
    const av10 = iss("av_n10");
    const av30 = iss("av_n30");
    const rssIdle = median(serve.map((x) => x.rssMb ?? NaN));
    const bareRss = median(bareStart.map((x) => x.rssMb ?? NaN));
    const rssAfterIssuance = median(block("n30").rssAfterMb);

    const result = {
      version: 2,
      quick: QUICK,
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
        starts_per_command: STARTS,
        after_load_idle_ms: AFTER_LOAD_IDLE_MS,
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
        // Round by round (acmems' run over the ceiling's run of the same round), and their median: steadier than the
        // ratio of medians when the machine drifts during the run.
        ratio_to_deno_per_round: pairedRatios(results.known, results.ceiling_deno),
        ratio_to_deno_paired: median(pairedRatios(results.known, results.ceiling_deno)),
        ratio_to_url_host_paired: median(pairedRatios(results.known, results.ceiling_url_host)),
        ratio_to_nginx: ratio(s.known.rps, s.ceiling_nginx.rps),
        unknown_ratio_to_deno: ratio(s.unknown.rps, s.ceiling_deno.rps),
        unknown_ratio_to_nginx: ratio(s.unknown.rps, s.ceiling_nginx.rps),
        p99_ratio_to_deno: ratio(s.known.p99_ms, s.ceiling_deno.p99_ms),
        p99_ratio_to_nginx: ratio(s.known.p99_ms, s.ceiling_nginx.p99_ms),
        cpu_ratio_to_deno: ratio(s.known.cpu_us_per_req, s.ceiling_deno.cpu_us_per_req),
        // A bare Deno.serve that reads the host and the path from the request URL, as any answer keyed by host and token must.
        ceiling_url_host: s.ceiling_url_host,
        ratio_to_url_host: ratio(s.known.rps, s.ceiling_url_host.rps),
        url_host_ratio_to_deno: ratio(s.ceiling_url_host.rps, s.ceiling_deno.rps),
        cpu_ratio_to_url_host: ratio(s.known.cpu_us_per_req, s.ceiling_url_host.cpu_us_per_req),
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
        ratio_to_post_per_round: pairedRatios(results.sign_cache_hit, results.ceiling_post),
        ratio_to_post_paired: median(pairedRatios(results.sign_cache_hit, results.ceiling_post)),
        trimmed_before_round: trimmedBefore,
        post_ratio_to_deno: ratio(s.ceiling_post.rps, s.ceiling_deno.rps),
        cpu_ratio_to_post: ratio(s.sign_cache_hit.cpu_us_per_req, s.ceiling_post.cpu_us_per_req),
        // POST+HMAC plus what the README promises per hit (bounded body read, cache stat, headers, audit line).
        ceiling_hit: s.ceiling_hit,
        ratio_to_hit: ratio(s.sign_cache_hit.rps, s.ceiling_hit.rps),
        hit_ratio_to_post: ratio(s.ceiling_hit.rps, s.ceiling_post.rps),
        cpu_ratio_to_hit: ratio(s.sign_cache_hit.cpu_us_per_req, s.ceiling_hit.cpu_us_per_req),
        hits_counted: hitsCounted,
        wrk_requests: signRequests,
      },
      issuance: {
        // Distributions (ms) of every run: single issuances should no longer flip between ~20 ms and 0.5-1 s.
        n1: { acmems: distribution(block("n1").acmems), floor: distribution(block("n1").floor) },
        n10: { acmems: distribution(block("n10").acmems), floor: distribution(block("n10").floor) },
        n30: { acmems: distribution(block("n30").acmems), floor: distribution(block("n30").floor) },
        n1_s: toS(n1.acmems),
        n10_s: toS(n10.acmems),
        n30_s: toS(n30.acmems),
        floor_n1_s: toS(n1.floor),
        floor_n10_s: toS(n10.floor),
        floor_n30_s: toS(n30.floor),
        ratio_n1_to_floor: ratio(n1.acmems, n1.floor),
        ratio_n10_to_floor: ratio(n10.acmems, n10.floor),
        ratio_n30_to_floor: ratio(n30.acmems, n30.floor),
        n30_over_n1: ratio(n30.acmems, n1.acmems),
        floor_n30_over_n1: ratio(n30.floor, n1.floor),
        overhead_ms_per_cert: round(overheadFast, 1),
        overhead_method: "PEBBLE_VA_ALWAYS_VALID pebble, n=1: median of the runs below " +
          `${FAST_ISSUANCE_MS} ms, acmems minus floor (not measured with --quick)`,
        n1_fast_ms: round(median(fastA), 1),
        floor_n1_fast_ms: round(median(fastF), 1),
        fast_runs: { acmems: fastA.length, floor: fastF.length, of: block("av_n1").acmems.length },
        overhead_n10_ms_per_cert: round((av10.acmems - av10.floor) / 10, 1),
        overhead_n30_ms_per_cert: round((av30.acmems - av30.floor) / 30, 1),
        av_n1_s: toS(av1.acmems),
        av_n10_s: toS(av10.acmems),
        av_n30_s: toS(av30.acmems),
        av_floor_n1_s: toS(av1.floor),
        av_floor_n10_s: toS(av10.floor),
        av_floor_n30_s: toS(av30.floor),
        failures,
        rss_ready_mb: block("n30").rssReadyMb ?? [],
        rss_after_n30_mb: block("n30").rssAfterMb,
        heap_after_n30_mb: block("n30").heapAfterMb,
        runs_ms: Object.fromEntries(
          Object.entries(issuance).map(([k, v]) => [k, {
            acmems: v.acmems.map((x) => round(x, 1)),
            floor: v.floor.map((x) => round(x, 1)),
          }]),
        ),
      },
      footprint: {
        // RSS (VmRSS) and V8 heap (Deno.memoryUsage().heapTotal / heapUsed), MiB.
        rss_idle_mb: rssIdle,
        rss_idle_bench_process_mb: rssIdleBench.rss,
        heap_idle_mb: heapIdleBench.heap_total,
        heap_used_idle_mb: heapIdleBench.heap_used,
        rss_after_issuance_mb: rssAfterIssuance,
        heap_after_issuance_mb: median(block("n30").heapAfterMb),
        rss_after_load_mb: rssAfterLoad.rss,
        heap_after_load_mb: heapAfterLoad.heap_total,
        heap_used_after_load_mb: heapAfterLoad.heap_used,
        rss_peak_mb: rssAfterLoad.hwm,
        rss_after_load_stopped_mb: rssLoadStopped.rss,
        heap_after_load_stopped_mb: heapLoadStopped.heap_total,
        heap_used_after_load_stopped_mb: heapLoadStopped.heap_used,
        rss_after_load_stopped_ratio_to_idle: ratio(rssLoadStopped.rss, rssIdleBench.rss),
        check_config_ms: round(median(check), 1),
        serve_ready_ms: round(median(serve.map((x) => x.ms)), 1),
        // The first run after the other command (V8 rejects the code cache written with other V8 flags).
        check_config_after_serve_ms: round(median(checkAfterServe), 1),
        serve_ready_after_check_config_ms: round(median(serveAfterCheck), 1),
        bundle_check_config_ms: round(median(bundleCheck), 1),
        bundle_serve_ready_ms: round(median(bundleServe.map((x) => x.ms)), 1),
        bundle_rss_idle_mb: median(bundleServe.map((x) => x.rssMb ?? NaN)),
        ceiling_noop_exit_ms: round(median(noop), 1),
        serve_answer_ms: round(median(serve.map((x) => x.answerMs ?? NaN)), 1),
        floor_serve_ready_ms: round(median(floorStart.map((x) => x.ms)), 1),
        floor_serve_answer_ms: round(median(floorStart.map((x) => x.answerMs ?? NaN)), 1),
        floor_serve_rss_mb: round(median(floorStart.map((x) => x.rssMb ?? NaN)), 1),
        floor_serve_with_code_rss_mb: round(median(floorCodeStart.map((x) => x.rssMb ?? NaN)), 1),
        ceiling_bare_ready_ms: round(median(bareStart.map((x) => x.ms)), 1),
        ceiling_bare_rss_mb: bareRss,
        check_config_ratio_to_noop: ratio(median(check), median(noop)),
        serve_ready_ratio_to_bare: ratio(median(serve.map((x) => x.ms)), median(bareStart.map((x) => x.ms))),
        rss_idle_ratio_to_bare: ratio(rssIdle, bareRss),
        rss_after_issuance_ratio_to_bare: ratio(rssAfterIssuance, bareRss),
        samples: {
          check_config_ms: check.map((x) => round(x, 1)),
          serve_ready_ms: serve.map((x) => round(x.ms, 1)),
          check_config_after_serve_ms: checkAfterServe.map((x) => round(x, 1)),
          serve_ready_after_check_config_ms: serveAfterCheck.map((x) => round(x, 1)),
          serve_rss_idle_mb: serve.map((x) => x.rssMb),
          bundle_check_config_ms: bundleCheck.map((x) => round(x, 1)),
          bundle_serve_ready_ms: bundleServe.map((x) => round(x.ms, 1)),
          noop_exit_ms: noop.map((x) => round(x, 1)),
          bare_ready_ms: bareStart.map((x) => round(x.ms, 1)),
          bare_rss_idle_mb: bareStart.map((x) => x.rssMb),
          serve_answer_ms: serve.map((x) => round(x.answerMs ?? NaN, 1)),
          floor_serve_ready_ms: floorStart.map((x) => round(x.ms, 1)),
          floor_serve_rss_idle_mb: floorStart.map((x) => x.rssMb),
          floor_serve_with_code_rss_idle_mb: floorCodeStart.map((x) => x.rssMb),
        },
      },
      targets: [] as ReturnType<typeof targetsOf>,
    };
    result.targets = targetsOf(result);
    result.duration_s = Math.round((performance.now() - started) / 1000);

    await Deno.mkdir(RESULTS, { recursive: true });
    const json = JSON.stringify(result, null, 2) + "\n";
    const stamp = `${result.date.slice(0, 16).replace(":", "-")}${QUICK ? "-quick" : ""}`;
    // A --quick trial never replaces the full run the README shows.
    const name = QUICK ? "quick.json" : "latest.json";
    await Deno.writeTextFile(`${RESULTS}/${name}`, json);
    await Deno.writeTextFile(`${RESULTS}/${stamp}.json`, json);
    if (!QUICK && Deno.env.get("BENCH_NO_README") !== "1") await updateReadme(`${REPO_ROOT}bench/README.md`, result);
    console.log(renderReadmeTable(result));
    log(`done in ${result.duration_s} s: bench/results/${name}, bench/results/${stamp}.json`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch((e) => log(`stop failed: ${e}`));
    if (Deno.env.get("ACMEMS_KEEP_FIXTURES") === "1") log(`ACMEMS_KEEP_FIXTURES=1: keeping ${work}`);
    else await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (Deno.args.includes("-h") || Deno.args.includes("--help")) {
  console.log(`Usage: deno task bench [--quick | --table]

Runs the benchmark (about 6–7 minutes) and writes bench/results/latest.json, a dated copy and the README table.
--quick  a trial in about a minute: bench/results/quick.json and a dated copy, README untouched.
--table  only re-renders the README table from bench/results/latest.json.
Compare two runs: deno run -A bench/compare.ts OLD.json NEW.json
Environment: BENCH_WRK_SECONDS (10), BENCH_REPS (3), BENCH_NO_README=1, ACMEMS_KEEP_FIXTURES=1.`);
} else if (Deno.args.includes("--table")) {
  // Re-render the README table from the last results without running anything.
  const result = JSON.parse(await Deno.readTextFile(`${RESULTS}/latest.json`));
  await updateReadme(`${REPO_ROOT}bench/README.md`, result);
  console.log(renderReadmeTable(result));
} else {
  await main();
}
