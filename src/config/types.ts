/**
 * The typed, validated configuration of acmems: what every other module reads.
 *
 * Produced only by `loadConfig()` (src/config/load.ts) from INI files; every value that came from a file keeps
 * where it came from (`source`) so later errors can name `file:line`.
 */
import type { CaLimits, RateLimit } from "../ca/ledger_port.ts";

export type { CaLimits, RateLimit };

/** A place in a config file. `line` is 1-based; 0 means "implied default, not written anywhere". */
export interface Source {
  file: string;
  line: number;
}

/** An error or warning about the configuration, printed as `FILE:LINE: message`. */
export interface Diagnostic extends Source {
  message: string;
}

/** One socket address to listen on. `hostname` is what `Deno.serve({ hostname })` takes (zone id included). */
export interface ListenAddress {
  /** IPv4 literal, IPv6 literal without brackets (with `%zone` if any). */
  hostname: string;
  port: number;
  /** The IPv6 zone id (interface name or index) for link-local addresses. */
  zone?: string;
  /** How to show it: `127.0.0.1:1313`, `[::1]:1313`, `[fe80::1%eth0]:1380`. */
  display: string;
  source: Source;
}

export type TermsOfService =
  | { kind: "none" }
  | { kind: "any"; source: Source }
  | { kind: "urls"; urls: string[]; source: Source };

export interface AccountConfig {
  /** ACME directory URL. */
  acmeServer: string;
  /** True when `acme-server` was not set and Let's Encrypt staging is used. */
  acmeServerIsDefault: boolean;
  /** Directory holding account.pem and registration.json. */
  dir: string;
  acceptTermsOfService: TermsOfService;
  email: string[];
  /** PEM file with extra CA certificates trusted for the ACME server. */
  caFile?: string;
  eabKid?: string;
  /** base64url HMAC key for external account binding. A secret: never print it. */
  eabHmacKey?: string;
  /** ACME profile requested for new orders unless an auth block says otherwise. */
  profile?: string;
  /**
   * Origins (`https://host[:port]`) the CA's URLs may use besides the directory's own; every other origin is
   * refused. Empty by default.
   */
  caOrigins: string[];
  /**
   * The CA's rate limits the ledger keeps (src/ca/limits.ts): Let's Encrypt's built in for its directory URLs, none
   * for other CAs, then `rate-limits` and the `limit-*` options.
   */
  limits: CaLimits;
  source: Source;
}

export interface MgmtConfig {
  listeners: ListenAddress[];
  /** Largest accepted CSR body in bytes. */
  maxSize: number;
  /** Name of the verification used by auth blocks without `verification`, or null when disabled. */
  defaultVerification: string | null;
  /** Name of the storage used by auth blocks without `storage`; null means no caching. */
  defaultStorage: string | null;
  /** How long a /sign request may wait for the CA, in milliseconds. */
  signTimeoutMs: number;
  /** PEM files: serve the mgmt listeners over HTTPS when both are set. */
  tlsCert?: string;
  tlsKey?: string;
  /** Peers whose X-Forwarded-For is believed (read right to left, skipping these). */
  trustedProxies: IpNetwork[];
  /** Extra listeners that serve only /metrics, /health and /ready. */
  metricsListeners: ListenAddress[];
  /** Who may read /metrics (default: loopback). */
  metricsIps: IpNetwork[];
  /** Longest time to receive a /sign body, in milliseconds. */
  bodyTimeoutMs: number;
  /** Most /sign requests handled at once; more get 503 with Retry-After. */
  maxInflight: number;
  /**
   * Most /sign requests handled at once for one client address (the address `ip =` rules see); more get the same
   * 503. Default: `defaultMaxInflightPerClient(maxInflight)`.
   */
  maxInflightPerClient: number;
}

export type LogLevel = "error" | "warning" | "info" | "debug";

export interface LoggingConfig {
  level: LogLevel;
  format: "text" | "json";
  /** `stderr`, `stdout` or a file path. */
  destination: string;
}

export interface Http01Verification {
  type: "http01";
  name: string;
  listeners: ListenAddress[];
  /** True for the `http` verification acmems adds when none is configured. */
  implicit: boolean;
  source: Source;
}

export type TsigAlgorithm = "hmac-sha256" | "hmac-sha384" | "hmac-sha512";

export interface TsigKey {
  /** Key name as the DNS server knows it, e.g. `acmems-key`. */
  name: string;
  algorithm: TsigAlgorithm;
  /** base64 secret. A secret: never print it. */
  secret: string;
  /** Where the key came from: the config line, or the key file. */
  source: Source;
}

export interface DnsServerAddress {
  hostname: string;
  port: number;
  display: string;
}

/** `dns01-dnsUpdate` answers dns-01, `dns-account01` dns-account-01: the same RFC 2136 options. */
export interface DnsUpdateVerification {
  type: "dns01-dnsUpdate" | "dns-account01";
  name: string;
  servers: DnsServerAddress[];
  ttl: number;
  timeoutMs: number;
  /** Zone to update; discovered through SOA queries when unset. */
  zone?: string;
  transport: "tcp" | "udp";
  tsig?: TsigKey;
  source: Source;
}

