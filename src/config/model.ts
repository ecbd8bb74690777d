/**
 * Builds the typed config (src/config/types.ts) from parsed INI documents: the one place that knows every option.
 *
 * Each section type has one validator below and one option table (`*_OPTIONS`); to add an option, add it to the
 * table and read it in the validator. Unknown sections and options are errors (the original ACMEMS only warned and,
 * in `[auth]`, dropped the rest of the block, which opened it to every client).
 *
 * Pure apart from `ConfigEnvironment`, which supplies the few facts about the machine a config needs (hosts file,
 * network interface names, key files), so tests can pass fakes.
 */
import { didYouMean, type IniDocument, type IniEntry, type IniSection, SECRET_OPTIONS, truncate } from "./ini.ts";
import { parseIpNetwork } from "../lib/ip.ts";
import { compileGlob } from "../lib/glob.ts";
import { parseTsigKeyFile } from "./tsig_key_file.ts";
import type {
  AccountConfig,
  AuthBlock,
  Config,
  ConfigResult,
  Diagnostic,
  DnsServerAddress,
  DnsUpdateVerification,
  FileStorage,
  HmacType,
  Http01Verification,
  IpNetwork,
  ListenAddress,
  LoggingConfig,
  LogLevel,
  MgmtConfig,
  NotifyConfig,
  NotifyEvent,
  PostgresStorage as PostgresStorageConfig,
  Source,
  StorageConfig,
  TermsOfService,
  TsigAlgorithm,
  TsigKey,
  VerificationConfig,
} from "./types.ts";
import {
  formatListen,
  isBase64,
  isDnsName,
  isStandardBase64,
  lookupHostsFile,
  parseAbsoluteUrl,
  parseBoolean,
  parseDnsServer,
  parseDuration,
  parseEmail,
  parseInteger,
  parseListenTarget,
  parseSize,
  parseUrl,
} from "./values.ts";

/** What a config needs to know about the machine. */
export interface ConfigEnvironment {
  /** Contents of /etc/hosts (for `localhost:1313`-style listeners); no DNS is ever asked. */
  hostsText: string;
  /** Names of the local network interfaces, or null when unknown (then zone ids are not checked). */
  interfaceNames: string[] | null;
  /** Reads a text file (TSIG key files); null when it cannot be read, with the reason. */
  readTextFile(path: string): { text: string } | { error: string };
  /** Whether a file exists (ca-file: a warning when it does not). */
  fileExists(path: string): boolean;
  /** Resolves a path written in a config file, relative to that file's directory. */
  resolvePath(path: string, configFile: string): string;
  /** The network filesystem type a path is on, or null (default: read /proc/self/mountinfo). */
  networkFilesystem?(path: string): string | null;
}

export const LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";
export const DEFAULT_MGMT_LISTENERS = ["127.0.0.1:1313", "[::1]:1313"];
export const DEFAULT_HTTP01_LISTENER = "[::]:1380";
export const DEFAULT_MAX_SIZE = 4096;
export const DEFAULT_SIGN_TIMEOUT_MS = 90_000;
export const DEFAULT_RENEW_WITHIN_DAYS = 14;
export const DEFAULT_RENEW_ACTIVE_DAYS = 30;
export const IMPLICIT_VERIFICATION_NAME = "http";
export const IMPLICIT_STORAGE_NAME = "cache";

interface OptionRule {
  multi?: boolean;
  /** Other spellings accepted for this option (the seed README writes `mgmt=` for `listener`). */
  aliases?: string[];
}
type OptionTable = Record<string, OptionRule>;

const ACCOUNT_OPTIONS: OptionTable = {
  "acme-server": {},
  dir: {},
  "accept-terms-of-service": { multi: true },
  email: { multi: true },
  "ca-file": {},
  "eab-kid": {},
  "eab-hmac-key": {},
  profile: {},
};
const MGMT_OPTIONS: OptionTable = {
  listener: { multi: true, aliases: ["mgmt"] },
  "max-size": {},
  "default-verification": {},
  "default-storage": {},
  "sign-timeout": {},
  "tls-cert": {},
  "tls-key": {},
  "trusted-proxy": { multi: true },
  "metrics-listener": { multi: true },
  "metrics-ip": { multi: true },
  "body-timeout": {},
  "max-inflight": {},
};
const NOTIFY_OPTIONS: OptionTable = {
  type: {},
  url: {},
  command: {},
  events: { multi: true },
  timeout: {},
  retries: {},
  "expiring-days": {},
};
const NOTIFY_EVENTS: NotifyEvent[] = ["issue-failed", "renewal-failed", "expiring"];
const LOGGING_OPTIONS: OptionTable = { level: {}, format: {}, destination: {} };
const HTTP01_OPTIONS: OptionTable = { type: {}, listener: { multi: true } };
const DNS_UPDATE_OPTIONS: OptionTable = {
  type: {},
  "dns-server": { multi: true },
  ttl: {},
  timeout: {},
  zone: {},
  transport: {},
  "tsig-key-name": {},
  "tsig-algorithm": {},
  "tsig-secret": {},
  "tsig-key-file": {},
};
const NONE_STORAGE_OPTIONS: OptionTable = { type: {} };
const FILE_STORAGE_OPTIONS: OptionTable = { type: {}, directory: {}, "renew-within": {}, "renew-active-days": {} };
const POSTGRES_STORAGE_OPTIONS: OptionTable = {
  type: {},
  url: {},
  "pool-size": {},
  lease: {},
  schema: {},
  "renew-within": {},
  "renew-active-days": {},
};
const AUTH_OPTIONS: OptionTable = {
  ip: { multi: true },
  domain: { multi: true },
  hmac_type: {},
  hmac_key: {},
  all: {},
  verification: {},
  storage: {},
  profile: {},
};

/** Every option of every section, by the README heading that documents it (a test keeps them in step). */
export const OPTION_TABLES: Record<string, OptionTable[]> = {
  "[account]": [ACCOUNT_OPTIONS],
  "[mgmt]": [MGMT_OPTIONS],
  "[logging]": [LOGGING_OPTIONS],
  '[verification "name"]': [HTTP01_OPTIONS, DNS_UPDATE_OPTIONS],
  '[storage "name"]': [NONE_STORAGE_OPTIONS, FILE_STORAGE_OPTIONS, POSTGRES_STORAGE_OPTIONS],
  '[notify "name"]': [NOTIFY_OPTIONS],
  '[auth "name"]': [AUTH_OPTIONS],
};

/** Options whose values are secrets: shown as `***` everywhere (defined next to the parser, which must not echo them). */
export { SECRET_OPTIONS };

