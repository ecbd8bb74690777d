/**
 * `acmems serve` (the same `runServe` that main.ts runs) with one pending http-01 answer planted in its responder
 * once it is ready, so the challenge benchmark and the load test have a known token to ask for.
 *
 * Usage: deno run --allow-all bench/servers/acmems_with_token.ts CONFIG VERIFICATION HOST TOKEN KEYAUTH
 * Stops on SIGTERM/SIGINT like acmems serve. On SIGUSR2 it writes `Deno.memoryUsage()` (heap vs RSS) as JSON to
 * `memory.json` in its working directory, for the bench's footprint figures.
 */
import { runServe } from "../../cli/serve.ts";

const [config, verification, host, token, keyAuthorization] = Deno.args;
if (!keyAuthorization) {
  console.error("usage: acmems_with_token.ts CONFIG VERIFICATION HOST TOKEN KEYAUTH");
  Deno.exit(2);
}
Deno.addSignalListener("SIGUSR2", () => {
  Deno.writeTextFileSync("memory.json.tmp", JSON.stringify({ at: Date.now(), ...Deno.memoryUsage() }));
  Deno.renameSync("memory.json.tmp", "memory.json");
});
const status = await runServe([config], {
  onReady: (app) => {
    const responder = app.responders.get(verification);
    if (!responder) {
      console.error(`acmems_with_token.ts: no http01 verification "${verification}" in ${config}`);
      Deno.exit(2);
    }
    responder.add(host, token, keyAuthorization);
  },
});
Deno.exit(status);
