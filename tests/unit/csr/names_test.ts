import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { ipName, isIpName, normalizeDnsName } from "../../../src/csr/names.ts";

const OK: [string, string][] = [
  ["www.example.org", "www.example.org"],
  ["WWW.Example.ORG", "www.example.org"],
  ["*.example.org", "*.example.org"],
  ["*.EXAMPLE.org", "*.example.org"],
  ["xn--bcher-kva.example", "xn--bcher-kva.example"],
  ["XN--BCHER-KVA.example", "xn--bcher-kva.example"],
  ["a-b.example.org", "a-b.example.org"],
  ["1.example.org", "1.example.org"],
  ["localhost", "localhost"],
  [`${"a".repeat(63)}.example.org`, `${"a".repeat(63)}.example.org`],
];

const NAME_253 = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;
const NAME_254 = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(62)}`;

const BAD: [string, string][] = [
  ["", "empty DNS name"],
  ["example.org.", "'example.org.' ends with a dot: remove the trailing dot"],
  [
    "bücher.example",
    "'bücher.example' ('b\\u{fc}cher.example') is not ASCII: request its A-label form 'xn--bcher-kva.example'",
  ],
  ["\u212a.example.org", "'\u212a.example.org' ('\\u{212a}.example.org') is not ASCII: DNS names go in as ASCII"],
  ["\u212a*.example.org", "('\\u{212a}*.example.org') is not ASCII"],
  ["*.bücher.example", "A-label form '*.xn--bcher-kva.example'"],
  ["a b.example", "contains ' '"],
  ["exa_mple.org", "contains '_'"],
  ["a..example.org", "empty label"],
  [".example.org", "empty label"],
  ["-a.example.org", "starts or ends with a hyphen"],
  ["a-.example.org", "starts or ends with a hyphen"],
  ["ab--c.example.org", "reserved for A-labels"],
  ["xn--zz.example.org", "not a valid IDNA A-label"],
  ["w*.example.org", "only as the whole leftmost label"],
  ["www.*.example.org", "only as the whole leftmost label"],
  ["*.*.example.org", "only as the whole leftmost label"],
  ["*", "a wildcard needs a domain after it"],
  [`${"a".repeat(64)}.example.org`, "64 characters long, more than the 63 allowed"],
  [NAME_254, "254 characters long, more than the 253 allowed"],
  ["192.0.2.1", "is an IP address"],
  ["example.123", "last label is all digits"],
  ["a\u0000b.example", "not ASCII"],
  ["a\nb.example", "not ASCII"],
];

Deno.test("normalizeDnsName accepts and lower-cases valid names", () => {
  for (const [input, expected] of [...OK, [NAME_253, NAME_253] as [string, string]]) {
    const result = normalizeDnsName(input);
    assert(result.ok, `${input}: ${JSON.stringify(result)}`);
    assertEquals(result.name, expected);
  }
  assertEquals(NAME_253.length, 253);
});

Deno.test("normalizeDnsName refuses invalid names with a one-line reason", () => {
  for (const [input, part] of BAD) {
    const result = normalizeDnsName(input);
    assert(!result.ok, `${JSON.stringify(input)} should be refused`);
    assertStringIncludes(result.reason, part, `${JSON.stringify(input)}: ${result.reason}`);
    assert(
      !/[\r\n]/.test(result.reason) && !result.reason.includes("\0"),
      `one line: ${JSON.stringify(result.reason)}`,
    );
  }
});

Deno.test("ipName: canonical text of an IP address name, null for anything else", () => {
  const cases: [string, string | null][] = [
    ["192.0.2.1", "192.0.2.1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["::1", "::1"],
    ["::ffff:192.0.2.1", "::ffff:c000:201"],
    ["[::1]", null],
    ["fe80::1%eth0", null],
    ["192.0.2.01", null],
    ["www.example.org", null],
    ["", null],
  ];
  for (const [text, want] of cases) assertEquals(ipName(text), want, text);
  assertEquals(isIpName("2001:db8::1"), true);
  assertEquals(isIpName("2001:DB8::1"), false, "only the canonical text is an IP name in acmems' lists");
  assertEquals(isIpName("www.example.org"), false);
});