class Diagnostics {
  errors: Diagnostic[] = [];
  warnings: Diagnostic[] = [];
  notes: Diagnostic[] = [];
  error(source: Source, message: string): void {
    this.errors.push({ file: source.file, line: source.line, message });
  }
  warn(source: Source, message: string): void {
    this.warnings.push({ file: source.file, line: source.line, message });
  }
  note(source: Source, message: string): void {
    this.notes.push({ file: source.file, line: source.line, message });
  }
}

/** Options of one (possibly merged) section, checked against its table. */
class Options {
  constructor(private readonly values: Map<string, IniEntry[]>) {}
  one(key: string): IniEntry | undefined {
    return this.values.get(key)?.[0];
  }
  all(key: string): IniEntry[] {
    return this.values.get(key) ?? [];
  }
  has(key: string): boolean {
    return this.values.has(key);
  }
}

function where(source: Source): string {
  return `${source.file}:${source.line}`;
}

/** Groups entries by option, reporting unknown options and singletons set twice (naming both places). */
function collectOptions(entries: IniEntry[], table: OptionTable, label: string, diag: Diagnostics): Options {
  const canonical = new Map<string, string>();
  for (const [key, rule] of Object.entries(table)) {
    canonical.set(key, key);
    for (const alias of rule.aliases ?? []) canonical.set(alias, key);
  }
  const values = new Map<string, IniEntry[]>();
  for (const entry of entries) {
    const key = canonical.get(entry.key);
    if (key === undefined) {
      const hint = didYouMean(entry.key, [...canonical.keys()]);
      diag.error(
        entry.source,
        `Unknown option "${truncate(entry.key)}" in ${label}${hint ? `: did you mean "${hint}"?` : ""} ` +
          `(known: ${Object.keys(table).join(", ")})`,
      );
      continue;
    }
    if (key !== entry.key) {
      diag.note(entry.source, `${label} ${entry.key} = is read as ${key} =; write ${key} = to silence this note`);
    }
    const list = values.get(key) ?? [];
    if (list.length > 0 && !table[key].multi) {
      diag.error(
        entry.source,
        `${label} ${key} is set twice: here and at ${where(list[0].source)}; keep one`,
      );
      continue;
    }
    list.push({ ...entry, key });
    values.set(key, list);
  }
  return new Options(values);
}

function sectionLabel(section: IniSection): string {
  return section.name === undefined ? `[${section.kind}]` : `[${section.kind} "${section.name}"]`;
}

/** Builds the config from documents in command-line order. Never throws. */
export function buildConfig(
  documents: { file: string; document: IniDocument }[],
  env: ConfigEnvironment,
): ConfigResult {
  const diag = new Diagnostics();
  for (const { document } of documents) {
    diag.errors.push(...document.errors);
    diag.warnings.push(...document.warnings);
  }
  const files = documents.map((d) => d.file);
  const firstFile = files[0] ?? "<none>";
  const sections = documents.flatMap((d) => d.document.sections);

  // Singleton sections merge across files; typed sections must have unique names per kind.
  const merged = (kind: "account" | "mgmt" | "logging") => sections.filter((s) => s.kind === kind);
  const typed = new Map<string, IniSection>();
  const typedInOrder: IniSection[] = [];
  for (const section of sections) {
    if (section.name === undefined) continue;
    const id = `${section.kind}\u0000${section.name}`;
    const earlier = typed.get(id);
    if (earlier) {
      diag.error(
        section.source,
        `${sectionLabel(section)} is defined twice: here and at ${where(earlier.source)}; rename one or merge them`,
      );
      continue;
    }
    typed.set(id, section);
    typedInOrder.push(section);
  }

  const accountSections = merged("account");
  const account = buildAccount(accountSections, firstFile, env, diag);
  const logging = buildLogging(merged("logging"), env, diag);
  const mgmtSections = merged("mgmt");
  const mgmtOptions = collectOptions(mgmtSections.flatMap((s) => s.entries), MGMT_OPTIONS, "[mgmt]", diag);

  const verifications = new Map<string, VerificationConfig>();
  const storages = new Map<string, StorageConfig>();
  for (const section of typedInOrder) {
    if (section.kind === "verification") {
      const v = buildVerification(section, env, diag);
      if (v) verifications.set(v.name, v);
    } else if (section.kind === "storage") {
      const s = buildStorage(section, env, diag);
      if (s) storages.set(s.name, s);
    }
  }
  // Names that failed to build still exist for reference checks, to avoid a cascade of "undefined" errors.
  const definedVerifications = new Set(typedInOrder.filter((s) => s.kind === "verification").map((s) => s.name!));
  const definedStorages = new Set(typedInOrder.filter((s) => s.kind === "storage").map((s) => s.name!));

  if (definedVerifications.size === 0) {
    const source = { file: firstFile, line: 0 };
    const listener = resolveListeners([{ key: "listener", value: DEFAULT_HTTP01_LISTENER, source }], env, diag);
    verifications.set(IMPLICIT_VERIFICATION_NAME, {
      type: "http01",
      name: IMPLICIT_VERIFICATION_NAME,
      listeners: listener,
      implicit: true,
      source,
    });
    definedVerifications.add(IMPLICIT_VERIFICATION_NAME);
  }

  const mgmt = buildMgmt(mgmtOptions, firstFile, env, diag);
  const defaultVerification = resolveDefaultVerification(mgmtOptions, definedVerifications, diag);
  mgmt.defaultVerification = defaultVerification;

  const storageChoice = resolveDefaultStorage(mgmtOptions, definedStorages, diag);
  if (storageChoice.implicit && account) {
    const source = { file: firstFile, line: 0 };
    const directory = `${account.dir.replace(/\/+$/, "")}/cache`;
    storages.set(IMPLICIT_STORAGE_NAME, {
      type: "file",
      name: IMPLICIT_STORAGE_NAME,
      directory,
      renewWithinDays: DEFAULT_RENEW_WITHIN_DAYS,
      renewActiveDays: DEFAULT_RENEW_ACTIVE_DAYS,
      implicit: true,
      source,
    });
    definedStorages.add(IMPLICIT_STORAGE_NAME);
    warnIfNetworkFilesystem(
      `The default cache (no [storage] block) directory ${directory}`,
      directory,
      source,
      env,
      diag,
    );
  }
  mgmt.defaultStorage = storageChoice.name;

  const auth: AuthBlock[] = [];
  for (const section of typedInOrder) {
    if (section.kind !== "auth") continue;
    const block = buildAuth(section, mgmt, definedVerifications, definedStorages, diag);
    if (block) auth.push(block);
  }
  const notifiers: NotifyConfig[] = [];
  for (const section of typedInOrder) {
    if (section.kind !== "notify") continue;
    const notifier = buildNotify(section, env, diag);
    if (notifier) notifiers.push(notifier);
  }

  if (auth.length === 0 && diag.errors.length === 0) {
    diag.warn(
      { file: firstFile, line: 0 },
      'No [auth "name"] block: every /sign request will be refused. Add one with ip = and domain = lines',
    );
  }

  checkListenerClashes(mgmt, verifications, diag);

  if (account?.acmeServerIsDefault) {
    diag.note(
      account.source,
      `acme-server is not set: using Let's Encrypt staging (${LETS_ENCRYPT_STAGING}), whose certificates are not ` +
        "trusted; set acme-server = https://acme-v02.api.letsencrypt.org/directory for production",
    );
  }

  // Only when the option is absent: a written but invalid value has its error, `no` is a decision.
  const tosWritten = accountSections.some((s) => s.entries.some((e) => e.key === "accept-terms-of-service"));
  if (account && !tosWritten) {
    diag.note(
      account.source,
      "accept-terms-of-service is not set: acmems will not create an ACME account by itself; " +
        "run acmems register --accept-terms-of-service CONFIG, or set accept-terms-of-service = yes",
    );
  }

  const ok = diag.errors.length === 0 && account !== null;
  const result: ConfigResult = { ok, errors: diag.errors, warnings: diag.warnings, notes: diag.notes };
  if (ok && account) {
    const config: Config = { files, account, mgmt, logging, verifications, storages, auth, notifiers };
    result.config = config;
  }
  return result;
}

