/**
 * The client address that `ip =` rules see.
 *
 * By default the TCP peer, full stop: forwarding headers are trivially forged. Only when the peer is one of the
 * configured `trusted-proxy` networks is `X-Forwarded-For` consulted, read from right to left (each proxy appends
 * the address it saw), skipping hops that are themselves trusted proxies; the first untrusted address is the client.
 * The leftmost entry is never taken on trust: a client can write anything there. It is used only when it is an
 * untrusted address that a trusted hop appended (nginx's usual one-entry header). When every entry is a trusted
 * address, the leftmost may have been written by a host inside a trusted network posing as another one: the client
 * is then the hop that appended it (the next entry, or the TCP peer for a one-entry header), the last address that
 * is known to be real — the same rule as for an unparsable entry.
 *
 * `peerAddress` is the TCP peer as text; `clientOf` is the client of a request for the /sign pipeline and its audit
 * record, remembered by peer address when the answer depends on nothing else. Pure apart from that bounded memo.
 */
import { formatIp, type IpAddress, networkContains, parseIpAddress, unmapIpv4 } from "../lib/ip.ts";
import type { IpNetwork } from "../config/types.ts";

/** The peer's address as text (zone id removed). */
export function peerAddress(info: Deno.ServeHandlerInfo): string {
  const addr = info.remoteAddr as Deno.NetAddr;
  return (addr.hostname ?? "").replace(/%.*$/, "");
}

export interface ClientOf {
  /** The address `ip =` rules see; null when the peer's address cannot be parsed. */
  peer: IpAddress | null;
  /** As text, for the audit record. */
  client: string;
}

/** Client addresses by peer address, per trusted-proxy list (a reload brings a new list and a new map). */
const clientMemo = new WeakMap<readonly IpNetwork[], Map<string, ClientOf>>();

/**
 * The client of a request: the TCP peer, or what X-Forwarded-For says behind a trusted proxy (`clientAddress`).
 * Without a header, or without trusted proxies, it depends only on the peer's address, and is remembered by it
 * (at most 1024 peers per trusted-proxy list).
 */
export function clientOf(
  info: Deno.ServeHandlerInfo,
  forwardedFor: string | null,
  trustedProxies: readonly IpNetwork[],
): ClientOf {
  const hostname = (info.remoteAddr as Deno.NetAddr).hostname ?? "";
  const memoable = forwardedFor === null || trustedProxies.length === 0;
  let memo: Map<string, ClientOf> | undefined;
  if (memoable) {
    memo = clientMemo.get(trustedProxies);
    if (!memo) clientMemo.set(trustedProxies, memo = new Map());
    const known = memo.get(hostname);
    if (known) return known;
  }
  const direct = parseIpAddress(peerAddress(info));
  const peer = direct ? clientAddress(direct, forwardedFor, trustedProxies) : null;
  const found: ClientOf = { peer, client: peer ? formatIp(peer.family, peer.bytes) : peerAddress(info) };
  if (memo) {
    if (memo.size >= 1024) memo.clear();
    memo.set(hostname, found);
  }
  return found;
}

export function clientAddress(
  peer: IpAddress,
  forwardedFor: string | null,
  trustedProxies: readonly IpNetwork[],
): IpAddress {
  const trusted = (a: IpAddress) => trustedProxies.some((n) => networkContains(n, a));
  const direct = unmapIpv4(peer);
  if (trustedProxies.length === 0 || !forwardedFor || !trusted(direct)) return direct;
  const hops = forwardedFor.split(",").map((h) => h.trim()).filter((h) => h !== "");
  let last = direct;
  for (let i = hops.length - 1; i >= 0; i--) {
    const parsed = parseHop(hops[i]);
    // An unparsable hop ends what can be believed: the address that put it there is the client.
    if (!parsed) return last;
    const hop = unmapIpv4(parsed);
    if (!trusted(hop)) return hop;
    // A trusted address as the leftmost entry: nothing vouches for it, so the hop that appended it is the client.
    if (i === 0) return last;
    last = hop;
  }
  return last;
}

/** Parses an X-Forwarded-For element: an address, `[v6]`, `[v6]:port` or `v4:port`. */
function parseHop(text: string): IpAddress | null {
  const direct = parseIpAddress(text);
  if (direct) return direct;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(text);
  if (bracketed) return parseIpAddress(bracketed[1]);
  const v4port = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(text);
  if (v4port) return parseIpAddress(v4port[1]);
  return null;
}
