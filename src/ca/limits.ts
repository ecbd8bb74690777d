/**
 * Rate limits as the config writes them (`N/window`: `300/3h`, `50/7d`), and each CA's resolved limits: Let's
 * Encrypt's published limits are built in for its two directory URLs, every other CA has none unless configured,
 * and `[account]` / `[ca "name"]` options override one limit each (`off` switches one off; `rate-limits = off` all).
 *
 * Pure: parsers return `{ value }` or `{ error }` with a message naming the value and the expected form.
 */
import type { CaLimits, RateLimit } from "./ledger_port.ts";

export type ParsedLimit<T> = { value: T } | { error: string };

/** Let's Encrypt's production and staging ACME directories (their limits are built in). */
export const LETS_ENCRYPT_DIRECTORIES: readonly string[] = [
  "https://acme-v02.api.letsencrypt.org/directory",
  "https://acme-staging-v02.api.letsencrypt.org/directory",
];

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
/** The longest window a limit may have (a year): events older than the longest window are pruned. */
export const MAX_WINDOW_SECONDS = 366 * 86_400;
const MAX_COUNT = 1_000_000;
const FORM = "write N/window with a unit s, m, h or d, e.g. 300/3h, 50/7d or 5/1h";

/** `300/3h` → at most 300 events in any 3 h window. */
export const parseRateLimit = (function parseRateLimit(text: string): ParsedLimit<RateLimit> {
  const trimmed = text.trim();
  const match = /^([0-9]+)\s*\/\s*([0-9]+)\s*([smhd])$/i.exec(trimmed);
  if (!match) return { error: `"${shorten(text)}" is not a rate limit: ${FORM}` };
  const count = Number(match[1]);
  const windowSeconds = Number(match[2]) * UNIT_SECONDS[match[3].toLowerCase()];
  if (count < 1 || count > MAX_COUNT) {
    return { error: `"${shorten(text)}" must allow from 1 to ${MAX_COUNT} events per window (${FORM})` };
  }
  if (windowSeconds < 1 || windowSeconds > MAX_WINDOW_SECONDS) {
    return { error: `"${shorten(text)}" needs a window from 1s to 366d (${FORM})` };
  }
  return { value: { count, windowSeconds, text: `${count}/${match[2]}${match[3].toLowerCase()}` } };
}).bind(null);

/** A CA limit option: `N/window`, or `off` (null) to switch that one limit off. */
export const parseLimitOrOff = (function parseLimitOrOff(text: string): ParsedLimit<RateLimit | null> {
  if (text.trim().toLowerCase() === "off") return { value: null };
  const parsed = parseRateLimit(text);
  return "error" in parsed ? { error: `${parsed.error}; or write off to switch this limit off` } : parsed;
}).bind(null);

/** `rate-limits = on|off` (yes/no too). */
export const parseOnOff = (function parseOnOff(text: string): ParsedLimit<boolean> {
  const lower = text.trim().toLowerCase();
  if (["on", "yes", "true", "1"].includes(lower)) return { value: true };
  if (["off", "no", "false", "0"].includes(lower)) return { value: false };
  return { error: `"${shorten(text)}" is not on or off` };
}).bind(null);

/** What a CA section wrote: each limit given (a RateLimit), switched off (null), or left to the default (absent). */
export interface CaLimitOverrides {
  /** `rate-limits`: false switches every CA limit off. */
  enabled?: boolean;
  orders?: RateLimit | null;
  registeredDomain?: RateLimit | null;
  exactSet?: RateLimit | null;
  failedAuthorizations?: RateLimit | null;
}

const limit = (function limit(count: number, windowSeconds: number, text: string): RateLimit {
  return { count, windowSeconds, text };
}).bind(null);

/** Let's Encrypt's published limits: 300 orders / 3 h, 50 per registered domain / 7 d, 5 per exact set / 7 d, 5 failed authorizations per name / 1 h. */
export const letsEncryptLimits = (function letsEncryptLimits(): CaLimits {
  return {
    off: false,
    orders: limit(300, 3 * 3600, "300/3h"),
    registeredDomain: limit(50, 7 * 86_400, "50/7d"),
    exactSet: limit(5, 7 * 86_400, "5/7d"),
    failedAuthorizations: limit(5, 3600, "5/1h"),
  };
}).bind(null);

/** True for Let's Encrypt's production and staging directory URLs. */
export const isLetsEncrypt = (function isLetsEncrypt(directoryUrl: string): boolean {
  return LETS_ENCRYPT_DIRECTORIES.includes(directoryUrl.replace(/\/+$/, ""));
}).bind(null);

/** The limits kept for the CA at `directoryUrl`: built in (Let's Encrypt) or none, then the section's overrides. */
export const resolveCaLimits =
  (function resolveCaLimits(directoryUrl: string, overrides: CaLimitOverrides = {}): CaLimits {
    const base: CaLimits = isLetsEncrypt(directoryUrl) ? letsEncryptLimits() : { off: false };
    const resolved: CaLimits = { off: overrides.enabled === false };
    for (const key of ["orders", "registeredDomain", "exactSet", "failedAuthorizations"] as const) {
      const given = overrides[key];
      const value = given === undefined ? base[key] : given ?? undefined;
      if (value) resolved[key] = value;
    }
    return resolved;
  }).bind(null);

/** The option name of each CA limit, for messages, check-config and /metrics. */
export const CA_LIMIT_OPTIONS = {
  orders: "limit-orders",
  registeredDomain: "limit-registered-domain",
  exactSet: "limit-exact-set",
  failedAuthorizations: "limit-failed-authorizations",
} as const;

/** One line per limit, as check-config prints them: `limit-orders = 300/3h`, … or `rate-limits = off`. */
export const describeCaLimits = (function describeCaLimits(limits: CaLimits): string[] {
  if (limits.off) return ["rate-limits = off"];
  const lines: string[] = [];
  for (const [key, option] of Object.entries(CA_LIMIT_OPTIONS) as [keyof typeof CA_LIMIT_OPTIONS, string][]) {
    const value = limits[key];
    lines.push(`${option} = ${value ? value.text : "off"}`);
  }
  return lines;
}).bind(null);

/** `3h`, `7d`, `90m`, `45s`: a window in the largest whole unit. */
export const formatWindow = (function formatWindow(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}).bind(null);

const shorten = (function shorten(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}).bind(null);
