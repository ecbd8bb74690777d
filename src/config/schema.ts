/**
 * The option tables: the one place an option of a config section is named.
 *
 * Each section type has a table of its options (`key`, whether it may repeat, other spellings, whether its value
 * is secret). An option checked by one values.ts parser also carries `parse` (and `assign`, which stores the value
 * on the section's config); the section builders (src/config/sections/) read it with `readOption`, which reports
 * `LABEL KEY: ERROR` at the entry's line. Options with rules across several lines (TSIG, EAB, terms of service,
 * HMAC, listeners) are read by their builder, which names them through these tables too.
 *
 * A table's order is the order of the "known:" list in the unknown-option error, and of the README's reference
 * (tests/unit/config/readme_test.ts checks that the README documents every option and alias of `OPTION_TABLES`).
 * To add an option: add it here, read it in its section builder, document it in the README. Pure.
 */
import type { CaLimitOverrides } from "../ca/limits.ts";
import { parseLimitOrOff, parseOnOff, parseRateLimit } from "../ca/limits.ts";
import { parseIpNetwork } from "../lib/ip.ts";
import { compileGlob } from "../lib/glob.ts";
import { truncate } from "./text.ts";
import type {
  AccountConfig,
  AuthBlock,
  DnsPersistVerification,
  DnsServerAddress,
  DnsUpdateVerification,
  IpNetwork,
  MgmtConfig,
  NotifyConfig,
  PostgresStorage,
  RateLimit,
} from "./types.ts";
import { type Parsed, parseDnsServer, parseDuration, parseEmail, parseInteger, parseSize, parseUrl } from "./values.ts";

/** What every option declares. */
export interface OptionRule {
  /** The name written in the config file. */
  readonly key: string;
  /** May be given more than once (a list); otherwise a second line is an error naming both places. */
  readonly multi?: boolean;
  /** Other spellings accepted for this option (the seed README writes `mgmt=` for `listener`); each gets a note. */
  readonly aliases?: readonly string[];
  /** A secret: never echoed in a message, shown as `***` in summaries (SECRET_OPTIONS, src/config/secrets.ts). */
  readonly secret?: boolean;
  /** Not a secret as a whole, but its value may hold a token or password: never echoed in a message. */
  readonly unechoed?: boolean;
}

/** An option whose value one parser checks; a failure is reported as `LABEL KEY: ERROR (UNIT)`. */
export interface ParsedOption<V> extends OptionRule {
  parse(text: string): Parsed<V>;
  /** Appended to a parse error in parentheses: `(days)`, `(seconds)`. */
  readonly unit?: string;
}

/** A parsed option whose value is stored on the section's config (each value in turn when `multi`). */
export interface AssignedOption<T, V> extends ParsedOption<V> {
  assign(target: T, value: V): void;
}

/** One row of a table: a rule, possibly with its parser and where its value goes. */
export type OptionSpec = OptionRule & {
  parse?(text: string): Parsed<unknown>;
  readonly unit?: string;
  assign?(target: never, value: never): void;
};

/** The options of one section type, by a name for the builders; the key order is the documented order. */
export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** The storages that cache certificates share their renewal options. */
export interface RenewalDays {
  renewWithinDays: number;
  renewActiveDays: number;
}

/** `ip =`, `trusted-proxy =`, `metrics-ip =`: an address or a CIDR network. */
const parseNetwork = (function parseNetwork(text: string): Parsed<IpNetwork> {
  const parsed = parseIpNetwork(text);
  return "error" in parsed ? parsed : { value: parsed };
}).bind(null);

/** A comma-separated list of networks (`198.51.100.0/24, 2001:db8::/64`); the first bad one is the error. */
const parseNetworkList = (function parseNetworkList(text: string): Parsed<IpNetwork[]> {
  const networks: IpNetwork[] = [];
  for (const part of text.split(",").map((p) => p.trim())) {
    if (part === "") return { error: `"${truncate(text)}" has an empty entry: separate networks with one comma` };
    const parsed = parseIpNetwork(part);
    if ("error" in parsed) return parsed;
    networks.push(parsed);
  }
  return { value: networks };
}).bind(null);