function buildAccount(
  sections: IniSection[],
  firstFile: string,
  env: ConfigEnvironment,
  diag: Diagnostics,
): AccountConfig | null {
  const source = sections[0]?.source ?? { file: firstFile, line: 0 };
  const o = collectOptions(sections.flatMap((s) => s.entries), ACCOUNT_OPTIONS, "[account]", diag);

  let acmeServer = LETS_ENCRYPT_STAGING;
  const server = o.one("acme-server");
  if (server) {
    const url = parseUrl(server.value);
    if ("error" in url) diag.error(server.source, `[account] acme-server: ${url.error}`);
    else {
      acmeServer = url.value.href;
      if (url.value.protocol === "http:" && !isLoopbackHost(url.value.hostname)) {
        diag.warn(server.source, `[account] acme-server "${server.value}" is plain http: ACME CAs use https://`);
      }
      if (/acme-staging\.api\.letsencrypt\.org|acme-v01\.api\.letsencrypt\.org/.test(url.value.hostname)) {
        diag.error(
          server.source,
          `[account] acme-server "${server.value}" is Let's Encrypt's retired ACME v1 endpoint: use ` +
            `${LETS_ENCRYPT_STAGING} (staging) or https://acme-v02.api.letsencrypt.org/directory`,
        );
      }
    }
  }

  const dirEntry = o.one("dir");
  let dir = "";
  if (!dirEntry || dirEntry.value === "") {
    diag.error(
      dirEntry?.source ?? source,
      "[account] dir is required: the directory that holds account.pem and registration.json, e.g. dir = /var/lib/acmems/account",
    );
  } else {
    dir = env.resolvePath(dirEntry.value, dirEntry.source.file);
  }

  let tos: TermsOfService = { kind: "none" };
  for (const entry of o.all("accept-terms-of-service")) {
    const bool = parseBoolean(entry.value);
    if ("value" in bool) {
      if (!bool.value) {
        if (tos.kind !== "none") {
          diag.error(entry.source, "accept-terms-of-service = no contradicts an earlier accept-terms-of-service line");
        }
        continue;
      }
      if (tos.kind !== "none") {
        diag.error(
          entry.source,
          "accept-terms-of-service: either accept any terms (yes) once or list the accepted terms-of-service URLs, not both",
        );
        continue;
      }
      tos = { kind: "any", source: entry.source };
      continue;
    }
    // Any absolute URL (pebble's terms are a data: URL), kept as written: it is compared with the CA's exactly.
    const url = parseAbsoluteUrl(entry.value);
    if ("error" in url) {
      const shown = truncate(entry.value);
      diag.error(
        entry.source,
        `accept-terms-of-service "${shown}" is neither yes/no nor the URL of the CA's terms of service ` +
          "(write it exactly as the CA's directory lists it, e.g. https://ca.example/terms.pdf)",
      );
      continue;
    }
    if (tos.kind === "any") {
      diag.error(
        entry.source,
        "accept-terms-of-service: either accept any terms (yes) once or list the accepted terms-of-service URLs, not both",
      );
      continue;
    }
    if (tos.kind === "urls") {
      if (!tos.urls.includes(url.value)) tos.urls.push(url.value);
    } else tos = { kind: "urls", urls: [url.value], source: entry.source };
  }

  const email: string[] = [];
  for (const entry of o.all("email")) {
    const parsed = parseEmail(entry.value);
    if ("error" in parsed) diag.error(entry.source, `[account] email: ${parsed.error}`);
    else if (!email.includes(parsed.value)) email.push(parsed.value);
  }

  const account: AccountConfig = {
    acmeServer,
    acmeServerIsDefault: server === undefined,
    dir,
    acceptTermsOfService: tos,
    email,
    source,
  };

  const caFile = o.one("ca-file");
  if (caFile) {
    if (caFile.value === "") diag.error(caFile.source, "[account] ca-file is empty: give a PEM file path or remove it");
    else {
      account.caFile = env.resolvePath(caFile.value, caFile.source.file);
      if (!env.fileExists(account.caFile)) {
        diag.warn(caFile.source, `[account] ca-file ${account.caFile} does not exist here`);
      }
    }
  }

  const kid = o.one("eab-kid");
  const hmacKey = o.one("eab-hmac-key");
  if (kid && !hmacKey) diag.error(kid.source, "[account] eab-kid needs eab-hmac-key too (both come from your CA)");
  if (hmacKey && !kid) diag.error(hmacKey.source, "[account] eab-hmac-key needs eab-kid too (both come from your CA)");
  if (kid) account.eabKid = kid.value;
  if (hmacKey) {
    if (!isBase64(hmacKey.value)) {
      diag.error(
        hmacKey.source,
        "[account] eab-hmac-key is not base64url or base64: paste the key exactly as the CA gave it",
      );
    } else account.eabHmacKey = hmacKey.value;
  }

  const profile = o.one("profile");
  if (profile) {
    const checked = checkProfile(profile, diag);
    if (checked) account.profile = checked;
  }

  return dirEntry && dirEntry.value !== "" ? account : null;
}

