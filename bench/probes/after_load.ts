/**
 * Memory of the bench acmems before, under and after load (issue 19: "after sustained load back within 1.2× of idle
 * once the load stops"). Starts pebble + named + acmems (bench/probes/after_load_server.ts, the bench's acmems with
 * the bench config), reads RSS (anonymous / file-backed, /proc/PID/smaps_rollup) and the V8 heap idle, runs the
 * bench's wrk loads (challenge GETs, then `/sign` cache hits; wrk -t2 -c64), then samples every few seconds.
 *
 * Usage: deno run --allow-all bench/probes/after_load.ts [--flags=--v8-flags=…,--other] [--load=SECONDS]
 *        [--after=SECONDS] [--every=SECONDS] [--rounds=N] [--pre-idle=SECONDS] [--gc-at=SECONDS] [--snapshot]
 *        [--gap=SECONDS] [--idle-gc] [--keep] [--json=FILE]
 * --flags: extra `deno run` flags for acmems, comma-separated (default: the shipped SERVE_V8_FLAGS);
 * --pre-idle: idle that long after the first sample before the load (the bench's acmems idles through the issuance
 * blocks before its wrk runs);
 * --gap: idle that long between rounds (the bench runs the ceilings between acmems' own wrk runs);
 * --keep: keep the work dir (acmems' log, e.g. with --flags=--v8-flags=--trace-memory-reducer);
 * --idle-gc: send SIGUSR1 once idle before the load too (what a trim right after start-up would give);
 * --gc-at: send SIGUSR1 (full GC with --expose-gc, heap snapshot with --snapshot) that many seconds after the load.
 * The environment is inherited (MALLOC_ARENA_MAX=2 deno run … tries glibc settings; PROBE_TRIM=1 with --gc-at makes
 * the SIGUSR1 call glibc's malloc_trim(0) after the GC).
 */
import { startNamed } from "../../tests/support/named.ts";
import { startPebble } from "../../tests/support/pebble.ts";
import { freePorts } from "../../tests/support/ports.ts";
import { makeCsr } from "../../tests/support/csr.ts";
import { startAcmems } from "../../tests/support/acmems.ts";
import { benchConfig, hmacHeader, randomToken, REPO_ROOT, SERVE_V8_FLAGS } from "../lib/stack.ts";
import { runWrk } from "../lib/wrk.ts";

const opt = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const flagsArg = opt("flags");
const flags = flagsArg === undefined ? SERVE_V8_FLAGS : flagsArg.split(",").filter((f) => f);
const loadSeconds = Number(opt("load") ?? 10);
const afterSeconds = Number(opt("after") ?? 60);
const every = Number(opt("every") ?? 5);
const rounds = Number(opt("rounds") ?? 1);
const preIdle = Number(opt("pre-idle") ?? 0);
const gcAt = opt("gc-at") === undefined ? undefined : Number(opt("gc-at"));
const snapshot = Deno.args.includes("--snapshot");
const idleGc = Deno.args.includes("--idle-gc");
const gap = Number(opt("gap") ?? 0);
const keep = Deno.args.includes("--keep");
const jsonFile = opt("json");

const mb = (kb: number) => Math.round(kb / 102.4) / 10;
async function rss(pid: number) {
  const text = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
  const kb = (name: string) => Number(text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN);
  return { rss: mb(kb("Rss")), anon: mb(kb("Anonymous")), file: mb(kb("Rss") - kb("Anonymous")) };
}
async function heap(pid: number, dir: string, signal: "SIGUSR2" | "SIGUSR1" = "SIGUSR2") {
  const asked = Date.now();
  Deno.kill(pid, signal);
  for (let i = 0; i < 500; i++) {
    await new Promise((r) => setTimeout(r, 20));
    try {
      const m = JSON.parse(await Deno.readTextFile(`${dir}/memory.json`));
      if (m.at >= asked) {
        const b = (n: number) => Math.round(n / 104857.6) / 10;
        const extra = m.gc_ms === undefined ? {} : { gc_ms: m.gc_ms, trim_ms: m.trim_ms, trimmed: m.trimmed };
        return { heapTotal: b(m.heapTotal), heapUsed: b(m.heapUsed), external: b(m.external), ...extra };
      }
    } catch {
      // not written yet
    }
  }
  return { heapTotal: NaN, heapUsed: NaN, external: NaN };
}
async function cpuTicks(pid: number): Promise<number> {
  const f = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}

