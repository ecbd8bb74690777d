/**
 * `acmems serve` once its listeners are bound (cli/serve.ts binds them, then loads this module and the server's
 * code): open the log, load or create every CA's account key, build the App on those listeners, start it, run until
 * SIGINT/SIGTERM, reload on SIGHUP.
 */
import { generateKeyPair } from "../src/acme/mod.ts";
import { accountKeyPath, AccountStoreError, loadAccountKey, saveAccountKey } from "../src/account/store.ts";
import { App } from "../src/server/app.ts";
import type { EarlyListeners } from "../src/server/early_listeners.ts";
import { loadStorageDrivers } from "../src/storage/factory.ts";
import { loadConfig } from "../src/config/load.ts";
import { configSecrets } from "../src/config/secrets.ts";
import { shellWord } from "../src/config/text.ts";
import { formatDiagnostic } from "../src/config/diagnostic_text.ts";
import type { AccountConfig, ConfigResult } from "../src/config/types.ts";
import { createLogger, type Logger } from "../src/ops/log.ts";
import { VERSION } from "../src/version.ts";
import { signalExitCode, watchStopSignals } from "../src/ops/stop_signals.ts";
import { registerCommand } from "./register_command.ts";
import type { ServeOptions } from "./serve.ts";

/**
 * Loads a CA's account key, creating it when the config accepts the terms; null (after printing why) otherwise.
 * `name` is the CA's name (`default` for [account]).
 */
async function prepareKey(
  account: AccountConfig,
  name: string,
  log: Logger,
  files: string[],
): Promise<CryptoKeyPair | null> {
  const loaded = await loadAccountKey(account.dir);
  if (loaded) {
    for (const warning of loaded.warnings) log.warn("account key permissions", { warning });
    return loaded.keyPair;
  }
  if (account.acceptTermsOfService.kind === "none") {
    const ca = name === "default" ? "" : ` --ca ${shellWord(name)}`;
    console.error(
      `acmems serve: no account key at ${accountKeyPath(account.dir)} and the config does not accept the ` +
        `terms of service: run acmems register${ca} --gen-key --register --accept-terms-of-service ${files.join(" ")}`,
    );
    return null;
  }
  const keyPair = await generateKeyPair("ec-p256", { extractable: true });
  await saveAccountKey(account.dir, keyPair);
  log.info("account key created", { path: accountKeyPath(account.dir), type: "EC P-256", ca: name });
  return keyPair;
}

