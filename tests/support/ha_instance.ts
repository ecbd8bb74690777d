/**
 * `acmems serve` for the HA tests, with the issuer's fault points wired to SIGKILL: like cli/serve.ts (load the
 * config, load the account key, start an App, run until SIGTERM/SIGINT), but when `ACMEMS_TEST_FAULT` names a
 * fault point (`beforeNoteOrder`, `afterNoteOrder`), the process logs `fault point reached` and kills itself with
 * SIGKILL there: no finally block, no release, no shutdown, like a power cut at that moment.
 *
 * Usage: deno run -A tests/support/ha_instance.ts CONFIG...   (the account key must already exist)
 */
import { loadAccountKey } from "../../src/account/store.ts";
import { App } from "../../src/server/app.ts";
import { loadStorageDrivers } from "../../src/storage/factory.ts";
import { loadConfig } from "../../src/config/load.ts";
import { formatDiagnostic } from "../../src/config/summary.ts";
import type { FaultPoint, IssuanceFaults } from "../../src/issuance/service.ts";
import { createLogger } from "../../src/ops/log.ts";

const result = await loadConfig(Deno.args);
if (!result.ok || !result.config) {
  for (const e of result.errors) console.error(formatDiagnostic(e, "error"));
  Deno.exit(1);
}
const config = result.config;
const log = createLogger({ ...config.logging });
const key = await loadAccountKey(config.account.dir);
if (!key) {
  console.error(`no account key in ${config.account.dir}`);
  Deno.exit(1);
}
const fault = Deno.env.get("ACMEMS_TEST_FAULT") as keyof IssuanceFaults | undefined;
const faults: IssuanceFaults = {};
if (fault) {
  faults[fault] = (point: FaultPoint) => {
    log.info("fault point reached", { fault, order: point.orderUrl, fence: point.claim.fence });
    Deno.kill(Deno.pid, "SIGKILL");
  };
}
const caCerts = config.account.caFile ? [await Deno.readTextFile(config.account.caFile)] : undefined;
await loadStorageDrivers(config);
const app = new App({ config, log, keyPair: key.keyPair, caCerts, faults, sweepIntervalMs: 0 });
await app.start();
log.info("ready", { account: app.session.state, fault: fault ?? "none" });
await new Promise<void>((resolve) => {
  Deno.addSignalListener("SIGTERM", resolve);
  Deno.addSignalListener("SIGINT", resolve);
});
await app.shutdown();
log.info("stopped");
log.close();
Deno.exit(0);
