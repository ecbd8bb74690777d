/**
 * Parsers for single option values: sizes, durations, listener and server addresses, e-mail, URLs, DNS names.
 * Pure: each returns the value or `{ error }` with a sentence-case message naming the value and the fix.
 */
import { formatIp, parseIpv4, parseIpv6 } from "../lib/ip.ts";

export type Parsed<T> = { value: T } | { error: string };

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 * 1024,
  mb: 1024 * 1024,
  mib: 1024 * 1024,
};

/** `4096`, `4k`, `16k`, `1m`, `64KiB` → bytes (k = 1024). */
export const parseSize = (function parseSize(text: string): Parsed<number> {
  const match = /^([0-9]+)\s*([A-Za-z]*)$/.exec(text);
  const unit = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    return { error: `"${text}" is not a size: write bytes or a number with k, m, KiB or MiB (e.g. 4096, 4k, 16k, 1m)` };
  }
  const bytes = Number(match[1]) * unit;
  if (!Number.isSafeInteger(bytes) || bytes < 1) return { error: `"${text}" must be at least 1 byte` };
  return { value: bytes };
}).bind(null);

const DURATION_UNITS: Record<string, number> = { "": 1000, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/**
 * The longest duration an option takes unless it says otherwise: 24 h. Timers cannot go beyond 2^31-1 ms (about
 * 24.8 days; setTimeout fires at once above that), and no timeout of acmems is meaningful beyond a day.
 */
export const MAX_DURATION_MS = 24 * 3_600_000;

/** `90` (seconds), `90s`, `1500ms`, `2m`, `1h` → milliseconds, from 1 ms up to `maxMs` (default 24 h). */
export const parseDuration = (function parseDuration(text: string, maxMs = MAX_DURATION_MS): Parsed<number> {
  const match = /^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$/.exec(text);
  const unit = match ? DURATION_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    return { error: `"${text}" is not a duration: write seconds or a number with ms, s, m or h (e.g. 90, 30s, 2m)` };
  }
  const ms = Math.round(Number(match[1]) * unit);
  if (!(ms <= maxMs)) return { error: `"${text}" is too long: write at most ${formatDuration(maxMs)}` };
  if (ms <= 0) return { error: `"${text}" must be longer than 0` };
  return { value: ms };
}).bind(null);

/** Formats milliseconds the way a config would write them. */
export const formatDuration = (function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}).bind(null);

/** A non-negative integer within bounds. */
export const parseInteger = (function parseInteger(text: string, min: number, max: number): Parsed<number> {
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
    return { error: `"${text}" is not a whole number from ${min} to ${max}` };
  }
  return { value: Number(text) };
}).bind(null);

/** `yes`/`true`/`on`/`1` and `no`/`false`/`off`/`0`, any case. */
export const parseBoolean = (function parseBoolean(text: string): Parsed<boolean> {
  const lower = text.toLowerCase();
  if (["yes", "true", "on", "1"].includes(lower)) return { value: true };
  if (["no", "false", "off", "0"].includes(lower)) return { value: false };
  return { error: `"${text}" is not yes or no` };
}).bind(null);

/** A host:port split, the host still in its written form (brackets removed). */
export interface HostPort {
  host: string;
  port: number;
  bracketed: boolean;
}

/** Splits `1.2.3.4:80`, `[::1]:80`, `[fe80::1%eth0]:1380`, `localhost:1313`. */
export const splitHostPort = (function splitHostPort(text: string, defaultPort?: number): Parsed<HostPort> {
  let host: string;
  let portText: string | undefined;
  let bracketed = false;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return { error: `"${text}" is missing "]" after the IPv6 address` };
    host = text.slice(1, close);
    bracketed = true;
    const rest = text.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return { error: `"${text}" has text after "]": write [address]:port` };
      portText = rest.slice(1);
    }
  } else {
    const colons = text.split(":").length - 1;
    if (colons > 1) {
      return { error: `"${text}" looks like an IPv6 address without brackets: write [address]:port, e.g. [::1]:1313` };
    }
    if (colons === 1) {
      host = text.slice(0, text.indexOf(":"));
      portText = text.slice(text.indexOf(":") + 1);
    } else {
      host = text;
    }
  }
  if (host === "") {
    return { error: `"${text}" has no address before the port: write e.g. 127.0.0.1:${portText ?? 1313}` };
  }
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) return { error: `"${text}" has no port: write address:port, e.g. 127.0.0.1:1313` };
    port = defaultPort;
  } else {
    const parsed = parseInteger(portText, 1, 65535);
    if ("error" in parsed) return { error: `"${text}" has an invalid port "${portText}" (1 to 65535)` };
    port = parsed.value;
  }
  return { value: { host, port, bracketed } };
}).bind(null);

/** A listen address with literal IP hosts, or a hostname to be resolved through the hosts file. */
export type ListenTarget =
  | { kind: "ip"; family: 4 | 6; hostname: string; zone?: string; port: number; linkLocal: boolean }
  | { kind: "name"; name: string; port: number };

