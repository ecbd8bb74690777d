/**
 * Does the idle trim slow the next burst of challenge answers? One acmems (this checkout, shipped V8 flags) with a
 * planted token: challenge runs while warm, then a burst of `/sign` cache hits (RSS grows past the trim's threshold),
 * a quiet pause long enough for the trim (RSS read before and after), then challenge runs again. Prints CPU per
 * answer (all threads, /proc) for each run, so the first runs after a trim can be compared with warm ones.
 *
 * With --steady=N it first makes N challenge runs back to back (does a long burst slow it down?).
 *
 * deno run -A bench/probes/challenge_after_trim.ts [--steady=0] [--cycles=2] [--seconds=3] [--quiet-ms=12000]
 */
import { startNamed } from "../../tests/support/named.ts";
import { startPebble } from "../../tests/support/pebble.ts";
import { freePorts } from "../../tests/support/ports.ts";
import { makeCsr } from "../../tests/support/csr.ts";
import { startAcmems } from "../../tests/support/acmems.ts";
import {
  ACMEMS_WITH_TOKEN,
  benchConfig,
  hmacHeader,
  memoryMb,
  randomToken,
  SERVE_V8_FLAGS,
  threadTicks,
} from "../lib/stack.ts";
import { runWrk } from "../lib/wrk.ts";

const flag = (name: string, dflt: number) =>
  Number(Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const cycles = flag("cycles", 2);
const seconds = flag("seconds", 3);
const quietMs = flag("quiet-ms", 12_000);
const flagsArg = Deno.args.find((a) => a.startsWith("--flags="))?.slice("--flags=".length);
const denoFlags = flagsArg === undefined ? SERVE_V8_FLAGS : flagsArg === "none" ? [] : [flagsArg];

/** CPU ticks of the whole process (all its threads). */
async function cpuTicks(pid: number): Promise<number> {
  return [...(await threadTicks(pid)).values()].reduce((sum, ticks) => sum + ticks, 0);
}

const work = await Deno.makeTempDir({ prefix: "acmems-trim-probe-" });
const named = await startNamed();
const [challengePort, mgmtPort] = await freePorts(2);
const pebble = await startPebble({ dnsServer: named.address, httpPort: challengePort });
const stops: (() => Promise<unknown>)[] = [() => named.stop(), () => pebble.stop()];
try {
  const hmacKey = randomToken();
  const csr = await makeCsr({ names: ["sign.example.test"], dir: work });
  const auth = await hmacHeader(hmacKey, csr.csrPem);
  const token = randomToken();
  await Deno.mkdir(`${work}/a`);
  const acmems = await startAcmems({
    name: "acmems",
    dir: `${work}/a`,
    config: benchConfig({ directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, mgmtPort, challengePort, hmacKey }),
    entry: ACMEMS_WITH_TOKEN,
    args: (files) => [...files, "http", "bench.example.test", token, `${token}.${randomToken()}`],
    denoFlags,
    ready: { url: `http://127.0.0.1:${mgmtPort}/ready` },
  });
  stops.push(() => acmems.stop());
  const signUrl = `http://127.0.0.1:${mgmtPort}/sign`;
  const first = await fetch(signUrl, { method: "POST", body: csr.csrPem, headers: { Authentication: auth } });
  await first.text();
  if (first.status !== 200) throw new Error(`first /sign: ${first.status}`);
  const challengeUrl = `http://127.0.0.1:${challengePort}/.well-known/acme-challenge/${token}`;
  // With --trace-gc among the flags, V8 prints one line per GC to acmems' output: each run reports its GCs.
  const output = `${work}/a/acmems.log`;
  let seen = 0;
  const gcs = async () => {
    const lines = (await Deno.readTextFile(output).catch(() => "")).split("\n");
    const fresh = lines.slice(seen);
    seen = lines.length;
    const of = (kind: string) => fresh.filter((l) => l.includes(kind));
    // "… MB, pooled: 0 MB, 1.23 / 0.00 ms …": the first figure is the pause.
    const ms = (lines: string[]) =>
      lines.reduce((sum, l) => sum + Number(l.match(/MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms/)?.[1] ?? 0), 0);
    const [scavenges, compacts] = [of("Scavenge"), of("Mark-Compact")];
    return `scavenges ${scavenges.length} (${ms(scavenges).toFixed(0)} ms), mark-compacts ${compacts.length} (${
      ms(compacts).toFixed(0)
    } ms)`;
  };
  const challenge = async (label: string) => {
    const before = await cpuTicks(acmems.pid);
    await gcs();
    const r = await runWrk({ url: challengeUrl, seconds, headers: ["Host: bench.example.test"] });
    const cpu = ((await cpuTicks(acmems.pid)) - before) * 10_000 / r.requests;
    if (r.non2xx > 0) throw new Error(`${r.non2xx} non-2xx challenge answers`);
    const gc = denoFlags.some((f) => f.includes("--trace-gc")) ? `  (${await gcs()})` : "";
    console.log(
      `${label.padEnd(28)} ${String(Math.round(r.rps)).padStart(6)} req/s  CPU ${cpu.toFixed(1)} µs/answer${gc}`,
    );
  };
  await runWrk({ url: challengeUrl, seconds: 2, headers: ["Host: bench.example.test"] });
  const steady = flag("steady", 0);
  for (let i = 0; i < steady; i++) {
    await challenge(`steady ${i + 1} (RSS ${(await memoryMb(acmems.pid)).rss} MB)`);
  }
  for (let c = 0; c < cycles; c++) {
    await challenge(`cycle ${c + 1} warm 1`);
    await challenge(`cycle ${c + 1} warm 2`);
    await runWrk({ url: signUrl, seconds: 5, script: "sign.lua", env: { WRK_BODY_FILE: csr.csrFile, WRK_AUTH: auth } });
    const rssLoaded = (await memoryMb(acmems.pid)).rss;
    await new Promise((r) => setTimeout(r, quietMs));
    const rssQuiet = (await memoryMb(acmems.pid)).rss;
    console.log(`after /sign burst: RSS ${rssLoaded} MB, ${quietMs / 1000} s later ${rssQuiet} MB`);
    await challenge(`cycle ${c + 1} after quiet 1`);
    await challenge(`cycle ${c + 1} after quiet 2`);
  }
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await Deno.remove(work, { recursive: true }).catch(() => {});
}
