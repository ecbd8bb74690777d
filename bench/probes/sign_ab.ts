/**
 * A/B of the `/sign` cache-hit path: several acmems builds (each a bench/servers/acmems_with_token.ts of some
 * checkout) side by side on one pebble, interleaved with the POST+HMAC ceiling, wrk -t2 -c64. Prints per target
 * the median req/s, p99 and server CPU per answer (all threads, from /proc; median and minimum: on a shared machine
 * other work only adds to it, so the minimum of many short rounds is the steadier figure), and the per-thread split.
 *
 * With --challenge: the same for challenge answers (GET of a planted token with its Host), against the bare
 * Deno.serve, the one whose handler takes the request (and reads nothing of it) and the one that reads the host and
 * path from the request URL.
 *
 * With --challenge --burst=S: the rounds run twice, before and after S seconds of `/sign` cache hits on each acmems
 * (does answering `/sign` slow the challenge answers that follow, against ceilings measured alongside?).
 *
 * With --challenge-burst=S (without --challenge): the /sign rounds run twice, before and after S seconds of challenge
 * answers on each acmems (does answering challenges slow the cache hits that follow?).
 *
 * With --again: each acmems build runs twice in a row in every round, its second run reported as "… again" (does a
 * run right after the build's own run go faster than one after the ceilings' runs?); --gap=S idles S seconds before
 * each first run; --challenges-first=S gives each build S seconds of challenge answers right before its first run.
 * --keep keeps the work dir (each build's log, e.g. with `@--v8-flags=…,--trace-gc`).
 *
 * Usage: deno run -A bench/probes/sign_ab.ts [--challenge [--burst=S] | --challenge-burst=S] [--seconds=5] [--rounds=3]
 *   [--again [--gap=S] [--challenges-first=S]] [--keep] ENTRY[@FLAGS]…
 * (default: this checkout's; FLAGS replaces the shipped V8 flags: `none` or `--v8-flags=…`)
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
  randomToken,
  SERVE_V8_FLAGS,
  startBare,
  startBarePost,
  startBarePostHit,
  threadTicks,
} from "../lib/stack.ts";
import { runWrk } from "../lib/wrk.ts";

const flag = (name: string, dflt: number) =>
  Number(Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const seconds = flag("seconds", 5);
const rounds = flag("rounds", 3);
const challengeMode = Deno.args.includes("--challenge");
const burst = challengeMode ? flag("burst", 0) : 0;
// /sign rounds before and after S seconds of challenge answers on each acmems (the full bench's rounds 1 and 3 run
// acmems' cache hits after its challenge runs).
const challengeBurst = challengeMode ? 0 : flag("challenge-burst", 0);
// The full bench's rounds 1 and 3 run acmems' cache hits after its challenge runs and some 20 s of the ceilings'
// runs, round 2 right after its round-1 run: --again, --gap and --challenges-first take those apart.
const again = Deno.args.includes("--again");
const gap = flag("gap", 0);
const challengesFirst = flag("challenges-first", 0);
const entries = Deno.args.filter((a) => !a.startsWith("--"));
if (entries.length === 0) entries.push(ACMEMS_WITH_TOKEN);

const work = await Deno.makeTempDir({ prefix: "acmems-sign-ab-" });
const named = await startNamed();
const ports = await freePorts(2 * entries.length + 2);
const pebble = await startPebble({ dnsServer: named.address, httpPort: ports[0] });
const hmacKey = randomToken();
const csr = await makeCsr({ names: ["sign.example.test"], dir: work });
const auth = await hmacHeader(hmacKey, csr.csrPem);
const stops: (() => Promise<unknown>)[] = [() => named.stop(), () => pebble.stop()];
try {
  const targets: { name: string; pid: number; url: string; challengeUrl?: string }[] = [];
  let chain = "";
  for (const [i, spec] of entries.entries()) {
    // ENTRY or ENTRY@FLAGS: FLAGS replaces the shipped V8 flags ("none": no flags; "--v8-flags=…").
    const [entry, flagText] = spec.split("@");
    const denoFlags = flagText === undefined ? SERVE_V8_FLAGS : flagText === "none" ? [] : [flagText];
    const mgmtPort = ports[2 + 2 * i];
    // Pebble validates on one port: each build issues once on it, then restarts (same cache) on a port of its own.
    const dir = `${work}/a${i}`;
    await Deno.mkdir(dir, { recursive: true });
    const token = randomToken();
    const acmems = await startAcmems({
      name: `acmems${i}`,
      dir,
      config: benchConfig({
        directoryUrl: pebble.directoryUrl,
        caFile: pebble.caFile,
        mgmtPort,
        challengePort: ports[0],
        hmacKey,
      }),
      entry,
      args: (files) => [...files, "http", "bench.example.test", token, `${token}.${randomToken()}`],
      denoFlags,
      ready: { url: `http://127.0.0.1:${mgmtPort}/ready` },
    });
    const url = `http://127.0.0.1:${mgmtPort}/sign`;
    const first = await fetch(url, { method: "POST", body: csr.csrPem, headers: { Authentication: auth } });
    chain = await first.text();
    if (first.status !== 200) throw new Error(`first /sign on ${entry}: ${first.status} ${chain}`);
    await acmems.stop();
    const again = await startAcmems({
      name: `acmems${i}b`,
      dir,
      keepDir: true,
      config: benchConfig({
        directoryUrl: pebble.directoryUrl,
        caFile: pebble.caFile,
        mgmtPort,
        challengePort: ports[3 + 2 * i],
        hmacKey,
      }),
      entry,
      args: (files) => [...files, "http", "bench.example.test", token, `${token}.${randomToken()}`],
      denoFlags,
      ready: { url: `http://127.0.0.1:${mgmtPort}/ready` },
    });
    stops.push(() => again.stop());
    const check = await fetch(url, { method: "POST", body: csr.csrPem, headers: { Authentication: auth } });
    await check.text();
    if (check.headers.get("x-acmems-cache") !== "hit") throw new Error(`no cache hit on restart for ${entry}`);
    targets.push({
      name: spec.replace(/\/bench\/servers\/acmems_with_token\.ts/, ""),
      pid: again.pid,
      url,
      challengeUrl: `http://127.0.0.1:${ports[3 + 2 * i]}/.well-known/acme-challenge/${token}`,
    });
  }
  const chainFile = `${work}/chain.pem`;
  await Deno.writeTextFile(chainFile, chain);
  const postPort = ports[1];
  const [hitPort] = await freePorts(1);
  const path = `/.well-known/acme-challenge/${randomToken()}`;
  if (challengeMode) {
    // The ceilings, first in the list (the first is what the ratios are of): each a bench/servers/bare.ts variant.
    const addBare = async (name: string, port: number, variant: { readUrlHost?: boolean; takeRequest?: boolean }) => {
      const server = await startBare({ dir: work, port, text: "x".repeat(87), ...variant });
      stops.push(() => server.stop());
      targets.unshift({ name, pid: server.pid, url: "", challengeUrl: `http://127.0.0.1:${port}${path}` });
    };
    const [requestPort] = await freePorts(1);
    await addBare("Deno.serve taking the request (reads nothing)", requestPort, { takeRequest: true });
    await addBare("Deno.serve + host + path", hitPort, { readUrlHost: true });
    await addBare("Deno.serve ceiling", postPort, {});
  } else {
    const hit = await startBarePostHit({ dir: work, port: hitPort, hmacKey, chainFile });
    stops.push(() => hit.stop());
    targets.unshift({ name: "documented-hit ceiling", pid: hit.pid, url: `http://127.0.0.1:${hitPort}/` });
    const post = await startBarePost({ dir: work, port: postPort, hmacKey, chainFile });
    stops.push(() => post.stop());
    targets.unshift({ name: "POST+HMAC ceiling", pid: post.pid, url: `http://127.0.0.1:${postPort}/` });
  }

  const builds = new Set(targets.filter((t) => t.url !== "" && !t.name.includes("ceiling")).map((t) => t.name));
  type Run = { rps: number; p99: number; cpu: number; threads: Map<string, number> };
  const measure = async (warmUp: boolean) => {
    const results = new Map<string, Run[]>();
    for (let r = warmUp ? 0 : 1; r < rounds + 1; r++) {
      for (
        const t of targets.flatMap((t) => again && builds.has(t.name) ? [t, { ...t, name: `${t.name} again` }] : [t])
      ) {
        if (gap > 0 && r > 0 && !t.name.endsWith(" again")) await new Promise((ok) => setTimeout(ok, gap * 1000));
        if (challengesFirst > 0 && r > 0 && builds.has(t.name)) {
          await runWrk({ url: t.challengeUrl!, seconds: challengesFirst, headers: ["Host: bench.example.test"] });
        }
        const before = await threadTicks(t.pid);
        const res = challengeMode
          ? await runWrk({
            url: t.challengeUrl!,
            seconds: r === 0 ? 2 : seconds,
            headers: ["Host: bench.example.test"],
          })
          : await runWrk({
            url: t.url,
            seconds: r === 0 ? 2 : seconds,
            script: "sign.lua",
            env: { WRK_BODY_FILE: csr.csrFile, WRK_AUTH: auth },
          });
        const after = await threadTicks(t.pid);
        if (r === 0) continue;
        if (res.non2xx > 0) throw new Error(`${t.name}: ${res.non2xx} non-2xx`);
        const threads = new Map<string, number>();
        let ticks = 0;
        for (const [k, v] of after) {
          const d = v - (before.get(k) ?? 0);
          ticks += d;
          threads.set(k, (d * 10000) / res.requests);
        }
        const list = results.get(t.name) ?? [];
        list.push({ rps: res.rps, p99: res.p99_ms, cpu: (ticks * 10000) / res.requests, threads });
        results.set(t.name, list);
      }
    }
    return results;
  };
  const report = (results: Map<string, Run[]>) => {
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const ceiling = median(results.get(targets[0].name)!.map((x) => x.rps));
    for (const [name, list] of results) {
      const rps = median(list.map((x) => x.rps));
      const threadNames = new Set(list.flatMap((x) => [...x.threads.keys()]));
      const split = [...threadNames].map((k) => `${k} ${median(list.map((x) => x.threads.get(k) ?? 0)).toFixed(1)}`)
        .filter((s) => !s.endsWith(" 0.0")).join(", ");
      console.log(
        `${name}\n  ${Math.round(rps)} req/s (${(rps / ceiling).toFixed(3)}× ceiling), p99 ${
          median(list.map((x) => x.p99)).toFixed(2)
        } ms, CPU ${median(list.map((x) => x.cpu)).toFixed(1)} µs/answer (min ${
          Math.min(...list.map((x) => x.cpu)).toFixed(1)
        }) [${split}]  runs: ${list.map((x) => Math.round(x.rps)).join(" ")}`,
      );
    }
  };
  const first = await measure(true);
  if (burst > 0) console.log("-- before the /sign burst");
  if (challengeBurst > 0) console.log("-- before the challenge burst");
  report(first);
  if (burst > 0) {
    for (const t of targets.filter((t) => t.url !== "")) {
      await runWrk({
        url: t.url,
        seconds: burst,
        script: "sign.lua",
        env: { WRK_BODY_FILE: csr.csrFile, WRK_AUTH: auth },
      });
    }
    console.log(`-- after ${burst} s of /sign cache hits on each acmems`);
    report(await measure(false));
  }
  if (challengeBurst > 0) {
    for (const t of targets.filter((t) => t.challengeUrl !== undefined)) {
      await runWrk({ url: t.challengeUrl!, seconds: challengeBurst, headers: ["Host: bench.example.test"] });
    }
    console.log(`-- after ${challengeBurst} s of challenge answers on each acmems`);
    report(await measure(false));
  }
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (Deno.args.includes("--keep")) console.log(`kept ${work}`);
  else await Deno.remove(work, { recursive: true }).catch(() => {});
}
