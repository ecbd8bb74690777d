/**
 * `[mgmt]` (merged across files): listeners, limits, TLS, proxies and metrics; and the choice of the default
 * verification and storage, which depends on the sections the config defines (build.ts calls these in order).
 * Pure apart from `ConfigEnvironment` (hosts file, paths, whether TLS files exist).
 */
import { parseIpNetwork } from "../../lib/ip.ts";
import type { ConfigEnvironment } from "../environment.ts";
import { type Diagnostics, type Options, readOption } from "../diagnostics.ts";
import {
  DEFAULT_MAX_SIZE,
  DEFAULT_MGMT_LISTENERS,
  DEFAULT_SIGN_TIMEOUT_MS,
  IMPLICIT_STORAGE_NAME,
} from "../defaults.ts";
import { MGMT_OPTIONS as M } from "../schema.ts";
import { truncate } from "../text.ts";
import type { IpNetwork, MgmtConfig } from "../types.ts";
import { resolveListeners } from "./listeners.ts";

const LABEL = "[mgmt]";

/** The [mgmt] settings; `defaultVerification` and `defaultStorage` are left null for build.ts to resolve. */
export const buildMgmt =
  (function buildMgmt(o: Options, firstFile: string, env: ConfigEnvironment, diag: Diagnostics): MgmtConfig {
    const listenerEntries = o.all(M.listener);
    const entries = listenerEntries.length > 0
      ? listenerEntries
      : DEFAULT_MGMT_LISTENERS.map((value) => ({ key: M.listener.key, value, source: { file: firstFile, line: 0 } }));
    const mgmt: MgmtConfig = {
      listeners: resolveListeners(entries, env, diag),
      maxSize: DEFAULT_MAX_SIZE,
      defaultVerification: null,
      defaultStorage: null,
      signTimeoutMs: DEFAULT_SIGN_TIMEOUT_MS,
      trustedProxies: [],
      metricsListeners: [],
      bodyTimeoutMs: 10_000,
      maxInflight: 256,
      maxInflightPerClient: 0,
      metricsIps: [],
    };
    readOption(o, M.trustedProxy, mgmt, LABEL, diag);
    mgmt.metricsListeners = resolveListeners(o.all(M.metricsListener), env, diag);
    if (o.has(M.metricsIp)) readOption(o, M.metricsIp, mgmt, LABEL, diag);
    else {
      mgmt.metricsIps = [parseIpNetwork("127.0.0.0/8"), parseIpNetwork("::1")].filter((n): n is IpNetwork =>
        "text" in n
      );
    }
    readOption(o, M.bodyTimeout, mgmt, LABEL, diag);
    readOption(o, M.maxInflight, mgmt, LABEL, diag);
    mgmt.maxInflightPerClient = defaultMaxInflightPerClient(mgmt.maxInflight);
    readOption(o, M.maxInflightPerClient, mgmt, LABEL, diag);
    const perClient = o.one(M.maxInflightPerClient);
    if (perClient && mgmt.maxInflightPerClient > mgmt.maxInflight) {
      diag.warn(
        perClient.source,
        `[mgmt] max-inflight-per-client ${mgmt.maxInflightPerClient} is above max-inflight ${mgmt.maxInflight}: ` +
          "one client can take every /sign slot; lower it",
      );
    }
    const tlsCert = o.one(M.tlsCert);
    const tlsKey = o.one(M.tlsKey);
    if (tlsCert && !tlsKey) diag.error(tlsCert.source, "[mgmt] tls-cert needs tls-key (the certificate's private key)");
    if (tlsKey && !tlsCert) diag.error(tlsKey.source, "[mgmt] tls-key needs tls-cert");
    for (const [entry, field] of [[tlsCert, "tlsCert"], [tlsKey, "tlsKey"]] as const) {
      if (!entry) continue;
      const path = env.resolvePath(entry.value, entry.source.file);
      if (!env.fileExists(path)) diag.warn(entry.source, `[mgmt] ${entry.key} ${path} does not exist here`);
      mgmt[field] = path;
    }
    readOption(o, M.maxSize, mgmt, LABEL, diag);
    readOption(o, M.signTimeout, mgmt, LABEL, diag);
    return mgmt;
  }).bind(null);

/**
 * The default of `max-inflight-per-client`: a quarter of `max-inflight` (64 of the default 256), at least 1, so that
 * one address cannot hold every /sign slot, while a host that fans out (a config-management run, a proxy's
 * connection pool of 32) still fits.
 */
export const defaultMaxInflightPerClient = (function defaultMaxInflightPerClient(maxInflight: number): number {
  return Math.max(1, Math.floor(maxInflight / 4));
}).bind(null);

/** `default-verification`, or the only verification; null when there are several and none is named. */
export const resolveDefaultVerification =
  (function resolveDefaultVerification(o: Options, defined: Set<string>, diag: Diagnostics): string | null {
    const entry = o.one(M.defaultVerification);
    if (entry) {
      if (entry.value === "") return null;
      if (!defined.has(entry.value)) {
        diag.error(
          entry.source,
          `[mgmt] default-verification "${truncate(entry.value)}" names no [verification] section ` +
            `(defined: ${[...defined].join(", ") || "none"})`,
        );
        return null;
      }
      return entry.value;
    }
    if (defined.size === 1) return [...defined][0];
    // Several verifications and no default: blocks without `verification =` are reported in buildAuth.
    return null;
  }).bind(null);

/** `default-storage`, the only storage, or the implicit cache when there is no [storage] section at all. */
export const resolveDefaultStorage = (function resolveDefaultStorage(
  o: Options,
  defined: Set<string>,
  diag: Diagnostics,
): { name: string | null; implicit: boolean } {
  const entry = o.one(M.defaultStorage);
  if (entry) {
    if (entry.value === "") return { name: null, implicit: false };
    if (!defined.has(entry.value)) {
      diag.error(
        entry.source,
        `[mgmt] default-storage "${truncate(entry.value)}" names no [storage] section (defined: ${
          [...defined].join(", ") || "none"
        })`,
      );
      return { name: null, implicit: false };
    }
    return { name: entry.value, implicit: false };
  }
  if (defined.size === 0) return { name: IMPLICIT_STORAGE_NAME, implicit: true };
  if (defined.size === 1) return { name: [...defined][0], implicit: false };
  return { name: null, implicit: false };
}).bind(null);
