import { assertEquals } from "../../support/assert.ts";
import { clientAddress } from "../../../src/http/client_address.ts";
import { formatIp, parseIpAddress, parseIpNetwork } from "../../../src/lib/ip.ts";
import type { IpNetwork } from "../../../src/config/types.ts";

const nets = (...texts: string[]) => texts.map((t) => parseIpNetwork(t) as IpNetwork);

/** [name, peer, X-Forwarded-For, trusted proxies, expected client] */
const CASES: [string, string, string | null, string[], string][] = [
  ["no proxies configured: the peer, header ignored", "127.0.0.1", "10.0.0.1", [], "127.0.0.1"],
  ["untrusted peer: header ignored", "192.0.2.9", "10.0.0.1", ["127.0.0.1"], "192.0.2.9"],
  ["trusted peer without header: the peer", "127.0.0.1", null, ["127.0.0.1"], "127.0.0.1"],
  ["trusted peer: right-most hop", "127.0.0.1", "192.0.2.1, 10.0.0.1", ["127.0.0.1"], "10.0.0.1"],
  ["never the left-most forged entry", "127.0.0.1", "10.0.0.1, 192.0.2.1", ["127.0.0.1"], "192.0.2.1"],
  ["trusted hops are skipped", "127.0.0.1", "198.51.100.7, 10.1.1.1", ["127.0.0.1", "10.0.0.0/8"], "198.51.100.7"],
  // Never the left-most entry when every entry is trusted: 10.1.1.1 (inside a trusted network) may have written
  // "10.1.1.2" itself; the address known to be real is the hop that appended it.
  ["all hops trusted: the hop that appended the left-most", "127.0.0.1", "10.1.1.2, 10.1.1.1", [
    "127.0.0.1",
    "10.0.0.0/8",
  ], "10.1.1.1"],
  ["one trusted entry: the peer that appended it", "127.0.0.1", "10.1.1.2", ["127.0.0.1", "10.0.0.0/8"], "127.0.0.1"],
  ["three trusted hops", "127.0.0.1", "10.1.1.3, 10.1.1.2, 10.1.1.1", ["127.0.0.1", "10.0.0.0/8"], "10.1.1.2"],
  ["an untrusted left-most entry appended by a trusted hop", "127.0.0.1", "192.0.2.4, 10.1.1.1", [
    "127.0.0.1",
    "10.0.0.0/8",
  ], "192.0.2.4"],
  ["garbage hop ends the chain", "127.0.0.1", "10.0.0.5, not-an-ip", ["127.0.0.1"], "127.0.0.1"],
  ["IPv6 and ports", "::1", "[2001:db8::5]:443", ["::1"], "2001:db8::5"],
  ["v4 with port", "::1", "203.0.113.5:5555", ["::1"], "203.0.113.5"],
  ["mapped peer counts as IPv4", "::ffff:127.0.0.1", "10.0.0.1", ["127.0.0.1"], "10.0.0.1"],
];

for (const [name, peer, xff, trusted, expected] of CASES) {
  Deno.test(`clientAddress: ${name}`, () => {
    const result = clientAddress(parseIpAddress(peer)!, xff, nets(...trusted));
    assertEquals(formatIp(result.family, result.bytes), expected);
  });
}
