/**
 * Where acmems spends its CPU under one benchmark load: runs the bench's acmems under `deno run --cpu-prof`,
 * drives it with wrk, stops it, and prints the heaviest functions (inclusive and self time).
 *
 * Usage: deno run --allow-all bench/profile.ts [sign|challenge|unknown] [SECONDS] [--keep]
 * (--keep leaves the .cpuprofile in bench/results/profiles/ for Chrome DevTools.)
 */
import { startNamed } from "../tests/support/named.ts";
import { startPebble } from "../tests/support/pebble.ts";
import { freePorts } from "../tests/support/ports.ts";
import { makeCsr } from "../tests/support/csr.ts";
import { readNewestProfile, summarizeProfile } from "./lib/cpuprofile.ts";
import { hmacHeader, randomToken, REPO_ROOT, startAcmemsWithToken } from "./lib/stack.ts";
import { runWrk } from "./lib/wrk.ts";

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
const named = await startNamed();
const [mgmtPort, challengePort] = await freePorts(2);
const pebble = await startPebble({ dnsServer: named.address, httpPort: challengePort });
const hmacKey = randomToken();
const host = "bench.example.test";
const token = randomToken();
const acmems = await startAcmemsWithToken({
  dir: `${work}/acmems`,
  setup: { directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, mgmtPort, challengePort, hmacKey },
  host,
  token,
  keyAuthorization: `${token}.${randomToken()}`,
  denoFlags: ["--cpu-prof", `--cpu-prof-dir=${profDir}`],
});
try {
  let result;
  if (scenario === "sign") {
    const csr = await makeCsr({ names: ["sign.example.test"], dir: work });
    const auth = await hmacHeader(hmacKey, csr.csrPem);
    const first = await fetch(`${acmems.mgmtUrl}/sign`, {
      method: "POST",
      body: csr.csrPem,
      headers: { Authentication: auth },
    });
    await first.text();
    if (first.status !== 200) throw new Error(`first /sign: ${first.status}`);
    result = await runWrk({
      url: `${acmems.mgmtUrl}/sign`,
      seconds,
      script: "sign.lua",
      env: { WRK_BODY_FILE: csr.csrFile, WRK_AUTH: auth },
    });
  } else {
    const path = `/.well-known/acme-challenge/${scenario === "challenge" ? token : randomToken()}`;
    result = await runWrk({ url: `${acmems.challengeUrl}${path}`, seconds, headers: [`Host: ${host}`] });
  }
  console.log(`${result.command}\n  ${result.rps} req/s, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms`);
} finally {
  await acmems.stop();
  await pebble.stop();
  await named.stop();
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