function checkProfile(entry: IniEntry, diag: Diagnostics): string | undefined {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(entry.value)) {
    diag.error(
      entry.source,
      `profile "${
        truncate(entry.value)
      }" is not a profile name: use one the CA lists, e.g. classic, tlsserver or shortlived`,
    );
    return undefined;
  }
  return entry.value;
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname.startsWith("127.") || hostname === "[::1]";
}

const LOG_LEVELS: Record<string, LogLevel> = {
  error: "error",
  warning: "warning",
  warn: "warning",
  info: "info",
  debug: "debug",
};

function buildLogging(sections: IniSection[], env: ConfigEnvironment, diag: Diagnostics): LoggingConfig {
  const o = collectOptions(sections.flatMap((s) => s.entries), LOGGING_OPTIONS, "[logging]", diag);
  const logging: LoggingConfig = { level: "info", format: "text", destination: "stderr" };
  const level = o.one("level");
  if (level) {
    const found = LOG_LEVELS[level.value.toLowerCase()];
    if (found) logging.level = found;
    else {diag.error(
        level.source,
        `[logging] level "${truncate(level.value)}" is not one of error, warning, info, debug`,
      );}
  }
  const format = o.one("format");
  if (format) {
    const value = format.value.toLowerCase();
    if (value === "text" || value === "json") logging.format = value;
    else diag.error(format.source, `[logging] format "${truncate(format.value)}" is not text or json`);
  }
  const destination = o.one("destination");
  if (destination) {
    const value = destination.value;
    if (value === "") {
      diag.error(destination.source, "[logging] destination is empty: use stderr, stdout or a file path");
    } else if (value === "stderr" || value === "stdout") logging.destination = value;
    else if (value === "syslog" || value === "journalctl") {
      diag.error(
        destination.source,
        `[logging] destination ${value} is not supported: use stderr (journald captures it under systemd), stdout or a file path`,
      );
    } else logging.destination = env.resolvePath(value, destination.source.file);
  }
  return logging;
}

function buildMgmt(o: Options, firstFile: string, env: ConfigEnvironment, diag: Diagnostics): MgmtConfig {
  const listenerEntries = o.all("listener");
  const entries = listenerEntries.length > 0
    ? listenerEntries
    : DEFAULT_MGMT_LISTENERS.map((value) => ({ key: "listener", value, source: { file: firstFile, line: 0 } }));
  const mgmt: MgmtConfig = {
    listeners: resolveListeners(entries, env, diag),
    maxSize: DEFAULT_MAX_SIZE,
    defaultVerification: null,
    defaultStorage: null,
    signTimeoutMs: DEFAULT_SIGN_TIMEOUT_MS,
    trustedProxies: networks(o.all("trusted-proxy"), "[mgmt] trusted-proxy", diag),
    metricsListeners: resolveListeners(o.all("metrics-listener"), env, diag),
    bodyTimeoutMs: 10_000,
    maxInflight: 256,
    metricsIps: o.has("metrics-ip")
      ? networks(o.all("metrics-ip"), "[mgmt] metrics-ip", diag)
      : [parseIpNetwork("127.0.0.0/8"), parseIpNetwork("::1")].filter((n): n is IpNetwork => "text" in n),
  };
  const bodyTimeout = o.one("body-timeout");
  if (bodyTimeout) {
    const parsed = parseDuration(bodyTimeout.value);
    if ("error" in parsed) diag.error(bodyTimeout.source, `[mgmt] body-timeout: ${parsed.error}`);
    else mgmt.bodyTimeoutMs = parsed.value;
  }
  const maxInflight = o.one("max-inflight");
  if (maxInflight) {
    const parsed = parseInteger(maxInflight.value, 1, 100_000);
    if ("error" in parsed) diag.error(maxInflight.source, `[mgmt] max-inflight: ${parsed.error}`);
    else mgmt.maxInflight = parsed.value;
  }
  const tlsCert = o.one("tls-cert");
  const tlsKey = o.one("tls-key");
  if (tlsCert && !tlsKey) diag.error(tlsCert.source, "[mgmt] tls-cert needs tls-key (the certificate's private key)");
  if (tlsKey && !tlsCert) diag.error(tlsKey.source, "[mgmt] tls-key needs tls-cert");
  for (const [entry, field] of [[tlsCert, "tlsCert"], [tlsKey, "tlsKey"]] as const) {
    if (!entry) continue;
    const path = env.resolvePath(entry.value, entry.source.file);
    if (!env.fileExists(path)) diag.warn(entry.source, `[mgmt] ${entry.key} ${path} does not exist here`);
    mgmt[field] = path;
  }
  const maxSize = o.one("max-size");
  if (maxSize) {
    const parsed = parseSize(maxSize.value);
    if ("error" in parsed) diag.error(maxSize.source, `[mgmt] max-size: ${parsed.error}`);
    else mgmt.maxSize = parsed.value;
  }
  const timeout = o.one("sign-timeout");
  if (timeout) {
    const parsed = parseDuration(timeout.value);
    if ("error" in parsed) diag.error(timeout.source, `[mgmt] sign-timeout: ${parsed.error}`);
    else mgmt.signTimeoutMs = parsed.value;
  }
  return mgmt;
}

function networks(entries: IniEntry[], label: string, diag: Diagnostics): IpNetwork[] {
  const out: IpNetwork[] = [];
  for (const entry of entries) {
    const parsed = parseIpNetwork(entry.value);
    if ("error" in parsed) diag.error(entry.source, `${label}: ${parsed.error}`);
    else out.push(parsed);
  }
  return out;
}

