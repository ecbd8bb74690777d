/**
 * Reload: applies a new, already validated config to a running server. The differences that need a restart
 * (listener addresses, `[account]`, `[logging]`, turning mgmt TLS on or off) become notes and keep the old setting;
 * everything else is built into a new generation and swapped in at once.
 *
 * Contract: `reloadServer` never throws. Nothing is swapped unless the new TLS files (when their bytes changed)
 * form a usable pair and the new storages prepare; otherwise the old config stays and the notes say why. After the
 * swap the old generation retires in the background (its running orders finish first) and the mgmt listeners are
 * rebound with the new certificate, without waiting for their in-flight requests.
 */
import type { Config, LoggingConfig } from "../config/types.ts";
import type { Logger } from "../ops/log.ts";
import { loadStorageDrivers, prepareStorages } from "../storage/factory.ts";
import { type Generation, retireGeneration } from "./generation.ts";
import { checkTlsFiles, type ListenerSet, readTls, type ServeHandler, type TlsFiles } from "./listeners.ts";

/** The `[logging]` options that changed: they are set when the process starts. */
export function loggingChanges(before: LoggingConfig, after: LoggingConfig): string[] {
  return (["level", "format", "destination"] as const)
    .filter((option) => before[option] !== after[option])
    .map((option) =>
      `[logging] ${option} changed (${before[option]} -> ${after[option]}): it needs a restart; ` +
      "the old setting stays in use until then"
    );
}

/** The notes for changes that only a restart applies (listener addresses, the account, logging). */
export function restartNotes(before: Config, after: Config): string[] {
  const notes: string[] = [];
  const listenerSet = (c: Config) =>
    JSON.stringify({
      mgmt: c.mgmt.listeners.map((l) => l.display),
      metrics: c.mgmt.metricsListeners.map((l) => l.display),
      http01: [...c.verifications.values()].flatMap((v) =>
        v.type === "http01" ? [`${v.name}=${v.listeners.map((l) => l.display).join(",")}`] : []
      ),
    });
  if (listenerSet(after) !== listenerSet(before)) {
    notes.push("Listener addresses changed: they take effect after a restart; the old ones stay in use");
  }
  if (JSON.stringify(after.account) !== JSON.stringify(before.account)) {
    notes.push("[account] changed: the ACME account and CA change only after a restart");
  }
  const others = (c: Config) => JSON.stringify([...(c.cas ?? new Map())].filter(([name]) => name !== c.defaultCa));
  if (others(after) !== others(before)) {
    notes.push('[ca "name"] sections changed: the CAs and their accounts change only after a restart');
  }
  notes.push(...loggingChanges(before.logging, after.logging));
  return notes;
}

/** What a reload needs of the running server. */
export interface ReloadTarget {
  log: Logger;
  /** The generation in force. */
  current(): Generation;
  /** Builds the generation of a config (no network, no disk). */
  build(config: Config, previous: Generation): Generation;
  /** Puts a generation in force. */
  swap(next: Generation): void;
  /** The TLS files the mgmt listeners serve (undefined without TLS); a reload with new files replaces them. */
  tls: { current: TlsFiles | undefined };
  listeners: ListenerSet;
  mgmtHandler: ServeHandler;
}

/** Applies `config`; returns the notes the operator should see. Never throws. */
export async function reloadServer(target: ReloadTarget, config: Config): Promise<string[]> {
  const { log } = target;
  const old = target.current();
  const notes = restartNotes(old.config, config);

  // TLS files are read and checked before anything is swapped: a broken pair refuses the whole reload, so the
  // mgmt listeners are never left without a certificate.
  let newTls: TlsFiles | undefined;
  const served = target.tls.current;
  if (config.mgmt.tlsCert && config.mgmt.tlsKey && served) {
    try {
      const read = await readTls(config);
      if (read && (read.cert !== served.cert || read.key !== served.key)) {
        checkTlsFiles(read, { certFile: config.mgmt.tlsCert, keyFile: config.mgmt.tlsKey });
        newTls = read;
      }
    } catch (error) {
      const reason = `${error instanceof Error ? error.message : error}: keeping the old config`;
      log.error("config reload refused, the old config stays", { errors: [reason] });
      return [...notes, reason];
    }
  } else if (!!config.mgmt.tlsCert !== !!served) {
    notes.push("Turning mgmt TLS on or off takes effect after a restart");
  }

  try {
    await loadStorageDrivers(config); // the PostgreSQL driver, the first time a config names a postgres storage
  } catch (error) {
    notes.push(`${error instanceof Error ? error.message : error}: keeping the old config`);
    return notes;
  }
  const next = target.build(config, old);
  try {
    await prepareStorages(next.storages.values());
  } catch (error) {
    notes.push(`${error instanceof Error ? error.message : error}: keeping the old config`);
    for (const unused of next.storages.values()) await unused.close().catch(() => {});
    return notes;
  }
  for (const [name, solver] of next.solvers) {
    if (old.solvers.get(name) !== solver) await solver.start?.().catch(() => {});
  }
  target.swap(next);
  // The old generation finishes its running orders, then lets go of its storages and replaced solvers.
  target.listeners.retired.push(retireGeneration(old, next));

  // New TLS bytes: the running mgmt listeners are rebound on their ports (unchanged files: nothing to do).
  if (newTls) {
    target.tls.current = newTls;
    for (const listener of target.listeners.all.filter((l) => l.role === "mgmt")) {
      try {
        await target.listeners.rebind(listener, target.mgmtHandler, newTls);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        log.error("mgmt listener lost on TLS reload: restart acmems", { address: listener.address.display, reason });
        notes.push(`${reason}: restart acmems to serve it again`);
      }
    }
    log.info("mgmt TLS certificate reloaded", { cert: config.mgmt.tlsCert });
  }
  log.info("config reloaded", { files: config.files, auth: config.auth.length, notes });
  return notes;
}
