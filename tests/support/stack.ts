/**
 * The ONE stack builder of the integration, end-to-end and fault tests: bind9 + pebble (+ PostgreSQL, + acmems as a subprocess,
 * through tests/support/acmems.ts), and the two in-process ways to run acmems (`startApp`: an `App` from
 * `loadConfig`, as `serve` builds it; `serveInProcess`: `runServe` itself, with its reload EventTarget). Configs come
 * from tests/support/config.ts.
 *
 * Everything started is stopped through a `Cleanup`, in reverse order of start; every stop runs even if an earlier
 * one throws. Nothing here retries: a peer that does not come up fails the test with its log tail.
 */
import { runServe } from "../../cli/serve.ts";
import type { ChallengeSolver } from "../../src/challenges/solver.ts";
import { App } from "../../src/server/app.ts";
import { loadStorageDrivers } from "../../src/storage/factory.ts";
import { loadConfig } from "../../src/config/load.ts";
import { formatDiagnostic } from "../../src/config/summary.ts";
import type { Config } from "../../src/config/types.ts";
import type { IssuanceFaults } from "../../src/issuance/service.ts";
import { memoryLogger } from "../../src/ops/log.ts";
import { type Acmems, type AcmemsOptions, startAcmems } from "./acmems.ts";
import { assert } from "./assert.ts";
import { type ConfigSpec, writeConfig } from "./config.ts";
import { type Named, type NamedOptions, startNamed } from "./named.ts";
import { type Pebble, type PebbleOptions, startPebble } from "./pebble.ts";
import { type Postgres, type PostgresOptions, startPostgres } from "./postgres.ts";
import { removeWorkDir } from "./process.ts";

/** Stops things in reverse order of registration; every stop runs even if an earlier one throws. */
export class Cleanup {
  readonly #steps: (() => unknown)[] = [];

  add(step: () => unknown): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) throw errors[0];
  }
}

/** Milliseconds since `started`, for timing lines in test output. */
export function since(started: number): number {
  return Date.now() - started;
}

// ---------------------------------------------------------------------------------------------------------------
// bind9 + pebble (+ acmems as a subprocess)

/** Options for `startStack`. */
export interface StackOptions {
  /** Prefix of the work dir (a new temp dir, removed by `cleanup` unless ACMEMS_KEEP_FIXTURES=1). */
  prefix?: string;
  named?: NamedOptions;
  /** pebble's options (its `dnsServer` is the stack's bind9). */
  pebble?: Omit<PebbleOptions, "dnsServer">;
  /** A throwaway PostgreSQL too (tests/support/postgres.ts). */
  postgres?: boolean | PostgresOptions;
  /** Write pebble's root certificate to `<work>/pebble-root.pem` (for clients that verify the chain). */
  rootFile?: boolean;
  /** An acmems subprocess in front of the pebble (its `dir` defaults to the work dir). */
  acmems?: (peers: { work: string; named: Named; pebble: Pebble }) => AcmemsOptions | Promise<AcmemsOptions>;
}

/** A running stack. */
export interface Stack {
  work: string;
  named: Named;
  pebble: Pebble;
  /** The PostgreSQL, when `postgres` was given. */
  pg: Postgres | undefined;
  /** `<work>/pebble-root.pem` with `rootFile`, else "". */
  rootFile: string;
  /** The acmems subprocess, when `acmems` was given (else undefined). */
  acmems: Acmems | undefined;
  /** Stops everything started here and whatever the test added, in reverse order; removes the work dir. */
  cleanup: Cleanup;
}

/**
 * Starts bind9, a pebble resolving through it and (when asked) acmems; returns them with the `Cleanup` that stops
 * them. On a failed start everything already started is stopped before the error is rethrown.
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const cleanup = new Cleanup();
  try {
    const work = await Deno.makeTempDir({ prefix: opts.prefix ?? "acmems-stack-" });
    cleanup.add(() => removeWorkDir(work));
    const named = await startNamed(opts.named);
    cleanup.add(() => named.stop());
    let pg: Postgres | undefined;
    if (opts.postgres) {
      const started = await startPostgres(opts.postgres === true ? {} : opts.postgres);
      cleanup.add(() => started.stop());
      pg = started;
    }
    const pebble = await startPebble({ ...opts.pebble, dnsServer: named.address });
    cleanup.add(() => pebble.stop());
    let rootFile = "";
    if (opts.rootFile) {
      rootFile = `${work}/pebble-root.pem`;
      await Deno.writeTextFile(rootFile, await pebble.rootPem());
    }
    let acmems: Acmems | undefined;
    if (opts.acmems) {
      const started = await startAcmems({ dir: work, ...await opts.acmems({ work, named, pebble }) });
      cleanup.add(() => started.stop());
      acmems = started;
    }
    return { work, named, pebble, pg, rootFile, acmems, cleanup };
  } catch (e) {
    await cleanup.run().catch(() => {});
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// acmems in-process

/** Options for `startApp`. Give `config` (written to `configFile`) or an existing `configFile`. */
export interface AppStackOptions {
  /** The config, written to `configFile` before loading. */
  config?: ConfigSpec;
  /** The config file (read with `loadConfig`, as `serve` does). */
  configFile: string;
  keyPair: CryptoKeyPair;
  /** PEM CA certificates trusted for the ACME server (default: none). */
  caCerts?: string[];
  /** Extra solvers by verification name, built from the loaded config. */
  solvers?: (config: Config, log: ReturnType<typeof memoryLogger>) => Map<string, ChallengeSolver>;
  faults?: IssuanceFaults;
  /** The global fetch while the App is constructed (the App captures it: a recorder sees its CA traffic). */
  fetch?: typeof fetch;
  /** Require the ACME session to be `ready` after start (default true). */
  requireReady?: boolean;
  /** Label in errors (default "acmems"). */
  name?: string;
}