function buildNotify(section: IniSection, env: ConfigEnvironment, diag: Diagnostics): NotifyConfig | null {
  const type = firstIsType(section, diag, "webhook or exec");
  if (type === null) return null;
  const label = sectionLabel(section);
  const before = diag.errors.length;
  const o = collectOptions(section.entries, NOTIFY_OPTIONS, label, diag);
  if (type !== "webhook" && type !== "exec") {
    const hint = didYouMean(type, ["webhook", "exec"]);
    diag.error(
      section.entries[0].source,
      `${label}: unknown notify type "${truncate(type)}"${
        hint ? `: did you mean ${hint}?` : ""
      } (supported: webhook, exec)`,
    );
    return null;
  }
  const notifier: NotifyConfig = {
    name: section.name!,
    type,
    events: [],
    timeoutMs: 10_000,
    retries: 3,
    expiringDays: 7,
    source: section.source,
  };
  const url = o.one("url");
  const command = o.one("command");
  if (type === "webhook") {
    if (command) diag.error(command.source, `${label}: command is for type = exec; a webhook needs url =`);
    if (!url) diag.error(section.source, `${label} needs url = where the JSON event is POSTed`);
    else {
      const parsed = parseUrl(url.value);
      if ("error" in parsed) {
        // Never echo the value: its path or query may hold a token.
        diag.error(
          url.source,
          `${label} url is not an http:// or https:// URL (not shown: it may hold a token): ` +
            "write e.g. url = https://hooks.example.org/acmems",
        );
      } else notifier.url = parsed.value.href;
    }
  } else {
    if (url) diag.error(url.source, `${label}: url is for type = webhook; exec needs command =`);
    if (!command || command.value === "") diag.error(section.source, `${label} needs command = the program to run`);
    else {
      const argv = command.value.split(/\s+/);
      argv[0] = env.resolvePath(argv[0], command.source.file);
      notifier.command = argv;
    }
  }
  const events = o.all("events");
  if (events.length === 0) diag.error(section.source, `${label} needs events = (${NOTIFY_EVENTS.join(", ")})`);
  for (const entry of events) {
    for (const word of entry.value.split(/[\s,]+/).filter((w) => w !== "")) {
      if (!NOTIFY_EVENTS.includes(word as NotifyEvent)) {
        const hint = didYouMean(word, NOTIFY_EVENTS);
        diag.error(
          entry.source,
          `${label} events: unknown event "${truncate(word)}"${hint ? `: did you mean ${hint}?` : ""} ` +
            `(known: ${NOTIFY_EVENTS.join(", ")})`,
        );
      } else if (!notifier.events.includes(word as NotifyEvent)) notifier.events.push(word as NotifyEvent);
    }
  }
  const timeout = o.one("timeout");
  if (timeout) {
    const parsed = parseDuration(timeout.value);
    if ("error" in parsed) diag.error(timeout.source, `${label} timeout: ${parsed.error}`);
    else notifier.timeoutMs = parsed.value;
  }
  const retries = o.one("retries");
  if (retries) {
    const parsed = parseInteger(retries.value, 0, 10);
    if ("error" in parsed) diag.error(retries.source, `${label} retries: ${parsed.error}`);
    else notifier.retries = parsed.value;
  }
  const expiring = o.one("expiring-days");
  if (expiring) {
    const parsed = parseInteger(expiring.value, 1, 365);
    if ("error" in parsed) diag.error(expiring.source, `${label} expiring-days: ${parsed.error}`);
    else notifier.expiringDays = parsed.value;
  }
  return diag.errors.length === before ? notifier : null;
}

/** Turns `listener =` entries into addresses: names via the hosts file, `0.0.0.0:P` + `[::]:P` collapsed. */
function resolveListeners(entries: IniEntry[], env: ConfigEnvironment, diag: Diagnostics): ListenAddress[] {
  const out: ListenAddress[] = [];
  const add = (family: 4 | 6, hostname: string, port: number, source: Source, zone?: string) => {
    const display = formatListen(family, hostname, port);
    const duplicate = out.find((l) => l.display === display);
    if (duplicate) {
      diag.warn(source, `Listener ${display} is listed twice (also at ${where(duplicate.source)}); it is used once`);
      return;
    }
    const listener: ListenAddress = { hostname, port, display, source };
    if (zone !== undefined) listener.zone = zone;
    out.push(listener);
  };
  for (const entry of entries) {
    const parsed = parseListenTarget(entry.value);
    if ("error" in parsed) {
      diag.error(entry.source, `${entry.key}: ${parsed.error}`);
      continue;
    }
    const target = parsed.value;
    if (target.kind === "name") {
      const addresses = lookupHostsFile(env.hostsText, target.name);
      if (addresses.length === 0) {
        diag.error(
          entry.source,
          `${entry.key}: "${target.name}" is not in the hosts file; acmems does not ask DNS for listen addresses, ` +
            "so write the IP address",
        );
        continue;
      }
      for (const address of addresses) {
        const resolved = parseListenTarget(
          address.includes(":") ? `[${address}]:${target.port}` : `${address}:${target.port}`,
        );
        if ("value" in resolved && resolved.value.kind === "ip") {
          add(resolved.value.family, resolved.value.hostname, target.port, entry.source, resolved.value.zone);
        }
      }
      continue;
    }
    if (target.zone !== undefined && env.interfaceNames !== null && !/^[0-9]+$/.test(target.zone)) {
      if (!env.interfaceNames.includes(target.zone)) {
        diag.warn(
          entry.source,
          `${entry.key}: network interface "${target.zone}" of ${entry.value} does not exist on this machine; ` +
            "it must exist where acmems serves",
        );
      }
    }
    add(target.family, target.hostname, target.port, entry.source, target.zone);
  }
  // Deno's [::] socket is dual-stack, so binding 0.0.0.0:P as well fails with AddrInUse.
  for (const any6 of out.filter((l) => l.hostname === "::")) {
    const any4 = out.findIndex((l) => l.hostname === "0.0.0.0" && l.port === any6.port);
    if (any4 >= 0) {
      // A warning, not a note: the operator wrote two listeners and gets one; remove 0.0.0.0:P to silence it.
      diag.warn(
        out[any4].source,
        `Listeners 0.0.0.0:${any6.port} and [::]:${any6.port} collapse into one [::]:${any6.port} listener, ` +
          `which accepts IPv4 and IPv6 (dual-stack); remove 0.0.0.0:${any6.port}`,
      );
      out.splice(any4, 1);
    }
  }
  return out;
}

function resolveDefaultVerification(o: Options, defined: Set<string>, diag: Diagnostics): string | null {
  const entry = o.one("default-verification");
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
}

function resolveDefaultStorage(
  o: Options,
  defined: Set<string>,
  diag: Diagnostics,
): { name: string | null; implicit: boolean } {
  const entry = o.one("default-storage");
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
}

function firstIsType(section: IniSection, diag: Diagnostics, what: string): string | null {
  const first = section.entries[0];
  if (!first) {
    diag.error(section.source, `${sectionLabel(section)} is empty: its first option must be type = ...`);
    return null;
  }
  if (first.key !== "type") {
    diag.error(
      first.source,
      `${sectionLabel(section)}: the first option must be type (${what}), found "${truncate(first.key)}"`,
    );
    return null;
  }
  return first.value;
}