/** Checks a `domain =` glob with the same compiler the policy uses; null when valid. */
export const checkGlob = (function checkGlob(pattern: string): string | null {
  const compiled = compileGlob(pattern);
  return compiled.ok ? null : compiled.error;
}).bind(null);

/** Every typed section starts with `type =`. */
export const TYPE_OPTION = { key: "type" } as const satisfies OptionRule;

const RENEW_WITHIN = {
  key: "renew-within",
  unit: "days",
  parse: (text: string) => parseInteger(text, 0, 3650),
  assign: (s: RenewalDays, days: number) => void (s.renewWithinDays = days),
} as const satisfies AssignedOption<RenewalDays, number>;

const RENEW_ACTIVE_DAYS = {
  key: "renew-active-days",
  unit: "days",
  parse: (text: string) => parseInteger(text, 1, 3650),
  assign: (s: RenewalDays, days: number) => void (s.renewActiveDays = days),
} as const satisfies AssignedOption<RenewalDays, number>;

export const ACCOUNT_OPTIONS = {
  acmeServer: { key: "acme-server", parse: parseUrl },
  dir: { key: "dir" },
  acceptTermsOfService: { key: "accept-terms-of-service", multi: true },
  email: {
    key: "email",
    multi: true,
    parse: parseEmail,
    assign: (a: AccountConfig, email: string) => {
      if (!a.email.includes(email)) a.email.push(email);
    },
  },
  caFile: { key: "ca-file" },
  eabKid: { key: "eab-kid" },
  eabHmacKey: { key: "eab-hmac-key", secret: true },
  profile: { key: "profile" },
  caOrigins: { key: "ca-origins", multi: true },
  rateLimits: {
    key: "rate-limits",
    parse: parseOnOff,
    assign: (o: CaLimitOverrides, on: boolean) => void (o.enabled = on),
  },
  limitOrders: {
    key: "limit-orders",
    parse: parseLimitOrOff,
    assign: (o: CaLimitOverrides, limit: RateLimit | null) => void (o.orders = limit),
  },
  limitRegisteredDomain: {
    key: "limit-registered-domain",
    parse: parseLimitOrOff,
    assign: (o: CaLimitOverrides, limit: RateLimit | null) => void (o.registeredDomain = limit),
  },
  limitExactSet: {
    key: "limit-exact-set",
    parse: parseLimitOrOff,
    assign: (o: CaLimitOverrides, limit: RateLimit | null) => void (o.exactSet = limit),
  },
  limitFailedAuthorizations: {
    key: "limit-failed-authorizations",
    parse: parseLimitOrOff,
    assign: (o: CaLimitOverrides, limit: RateLimit | null) => void (o.failedAuthorizations = limit),
  },
} as const satisfies OptionTable;

export const MGMT_OPTIONS = {
  listener: { key: "listener", multi: true, aliases: ["mgmt"] },
  maxSize: { key: "max-size", parse: parseSize, assign: (m: MgmtConfig, bytes: number) => void (m.maxSize = bytes) },
  defaultVerification: { key: "default-verification" },
  defaultStorage: { key: "default-storage" },
  signTimeout: {
    key: "sign-timeout",
    parse: (text: string) => parseDuration(text),
    assign: (m: MgmtConfig, ms: number) => void (m.signTimeoutMs = ms),
  },
  tlsCert: { key: "tls-cert" },
  tlsKey: { key: "tls-key" },
  trustedProxy: {
    key: "trusted-proxy",
    multi: true,
    parse: parseNetwork,
    assign: (m: MgmtConfig, network: IpNetwork) => void m.trustedProxies.push(network),
  },
  metricsListener: { key: "metrics-listener", multi: true },
  metricsIp: {
    key: "metrics-ip",
    multi: true,
    parse: parseNetwork,
    assign: (m: MgmtConfig, network: IpNetwork) => void m.metricsIps.push(network),
  },
  bodyTimeout: {
    key: "body-timeout",
    parse: (text: string) => parseDuration(text),
    assign: (m: MgmtConfig, ms: number) => void (m.bodyTimeoutMs = ms),
  },
  maxInflight: {
    key: "max-inflight",
    parse: (text: string) => parseInteger(text, 1, 100_000),
    assign: (m: MgmtConfig, count: number) => void (m.maxInflight = count),
  },
  maxInflightPerClient: {
    key: "max-inflight-per-client",
    parse: (text: string) => parseInteger(text, 1, 100_000),
    assign: (m: MgmtConfig, count: number) => void (m.maxInflightPerClient = count),
  },
} as const satisfies OptionTable;