/** An in-process acmems. */
export interface AppStack {
  app: App;
  config: Config;
  /** http://127.0.0.1:PORT of the first mgmt listener (https:// with [mgmt] tls-cert). */
  url: string;
  log: ReturnType<typeof memoryLogger>;
  /** JSON log lines, parsed. */
  events(): Record<string, unknown>[];
  /** The raw log lines. */
  lines(): string[];
  /** Shuts the app down; safe to call more than once. */
  stop(): Promise<void>;
}

/** Loads the config with `loadConfig` (as `serve` does) and starts an `App` on it (sweeps off: tests trigger them). */
export async function startApp(opts: AppStackOptions): Promise<AppStack> {
  if (opts.config) await writeConfig(opts.configFile, opts.config);
  const loaded = await loadConfig([opts.configFile]);
  assert(loaded.ok && loaded.config, loaded.errors.map((e) => formatDiagnostic(e, "error")).join("\n"));
  const config = loaded.config;
  await loadStorageDrivers(config);
  const log = memoryLogger("debug");
  const original = globalThis.fetch;
  let app: App;
  if (opts.fetch) globalThis.fetch = opts.fetch;
  try {
    app = new App({
      config,
      log,
      keyPair: opts.keyPair,
      caCerts: opts.caCerts,
      sweepIntervalMs: 0,
      solvers: opts.solvers?.(config, log),
      faults: opts.faults,
    });
  } finally {
    globalThis.fetch = original;
  }
  await app.start();
  const mgmt = app.listeners.find((l) => l.role === "mgmt");
  if (!mgmt || ((opts.requireReady ?? true) && app.session.state !== "ready")) {
    await app.shutdown();
    throw new Error(`${opts.name ?? "acmems"} not ready (session ${app.session.state}: ${app.session.reason})`);
  }
  let stopped: Promise<void> | undefined;
  return {
    app,
    config,
    url: `${config.mgmt.tlsCert ? "https" : "http"}://127.0.0.1:${mgmt.port}`,
    log,
    events: () => log.lines.map((l) => JSON.parse(l)),
    lines: () => log.lines,
    stop: () => stopped ??= app.shutdown(),
  };
}

/** acmems in-process through `runServe` (what `acmems serve` runs), with its reload EventTarget. */
export interface Served {
  app: App;
  /** http(s)://127.0.0.1:PORT of the first mgmt listener. */
  url: string;
  /** Dispatches the "reload" event (what SIGHUP does). */
  reload(): void;
  /** Aborts the serve loop and returns its exit status. */
  stop(): Promise<number>;
}

/** Runs `runServe(configFiles)` until it calls `onReady`; rejects if it ends first. */
export async function serveInProcess(configFiles: string[], scheme = "http"): Promise<Served> {
  const abort = new AbortController();
  const reloads = new EventTarget();
  const ready = Promise.withResolvers<App>();
  const done = runServe(configFiles, {
    signal: abort.signal,
    reload: reloads,
    onReady: (app) => ready.resolve(app),
  });
  done.then(
    (code) => ready.reject(new Error(`runServe ended with ${code} before it was ready`)),
    (error) => ready.reject(error),
  );
  const app = await ready.promise;
  const mgmt = app.listeners.find((l) => l.role === "mgmt")!;
  let stopped: Promise<number> | undefined;
  return {
    app,
    url: `${scheme}://127.0.0.1:${mgmt.port}`,
    reload: () => reloads.dispatchEvent(new Event("reload")),
    stop: () =>
      stopped ??= (() => {
        abort.abort();
        return done;
      })(),
  };
}
