/**
 * The effective config as check-config shows it: a short text summary and a JSON object.
 * Secrets (hmac_key, tsig-secret, eab-hmac-key) are always `***`.
 */
import type { Config, ConfigResult, VerificationConfig } from "./types.ts";
import { REDACTED } from "./secrets.ts";
import { isLetsEncrypt } from "./defaults.ts";
import { formatDuration } from "./values.ts";
import { rateLimitsJson, rateLimitsSummary } from "../ca/ledger_config.ts";

export { REDACTED };

/** A database URL with its password (in the userinfo or a `password`/`sslpassword` parameter) replaced by ***. */
export const redactPassword = (function redactPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = REDACTED;
    for (const name of [...parsed.searchParams.keys()]) {
      if (/password/i.test(name)) parsed.searchParams.set(name, REDACTED);
    }
    return parsed.href;
  } catch {
    return REDACTED;
  }
}).bind(null);

/** A webhook URL without its path and query, which often carry a token. */
export const redactUrl = (function redactUrl(url: string): string {
  const parsed = new URL(url);
  return parsed.pathname.length > 1 || parsed.search ? `${parsed.origin}/${REDACTED}` : parsed.origin + "/";
}).bind(null);

/** Plain data for `check-config --json`: everything effective, secrets redacted. */
export const configToJson = (function configToJson(config: Config): Record<string, unknown> {
  const account = config.account;
  return {
    files: config.files,
    account: {
      acmeServer: account.acmeServer,
      acmeServerIsDefault: account.acmeServerIsDefault,
      dir: account.dir,
      acceptTermsOfService: account.acceptTermsOfService.kind === "urls"
        ? account.acceptTermsOfService.urls
        : account.acceptTermsOfService.kind === "any",
      email: account.email,
      caFile: account.caFile ?? null,
      caOrigins: account.caOrigins,
      eabKid: account.eabKid ?? null,
      eabHmacKey: account.eabHmacKey === undefined ? null : REDACTED,
      profile: account.profile ?? null,
    },
    cas: casToJson(config),
    defaultCa: config.defaultCa,
    mgmt: {
      listeners: config.mgmt.listeners.map((l) => l.display),
      maxSize: config.mgmt.maxSize,
      defaultVerification: config.mgmt.defaultVerification,
      defaultStorage: config.mgmt.defaultStorage,
      signTimeoutMs: config.mgmt.signTimeoutMs,
      bodyTimeoutMs: config.mgmt.bodyTimeoutMs,
      maxInflight: config.mgmt.maxInflight,
      maxInflightPerClient: config.mgmt.maxInflightPerClient,
      tlsCert: config.mgmt.tlsCert ?? null,
      tlsKey: config.mgmt.tlsKey ?? null,
      trustedProxies: config.mgmt.trustedProxies.map((n) => n.text),
      metricsListeners: config.mgmt.metricsListeners.map((l) => l.display),
      metricsIps: config.mgmt.metricsIps.map((n) => n.text),
    },
    logging: { ...config.logging },
    verifications: [...config.verifications.values()].map(verificationToJson),
    storages: [...config.storages.values()].map((s) =>
      s.type === "none" ? { name: s.name, type: s.type } : s.type === "postgres"
        ? {
          name: s.name,
          type: s.type,
          url: s.url ? redactPassword(s.url) : null,
          poolSize: s.poolSize,
          leaseMs: s.leaseMs,
          schema: s.schema,
          renewWithinDays: s.renewWithinDays,
          renewActiveDays: s.renewActiveDays,
        }
        : {
          name: s.name,
          type: s.type,
          directory: s.directory,
          renewWithinDays: s.renewWithinDays,
          renewActiveDays: s.renewActiveDays,
          implicit: s.implicit,
        }
    ),
    auth: config.auth.map((b) => ({
      name: b.name,
      ip: b.ips.map((n) => n.text),
      domain: b.domains,
      ...(b.ipIdentifiers?.length ? { ipIdentifiers: b.ipIdentifiers.map((n) => n.text) } : {}),
      hmac: b.hmac ? { type: b.hmac.type, key: REDACTED } : null,
      ...(b.acmeEab ? { acmeEab: { kid: b.acmeEab.kid, key: REDACTED } } : {}),
      all: b.all,
      verification: b.verification,
      storage: b.storage,
      profile: b.profile ?? account.profile ?? null,
      ca: b.cas ?? [config.defaultCa],
      limitOrders: b.limitOrders?.text ?? null,
      limitOrdersPerClient: b.limitOrdersPerClient?.text ?? null,
      source: `${b.source.file}:${b.source.line}`,
    })),
    rateLimits: rateLimitsJson(config),
    notifiers: config.notifiers.map((n) => ({
      name: n.name,
      type: n.type,
      url: n.url ? redactUrl(n.url) : null,
      command: n.command ?? null,
      events: n.events,
      timeoutMs: n.timeoutMs,
      retries: n.retries,
      expiringDays: n.expiringDays,
    })),
  };
}).bind(null);

