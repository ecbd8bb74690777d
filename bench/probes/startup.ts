/**
 * Start-up probe (issue 19): `check-config` spawn to exit, `serve` spawn to the mgmt port accepting, and serve's
 * RSS 1 s later, for several entries (`label=path/to/main.ts` or a bundle), interleaved round by round with the
 * empty `deno run` and the bare Deno.serve, so A/B figures come from the same conditions. Besides wall time it
 * reports CPU time (check-config: `perf stat -e task-clock`; serve: the sum of /proc/PID/task/*\/schedstat at the
 * moment the port accepted), which the other work on the two shared cores disturbs much less.
 *
 * deno run -A bench/probes/startup.ts [--runs N] [--idle MS] label=ENTRY...
 *   e.g. base=/tmp/startup-base/main.ts new=main.ts bundle=dist/acmems.js
 * Starts its own pebble (stopped at the end); the bench config is bench/lib/stack.ts's benchConfig.
 * Each round runs check-config and then serve, which run with different V8 flags: V8 rejects the code cache the
 * other one wrote, so both figures here are "first run after the other command" (bench/run.ts reports both kinds).
 */
import { startPebble } from "../../tests/support/pebble.ts";
import { writeConfig } from "../../tests/support/config.ts";
import { freePorts } from "../../tests/support/ports.ts";
import { BARE_SERVER, benchConfig, memoryMb, REPO_ROOT, SERVE_V8_FLAGS } from "../lib/stack.ts";

interface Sample {
  wall: number;
  cpu: number;
  /** Spawn to the first answer of GET /health (listening processes). */
  answer?: number;
  /** RSS at the moment the port accepted, then IDLE ms later. */
  rss0?: number;
  rss?: number;
  anon?: number;
}

const args = [...Deno.args];
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(args[i + 1]);
  args.splice(i, 2);
  return value;
};
const RUNS = option("--runs", 7);
const IDLE = option("--idle", 1000);
const entries = args.map((a) => {
  const [label, rest] = [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)];
  const [path, v8] = rest.split("@");
  return { label, path: path.startsWith("/") ? path : `${Deno.cwd()}/${path}`, v8: v8 ? v8.split(",") : [] };
});
const deno = Deno.execPath();

/**
 * check-config (or any command): wall ms of a plain run (as bench/lib/footprint.ts's timeToExit), then task-clock
 * ms of a second run under perf stat (perf itself adds wall time, not CPU time to the command).
 */