const work = await Deno.makeTempDir({ prefix: "acmems-afterload-" });
const named = await startNamed();
const [mgmtPort, challengePort] = await freePorts(2);
const pebble = await startPebble({ dnsServer: named.address, httpPort: challengePort });
const hmacKey = randomToken();
const host = "bench.example.test";
const token = randomToken();
const dir = `${work}/acmems`;
await Deno.mkdir(dir, { recursive: true });
const setup = { directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, mgmtPort, challengePort, hmacKey };
const mgmtUrl = `http://127.0.0.1:${mgmtPort}`;
const acmems = await startAcmems({
  name: "acmems",
  dir,
  config: benchConfig(setup),
  entry: `${REPO_ROOT}bench/probes/after_load_server.ts`,
  args: (files) => [...files, "http", host, token, `${token}.${randomToken()}`],
  denoFlags: flags,
  env: snapshot ? { PROBE_SNAPSHOT: `${work}/heap` } : {},
  ready: { url: `${mgmtUrl}/ready` },
});
const pid = acmems.proc.pid;
const samples: Record<string, unknown>[] = [];
const sample = async (label: string, t: number, signal?: "SIGUSR1") => {
  const s = { label, t, ...(await rss(pid)), ...(await heap(pid, dir, signal)), cpu_ticks: await cpuTicks(pid) };
  samples.push(s);
  console.log(JSON.stringify(s));
};
try {
  console.log(`acmems: deno run --allow-all --quiet ${flags.join(" ")} bench/probes/after_load_server.ts …`);
  await new Promise((r) => setTimeout(r, 1000));
  await sample("idle", 0);
  if (idleGc) {
    await sample("idle-gc", 0, "SIGUSR1");
    await new Promise((r) => setTimeout(r, 2000));
    await sample("idle-after-gc", 2);
  }
  const csr = await makeCsr({ names: ["sign.example.test"], dir: work });
  const auth = await hmacHeader(hmacKey, csr.csrPem);
  const first = await fetch(`${mgmtUrl}/sign`, { method: "POST", body: csr.csrPem, headers: { Authentication: auth } });
  await first.text();
  if (first.status !== 200) throw new Error(`first /sign: ${first.status}`);
  if (preIdle > 0) {
    await new Promise((r) => setTimeout(r, preIdle * 1000));
    await sample("pre-idle", preIdle);
  }
  for (let round = 0; round < rounds; round++) {
    if (round > 0 && gap > 0) {
      await new Promise((r) => setTimeout(r, gap * 1000));
      await sample("gap", gap);
    }
    const challenge = await runWrk({
      url: `http://127.0.0.1:${challengePort}/.well-known/acme-challenge/${token}`,
      seconds: loadSeconds,
      headers: [`Host: ${host}`],
    });
    const sign = await runWrk({
      url: `${mgmtUrl}/sign`,
      seconds: loadSeconds,
      script: "sign.lua",
      env: { WRK_BODY_FILE: csr.csrFile, WRK_AUTH: auth },
    });
    console.log(
      `round ${round + 1}: challenge ${challenge.rps} req/s, sign ${sign.rps} req/s (non-2xx ${sign.non2xx})`,
    );
  }
  const hwm = Number((await Deno.readTextFile(`/proc/${pid}/status`)).match(/^VmHWM:\s+(\d+)/m)?.[1]);
  console.log(`peak RSS ${mb(hwm)} MB`);
  await sample("after-load", 0);
  const start = Date.now();
  for (let t = every; t <= afterSeconds; t += every) {
    await new Promise((r) => setTimeout(r, Math.max(0, start + t * 1000 - Date.now())));
    const doGc = gcAt !== undefined && t >= gcAt && t - every < gcAt;
    await sample(doGc ? "after-gc" : "idle-after", t, doGc ? "SIGUSR1" : undefined);
  }
  const idle = samples[0] as { rss: number };
  const last = samples[samples.length - 1] as { rss: number };
  console.log(
    `ratio to idle after ${afterSeconds} s: ${(last.rss / idle.rss).toFixed(2)}× (${last.rss} / ${idle.rss} MB)`,
  );
  if (jsonFile) await Deno.writeTextFile(jsonFile, JSON.stringify({ flags, peak: mb(hwm), samples }, null, 1));
  if (snapshot || keep) console.log(`kept: ${work}`);
} finally {
  await acmems.stop();
  await pebble.stop();
  await named.stop();
}
if (!snapshot && !keep) await Deno.remove(work, { recursive: true });
