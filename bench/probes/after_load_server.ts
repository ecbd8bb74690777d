/**
 * The bench acmems (bench/servers/acmems_with_token.ts: `runServe` plus one planted http-01 answer) with two more
 * signals for bench/probes/after_load.ts:
 * - SIGUSR2: writes `Deno.memoryUsage()` to `memory.json` in the working directory (as the bench server does);
 * - SIGUSR1: with `--expose-gc`, a full memory-reducing GC first (flavor last-resort); with PROBE_TRIM=1, glibc's `malloc_trim(0)` through FFI (scratch,
 *   needs --allow-ffi); with PROBE_SNAPSHOT set, a heap snapshot (node:v8) to that path.
 *
 * Usage: deno run --allow-all [--v8-flags=…] bench/probes/after_load_server.ts CONFIG VERIFICATION HOST TOKEN KEYAUTH
 */
import { runServe } from "../../cli/serve.ts";

const [config, verification, host, token, keyAuthorization] = Deno.args;
if (!keyAuthorization) {
  console.error("usage: after_load_server.ts CONFIG VERIFICATION HOST TOKEN KEYAUTH");
  Deno.exit(2);
}
const writeMemory = (extra: Record<string, number> = {}) => {
  Deno.writeTextFileSync("memory.json.tmp", JSON.stringify({ at: Date.now(), ...Deno.memoryUsage(), ...extra }));
  Deno.renameSync("memory.json.tmp", "memory.json");
};
Deno.addSignalListener("SIGUSR2", () => writeMemory());
Deno.addSignalListener("SIGUSR1", async () => {
  const gc = (globalThis as { gc?: (options?: Record<string, string>) => void }).gc;
  const t0 = performance.now();
  if (gc) gc({ type: "major", execution: "sync", flavor: "last-resort" });
  const t1 = performance.now();
  let trimmed = -1;
  if (Deno.env.get("PROBE_TRIM") === "1") {
    const libc = Deno.dlopen("libc.so.6", { malloc_trim: { parameters: ["usize"], result: "i32" } });
    trimmed = libc.symbols.malloc_trim(0n);
    libc.close();
  }
  const t2 = performance.now();
  const snapshot = Deno.env.get("PROBE_SNAPSHOT");
  if (snapshot) {
    const v8 = await import("node:v8");
    v8.writeHeapSnapshot(`${snapshot}.${Date.now()}.heapsnapshot`);
  }
  writeMemory({ gc_ms: t1 - t0, trim_ms: t2 - t1, trimmed });
});
const status = await runServe([config], {
  onReady: (app) => {
    const responder = app.responders.get(verification);
    if (!responder) {
      console.error(`after_load_server.ts: no http01 verification "${verification}" in ${config}`);
      Deno.exit(2);
    }
    responder.add(host, token, keyAuthorization);
  },
});
Deno.exit(status);
