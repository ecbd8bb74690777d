/**
 * Looks up the dns-persist-01 TXT records of a name through a recursive resolver: the verification's `resolver`
 * addresses, or the system's (the `nameserver` lines of /etc/resolv.conf). Queries go over UDP with RD set, and over
 * TCP when the UDP answer is truncated (the dns-01 client's transport, src/challenges/dns01/dns/).
 *
 * Contract: resolves to the TXT values at the owner (following the resolver's CNAME answers), `[]` for NXDOMAIN or
 * no TXT; throws a `DnsError` (kind `unreachable`) when no resolver answers.
 */
import type { DnsServerAddress } from "../../config/types.ts";
import { parseDnsServer } from "../../config/values.ts";
import { DnsClient, type Exchange, networkExchange } from "../dns01/dns/client.ts";
import { buildQuery, OPCODE_QUERY } from "../dns01/dns/wire.ts";

/** Reads the TXT values at an owner name. */
export type TxtLookup = (owner: string) => Promise<string[]>;

/** The `nameserver` addresses of a resolv.conf text (127.0.0.1:53 when there are none, as the C library does). */
export function resolvConfServers(text: string): DnsServerAddress[] {
  const servers: DnsServerAddress[] = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^\s*nameserver\s+(\S+)/);
    if (!m) continue;
    const parsed = parseDnsServer(m[1].replace(/%.*$/, ""));
    if ("value" in parsed) servers.push(parsed.value);
  }
  return servers.length > 0 ? servers : [{ hostname: "127.0.0.1", port: 53, display: "127.0.0.1:53" }];
}

/** The system resolvers (/etc/resolv.conf). */
export function systemResolvers(readFile: (path: string) => string = Deno.readTextFileSync): DnsServerAddress[] {
  let text = "";
  try {
    text = readFile("/etc/resolv.conf");
  } catch { /* no resolv.conf: the C library's default */ }
  return resolvConfServers(text);
}

/** A TXT lookup through `servers` (the system's when empty). */
export function txtLookup(
  servers: readonly DnsServerAddress[],
  timeoutMs: number,
  exchange: Exchange = networkExchange,
): TxtLookup {
  const client = new DnsClient(
    { servers: servers.length > 0 ? [...servers] : systemResolvers(), transport: "udp", timeoutMs },
    exchange,
  );
  return async (owner) => {
    const { message } = await client.exchange(
      (id) => buildQuery(id, owner, "TXT", true),
      OPCODE_QUERY,
      `TXT lookup of ${owner}`,
    );
    return message.answers.filter((a) => a.type === "TXT").map((a) => a.data);
  };
}
