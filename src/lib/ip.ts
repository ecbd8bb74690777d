/**
 * IP address and network parsing, shared by the config (auth `ip =`, listeners) and the policy (peer matching).
 * Pure functions, no DNS.
 */
import type { IpNetwork } from "../config/types.ts";

/** A parsed IP address: 4 or 16 bytes. */
export interface IpAddress {
  family: 4 | 6;
  bytes: Uint8Array;
  /** IPv6 zone id (`%eth0`), if any. */
  zone?: string;
}

const IPV4_PART = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

/** Parses a dotted-quad IPv4 address (no leading zeros, which some parsers read as octal). */
export const parseIpv4 = (function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!IPV4_PART.test(parts[i])) return null;
    bytes[i] = Number(parts[i]);
  }
  return bytes;
}).bind(null);

/** Parses an IPv6 address without brackets, with optional `%zone` and an optional embedded IPv4 tail. */
export const parseIpv6 = (function parseIpv6(text: string): { bytes: Uint8Array; zone?: string } | null {
  let zone: string | undefined;
  const percent = text.indexOf("%");
  if (percent >= 0) {
    zone = text.slice(percent + 1);
    text = text.slice(0, percent);
    if (!/^[A-Za-z0-9_.-]+$/.test(zone)) return null;
  }
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(":")) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const groups = part.split(":");
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i];
      if (i === groups.length - 1 && group.includes(".")) {
        const v4 = parseIpv4(group);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
        continue;
      }
      if (!/^[0-9A-Fa-f]{1,4}$/.test(group)) return null;
      out.push(parseInt(group, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]);
  const tail = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (!head || !tail) return null;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    groups = [...head, ...new Array(missing).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return null;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return zone === undefined ? { bytes } : { bytes, zone };
}).bind(null);

/** Parses an IPv4 or IPv6 address (IPv6 optionally in brackets). */
export const parseIpAddress = (function parseIpAddress(text: string): IpAddress | null {
  const v4 = parseIpv4(text);
  if (v4) return { family: 4, bytes: v4 };
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const v6 = parseIpv6(bare);
  if (v6) return v6.zone === undefined ? { family: 6, bytes: v6.bytes } : { family: 6, bytes: v6.bytes, zone: v6.zone };
  return null;
}).bind(null);

/**
 * Treats an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket reports for IPv4 peers) as the
 * IPv4 address it is, so `ip = 192.0.2.0/24` matches it.
 */
export const unmapIpv4 = (function unmapIpv4(address: IpAddress): IpAddress {
  if (address.family !== 6) return address;
  const b = address.bytes;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return address;
  if (b[10] !== 0xff || b[11] !== 0xff) return address;
  return { family: 4, bytes: b.slice(12) };
}).bind(null);

/** Formats address bytes canonically (RFC 5952 for IPv6). */
export const formatIp = (function formatIp(family: 4 | 6, bytes: Uint8Array): string {
  if (family === 4) return Array.from(bytes).join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // Longest run of two or more zero groups becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}).bind(null);

/** Parses `192.0.2.0/24`, `2001:db8::/32` or a single address. Host bits set, or a zone id, are errors. */
export const parseIpNetwork = (function parseIpNetwork(text: string): IpNetwork | { error: string } {
  const slash = text.indexOf("/");
  const addressText = slash >= 0 ? text.slice(0, slash) : text;
  const address = parseIpAddress(addressText);
  if (!address) {
    return { error: `"${text}" is not an IPv4 or IPv6 address or network (e.g. 192.0.2.0/24, 2001:db8::/32)` };
  }
  if (address.zone !== undefined) {
    return { error: `"${text}": zone ids are not allowed in ip = (match on the address)` };
  }
  const max = address.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      return { error: `"${text}" has an invalid prefix length "${prefixText}" (0 to ${max})` };
    }
    prefix = Number(prefixText);
  }
  const masked = maskBytes(address.bytes, prefix);
  if (!masked.every((b, i) => b === address.bytes[i])) {
    const network = `${formatIp(address.family, masked)}/${prefix}`;
    return { error: `"${text}" has host bits set: did you mean ${network}?` };
  }
  // Peers are matched as IPv4 when they arrive IPv4-mapped; a mapped network (::ffff:0:0/96 and longer) is the same.
  if (address.family === 6 && prefix >= 96 && isIpv4Mapped(masked)) {
    const v4 = masked.slice(12);
    const v4Prefix = prefix - 96;
    const v4Base = formatIp(4, v4);
    return { family: 4, bytes: v4, prefix: v4Prefix, text: v4Prefix === 32 ? v4Base : `${v4Base}/${v4Prefix}` };
  }
  const base = formatIp(address.family, masked);
  return { family: address.family, bytes: masked, prefix, text: prefix === max ? base : `${base}/${prefix}` };
}).bind(null);

const isIpv4Mapped = (function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}).bind(null);

const maskBytes = (function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = bytes[i] & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}).bind(null);

/** True when the address lies inside the network. IPv4-mapped IPv6 addresses count as IPv4. */
export const networkContains = (function networkContains(network: IpNetwork, address: IpAddress): boolean {
  const a = unmapIpv4(address);
  if (a.family !== network.family) return false;
  // Compared in place (the /sign hot path asks this for every block): whole bytes, then the masked rest.
  return samePrefix(a.bytes, network.bytes, network.prefix);
}).bind(null);

/** True when the first `prefix` bits of `a` and `b` agree (compared in place: no masked copies). */
const samePrefix = (function samePrefix(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const bits = prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (a[whole] & mask) === (b[whole] & mask);
}).bind(null);

/** True when every address of `inner` lies inside `outer` (same family, prefix no shorter, same leading bits). */
export const networkCovers = (function networkCovers(outer: IpNetwork, inner: IpNetwork): boolean {
  if (outer.family !== inner.family || inner.prefix < outer.prefix) return false;
  return samePrefix(inner.bytes, outer.bytes, outer.prefix);
}).bind(null);