function buildVerification(section: IniSection, env: ConfigEnvironment, diag: Diagnostics): VerificationConfig | null {
  const type = firstIsType(section, diag, "http01 or dns01-dnsUpdate");
  if (type === null) return null;
  const label = sectionLabel(section);
  const name = section.name!;
  if (type === "http01") {
    const o = collectOptions(section.entries, HTTP01_OPTIONS, label, diag);
    const entries = o.all("listener");
    const listeners = resolveListeners(
      entries.length > 0 ? entries : [{ key: "listener", value: DEFAULT_HTTP01_LISTENER, source: section.source }],
      env,
      diag,
    );
    const v: Http01Verification = { type: "http01", name, listeners, implicit: false, source: section.source };
    return v;
  }
  if (type === "dns01-dnsUpdate") return buildDnsUpdate(section, env, diag);
  const typeSource = section.entries[0].source;
  if (type === "dns01-boulder" || type === "dns01-server") {
    diag.error(
      typeSource,
      `${label}: type ${type} was a test-only type of the original ACMEMS and is not supported; ` +
        "use type = dns01-dnsUpdate against a real DNS server",
    );
    return null;
  }
  const hint = didYouMean(type, ["http01", "dns01-dnsUpdate"]);
  diag.error(
    typeSource,
    `${label}: unknown verification type "${truncate(type)}"${hint ? `: did you mean ${hint}?` : ""} ` +
      "(supported: http01, dns01-dnsUpdate)",
  );
  return null;
}

const TSIG_ALGORITHMS: Record<string, TsigAlgorithm> = {
  "hmac-sha256": "hmac-sha256",
  "hmac-sha384": "hmac-sha384",
  "hmac-sha512": "hmac-sha512",
};

function parseTsigAlgorithm(value: string): TsigAlgorithm | { error: string } {
  const lower = value.toLowerCase().replace(/\.$/, "");
  const found = TSIG_ALGORITHMS[lower];
  if (found) return found;
  if (
    lower === "hmac-md5" || lower === "hmac-md5.sig-alg.reg.int" || lower === "hmac-sha1" || lower === "hmac-sha224"
  ) {
    return {
      error: `TSIG algorithm ${value} is refused: MD5 and SHA-1 are broken as MACs; generate a new key with ` +
        "tsig-keygen -a hmac-sha256",
    };
  }
  return { error: `TSIG algorithm "${truncate(value)}" is not one of hmac-sha256, hmac-sha384, hmac-sha512` };
}

function buildDnsUpdate(section: IniSection, env: ConfigEnvironment, diag: Diagnostics): DnsUpdateVerification | null {
  const label = sectionLabel(section);
  const o = collectOptions(section.entries, DNS_UPDATE_OPTIONS, label, diag);
  const servers: DnsServerAddress[] = [];
  for (const entry of o.all("dns-server")) {
    const parsed = parseDnsServer(entry.value);
    if ("error" in parsed) diag.error(entry.source, `${label} dns-server: ${parsed.error}`);
    else servers.push(parsed.value);
  }
  if (o.all("dns-server").length === 0) {
    diag.error(section.source, `${label} needs dns-server = the address of the DNS server to update (ip or ip:port)`);
  }
  const v: DnsUpdateVerification = {
    type: "dns01-dnsUpdate",
    name: section.name!,
    servers,
    ttl: 60,
    timeoutMs: 30_000,
    transport: "tcp",
    source: section.source,
  };
  const ttl = o.one("ttl");
  if (ttl) {
    const parsed = parseInteger(ttl.value, 0, 2147483647);
    if ("error" in parsed) diag.error(ttl.source, `${label} ttl: ${parsed.error} (seconds)`);
    else v.ttl = parsed.value;
  }
  const timeout = o.one("timeout");
  if (timeout) {
    const parsed = parseDuration(timeout.value);
    if ("error" in parsed) diag.error(timeout.source, `${label} timeout: ${parsed.error}`);
    else v.timeoutMs = parsed.value;
  }
  const zone = o.one("zone");
  if (zone) {
    const value = zone.value.replace(/\.$/, "").toLowerCase();
    if (!isDnsName(value)) diag.error(zone.source, `${label} zone "${truncate(zone.value)}" is not a DNS name`);
    else v.zone = value;
  }
  const transport = o.one("transport");
  if (transport) {
    const value = transport.value.toLowerCase();
    if (value === "tcp" || value === "udp") v.transport = value;
    else diag.error(transport.source, `${label} transport "${truncate(transport.value)}" is not tcp or udp`);
  }

  const keyName = o.one("tsig-key-name");
  const algorithm = o.one("tsig-algorithm");
  const secret = o.one("tsig-secret");
  const keyFile = o.one("tsig-key-file");
  if (secret && keyFile) {
    diag.error(
      secret.source,
      `${label}: set tsig-secret or tsig-key-file, not both (also at ${where(keyFile.source)})`,
    );
  } else if (keyFile) {
    const path = env.resolvePath(keyFile.value, keyFile.source.file);
    const read = env.readTextFile(path);
    if ("error" in read) {
      diag.error(keyFile.source, `${label} tsig-key-file ${path} cannot be read: ${read.error}`);
    } else {
      const key = parseTsigKeyFile(read.text, keyName?.value);
      if ("error" in key) diag.error(keyFile.source, `${label} tsig-key-file ${path}: ${key.error}`);
      else {
        const alg = parseTsigAlgorithm(algorithm?.value ?? key.algorithm);
        if (algorithm && algorithm.value.toLowerCase() !== key.algorithm) {
          diag.error(
            algorithm.source,
            `${label} tsig-algorithm ${algorithm.value} differs from the key file's algorithm ${key.algorithm}; ` +
              "remove tsig-algorithm",
          );
        } else if (typeof alg === "object") diag.error(keyFile.source, `${label} tsig-key-file ${path}: ${alg.error}`);
        else if (!isStandardBase64(key.secret)) {
          diag.error(keyFile.source, `${label} tsig-key-file ${path}: the secret is not base64`);
        } else {
          const tsig: TsigKey = { name: key.name, algorithm: alg, secret: key.secret, source: keyFile.source };
          v.tsig = tsig;
        }
      }
    }
  } else if (secret) {
    if (!keyName) {
      diag.error(secret.source, `${label}: tsig-secret needs tsig-key-name (the key's name on the DNS server)`);
    } else if (!isDnsName(keyName.value.replace(/\.$/, ""))) {
      diag.error(
        keyName.source,
        `${label} tsig-key-name "${truncate(keyName.value)}" is not a DNS name: write the name from the server's ` +
          "key statement, e.g. tsig-key-name = acmems-key",
      );
    } else if (!isStandardBase64(secret.value)) {
      diag.error(secret.source, `${label} tsig-secret is not base64: paste the secret from tsig-keygen`);
    } else {
      const alg = parseTsigAlgorithm(algorithm?.value ?? "hmac-sha256");
      if (typeof alg === "object") diag.error(algorithm!.source, `${label}: ${alg.error}`);
      else {
        v.tsig = {
          name: keyName.value.replace(/\.$/, ""),
          algorithm: alg,
          secret: secret.value,
          source: secret.source,
        };
      }
    }
  } else if (keyName || algorithm) {
    diag.error(
      (keyName ?? algorithm)!.source,
      `${label}: tsig-key-name/tsig-algorithm without a key: add tsig-secret or tsig-key-file`,
    );
  }
  if (algorithm && !keyFile && !secret) {
    const alg = parseTsigAlgorithm(algorithm.value);
    if (typeof alg === "object") diag.error(algorithm.source, `${label}: ${alg.error}`);
  }
  return v;
}