/** Every CA (name, directory, account dir, profile), the default first. */
const casToJson = (function casToJson(config: Config): Record<string, unknown>[] {
  return [...config.cas].map(([name, ca]) => ({
    name,
    default: name === config.defaultCa,
    directory: ca.acmeServer,
    accountDir: ca.dir,
    profile: ca.profile ?? null,
    caFile: ca.caFile ?? null,
    eabKid: ca.eabKid ?? null,
    eabHmacKey: ca.eabHmacKey === undefined ? null : REDACTED,
  }));
}).bind(null);

/** The CAs lines of the summary: one per CA, and each auth block's preference when it has one. */
const caLines = (function caLines(config: Config): string[] {
  const lines = ["CAs:"];
  for (const [name, ca] of config.cas) {
    lines.push(
      `  ${name}${name === config.defaultCa ? " (default)" : ""}: ${ca.acmeServer}; account dir ${ca.dir}; ` +
        `profile ${ca.profile ?? "CA default"}`,
    );
  }
  for (const block of config.auth) {
    if (block.cas) lines.push(`  [auth "${block.name}"] orders from: ${block.cas.join(", ")} (in this order)`);
  }
  return lines;
}).bind(null);

const verificationToJson = (function verificationToJson(v: VerificationConfig): Record<string, unknown> {
  if (v.type === "http01") {
    return { name: v.name, type: v.type, listeners: v.listeners.map((l) => l.display), implicit: v.implicit };
  }
  if (v.type === "dns-persist01") {
    return {
      name: v.name,
      type: v.type,
      issuerDomainName: v.issuerDomainName ?? null,
      resolvers: v.resolvers.map((s) => s.display),
      recordFormat: v.recordFormat,
      persistUntil: v.persistUntil ?? null,
      timeoutMs: v.timeoutMs,
    };
  }
  return {
    name: v.name,
    type: v.type,
    dnsServers: v.servers.map((s) => s.display),
    ttl: v.ttl,
    timeoutMs: v.timeoutMs,
    zone: v.zone ?? null,
    transport: v.transport,
    tsig: v.tsig ? { keyName: v.tsig.name, algorithm: v.tsig.algorithm, secret: REDACTED } : null,
  };
}).bind(null);

/**
 * The object `check-config --json` prints: `ok`, `errors[]`, `warnings[]`, `notes[]`, and the effective config both
 * under `config` and section by section at the top level (`mgmt.maxSize` = `config.mgmt.maxSize`); `config` is null
 * and the sections are absent when the config is invalid.
 */
export const resultToJson = (function resultToJson(result: ConfigResult): Record<string, unknown> {
  const config = result.config ? configToJson(result.config) : null;
  return {
    ok: result.ok,
    errors: result.errors,
    warnings: result.warnings,
    notes: result.notes,
    ...config,
    config,
  };
}).bind(null);

export { formatDiagnostic } from "./diagnostic_text.ts";

