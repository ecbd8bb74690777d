/**
 * Where acmems spends its CPU under one benchmark load: runs the bench's acmems under `deno run --cpu-prof`,
 * drives it with wrk, stops it, and prints the heaviest functions (inclusive and self time).
 *
 * Usage: deno run --allow-all bench/profile.ts [sign|challenge|unknown] [SECONDS] [--keep]
 * (--keep leaves the .cpuprofile in bench/results/profiles/ for Chrome DevTools.)
 */
import { readNewestProfile, summarizeProfile } from "./lib/cpuprofile.ts";
import { type ProbeLoad, startProbeStack } from "./lib/probe_stack.ts";
import { REPO_ROOT } from "./lib/stack.ts";

const scenario = Deno.args.find((a) => !a.startsWith("-") && !/^\d+$/.test(a)) ?? "sign";
const seconds = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 8);
const keep = Deno.args.includes("--keep");
if (!["sign", "challenge", "unknown"].includes(scenario)) {
  console.error("usage: bench/profile.ts [sign|challenge|unknown] [SECONDS] [--keep]");
  Deno.exit(2);
}

const work = await Deno.makeTempDir({ prefix: "acmems-profile-" });
const profDir = keep ? `${REPO_ROOT}bench/results/profiles` : `${work}/prof`;
await Deno.mkdir(profDir, { recursive: true });
const stack = await startProbeStack(work, ["--cpu-prof", `--cpu-prof-dir=${profDir}`]);
try {
  const result = await stack.load(scenario as ProbeLoad, seconds);
  console.log(`${result.command}\n  ${result.rps} req/s, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms`);
} finally {
  await stack.stop();
}
const { totalMs, functions } = summarizeProfile(await readNewestProfile(profDir), REPO_ROOT);
console.log(`\nprofile: ${totalMs} ms sampled on the main thread\n\ninclusive (top 40):`);
for (const f of functions.slice(0, 40)) console.log(`  ${f.totalPct.toFixed(1).padStart(5)} %  ${f.name}`);
console.log("\nself (top 30):");
for (const f of [...functions].sort((a, b) => b.selfMs - a.selfMs).slice(0, 30)) {
  console.log(`  ${f.selfPct.toFixed(1).padStart(5)} %  ${f.name}`);
}
await Deno.remove(work, { recursive: true });
if (keep) console.log(`\nprofile kept in ${profDir}`);
