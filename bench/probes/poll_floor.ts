/**
 * How fast can pebble issue N certificates at once, whatever the poll pace? The floor (our client alone, in-process
 * responder) at the client's default pace and at constant fast polls, on a fresh pebble per run, interleaved.
 * If even constant 10 ms polls stay above a target, the target is pebble's, not the poll pace's.
 *
 * Usage: deno run -A bench/probes/poll_floor.ts [--n=30] [--runs=3] [--paces=FIRST:MAX,…]
 */
import { startNamed } from "../../tests/support/named.ts";
import { startPebble } from "../../tests/support/pebble.ts";
import { freePorts } from "../../tests/support/ports.ts";
import { makeCsr } from "../../tests/support/csr.ts";
import { startFloor } from "../lib/floor.ts";
import { issueWith } from "../lib/issuance.ts";

const flag = (name: string, dflt: number) =>
  Number(Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);
const n = flag("n", 30);
const runs = flag("runs", 3);
// --paces=FIRST:MAX,… (ms; the interval grows ×1.5 from FIRST up to MAX) replaces the two paces below.
const pacesArg = Deno.args.find((a) => a.startsWith("--paces="))?.slice("--paces=".length);
const paces: [string, number | undefined, number | undefined][] = pacesArg
  ? pacesArg.split(",").map((p) => {
    const [first, max] = p.split(":").map(Number);
    return [`first ${first} ms, ×1.5 up to ${max} ms`, first, max];
  })
  : [
    ["default pace (50 ms, ×1.5 to 3 s)", undefined, undefined],
    ["constant 10 ms polls", 10, 10],
  ];
const work = await Deno.makeTempDir({ prefix: "acmems-poll-floor-" });
const named = await startNamed();
const times = new Map<string, number[]>();
try {
  for (let run = 0; run < runs; run++) {
    for (const [label, first, max] of paces) {
      const [port] = await freePorts(1);
      const pebble = await startPebble({ dnsServer: named.address, httpPort: port });
      const floor = await startFloor({
        directoryUrl: pebble.directoryUrl,
        caPem: pebble.caPem,
        httpPort: port,
        profile: "default",
        pollIntervalMs: first,
        maxPollIntervalMs: max,
      });
      try {
        const csr = async (name: string) => ({
          names: [name],
          csrPem: (await makeCsr({ names: [name], dir: work })).csrPem,
        });
        await issueWith(floor.issue, [await csr(`warm-${run}-${first ?? "d"}.example.test`)]);
        const set = await Promise.all(
          Array.from({ length: n }, (_, i) => csr(`p${run}-${first ?? "d"}-${i}.example.test`)),
        );
        const ms = await issueWith(floor.issue, set);
        (times.get(label) ?? times.set(label, []).get(label)!).push(Math.round(ms));
        console.log(`${label}: ${Math.round(ms)} ms`);
      } finally {
        await floor.close();
        await pebble.stop();
      }
    }
  }
} finally {
  await named.stop();
  await Deno.remove(work, { recursive: true });
}
for (const [label, list] of times) {
  const sorted = [...list].sort((a, b) => a - b);
  console.log(`${n} at once, ${label}: median ${sorted[Math.floor(sorted.length / 2)]} ms (runs ${list.join(", ")})`);
}