async function timeExit(argv: string[], cwd: string): Promise<Sample> {
  const begun = performance.now();
  const plain = await new Deno.Command(deno, { args: argv, cwd, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const plainWall = performance.now() - begun;
  if (plain.code !== 0) throw new Error(`${argv.join(" ")} exited with ${plain.code}`);
  const out = await new Deno.Command("perf", {
    args: ["stat", "-x,", "-e", "task-clock", "--", deno, ...argv],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  if (out.code !== 0) throw new Error(`${argv.join(" ")} exited with ${out.code}:\n${err}`);
  const line = err.trim().split("\n").findLast((l) => l.includes("task-clock"))!;
  return { wall: plainWall, cpu: Number(line.split(",")[0]) };
}

/** CPU ms of all threads of `pid` so far (schedstat run time). */
async function cpuMs(pid: number): Promise<number> {
  let ns = 0;
  for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
    try {
      ns += Number((await Deno.readTextFile(`/proc/${pid}/task/${task.name}/schedstat`)).split(" ")[0]);
    } catch {
      // The thread ended.
    }
  }
  return ns / 1e6;
}

async function anonMb(pid: number): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
  return Number(text.match(/^Anonymous:\s+(\d+) kB/m)?.[1] ?? NaN) / 1024;
}

/** Spawn to 127.0.0.1:port accepting: wall, CPU at that moment, RSS and anonymous memory after IDLE ms. */
async function timeListen(argv: string[], port: number, cwd?: string): Promise<Sample> {
  const started = performance.now();
  const child = new Deno.Command(deno, { args: argv, cwd, stdin: "null", stdout: "null", stderr: "piped" }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    for (;;) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        const wall = performance.now() - started;
        const cpu = await cpuMs(child.pid);
        const rss0 = (await memoryMb(child.pid)).rss;
        conn.close();
        // The first answer (GET /health on the mgmt port; the bare server answers any path): serve binds its ports
        // before it loads the server, so a request may wait a little longer than the connection.
        const response = await fetch(`http://127.0.0.1:${port}/health`).catch(async (error) => {
          child.kill("SIGTERM");
          throw new Error(`${argv.join(" ")}: no answer (${error})\n${await stderr}`);
        });
        await response.body?.cancel();
        const answer = performance.now() - started;
        await new Promise((r) => setTimeout(r, IDLE));
        return { wall, cpu, answer, rss0, rss: (await memoryMb(child.pid)).rss, anon: await anonMb(child.pid) };
      } catch (error) {
        if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
        if (performance.now() - started > 20_000) throw new Error(`${argv.join(" ")}: no listener\n${await stderr}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    }
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await stderr;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (xs: (number | undefined)[]) => {
  const v = xs.filter((x): x is number => x !== undefined);
  return `${median(v).toFixed(1)} [${Math.min(...v).toFixed(1)}–${Math.max(...v).toFixed(1)}]`;
};

const work = await Deno.makeTempDir({ prefix: "acmems-probe-" });
const [mgmtPort, challengePort, barePort] = await freePorts(3);
const pebble = await startPebble({ httpPort: challengePort });
try {
  const config = `${work}/acmems.ini`;
  await writeConfig(
    config,
    benchConfig({ directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, mgmtPort, challengePort, hmacKey: "k" }),
  );
  const noop = ["run", "--allow-all", "--quiet", `${REPO_ROOT}bench/servers/noop.ts`];
  const bare = ["run", "--allow-net", BARE_SERVER, String(barePort), "x"];
  // ENTRY@FLAG,FLAG adds V8 flags to both commands (serve: to the shipped ones).
  const v8 = (flags: string[]) => flags.length ? [`--v8-flags=${flags.join(",")}`] : [];
  const shipped = SERVE_V8_FLAGS.flatMap((f) => f.startsWith("--v8-flags=") ? f.slice(11).split(",") : []);
  const check = (
    p: string,
    flags: string[] = [],
  ) => ["run", "--allow-all", "--quiet", ...v8(flags), p, "check-config", config];
  const serve = (
    p: string,
    flags: string[] = [],
  ) => ["run", "--allow-all", "--quiet", ...v8([...shipped, ...flags]), p, "serve", config];
  // Warm-up: caches, and the first serve registers the account.
  await timeExit(noop, work);
  for (const e of entries) {
    await timeExit(check(e.path, e.v8), work);
    await timeListen(serve(e.path, e.v8), mgmtPort, work);
  }
  const results = new Map<string, Sample[]>();
  const add = (key: string, s: Sample) => results.set(key, [...(results.get(key) ?? []), s]);
  for (let i = 0; i < RUNS; i++) {
    add("noop exit", await timeExit(noop, work));
    add("bare listen", await timeListen(bare, barePort));
    for (const e of entries) {
      add(`${e.label} check-config`, await timeExit(check(e.path, e.v8), work));
      add(`${e.label} serve`, await timeListen(serve(e.path, e.v8), mgmtPort, work));
    }
  }
  console.log(`${RUNS} interleaved runs, medians [min–max]; load ${Deno.loadavg().join(" ")}`);
  console.log(
    "what".padEnd(28),
    "wall ms".padEnd(22),
    "cpu ms".padEnd(22),
    "rss MB".padEnd(22),
    "anon MB".padEnd(22),
    "rss at listen".padEnd(22),
    "first answer ms",
  );
  for (const [key, samples] of results) {
    console.log(
      key.padEnd(28),
      fmt(samples.map((s) => s.wall)).padEnd(22),
      fmt(samples.map((s) => s.cpu)).padEnd(22),
      samples[0].rss === undefined ? "" : fmt(samples.map((s) => s.rss)).padEnd(22),
      samples[0].anon === undefined ? "" : fmt(samples.map((s) => s.anon)).padEnd(22),
      samples[0].rss0 === undefined ? "" : fmt(samples.map((s) => s.rss0)).padEnd(22),
      samples[0].answer === undefined ? "" : fmt(samples.map((s) => s.answer)),
    );
  }
} finally {
  await pebble.stop();
  await Deno.remove(work, { recursive: true });
}
