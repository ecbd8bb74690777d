/**
 * acmems serve (runServe) that, once ready, asks itself for one certificate over HTTP and then calls its own mgmt
 * handler in-process with the same request, `HITS` times, `CONCURRENCY` at once: the cost of a /sign cache hit
 * without Deno's HTTP server, in ten batches. Writes `{ hits, ms, usPerHit, minUsPerHit, medianUsPerHit, cpuUsPerHit }`
 * (per hit: overall, fastest and median batch, CPU time) to OUT and exits. With INPROC_TRIVIAL=1 a handler that only
 * reads the body and answers the chain with the same headers replaces acmems' (what the probe itself costs).
 *
 * Usage: deno run -A bench/probes/inproc_hit_server.ts CONFIG CSR_FILE AUTH OUT [HITS] [CONCURRENCY]
 */
import { runServe } from "../../cli/serve.ts";

const [config, csrFile, auth, out, hitsArg, concArg] = Deno.args;
const hits = Number(hitsArg ?? 100_000);
const concurrency = Number(concArg ?? 64);
const csr = await Deno.readFile(csrFile);

const trivial = Deno.env.get("INPROC_TRIVIAL") === "1";
let chainText = "";
/** The least a hit can do in-process: read the body, answer the chain with the four headers (what the probe costs). */
async function trivialHandler(request: Request): Promise<Response> {
  const body = await request.bytes();
  if (body.length === 0) throw new Error("empty");
  return new Response(chainText, {
    headers: {
      "Content-Type": "application/pem-certificate-chain",
      "X-Acmems-Cache": "hit",
      "X-Acmems-Renew-After": "2026-12-31T00:00:00Z",
      "X-Acmems-Renewal-Window": "2026-12-30T00:00:00Z/2026-12-31T00:00:00Z",
    },
  });
}
const cpuMs = () => {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};

await runServe([config], {
  onReady: (app) => {
    (async () => {
      const url = `http://127.0.0.1:${app.config.mgmt.listeners[0].port}/sign`;
      const first = await fetch(url, { method: "POST", body: csr, headers: { Authentication: auth } });
      chainText = await first.text();
      if (first.status !== 200) throw new Error(`first /sign ${first.status}: ${chainText}`);
      const info = {
        remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
        completed: Promise.resolve(),
      } as unknown as Deno.ServeHandlerInfo;
      const one = async () => {
        const request = new Request(url, {
          method: "POST",
          body: csr,
          headers: { Authentication: auth, "Content-Length": String(csr.length), Host: "127.0.0.1" },
        });
        const response = trivial ? await trivialHandler(request) : await app.mgmtHandler(request, info);
        if (response.status !== 200) throw new Error(`hit ${response.status}`);
        await response.arrayBuffer();
      };
      const run = async (n: number) => {
        let left = n;
        await Promise.all(Array.from({ length: concurrency }, async () => {
          while (left-- > 0) await one();
        }));
      };
      await run(Math.min(20_000, hits)); // warm-up
      // Ten batches: on a shared machine the fastest batch is the steadier figure.
      const batch = Math.ceil(hits / 10);
      const batches: number[] = [];
      const c0 = cpuMs();
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) {
        const b0 = performance.now();
        await run(batch);
        batches.push(((performance.now() - b0) * 1000) / batch);
      }
      const ms = performance.now() - t0;
      const cpu = cpuMs() - c0;
      batches.sort((a, b) => a - b);
      const result = {
        hits: batch * 10,
        ms: Math.round(ms),
        usPerHit: Math.round((ms * 10000) / (batch * 10)) / 10,
        minUsPerHit: Math.round(batches[0] * 10) / 10,
        medianUsPerHit: Math.round(batches[5] * 10) / 10,
        cpuUsPerHit: Math.round((cpu * 10000) / (batch * 10)) / 10,
      };
      Deno.writeTextFileSync(out, JSON.stringify(result));
      Deno.exit(0);
    })().catch((e) => {
      console.error(e);
      Deno.exit(1);
    });
  },
});