/** flock over NFS is no cluster lock: a `file` storage there does not keep hosts from ordering twice. */
function warnIfNetworkFilesystem(
  what: string,
  directory: string,
  source: Source,
  env: ConfigEnvironment,
  diag: Diagnostics,
): void {
  const remote = (env.networkFilesystem ?? networkFilesystem)(directory);
  if (!remote) return;
  diag.warn(
    source,
    `${what} is on a network filesystem (${remote}): its file locks do not keep acmems processes on different ` +
      "hosts from ordering the same certificate; use type = postgres for several hosts",
  );
}

function buildStorage(section: IniSection, env: ConfigEnvironment, diag: Diagnostics): StorageConfig | null {
  const type = firstIsType(section, diag, "none, file or postgres");
  if (type === null) return null;
  const label = sectionLabel(section);
  const name = section.name!;
  if (type === "none") {
    collectOptions(section.entries, NONE_STORAGE_OPTIONS, `${label} (type none takes no options)`, diag);
    return { type: "none", name, source: section.source };
  }
  if (type === "file") {
    const o = collectOptions(section.entries, FILE_STORAGE_OPTIONS, label, diag);
    const directory = o.one("directory");
    if (!directory || directory.value === "") {
      diag.error(section.source, `${label} needs directory = where cached certificates are kept`);
      return null;
    }
    const storage: FileStorage = {
      type: "file",
      name,
      directory: env.resolvePath(directory.value, directory.source.file),
      renewWithinDays: DEFAULT_RENEW_WITHIN_DAYS,
      renewActiveDays: DEFAULT_RENEW_ACTIVE_DAYS,
      implicit: false,
      source: section.source,
    };
    readRenewalDays(o, label, storage, diag);
    warnIfNetworkFilesystem(`${label} directory ${storage.directory}`, storage.directory, directory.source, env, diag);
    return storage;
  }
  if (type === "postgres") return buildPostgresStorage(section, diag);
  const typeSource = section.entries[0].source;
  const hint = didYouMean(type, ["none", "file", "postgres"]);
  diag.error(
    typeSource,
    `${label}: unknown storage type "${truncate(type)}"${
      hint ? `: did you mean ${hint}?` : ""
    } (supported: none, file, postgres)`,
  );
  return null;
}

function buildPostgresStorage(section: IniSection, diag: Diagnostics): PostgresStorageConfig | null {
  const label = sectionLabel(section);
  const before = diag.errors.length;
  const o = collectOptions(section.entries, POSTGRES_STORAGE_OPTIONS, label, diag);
  const storage: PostgresStorageConfig = {
    type: "postgres",
    name: section.name!,
    poolSize: 5,
    leaseMs: 30_000,
    schema: "acmems",
    renewWithinDays: DEFAULT_RENEW_WITHIN_DAYS,
    renewActiveDays: DEFAULT_RENEW_ACTIVE_DAYS,
    source: section.source,
  };
  const url = o.one("url");
  if (url && url.value !== "") {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url.value);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:")) {
      // Never echo the value: it may hold the password.
      diag.error(url.source, `${label} url must be postgres://user:password@host:port/database`);
    } else {
      storage.url = url.value;
    }
  }
  const pool = o.one("pool-size");
  if (pool) {
    const parsed = parseInteger(pool.value, 1, 100);
    if ("error" in parsed) diag.error(pool.source, `${label} pool-size: ${parsed.error}`);
    else storage.poolSize = parsed.value;
  }
  const lease = o.one("lease");
  if (lease) {
    const parsed = parseDuration(lease.value, 3_600_000);
    if ("error" in parsed) diag.error(lease.source, `${label} lease: ${parsed.error}`);
    else if (parsed.value < 1_000) {
      diag.error(lease.source, `${label} lease: "${truncate(lease.value)}" must be from 1s to 1h`);
    } else storage.leaseMs = parsed.value;
  }
  const schema = o.one("schema");
  if (schema) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema.value)) {
      diag.error(
        schema.source,
        `${label} schema "${
          truncate(schema.value)
        }" must be lower-case letters, digits and _ (not starting with a digit)`,
      );
    } else storage.schema = schema.value;
  }
  readRenewalDays(o, label, storage, diag);
  return diag.errors.length > before ? null : storage;
}

/** Filesystem types whose locks are not cluster locks (or not locks at all). */
const NETWORK_FILESYSTEMS =
  /^(nfs4?|cifs|smb3?|smbfs|ceph|glusterfs|afs|lustre|9p|davfs|fuse\.(sshfs|glusterfs|s3fs|rclone|gcsfuse|davfs2?))$/;

/**
 * The type of the network filesystem `path` is on (longest mount point in /proc/self/mountinfo that contains it),
 * or null (local, unknown, or no /proc). Best effort: the path need not exist yet.
 */
export function networkFilesystem(path: string, mountInfo?: string): string | null {
  let text = mountInfo;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync("/proc/self/mountinfo");
    } catch {
      return null;
    }
  }
  let best: { point: string; type: string } | null = null;
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    if (fields.length < 5 || dash < 0 || dash + 1 >= fields.length) continue;
    const point = fields[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    const inside = point === "/" || path === point || path.startsWith(point.endsWith("/") ? point : `${point}/`);
    if (inside && (!best || point.length >= best.point.length)) best = { point, type: fields[dash + 1] };
  }
  return best && NETWORK_FILESYSTEMS.test(best.type) ? best.type : null;
}

const HMAC_TYPES: Record<string, HmacType> = { sha256: "sha256", sha384: "sha384", sha512: "sha512", sha1: "sha1" };