export const NOTIFY_OPTIONS = {
  type: TYPE_OPTION,
  url: { key: "url", unechoed: true },
  command: { key: "command" },
  events: { key: "events", multi: true },
  timeout: {
    key: "timeout",
    parse: (text: string) => parseDuration(text),
    assign: (n: NotifyConfig, ms: number) => void (n.timeoutMs = ms),
  },
  retries: {
    key: "retries",
    parse: (text: string) => parseInteger(text, 0, 10),
    assign: (n: NotifyConfig, count: number) => void (n.retries = count),
  },
  expiringDays: {
    key: "expiring-days",
    parse: (text: string) => parseInteger(text, 1, 365),
    assign: (n: NotifyConfig, days: number) => void (n.expiringDays = days),
  },
} as const satisfies OptionTable;

export const LOGGING_OPTIONS = {
  level: { key: "level" },
  format: { key: "format" },
  destination: { key: "destination" },
} as const satisfies OptionTable;

export const HTTP01_OPTIONS = {
  type: TYPE_OPTION,
  listener: { key: "listener", multi: true },
} as const satisfies OptionTable;

export const DNS_UPDATE_OPTIONS = {
  type: TYPE_OPTION,
  dnsServer: {
    key: "dns-server",
    multi: true,
    parse: parseDnsServer,
    assign: (v: DnsUpdateVerification, server: DnsServerAddress) => void v.servers.push(server),
  },
  ttl: {
    key: "ttl",
    unit: "seconds",
    parse: (text: string) => parseInteger(text, 0, 2147483647),
    assign: (v: DnsUpdateVerification, seconds: number) => void (v.ttl = seconds),
  },
  timeout: {
    key: "timeout",
    parse: (text: string) => parseDuration(text),
    assign: (v: DnsUpdateVerification, ms: number) => void (v.timeoutMs = ms),
  },
  zone: { key: "zone" },
  transport: { key: "transport" },
  tsigKeyName: { key: "tsig-key-name" },
  tsigAlgorithm: { key: "tsig-algorithm" },
  tsigSecret: { key: "tsig-secret", secret: true },
  tsigKeyFile: { key: "tsig-key-file" },
} as const satisfies OptionTable;

export const DNS_PERSIST_OPTIONS = {
  type: TYPE_OPTION,
  issuerDomainName: { key: "issuer-domain-name" },
  resolver: {
    key: "resolver",
    multi: true,
    parse: parseDnsServer,
    assign: (v: DnsPersistVerification, server: DnsServerAddress) => void v.resolvers.push(server),
  },
  recordFormat: { key: "record-format" },
  persistUntil: {
    key: "persist-until",
    parse: (text: string) => parseInteger(text, 0, 253402300799),
    assign: (v: DnsPersistVerification, seconds: number) => void (v.persistUntil = seconds),
  },
  timeout: {
    key: "timeout",
    parse: (text: string) => parseDuration(text),
    assign: (v: DnsPersistVerification, ms: number) => void (v.timeoutMs = ms),
  },
} as const satisfies OptionTable;

export const NONE_STORAGE_OPTIONS = { type: TYPE_OPTION } as const satisfies OptionTable;