/** `type = dns-persist01`: a permanent `_validation-persist` TXT record the operator publishes; acmems writes no DNS. */
export interface DnsPersistVerification {
  type: "dns-persist01";
  name: string;
  /** The CA's issuer domain name for the records acmems prints; from acme-server when unset (Let's Encrypt). */
  issuerDomainName?: string;
  /** Recursive resolvers for the pre-check; empty: the system's (/etc/resolv.conf). */
  resolvers: DnsServerAddress[];
  /** One of src/challenges/dns_persist01/record.ts's RECORD_FORMATS. */
  recordFormat: "draft-ietf-acme-dns-persist-00";
  /** `persistUntil` (unix seconds) of the records acmems prints, when set. */
  persistUntil?: number;
  timeoutMs: number;
  source: Source;
}

export type VerificationConfig = Http01Verification | DnsUpdateVerification | DnsPersistVerification;

export interface NoneStorage {
  type: "none";
  name: string;
  source: Source;
}

export interface FileStorage {
  type: "file";
  name: string;
  directory: string;
  /** Renew cached certificates this many days before notAfter. */
  renewWithinDays: number;
  /** Renew in the background only certificates a client fetched within this many days. */
  renewActiveDays: number;
  /** True for the storage acmems adds in `<account dir>/cache` when none is configured. */
  implicit: boolean;
  source: Source;
}

export interface PostgresStorage {
  type: "postgres";
  name: string;
  /** postgres:// URL; empty means the usual PG* environment variables. Its password is a secret. */
  url?: string;
  poolSize: number;
  /** Claim lease in milliseconds. */
  leaseMs: number;
  /** Schema holding acmems' tables. */
  schema: string;
  renewWithinDays: number;
  renewActiveDays: number;
  source: Source;
}

export type StorageConfig = NoneStorage | FileStorage | PostgresStorage;

/** An IPv4 or IPv6 network; a single address is a /32 or /128. */
export interface IpNetwork {
  family: 4 | 6;
  /** Network address bytes (4 or 16). */
  bytes: Uint8Array;
  prefix: number;
  /** Canonical text, e.g. `192.0.2.0/24`, `2001:db8::/32`, `198.51.100.21`. */
  text: string;
}

export type HmacType = "sha1" | "sha256" | "sha384" | "sha512";

export interface AuthBlock {
  name: string;
  ips: IpNetwork[];
  /**
   * `ip-identifiers`: the addresses this block's clients may get IP address certificates for (RFC 8738), as
   * opposed to `ips`, the clients' own addresses. Absent or empty: no IP SAN is admitted.
   */
  ipIdentifiers?: IpNetwork[];
  /** Name globs: `*`, `?`, `[...]`. */
  domains: string[];
  hmac?: {
    type: HmacType;
    /** The shared secret (UTF-8 bytes are the HMAC key). A secret: never print it. */
    key: string;
  };
  all: boolean;
  /** Name of the verification this block uses (already resolved against the default). */
  verification: string;
  /** Name of the storage this block uses, or null for no caching. */
  storage: string | null;
  profile?: string;
  /**
   * `ca = le, gts`: the CAs this block's orders go to, in order of preference (failover: src/ca/failover.ts).
   * Absent: the default CA (`Config.defaultCa`) only.
   */
  cas?: string[];
  /** `limit-orders`: new orders of all this block's clients together (the block's budget). */
  limitOrders?: RateLimit;
  /** `limit-orders-per-client`: new orders per client address within this block. */
  limitOrdersPerClient?: RateLimit;
  /**
   * `acme-eab-kid` / `acme-eab-hmac-key`: the block opts into the ACME front end (src/acme_server/); a host's ACME
   * account is bound to this block by an EAB with this key id, MACed with this key (raw bytes, decoded from
   * base64url). A secret: never print the key.
   */
  acmeEab?: { kid: string; hmacKey: Uint8Array; keyText: string };
  source: Source;
}

export type NotifyEvent = "issue-failed" | "renewal-failed" | "expiring" | "revoked";

export interface NotifyConfig {
  name: string;
  type: "webhook" | "exec";
  /** webhook: where the JSON event is POSTed. */
  url?: string;
  /** exec: the command (argv, split on spaces; no shell) that reads the JSON event on stdin. */
  command?: string[];
  events: NotifyEvent[];
  timeoutMs: number;
  retries: number;
  /** `expiring` fires for cached certificates within this many days of notAfter. */
  expiringDays: number;
  source: Source;
}

export interface Config {
  /** The files the config was read from, in order. */
  files: string[];
  /** The default CA (`[account]`, or `[ca "default"]`, or the first `[ca]`): the same object as in `cas`. */
  account: AccountConfig;
  /** Every CA by name (`default` for `[account]`), the default first, then `[ca "name"]` sections in order. */
  cas: Map<string, AccountConfig>;
  /** The name of `account` in `cas`: auth blocks without `ca =` use it. */
  defaultCa: string;
  mgmt: MgmtConfig;
  logging: LoggingConfig;
  /** By name, in definition order. */
  verifications: Map<string, VerificationConfig>;
  /** By name, in definition order. */
  storages: Map<string, StorageConfig>;
  /** In config order: the first block that admits a request wins. */
  auth: AuthBlock[];
  notifiers: NotifyConfig[];
}

/** What `loadConfig()` returns: a config when there were no errors, and all diagnostics either way. */
export interface ConfigResult {
  ok: boolean;
  config?: Config;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  /** Informational notes for check-config (e.g. "acme-server defaults to Let's Encrypt staging"). */
  notes: Diagnostic[];
}