function buildAuth(
  section: IniSection,
  mgmt: MgmtConfig,
  verifications: Set<string>,
  storages: Set<string>,
  diag: Diagnostics,
): AuthBlock | null {
  const label = sectionLabel(section);
  const before = diag.errors.length;
  const o = collectOptions(section.entries, AUTH_OPTIONS, label, diag);

  const ips: IpNetwork[] = [];
  for (const entry of o.all("ip")) {
    const parsed = parseIpNetwork(entry.value);
    if ("error" in parsed) diag.error(entry.source, `${label} ip: ${parsed.error}`);
    else ips.push(parsed);
  }

  const domains: string[] = [];
  for (const entry of o.all("domain")) {
    const problem = checkGlob(entry.value);
    if (problem) diag.error(entry.source, `${label} domain: ${problem}`);
    else domains.push(entry.value.toLowerCase());
  }
  if (!o.has("domain")) {
    diag.error(section.source, `${label} has no domain = line, so it can never match: add the names it may request`);
  }

  const hmacType = o.one("hmac_type");
  const hmacKey = o.one("hmac_key");
  let hmac: AuthBlock["hmac"];
  if (hmacType || hmacKey) {
    let type: HmacType | undefined;
    if (hmacType) {
      const lower = hmacType.value.toLowerCase().replace(/-/g, "");
      type = HMAC_TYPES[lower];
      if (lower === "md5") {
        diag.error(hmacType.source, `${label} hmac_type md5 is refused: MD5 is broken; use sha256`);
      } else if (!type) {
        diag.error(
          hmacType.source,
          `${label} hmac_type "${
            truncate(hmacType.value)
          }" is not one of sha256, sha384, sha512 (sha1 is accepted but weak)`,
        );
      } else if (type === "sha1") {
        diag.warn(hmacType.source, `${label} hmac_type sha1 is weak: move clients to sha256`);
      }
    } else {
      diag.error(hmacKey!.source, `${label} hmac_key needs hmac_type (e.g. hmac_type = sha256)`);
    }
    if (!hmacKey) diag.error(hmacType!.source, `${label} hmac_type needs hmac_key (the shared secret)`);
    else if (hmacKey.value === "") diag.error(hmacKey.source, `${label} hmac_key is empty`);
    else if (hmacKey.value.length < 16) {
      diag.warn(hmacKey.source, `${label} hmac_key is shorter than 16 characters: use a long random secret`);
    }
    if (type && hmacKey && hmacKey.value !== "") hmac = { type, key: hmacKey.value };
  }

  let all = false;
  const allEntry = o.one("all");
  if (allEntry) {
    const parsed = parseBoolean(allEntry.value);
    if ("error" in parsed || !parsed.value) {
      diag.error(allEntry.source, `${label} all accepts only yes (remove the line to require ip or hmac)`);
    } else all = true;
  }

  if (ips.length === 0 && !o.has("hmac_type") && !o.has("hmac_key") && !all && o.all("ip").length === 0) {
    diag.warn(
      section.source,
      `${label} has no ip, hmac_type/hmac_key or all line: it admits every client that can reach the mgmt listener`,
    );
  }

  let verification = mgmt.defaultVerification;
  const verificationEntry = o.one("verification");
  if (verificationEntry) {
    if (!verifications.has(verificationEntry.value)) {
      diag.error(
        verificationEntry.source,
        `${label} verification "${truncate(verificationEntry.value)}" names no [verification] section ` +
          `(defined: ${[...verifications].join(", ") || "none"})`,
      );
    }
    verification = verificationEntry.value;
  } else if (verification === null) {
    diag.error(
      section.source,
      `${label} has no verification = line and there is no default: set verification = or [mgmt] default-verification`,
    );
  }

  let storage = mgmt.defaultStorage;
  const storageEntry = o.one("storage");
  if (storageEntry) {
    if (!storages.has(storageEntry.value)) {
      diag.error(
        storageEntry.source,
        `${label} storage "${truncate(storageEntry.value)}" names no [storage] section (defined: ${
          [...storages].join(", ") || "none"
        })`,
      );
    }
    storage = storageEntry.value;
  } else if (storage === null && storages.size > 1) {
    diag.warn(
      section.source,
      `${label} has no storage = line and [mgmt] default-storage is not set, so its certificates are not cached; ` +
        "set storage = or default-storage =",
    );
  }

  const block: AuthBlock = {
    name: section.name!,
    ips,
    domains,
    all,
    verification: verification ?? "",
    storage,
    source: section.source,
  };
  if (hmac) block.hmac = hmac;
  const profile = o.one("profile");
  if (profile) {
    const checked = checkProfile(profile, diag);
    if (checked) block.profile = checked;
  }
  return diag.errors.length === before ? block : null;
}

/** `renew-within` and `renew-active-days`, shared by the storages that cache. */
function readRenewalDays(
  o: Options,
  label: string,
  storage: { renewWithinDays: number; renewActiveDays: number },
  diag: Diagnostics,
): void {
  const renew = o.one("renew-within");
  if (renew) {
    const parsed = parseInteger(renew.value, 0, 3650);
    if ("error" in parsed) diag.error(renew.source, `${label} renew-within: ${parsed.error} (days)`);
    else storage.renewWithinDays = parsed.value;
  }
  const active = o.one("renew-active-days");
  if (active) {
    const parsed = parseInteger(active.value, 1, 3650);
    if ("error" in parsed) diag.error(active.source, `${label} renew-active-days: ${parsed.error} (days)`);
    else storage.renewActiveDays = parsed.value;
  }
}

/** Checks a `domain =` glob with the same compiler the policy uses; null when valid. */
export function checkGlob(pattern: string): string | null {
  const compiled = compileGlob(pattern);
  return compiled.ok ? null : compiled.error;
}

function checkListenerClashes(
  mgmt: MgmtConfig,
  verifications: Map<string, VerificationConfig>,
  diag: Diagnostics,
): void {
  const owners: { owner: string; listener: ListenAddress }[] = mgmt.listeners.map((listener) => ({
    owner: "[mgmt]",
    listener,
  }));
  for (const listener of mgmt.metricsListeners) owners.push({ owner: "[mgmt] metrics-listener", listener });
  for (const v of verifications.values()) {
    if (v.type !== "http01") continue;
    for (const listener of v.listeners) owners.push({ owner: `[verification "${v.name}"]`, listener });
  }
  for (let i = 0; i < owners.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = owners[j];
      const b = owners[i];
      if (a.owner === b.owner || a.listener.port !== b.listener.port) continue;
      const same = a.listener.hostname === b.listener.hostname;
      const overlaps = same || a.listener.hostname === "::" || b.listener.hostname === "::" ||
        (a.listener.hostname === "0.0.0.0" && !b.listener.hostname.includes(":")) ||
        (b.listener.hostname === "0.0.0.0" && !a.listener.hostname.includes(":"));
      if (overlaps) {
        // Report at the line the operator wrote, not at an implied default.
        const [here, there] = b.listener.source.line === 0 ? [a, b] : [b, a];
        const thereText = there.listener.source.line === 0 ? "its default" : where(there.listener.source);
        diag.error(
          here.listener.source,
          `${here.owner} listener ${here.listener.display} overlaps ${there.owner} listener ${there.listener.display} ` +
            `(${thereText}): give them different ports`,
        );
      }
    }
  }
}