export const FILE_STORAGE_OPTIONS = {
  type: TYPE_OPTION,
  directory: { key: "directory" },
  renewWithin: RENEW_WITHIN,
  renewActiveDays: RENEW_ACTIVE_DAYS,
} as const satisfies OptionTable;

export const POSTGRES_STORAGE_OPTIONS = {
  type: TYPE_OPTION,
  // Never echoed: it may hold the password.
  url: { key: "url", unechoed: true },
  poolSize: {
    key: "pool-size",
    parse: (text: string) => parseInteger(text, 1, 100),
    assign: (s: PostgresStorage, size: number) => void (s.poolSize = size),
  },
  lease: {
    key: "lease",
    parse: (text: string): Parsed<number> => {
      const parsed = parseDuration(text, 3_600_000);
      if ("value" in parsed && parsed.value < 1_000) return { error: `"${truncate(text)}" must be from 1s to 1h` };
      return parsed;
    },
    assign: (s: PostgresStorage, ms: number) => void (s.leaseMs = ms),
  },
  schema: { key: "schema" },
  renewWithin: RENEW_WITHIN,
  renewActiveDays: RENEW_ACTIVE_DAYS,
} as const satisfies OptionTable;

export const AUTH_OPTIONS = {
  ip: {
    key: "ip",
    multi: true,
    parse: parseNetwork,
    assign: (b: Pick<AuthBlock, "ips">, network: IpNetwork) => void b.ips.push(network),
  },
  ipIdentifiers: {
    key: "ip-identifiers",
    multi: true,
    parse: parseNetworkList,
    assign: (b: Pick<AuthBlock, "ipIdentifiers">, networks: IpNetwork[]) =>
      void (b.ipIdentifiers ??= []).push(...networks),
  },
  domain: {
    key: "domain",
    multi: true,
    parse: (text: string): Parsed<string> => {
      const problem = checkGlob(text);
      return problem ? { error: problem } : { value: text.toLowerCase() };
    },
    assign: (b: Pick<AuthBlock, "domains">, glob: string) => void b.domains.push(glob),
  },
  hmacType: { key: "hmac_type" },
  hmacKey: { key: "hmac_key", secret: true },
  all: { key: "all" },
  verification: { key: "verification" },
  storage: { key: "storage" },
  profile: { key: "profile" },
  ca: { key: "ca" },
  limitOrders: {
    key: "limit-orders",
    parse: parseRateLimit,
    assign: (b: Pick<AuthBlock, "limitOrders">, limit: RateLimit) => void (b.limitOrders = limit),
  },
  limitOrdersPerClient: {
    key: "limit-orders-per-client",
    parse: parseRateLimit,
    assign: (b: Pick<AuthBlock, "limitOrdersPerClient">, limit: RateLimit) => void (b.limitOrdersPerClient = limit),
  },
  /** The ACME front end (src/acme_server/): the EAB key id and MAC key hosts bind their ACME accounts with. */
  acmeEabKid: { key: "acme-eab-kid" },
  acmeEabHmacKey: { key: "acme-eab-hmac-key", secret: true },
} as const satisfies OptionTable;

/** Every option of every section, by the README heading that documents it (a test keeps them in step). */
export const OPTION_TABLES: Readonly<Record<string, readonly OptionTable[]>> = {
  "[account]": [ACCOUNT_OPTIONS],
  // A [ca "name"] section has exactly the options of [account] (the same table, so an option added there is one here).
  '[ca "name"]': [ACCOUNT_OPTIONS],
  "[mgmt]": [MGMT_OPTIONS],
  "[logging]": [LOGGING_OPTIONS],
  '[verification "name"]': [HTTP01_OPTIONS, DNS_UPDATE_OPTIONS, DNS_PERSIST_OPTIONS],
  '[storage "name"]': [NONE_STORAGE_OPTIONS, FILE_STORAGE_OPTIONS, POSTGRES_STORAGE_OPTIONS],
  '[notify "name"]': [NOTIFY_OPTIONS],
  '[auth "name"]': [AUTH_OPTIONS],
};
