/**
 * What the `/sign` cache-hit path (or the challenge path) allocates, and what of it outlives the young generation:
 * the bench's acmems under `--inspect`, V8's sampling heap profiler over the inspector protocol while wrk drives it.
 * Prints the heaviest allocation sites (self bytes of the samples, per request served) for the chosen kind:
 *
 * - `promoted` (default): objects still alive at the end or collected by a full GC, i.e. what survived the
 *   scavenges (promoted to the old generation) and what lives on;
 * - `all`: every sampled allocation, including what the scavenges collected.
 *
 * Usage: deno run -A bench/probes/heap_sample.ts [sign|challenge] [promoted|all] [SECONDS]
 */
import { freePorts } from "../../tests/support/ports.ts";
import { startProbeStack } from "../lib/probe_stack.ts";
import { REPO_ROOT } from "../lib/stack.ts";

const scenario = Deno.args.includes("challenge") ? "challenge" : "sign";
const kind = Deno.args.includes("all") ? "all" : "promoted";
const seconds = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 5);

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** A minimal Chrome DevTools protocol client over the inspector's WebSocket. */
async function inspector(port: number) {
  let list: { webSocketDebuggerUrl: string }[] = [];
  for (let i = 0; i < 50 && list.length === 0; i++) {
    try {
      list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const waiting = new Map<number, (result: unknown) => void>();
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.id !== undefined) waiting.get(message.id)?.(message.result ?? message.error);
  };
  return {
    call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
      const callId = ++id;
      ws.send(JSON.stringify({ id: callId, method, params }));
      return new Promise((resolve) => waiting.set(callId, resolve as (result: unknown) => void));
    },
    close: () => ws.close(),
  };
}

const work = await Deno.makeTempDir({ prefix: "acmems-heap-sample-" });
const [inspectPort] = await freePorts(1);
const stack = await startProbeStack(work, [`--inspect=127.0.0.1:${inspectPort}`]);
const sites = new Map<string, number>();
let requests = 0;
try {
  await stack.load(scenario, 2); // warm: compiled code, grown heap
  const client = await inspector(inspectPort);
  await client.call("HeapProfiler.enable");
  await client.call("HeapProfiler.startSampling", {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: kind === "all",
  });
  const result = await stack.load(scenario, seconds);
  requests = result.requests;
  console.log(`${result.command}\n  ${result.rps} req/s, p99 ${result.p99_ms} ms`);
  // What the last scavenge has not seen yet is still "alive": two scavenges (the shipped flags expose `gc`) leave
  // only what the requests really kept.
  // Without them the young garbage would count as kept: no `gc` is an error, not a quietly wrong figure.
  for (let i = 0; i < 2; i++) {
    const { result: ran } = await client.call<{ result: { value?: unknown } }>("Runtime.evaluate", {
      expression: `typeof globalThis.gc === "function" && (globalThis.gc({ type: "minor" }), true)`,
      returnByValue: true,
    });
    if (ran?.value !== true) throw new Error("acmems runs without --expose-gc: the probe cannot run its scavenges");
  }
  const { profile } = await client.call<{ profile: { head: ProfileNode } }>("HeapProfiler.stopSampling");
  client.close();
  const walk = (node: ProfileNode, frames: string[]) => {
    const f = node.callFrame;
    const file = f.url.replace(`file://${REPO_ROOT}`, "").replace(/^.*\/(ext|runtime)\//, "$1/");
    const name = `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
    const here = [...frames, name];
    if (node.selfSize > 0) {
      // The site and the nearest acmems frame above it, so Deno's internals are attributed to the caller.
      const own = [...here].reverse().find((s) => s.includes(" src/")) ?? "(no acmems frame)";
      const key = `${name}  <=  ${own}`;
      sites.set(key, (sites.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, here);
  };
  walk(profile.head, []);
} finally {
  await stack.stop();
  await Deno.remove(work, { recursive: true });
}
const total = [...sites.values()].reduce((a, b) => a + b, 0);
console.log(`\n${kind}: ${(total / Math.max(1, requests)).toFixed(0)} bytes per request (sampled), top sites:`);
for (const [site, bytes] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  console.log(`  ${(bytes / Math.max(1, requests)).toFixed(1).padStart(8)} B/req  ${site}`);
}