/** Runs the server of a valid config on `listeners` (bound already); the exit status. */
export async function serveBound(
  files: string[],
  result: ConfigResult,
  listeners: EarlyListeners,
  opts: ServeOptions,
): Promise<number> {
  const config = result.config!;
  let log: Logger;
  try {
    log = createLogger({ ...config.logging, secrets: configSecrets(config) });
  } catch (error) {
    console.error(
      `acmems serve: cannot open the log destination ${config.logging.destination}: ${
        error instanceof Error ? error.message : error
      }`,
    );
    return 1;
  }
  try {
    log.info("starting", { version: VERSION, config: files, ca: config.account.acmeServer });
    // Also on stderr above; in the log too, where an operator who reads only the log sees them (a secret in a
    // config file others can read, an auth block that shadows an HMAC block).
    for (const w of result.warnings) log.warn("config warning", { warning: formatDiagnostic(w, "warning") });
    // Every CA's key and ca-file ([account] is the CA named default).
    const caKeys = new Map<string, CryptoKeyPair>();
    const caCertsByCa = new Map<string, string[] | undefined>();
    for (const [name, account] of config.cas) {
      let keyPair: CryptoKeyPair | null;
      try {
        keyPair = await prepareKey(account, name, log, files);
      } catch (error) {
        console.error(`acmems serve: ${error instanceof AccountStoreError ? error.message : String(error)}`);
        return 1;
      }
      if (!keyPair) return 1;
      caKeys.set(name, keyPair);
      if (account.caFile) {
        try {
          caCertsByCa.set(name, [await Deno.readTextFile(account.caFile)]);
        } catch (error) {
          const section = name === "default" ? "[account]" : `[ca "${name}"]`;
          console.error(`acmems serve: cannot read ${section} ca-file ${account.caFile}: ${error}`);
          return 1;
        }
      } else caCertsByCa.set(name, undefined);
    }
    const keyPair = caKeys.get(config.defaultCa)!;
    await loadStorageDrivers(config);
    const app = new App({
      config,
      log,
      listeners,
      keyPair,
      caCerts: caCertsByCa.get(config.defaultCa),
      caKeys,
      caCertsByCa,
    });

    // Signals are taken before the start, which binds the listeners first and then waits for the CA (seconds):
    // a SIGHUP in between is run once started, a SIGINT/SIGTERM stops acmems as soon as the start returns.
    let started = false;
    let reloadQueued = false;
    let reloading = Promise.resolve();
    const reload = () => {
      if (stopReason !== undefined) return; // stopping: a reload would build what the shutdown just closed
      if (!started) {
        if (!reloadQueued) log.info("reload requested while starting: it runs once started", { files });
        reloadQueued = true;
        return;
      }
      reloading = reloading.then(async () => {
        log.info("reloading config", { files });
        const next = await loadConfig(files);
        if (!next.ok || !next.config) {
          log.error("config reload refused, the old config stays", {
            errors: next.errors.map((e) => formatDiagnostic(e, "error")),
          });
          return;
        }
        log.addSecrets(configSecrets(next.config));
        for (const note of await app.reload(next.config)) log.warn("config reload", { note });
      }).catch((error) => log.error("config reload failed", { error: String(error) }));
    };
    let stopReason: string | undefined;
    let stopCleanup = () => {};
    const stop = new Promise<string>((resolve) => {
      const onStop = (name: string) => {
        stopReason ??= name;
        resolve(name);
      };
      // A repeat of the stop signal within a second is the same Ctrl-C (src/ops/stop_signals.ts); a later one ends a
      // shutdown that hangs.
      const releaseStopSignals = watchStopSignals({
        onStop,
        onForce: (signal) => {
          log.warn("stopping at once", { reason: signal, was: stopReason ?? null });
          log.close();
          Deno.exit(signalExitCode(signal));
        },
      });
      Deno.addSignalListener("SIGHUP", reload);
      // An abort with a string reason (the quick start passes on its "SIGINT") is logged as that reason.
      const onAbort = () => onStop(typeof opts.signal?.reason === "string" ? opts.signal.reason : "abort");
      if (opts.signal?.aborted) onAbort();
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      opts.reload?.addEventListener("reload", reload);
      stopCleanup = () => {
        stopCleanup = () => {};
        releaseStopSignals();
        Deno.removeSignalListener("SIGHUP", reload);
        opts.reload?.removeEventListener("reload", reload);
      };
    });
    try {
      try {
        await app.start();
      } catch (error) {
        console.error(`acmems serve: ${error instanceof Error ? error.message : error}`);
        log.error("start failed", { error: error instanceof Error ? error.message : String(error) });
        return 1;
      }
      started = true;
      // A session that failed for good needs the operator (no account and the terms not accepted, or external
      // account binding required): say what to run and exit. An unreachable CA is retried in the background.
      // With several CAs, one that needs the operator is only reported: the others serve (failover skips it).
      const problems = app.cas.problems; // the sessions that failed for good
      if (stopReason === undefined && problems.length > 0) {
        const all = problems.length === app.cas.names.length;
        for (const { name, session } of problems) {
          const command = registerCommand(files, session.problem!.kind, name);
          const which = app.cas.names.length > 1 ? ` of CA "${name}"` : "";
          console.error(`acmems serve: the ACME account${which} cannot be used: ${session.problem!.why}`);
          if (all) console.error(`acmems serve: run ${command}, then start acmems serve again`);
          else console.error(`acmems serve: run ${command}, then restart acmems serve to use this CA again`);
          log.error(
            all
              ? "start refused: the ACME account needs the operator"
              : "CA unusable: its ACME account needs the operator",
            { ca: name, reason: session.reason, command },
          );
        }
        if (all) {
          await app.shutdown();
          log.info("stopped");
          return 1;
        }
      }
      if (stopReason === undefined) {
        log.info("ready", {
          account: app.session.state,
          ...(app.cas.names.length > 1
            ? { cas: Object.fromEntries([...app.cas.sessions].map(([name, s]) => [name, s.state])) }
            : {}),
        });
        opts.onReady?.(app);
        if (reloadQueued) reload();
      }
      const reason = await stop;
      await reloading;
      log.info("stopping", { reason });
      await app.shutdown();
      log.info("stopped");
      return 0;
    } finally {
      stopCleanup();
    }
  } finally {
    log.close();
  }
}
