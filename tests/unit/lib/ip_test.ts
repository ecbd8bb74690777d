import { assert, assertEquals } from "../../support/assert.ts";
import { formatIp, networkContains, networkCovers, parseIpAddress, parseIpNetwork } from "../../../src/lib/ip.ts";

const NETWORKS: [string, string | RegExp][] = [
  ["192.0.2.0/24", "192.0.2.0/24"],
  ["198.51.100.21", "198.51.100.21"],
  ["2001:DB8::/32", "2001:db8::/32"],
  ["::1", "::1"],
  ["0.0.0.0/0", "0.0.0.0/0"],
  ["::/0", "::/0"],
  ["192.0.2.1/24", /host bits set: did you mean 192.0.2.0\/24/],
  ["192.0.2.0/33", /invalid prefix length "33"/],
  ["01.2.3.4", /not an IPv4 or IPv6/],
  ["1:2:3:4:5:6:7:8:9", /not an IPv4 or IPv6/],
  ["fe80::1%eth0", /zone ids are not allowed/],
  ["::ffff:10.1.2.3", "10.1.2.3"],
  ["::ffff:192.0.2.0/120", "192.0.2.0/24"],
  ["::ffff:0:0/96", "0.0.0.0/0"],
  ["::ffff:0:0/80", /host bits set/],
  ["", /not an IPv4 or IPv6/],
];

for (const [input, expected] of NETWORKS) {
  Deno.test(`ip network: ${JSON.stringify(input)}`, () => {
    const parsed = parseIpNetwork(input);
    if (typeof expected === "string") assertEquals("text" in parsed && parsed.text, expected);
    else assert("error" in parsed && expected.test(parsed.error), JSON.stringify(parsed));
  });
}

Deno.test("ip: containment across families and IPv4-mapped peers", () => {
  const net = parseIpNetwork("192.0.2.0/24");
  assert("text" in net);
  assert(networkContains(net, parseIpAddress("192.0.2.77")!));
  assert(networkContains(net, parseIpAddress("::ffff:192.0.2.77")!));
  assert(!networkContains(net, parseIpAddress("192.0.3.1")!));
  assert(!networkContains(net, parseIpAddress("2001:db8::1")!));
  const v6 = parseIpNetwork("2001:db8::/32");
  assert("text" in v6);
  assert(networkContains(v6, parseIpAddress("2001:db8:ffff::1")!));
  assert(networkContains(v6, parseIpAddress("[2001:db8::1%eth0]")!));
  assert(!networkContains(v6, parseIpAddress("2001:db9::1")!));
  // A network written IPv4-mapped matches the peer however it arrives.
  const mapped = parseIpNetwork("::ffff:10.1.2.0/120");
  assert("text" in mapped);
  assert(networkContains(mapped, parseIpAddress("10.1.2.3")!));
  assert(networkContains(mapped, parseIpAddress("::ffff:10.1.2.3")!));
  assert(!networkContains(mapped, parseIpAddress("10.1.3.3")!));
});

Deno.test("ip: RFC 5952 formatting", () => {
  assertEquals(formatIp(6, parseIpAddress("2001:0db8:0:0:1:0:0:1")!.bytes), "2001:db8::1:0:0:1");
  assertEquals(formatIp(6, parseIpAddress("::")!.bytes), "::");
  assertEquals(formatIp(6, parseIpAddress("::ffff:1.2.3.4")!.bytes), "::ffff:102:304");
});

Deno.test("networkCovers: every address of the inner network is in the outer one", () => {
  const net = (text: string) => {
    const parsed = parseIpNetwork(text);
    if ("error" in parsed) throw new Error(parsed.error);
    return parsed;
  };
  const cases: [string, string, boolean][] = [
    ["10.0.0.0/8", "10.1.2.3", true],
    ["10.0.0.0/8", "10.1.0.0/16", true],
    ["10.1.0.0/16", "10.0.0.0/8", false],
    ["10.0.0.0/8", "11.0.0.1", false],
    ["0.0.0.0/0", "192.0.2.1", true],
    ["10.1.2.3", "10.1.2.3", true],
    ["2001:db8::/32", "2001:db8:1::/48", true],
    ["2001:db8::/32", "10.1.2.3", false],
    ["::/0", "10.1.2.3", false],
    ["10.0.0.0/8", "::ffff:10.1.2.3", true],
  ];
  for (const [outer, inner, expected] of cases) {
    assertEquals(networkCovers(net(outer), net(inner)), expected, `${outer} covers ${inner}`);
  }
});
