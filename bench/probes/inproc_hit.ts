/**
 * The cost of a /sign cache hit without Deno's HTTP server: starts the bench's named, pebble and acmems config, runs
 * bench/probes/inproc_hit_server.ts (acmems calling its own mgmt handler in-process) and prints µs per hit.
 *
 * Usage: deno run -A bench/probes/inproc_hit.ts [HITS] [--cpu-prof] [--runs=N]
 * (INPROC_TRIVIAL=1 in the environment reaches the server: bench/probes/inproc_hit_server.ts)
 */
import { startNamed } from "../../tests/support/named.ts";
import { startPebble } from "../../tests/support/pebble.ts";
import { freePorts } from "../../tests/support/ports.ts";
import { makeCsr } from "../../tests/support/csr.ts";
import { startAcmems } from "../../tests/support/acmems.ts";
import { readNewestProfile, summarizeProfile } from "../lib/cpuprofile.ts";
import { benchConfig, hmacHeader, randomToken, REPO_ROOT, SERVE_V8_FLAGS } from "../lib/stack.ts";

const hits = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 100_000);
const prof = Deno.args.includes("--cpu-prof");
const runs = Number(Deno.args.find((a) => a.startsWith("--runs="))?.split("=")[1] ?? 3);
const work = await Deno.makeTempDir({ prefix: "acmems-inproc-" });
const named = await startNamed();
const [mgmtPort, challengePort] = await freePorts(2);
const pebble = await startPebble({ dnsServer: named.address, httpPort: challengePort });
const hmacKey = randomToken();
try {
  const csr = await makeCsr({ names: ["sign.example.test"], dir: work });
  const auth = await hmacHeader(hmacKey, csr.csrPem);
  const config = benchConfig({
    directoryUrl: pebble.directoryUrl,
    caFile: pebble.caFile,
    mgmtPort,
    challengePort,
    hmacKey,
  });
  for (let i = 0; i < runs; i++) {
    const out = `${work}/out-${i}.json`;
    const profDir = `${work}/prof-${i}`;
    await Deno.mkdir(`${work}/acmems-${i}`, { recursive: true });
    const acmems = await startAcmems({
      name: `inproc-${i}`,
      dir: `${work}/acmems-${i}`,
      config,
      entry: `${REPO_ROOT}bench/probes/inproc_hit_server.ts`,
      args: (files) => [...files, csr.csrFile, auth, out, String(hits)],
      denoFlags: [...SERVE_V8_FLAGS, ...(prof ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [])],
    });
    const status = await acmems.proc.status;
    if (!status.success) throw new Error(`inproc server failed: ${status.code}`);
    console.log(Deno.readTextFileSync(out));
    if (prof) {
      const { totalMs, functions } = summarizeProfile(await readNewestProfile(profDir), REPO_ROOT);
      console.log(`profile ${totalMs} ms; self top 40:`);
      const groups = new Map<string, number>();
      for (const f of functions) {
        const m = f.name.match(/ (src\/[^:]+|bench\/[^:]+)/);
        const g = m ? m[1] : f.name.includes("(garbage") ? "GC" : f.name.includes("(idle)") ? "idle" : "deno/v8";
        groups.set(g, (groups.get(g) ?? 0) + f.selfPct);
      }
      for (const [g, p] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
        console.log(`  ${p.toFixed(1).padStart(5)} %  [${g}]`);
      }
      for (const f of [...functions].sort((a, b) => b.selfMs - a.selfMs).slice(0, 40)) {
        console.log(`  ${f.selfPct.toFixed(1).padStart(5)} %  ${f.name}`);
      }
    }
  }
} finally {
  await pebble.stop();
  await named.stop();
  await Deno.remove(work, { recursive: true }).catch(() => {});
}