/** Parses a `listener =` value without resolving names. */
export const parseListenTarget = (function parseListenTarget(text: string): Parsed<ListenTarget> {
  if (text === "") return { error: "Listener is empty: give an address and port, e.g. 127.0.0.1:1313 or [::1]:1313" };
  if (text.startsWith("/") || text.startsWith("unix:")) {
    return { error: `"${text}": unix sockets are not supported as listeners; give an address and port` };
  }
  const split = splitHostPort(text);
  if ("error" in split) return split;
  const { host, port, bracketed } = split.value;
  const v4 = parseIpv4(host);
  if (v4) {
    if (bracketed) return { error: `"${text}": only IPv6 addresses go in brackets; write ${host}:${port}` };
    return { value: { kind: "ip", family: 4, hostname: formatIp(4, v4), port, linkLocal: false } };
  }
  const v6 = parseIpv6(host);
  if (v6) {
    const base = formatIp(6, v6.bytes);
    const linkLocal = v6.bytes[0] === 0xfe && (v6.bytes[1] & 0xc0) === 0x80;
    if (linkLocal && v6.zone === undefined) {
      return { error: `"${text}" is a link-local address without a zone: write e.g. [${base}%eth0]:${port}` };
    }
    if (v6.zone !== undefined && !linkLocal) {
      return { error: `"${text}": a zone id (%${v6.zone}) only makes sense on a link-local fe80:: address` };
    }
    const hostname = v6.zone === undefined ? base : `${base}%${v6.zone}`;
    const target: ListenTarget = { kind: "ip", family: 6, hostname, port, linkLocal };
    if (v6.zone !== undefined) target.zone = v6.zone;
    return { value: target };
  }
  if (bracketed) return { error: `"${text}": "${host}" in brackets is not an IPv6 address` };
  if (!isDnsName(host)) return { error: `"${text}": "${host}" is neither an IP address nor a host name` };
  return { value: { kind: "name", name: host.toLowerCase(), port } };
}).bind(null);

/** How a listen address is shown: `127.0.0.1:1313`, `[::1]:1313`. */
export const formatListen = (function formatListen(family: 4 | 6, hostname: string, port: number): string {
  return family === 4 ? `${hostname}:${port}` : `[${hostname}]:${port}`;
}).bind(null);

/** Addresses of a name in /etc/hosts-format text; `localhost` falls back to 127.0.0.1 and ::1. */
export const lookupHostsFile = (function lookupHostsFile(hostsText: string, name: string): string[] {
  const found: string[] = [];
  for (const raw of hostsText.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const [address, ...names] = line.split(/\s+/);
    if (names.some((n) => n.toLowerCase() === name) && !found.includes(address)) found.push(address);
  }
  if (found.length === 0 && name === "localhost") return ["127.0.0.1", "::1"];
  return found;
}).bind(null);

/** `ip`, `ip:port`, `[v6]:port` or a bare IPv6 address (`::1`, `2001:db8::53`) of a DNS server (port 53 by default). */
export const parseDnsServer =
  (function parseDnsServer(text: string): Parsed<{ hostname: string; port: number; display: string }> {
    const error = `"${text}" is not an IP address of a DNS server: write ip, ip:port, ipv6 or [ipv6]:port`;
    const bare = text.startsWith("[") ? null : parseIpv6(text);
    if (bare) {
      if (bare.zone !== undefined) return { error };
      const hostname = formatIp(6, bare.bytes);
      return { value: { hostname, port: 53, display: formatListen(6, hostname, 53) } };
    }
    const split = splitHostPort(text, 53);
    if ("error" in split) return split;
    const { host, port } = split.value;
    const v4 = parseIpv4(host);
    if (v4) return { value: { hostname: formatIp(4, v4), port, display: formatListen(4, formatIp(4, v4), port) } };
    const v6 = parseIpv6(host);
    if (v6 && v6.zone === undefined) {
      const hostname = formatIp(6, v6.bytes);
      return { value: { hostname, port, display: formatListen(6, hostname, port) } };
    }
    return { error };
  }).bind(null);

/** A DNS name in LDH form (A-labels), without trailing dot. */
export const isDnsName = (function isDnsName(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  return text.split(".").every((label) =>
    label.length > 0 && label.length <= 63 && /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$/.test(label)
  );
}).bind(null);

/** An e-mail contact; `mailto:` is accepted and removed. */
export const parseEmail = (function parseEmail(text: string): Parsed<string> {
  const address = text.toLowerCase().startsWith("mailto:") ? text.slice(7) : text;
  if (!/^[^\s@,;<>"]+@[^\s@,;<>"]+\.[^\s@,;<>"]+$/.test(address)) {
    return { error: `"${text}" is not an e-mail address: write e.g. admin@example.org` };
  }
  return { value: address };
}).bind(null);

/** An http(s) URL. */
export const parseUrl = (function parseUrl(text: string): Parsed<URL> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { error: `"${text}" is not a URL: write e.g. https://acme-v02.api.letsencrypt.org/directory` };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return { error: `"${text}" must be an https:// URL` };
  }
  return { value: url };
}).bind(null);

/** An absolute URL of any scheme (`https:`, `data:`, `urn:`), kept exactly as written for comparison. */
export const parseAbsoluteUrl = (function parseAbsoluteUrl(text: string): Parsed<string> {
  const error =
    `"${text}" is not an absolute URL: write it exactly as the CA publishes it, e.g. https://ca.example/terms`;
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(text)) return { error };
  try {
    new URL(text);
  } catch {
    return { error };
  }
  return { value: text };
}).bind(null);

/**
 * True for base64 in either alphabet, standard (`+ /`) or URL-safe (`- _`), padding optional: what
 * `fromBase64Any` (src/acme/encoding.ts) decodes, e.g. an EAB key as any CA prints it.
 */
export const isBase64 = (function isBase64(text: string): boolean {
  const body = text.replace(/={1,2}$/, "");
  return body.length > 0 && /^[A-Za-z0-9+/_-]+$/.test(body) && body.length % 4 !== 1 &&
    (body === text || text.length % 4 === 0);
}).bind(null);

/** True for standard base64 (`+ /`, padding optional), as `tsig-keygen` writes secrets and TSIG decodes them. */
export const isStandardBase64 = (function isStandardBase64(text: string): boolean {
  return isBase64(text) && !/[_-]/.test(text);
}).bind(null);
