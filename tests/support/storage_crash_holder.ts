/**
 * A claim holder that dies: opens a storage (JSON spec in argv[0]), claims `key`, records `orderUrl`, prints
 * `claimed <fence>` and SIGKILLs itself, so neither `release` nor any `finally` runs. The storage contract suite
 * (tests/unit/storage/contract_test.ts) uses it to check what a crashed holder leaves behind.
 *
 * Spec: {"kind":"file","directory":…} or {"kind":"postgres","url":…,"schema":…,"leaseMs":…}, plus
 * {"key":…,"orderUrl":…}.
 */
import { silentLogger } from "../../src/ops/log.ts";
import { FileStorage } from "../../src/storage/file.ts";
import { isHeld, type Storage } from "../../src/storage/mod.ts";
import { PostgresStorage } from "../../src/storage/postgres/mod.ts";

interface Spec {
  kind: "file" | "postgres";
  directory?: string;
  url?: string;
  schema?: string;
  leaseMs?: number;
  key: string;
  orderUrl: string;
}

const spec: Spec = JSON.parse(Deno.args[0]);
const storage: Storage = spec.kind === "file"
  ? new FileStorage({
    name: "crash",
    directory: spec.directory!,
    renewWithinDays: 14,
    renewActiveDays: 30,
    log: silentLogger,
  })
  : new PostgresStorage({
    name: "crash",
    url: spec.url,
    poolSize: 1,
    leaseMs: spec.leaseMs ?? 1000,
    schema: spec.schema!,
    renewWithinDays: 14,
    renewActiveDays: 30,
    log: silentLogger,
    applicationName: "acmems-crash-holder",
  });
const claim = await storage.claim(spec.key, `crash-holder:${Deno.pid}`, storage.leaseMs ?? 60_000);
if (isHeld(claim)) {
  console.log(`held ${claim.heldBy}`);
  Deno.exit(3);
}
if (!await storage.noteOrder(claim, spec.orderUrl)) {
  console.log("fenced");
  Deno.exit(4);
}
console.log(`claimed ${claim.fence}`);
Deno.kill(Deno.pid, "SIGKILL");