/** A short human summary of the effective config. */
export const configSummary = (function configSummary(config: Config): string {
  const lines: string[] = [];
  const a = config.account;
  lines.push(`ACME server:   ${a.acmeServer}${a.acmeServerIsDefault ? " (default: Let's Encrypt staging)" : ""}`);
  lines.push(`account dir:   ${a.dir}`);
  const tos = a.acceptTermsOfService;
  lines.push(
    `terms:         ${
      tos.kind === "any" ? "accepted (any)" : tos.kind === "urls" ? tos.urls.join(", ") : "not accepted"
    }`,
  );
  if (a.email.length > 0) lines.push(`contact:       ${a.email.join(", ")}`);
  if (a.caFile) lines.push(`CA file:       ${a.caFile}`);
  if (a.caOrigins.length > 0) lines.push(`CA origins:    ${a.caOrigins.join(", ")} (besides the directory's)`);
  if (a.eabKid) lines.push(`EAB:           kid ${a.eabKid}, key ${REDACTED}`);
  if (a.profile) lines.push(`profile:       ${a.profile}`);
  lines.push(...caLines(config));
  lines.push(
    `mgmt:          ${
      config.mgmt.listeners.map((l) => l.display).join(", ") || "(none)"
    }; max-size ${config.mgmt.maxSize} bytes; ` +
      `sign-timeout ${formatDuration(config.mgmt.signTimeoutMs)}`,
  );
  if (config.mgmt.tlsCert) lines.push(`mgmt TLS:      ${config.mgmt.tlsCert} (key ${config.mgmt.tlsKey})`);
  if (config.mgmt.trustedProxies.length > 0) {
    lines.push(
      `proxies:       X-Forwarded-For believed from ${config.mgmt.trustedProxies.map((n) => n.text).join(", ")}`,
    );
  }
  lines.push(
    `metrics:       /metrics for ${config.mgmt.metricsIps.map((n) => n.text).join(", ")}${
      config.mgmt.metricsListeners.length > 0
        ? `; also on ${config.mgmt.metricsListeners.map((l) => l.display).join(", ")}`
        : ""
    }`,
  );
  lines.push(`logging:       ${config.logging.level}, ${config.logging.format}, to ${config.logging.destination}`);
  lines.push("verifications:");
  for (const v of config.verifications.values()) {
    const isDefault = config.mgmt.defaultVerification === v.name ? ", default" : "";
    if (v.type === "http01") {
      lines.push(
        `  ${v.name} (http01${isDefault}${v.implicit ? ", implicit" : ""}): ${
          v.listeners.map((l) => l.display).join(", ")
        }`,
      );
    } else if (v.type === "dns-persist01") {
      lines.push(
        `  ${v.name} (dns-persist01${isDefault}): no DNS writes; TXT at _validation-persist.<name> checked through ${
          v.resolvers.length > 0 ? v.resolvers.map((s) => s.display).join(", ") : "the system resolver"
        }, issuer ${v.issuerDomainName ?? persistIssuerDefault(config.account.acmeServer)}, ${v.recordFormat}` +
          `${v.persistUntil !== undefined ? `, persistUntil ${v.persistUntil}` : ""}`,
      );
    } else {
      const tsig = v.tsig ? `TSIG ${v.tsig.name} ${v.tsig.algorithm} (secret ${REDACTED})` : "no TSIG";
      const owner = v.type === "dns-account01" ? "_<account label>._acme-challenge.<name>" : "_acme-challenge.<name>";
      lines.push(
        `  ${v.name} (${v.type}${isDefault}): ${v.servers.map((s) => s.display).join(", ")} over ${v.transport}, ` +
          `TXT at ${owner} (or the target of a CNAME there) in zone ${v.zone ?? "found by SOA lookup"}, ` +
          `ttl ${v.ttl}, timeout ${formatDuration(v.timeoutMs)}, ${tsig}`,
      );
    }
  }
  lines.push("storages:");
  if (config.storages.size === 0) lines.push("  (none)");
  for (const s of config.storages.values()) {
    const isDefault = config.mgmt.defaultStorage === s.name ? ", default" : "";
    lines.push(
      s.type === "none"
        ? `  ${s.name} (none${isDefault}): no caching`
        : s.type === "postgres"
        ? `  ${s.name} (postgres${isDefault}): ${
          s.url ? redactPassword(s.url) : "PG* environment"
        }, schema ${s.schema}, ` +
          `pool ${s.poolSize}, lease ${s.leaseMs / 1000}s, renew ${s.renewWithinDays} days before expiry`
        : `  ${s.name} (file${isDefault}${
          s.implicit ? ", implicit" : ""
        }): ${s.directory}, renew ${s.renewWithinDays} days before expiry, in the background if fetched within ${s.renewActiveDays} days`,
    );
  }
  lines.push("auth blocks (first match wins):");
  if (config.auth.length === 0) lines.push("  (none: every request is refused)");
  for (const b of config.auth) {
    const who: string[] = [];
    if (b.ips.length > 0) who.push(`ip ${b.ips.map((n) => n.text).join(", ")}`);
    if (b.hmac) who.push(`hmac ${b.hmac.type} (key ${REDACTED})`);
    if (b.all) who.push("all = yes");
    lines.push(`  ${b.name}: ${who.length > 0 ? who.join(" and ") : "any client"}`);
    lines.push(`    names: ${b.domains.join(", ")}`);
    if (b.ipIdentifiers?.length) lines.push(`    ip addresses: ${b.ipIdentifiers.map((n) => n.text).join(", ")}`);
    if (b.acmeEab) lines.push(`    ACME front end: EAB key id ${b.acmeEab.kid} (key ${REDACTED})`);
    lines.push(
      `    verification ${b.verification}, storage ${b.storage ?? "none (no caching)"}, profile ${
        b.profile ?? a.profile ?? "CA default"
      }`,
    );
  }
  lines.push(...rateLimitsSummary(config));
  if (config.notifiers.length > 0) {
    lines.push("notifiers:");
    for (const n of config.notifiers) {
      lines.push(
        `  ${n.name} (${n.type}): ${n.url ? redactUrl(n.url) : n.command?.join(" ")} on ${n.events.join(", ")}`,
      );
    }
  }
  return lines.join("\n");
}).bind(null);

/** What a dns-persist01 block without `issuer-domain-name` uses (the default CA's, for `acmems records`). */
const persistIssuerDefault = (function persistIssuerDefault(acmeServer: string): string {
  return isLetsEncrypt(acmeServer)
    ? "letsencrypt.org (Let's Encrypt's)"
    : "from the CA's challenge (acmems records needs issuer-domain-name)";
}).bind(null);
