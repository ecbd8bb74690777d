import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import {
  checkCsrRules,
  type CsrRefusalCode,
  type CsrRefusalKind,
  type CsrRulesResult,
  maxNamesForProfile,
  parseCsrPem,
} from "../../../src/csr/intake.ts";
import { type CsrSpec, derToPem, manyNames, OpensslFactory, pemToDer, sha256Hex } from "./openssl_helpers.ts";

type Expectation =
  | { names: string[]; key?: string; commonName?: string }
  | { kind: CsrRefusalKind; code: CsrRefusalCode; reason: string[] };

interface Case {
  name: string;
  csr: CsrSpec;
  maxNames?: number;
  expect: Expectation;
}

async function intake(body: string | Uint8Array, maxNames = 100): Promise<CsrRulesResult> {
  const parsed = await parseCsrPem(body);
  if (!parsed.ok) return parsed;
  return checkCsrRules(parsed.csr, { maxNames });
}

function assertOutcome(result: CsrRulesResult, expect: Expectation, label: string): void {
  if ("names" in expect) {
    assert(result.ok, `${label}: expected success, got ${JSON.stringify(result)}`);
    assertEquals(result.names, expect.names, label);
    return;
  }
  assert(!result.ok, `${label}: expected a refusal, got ${JSON.stringify(result)}`);
  assertEquals([result.kind, result.code], [expect.kind, expect.code], `${label}: ${result.reason}`);
  assert(!/[\r\n]/.test(result.reason), `${label}: reason must be one line`);
  assert(/^[A-Z]/.test(result.reason), `${label}: reason must be sentence case`);
  for (const part of expect.reason) {
    assertStringIncludes(
      result.reason,
      part,
      `${label}: ${JSON.stringify(result.reason)} lacks ${JSON.stringify(part)}`,
    );
  }
}

const KEY_FIX = "use RSA 2048, 3072 or 4096, or EC P-256 or P-384";
const SAN_FIX = "add -addext 'subjectAltName=DNS:";

const CASES: Case[] = [
  // Accepted keys.
  { name: "RSA 2048", csr: { key: "rsa:2048", san: "DNS:www.example.org" }, expect: { names: ["www.example.org"] } },
  { name: "RSA 3072", csr: { key: "rsa:3072", san: "DNS:www.example.org" }, expect: { names: ["www.example.org"] } },
  { name: "RSA 4096", csr: { key: "rsa:4096", san: "DNS:www.example.org" }, expect: { names: ["www.example.org"] } },
  { name: "EC P-256", csr: { key: "ec:P-256", san: "DNS:www.example.org" }, expect: { names: ["www.example.org"] } },
  { name: "EC P-384", csr: { key: "ec:P-384", san: "DNS:www.example.org" }, expect: { names: ["www.example.org"] } },
  // Refused keys (signature verifies; the key is what is refused).
  {
    name: "RSA 1024",
    csr: { key: "rsa:1024", san: "DNS:www.example.org" },
    expect: { kind: "refused", code: "key", reason: ["The CSR key is RSA 1024", KEY_FIX] },
  },
  {
    name: "EC P-521",
    csr: { key: "ec:P-521", san: "DNS:www.example.org" },
    expect: { kind: "refused", code: "key", reason: ["The CSR key is EC P-521", KEY_FIX] },
  },
  {
    name: "Ed25519",
    csr: { key: "ed25519", san: "DNS:www.example.org" },
    expect: { kind: "refused", code: "key", reason: ["The CSR key is Ed25519", KEY_FIX] },
  },
  // SAN and CN.
  {
    name: "no SAN, CN only",
    csr: { subj: "/CN=www.example.org" },
    expect: {
      kind: "unusable-csr",
      code: "no-san",
      reason: [
        "The CSR has no subjectAltName extension",
        "add -addext 'subjectAltName=DNS:www.example.org'",
        "CAs take names from SANs only",
      ],
    },
  },
  {
    name: "no SAN, no CN",
    csr: { subj: "/O=acmems test" },
    expect: { kind: "unusable-csr", code: "no-san", reason: ["add -addext 'subjectAltName=DNS:example.org'"] },
  },
  {
    name: "CN not among the SANs",
    csr: { subj: "/CN=other.example.org", san: "DNS:www.example.org" },
    expect: {
      kind: "unusable-csr",
      code: "cn-not-in-san",
      reason: ["common name 'other.example.org' is not among its subjectAltName DNS names", SAN_FIX],
    },
  },
  {
    name: "CN equal to a SAN except for case",
    csr: { subj: "/CN=WWW.Example.org", san: "DNS:www.example.org,DNS:example.org" },
    expect: { names: ["www.example.org", "example.org"] },
  },
  {
    name: "no CN, SANs only",
    csr: { subj: "/O=acmems test", san: "DNS:a.example.org,DNS:b.example.org" },
    expect: { names: ["a.example.org", "b.example.org"] },
  },
  // IP address SANs (RFC 8738): names after the DNS names, canonical, once; the policy decides who may have them.
  {
    name: "IPv4 SAN",
    csr: { san: "IP:192.0.2.1,DNS:www.example.org,IP:192.0.2.1" },
    expect: { names: ["www.example.org", "192.0.2.1"] },
  },
  {
    name: "IPv6 SAN, canonical text",
    csr: { subj: "/O=acmems test", san: "IP:2001:DB8:0:0:0:0:0:1,IP:::1" },
    expect: { names: ["2001:db8::1", "::1"] },
  },
  {
    name: "CN equal to an IP SAN",
    csr: { subj: "/CN=192.0.2.7", san: "IP:192.0.2.7" },
    expect: { names: ["192.0.2.7"] },
  },
  {
    name: "IP SANs count toward the name limit",
    csr: { subj: "/O=acmems test", san: "DNS:a.example.org,IP:192.0.2.1,IP:192.0.2.2" },
    maxNames: 2,
    expect: { kind: "refused", code: "too-many-names", reason: ["3 names"] },
  },
  {
    name: "e-mail SAN",
    csr: { san: "DNS:www.example.org,email:hostmaster@example.org" },
    expect: { kind: "refused", code: "san-type", reason: ["the e-mail SAN 'hostmaster@example.org'"] },
  },
  {
    name: "URI SAN",
    csr: { san: "DNS:www.example.org,URI:https://www.example.org/" },
    expect: { kind: "refused", code: "san-type", reason: ["the URI SAN 'https://www.example.org/'"] },
  },
  {
    name: "only an IP SAN, no CN",
    csr: { subj: "/O=acmems test", san: "IP:192.0.2.1" },
    expect: { names: ["192.0.2.1"] },
  },
  // Must-staple.
  {
    name: "must-staple",
    csr: { san: "DNS:www.example.org", addext: ["tlsfeature=status_request"] },
    expect: {
      kind: "refused",
      code: "must-staple",
      reason: ["The CSR requests OCSP Must-Staple", "remove -addext 'tlsfeature=status_request'"],
    },
  },
  // Name counts.
  { name: "100 names", csr: { san: manyNames(100) }, expect: { names: hNames(100) } },
  {
    name: "101 names",
    csr: { san: manyNames(101) },
    expect: { kind: "refused", code: "too-many-names", reason: ["The CSR has 101 names, more than the 100 allowed"] },
  },
  {
    name: "26 names with the short-lived limit",
    csr: { san: manyNames(26) },
    maxNames: maxNamesForProfile("shortlived"),
    expect: { kind: "refused", code: "too-many-names", reason: ["26 names, more than the 25 allowed", "several CSRs"] },
  },
  {
    name: "25 names with the tlsserver limit",
    csr: { san: manyNames(25) },
    maxNames: maxNamesForProfile("tlsserver"),
    expect: { names: hNames(25) },
  },
  {
    name: "101 SAN entries that are 100 names after de-duplication",
    csr: { san: `${manyNames(100)},DNS:H0.EXAMPLE.ORG` },
    expect: { names: hNames(100) },
  },
  // Names.
  {
    name: "wildcard",
    csr: { subj: "/O=acmems test", san: "DNS:*.example.org,DNS:example.org" },
    expect: { names: ["*.example.org", "example.org"] },
  },
  {
    name: "upper-case names are lower-cased and de-duplicated, order kept",
    csr: { subj: "/CN=WWW.EXAMPLE.ORG", san: "DNS:WWW.EXAMPLE.ORG,DNS:Mail.Example.Org,DNS:www.example.org" },
    expect: { names: ["www.example.org", "mail.example.org"] },
  },
  {
    name: "trailing dot",
    csr: { subj: "/O=acmems test", san: "DNS:www.example.org." },
    expect: {
      kind: "refused",
      code: "bad-name",
      reason: ["The name 'www.example.org.' ends with a dot: remove the trailing dot"],
    },
  },
  {
    name: "U-label",
    csr: { subj: "/O=acmems test", san: "DNS:bücher.example" },
    expect: {
      kind: "refused",
      code: "bad-name",
      reason: ["'bücher.example' ('b\\u{fc}cher.example') is not ASCII", "'xn--bcher-kva.example'"],
    },
  },
  {
    // U+212A lower-cases to an ASCII k: the raw name is checked before any folding.
    name: "KELVIN SIGN in a SAN",
    csr: { subj: "/O=acmems test", san: "DNS:\u212a.example.org" },
    expect: { kind: "refused", code: "bad-name", reason: ["('\\u{212a}.example.org') is not ASCII", "xn--"] },
  },
  {
    name: "KELVIN SIGN in the CN beside its ASCII SAN",
    csr: { subj: "/CN=\u212a.example.org", san: "DNS:k.example.org" },
    expect: { kind: "refused", code: "bad-name", reason: ["('\\u{212a}.example.org') is not ASCII", "xn--"] },
  },
  {
    name: "A-label",
    csr: { subj: "/O=acmems test", san: "DNS:xn--bcher-kva.example" },
    expect: { names: ["xn--bcher-kva.example"] },
  },
  {
    name: "underscore",
    csr: { subj: "/O=acmems test", san: "DNS:exa_mple.org" },
    expect: { kind: "refused", code: "bad-name", reason: ["'exa_mple.org' is not a valid DNS name", "contains '_'"] },
  },
  {
    name: "wildcard inside a label",
    csr: { subj: "/O=acmems test", san: "DNS:w*.example.org" },
    expect: { kind: "refused", code: "bad-name", reason: ["only as the whole leftmost label"] },
  },
  {
    name: "wildcard not leftmost",
    csr: { subj: "/O=acmems test", san: "DNS:www.*.example.org" },
    expect: { kind: "refused", code: "bad-name", reason: ["only as the whole leftmost label"] },
  },
  {
    name: "64-character label",
    csr: { subj: "/O=acmems test", san: `DNS:${"a".repeat(64)}.example.org` },
    expect: { kind: "refused", code: "bad-name", reason: ["is 64 characters long, more than the 63 allowed"] },
  },
  {
    name: "IPv4 address as a DNS SAN",
    csr: { subj: "/O=acmems test", san: "DNS:192.0.2.1" },
    expect: {
      kind: "refused",
      code: "bad-name",
      reason: ["'192.0.2.1' is an IP address in a DNS SAN", "subjectAltName=IP:192.0.2.1"],
    },
  },
  // Signature algorithms.
  {
    name: "SHA-1 signature",
    csr: { key: "rsa:2048", san: "DNS:www.example.org", extraArgs: ["-sha1"] },
    expect: { kind: "refused", code: "signature-algorithm", reason: ["sha1WithRSAEncryption (too weak)", "SHA-256"] },
  },
  {
    name: "RSA-PSS signature",
    csr: { key: "rsa:2048", san: "DNS:www.example.org", extraArgs: ["-sigopt", "rsa_padding_mode:pss"] },
    expect: { kind: "refused", code: "signature-algorithm", reason: ["signed with RSASSA-PSS"] },
  },
  {
    name: "ECDSA with SHA-384",
    csr: { key: "ec:P-384", san: "DNS:www.example.org", extraArgs: ["-sha384"] },
    expect: { names: ["www.example.org"] },
  },
  // Rule order.
  {
    name: "order: no SAN before a bad key",
    csr: { key: "rsa:1024", subj: "/CN=www.example.org" },
    expect: { kind: "unusable-csr", code: "no-san", reason: [SAN_FIX] },
  },
  {
    name: "order: bad key before an IP SAN",
    csr: { key: "rsa:1024", san: "DNS:www.example.org,IP:192.0.2.1" },
    expect: { kind: "refused", code: "key", reason: ["RSA 1024"] },
  },
  {
    name: "order: must-staple before too many names",
    csr: { san: manyNames(101), addext: ["tlsfeature=status_request"] },
    expect: { kind: "refused", code: "must-staple", reason: ["Must-Staple"] },
  },
  {
    name: "order: too many names before a bad name",
    csr: { san: `DNS:bad_name.example.org,${manyNames(101)}`, subj: "/O=acmems test" },
    expect: { kind: "refused", code: "too-many-names", reason: ["102 names"] },
  },
];

function hNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `h${i}.example.org`);
}

Deno.test("CSR intake rules (real openssl CSRs)", async (t) => {
  const openssl = await OpensslFactory.create();
  try {
    // Generate keys concurrently up front: RSA 4096 is slow.
    await Promise.all(
      (["rsa:1024", "rsa:2048", "rsa:3072", "rsa:4096", "ec:P-384", "ec:P-521"] as const).map((k) => openssl.key(k)),
    );
    for (const c of CASES) {
      await t.step(c.name, async () => {
        const pem = await openssl.csr(c.csr);
        assertOutcome(await intake(pem, c.maxNames), c.expect, c.name);
      });
    }
  } finally {
    await openssl.close();
  }
});

Deno.test("ParsedCsr fields", async () => {
  const openssl = await OpensslFactory.create();
  try {
    const pem = await openssl.csr({
      key: "rsa:2048",
      subj: "/CN=WWW.example.org/O=Example",
      san: "DNS:WWW.example.org,DNS:example.org",
    });
    const parsed = await parseCsrPem(pem);
    assert(parsed.ok);
    const der = pemToDer(pem);
    assertEquals(parsed.csr.der, der);
    assertEquals(parsed.csr.sha256, await sha256Hex(der));
    assertEquals(parsed.csr.names, ["www.example.org", "example.org"]);
    assertEquals(parsed.csr.commonName, "WWW.example.org");
    assertEquals(parsed.csr.keyDescription, "RSA 2048");
    assertEquals(parsed.csr.signatureAlgorithm, "sha256WithRSAEncryption");
    assertEquals(parsed.csr.mustStaple, false);

    const ec = await parseCsrPem(await openssl.csr({ key: "ec:P-256", subj: "/O=x", san: "DNS:a.example.org" }));
    assert(ec.ok);
    assertEquals(ec.csr.keyDescription, "EC P-256");
    assertEquals(ec.csr.commonName, undefined);
    assertEquals(ec.csr.signatureAlgorithm, "ecdsa-with-SHA256");
  } finally {
    await openssl.close();
  }
});

Deno.test("unusable-csr: tampered CSRs do not verify", async (t) => {
  const openssl = await OpensslFactory.create();
  try {
    for (const key of ["rsa:2048", "ec:P-256"] as const) {
      const pem = await openssl.csr({ key, san: "DNS:www.example.org" });
      await t.step(`${key}: a flipped byte in the signature`, async () => {
        const der = pemToDer(pem);
        der[der.length - 1] ^= 0x01;
        const result = await intake(derToPem(der));
        assertOutcome(result, {
          kind: "unusable-csr",
          code: "bad-signature",
          reason: ["The CSR signature does not verify", "the CSR was altered after signing"],
        }, key);
      });
      await t.step(`${key}: a changed name in the signed part`, async () => {
        const der = pemToDer(pem);
        const text = new TextDecoder("latin1").decode(der);
        const at = text.lastIndexOf("www.example.org");
        assert(at > 0);
        der[at] = "x".charCodeAt(0);
        assertOutcome(await intake(derToPem(der)), { kind: "unusable-csr", code: "bad-signature", reason: [] }, key);
      });
    }
  } finally {
    await openssl.close();
  }
});

Deno.test("not-csr: an element in a form DER forbids, even in a part acmems does not read, is refused up front", async () => {
  const openssl = await OpensslFactory.create();
  try {
    const pem = await openssl.csr({
      key: "ec:P-256",
      subj: "/O=Example/CN=www.example.org",
      san: "DNS:www.example.org",
    });
    const der = pemToDer(pem);
    // The organization name (a subject value acmems never reads): its PrintableString or UTF8String identifier
    // gets the constructed bit (0x13 → 0x33, 0x0c → 0x2c), as the fuzzer's "Constructed encoding" case did.
    const text = new TextDecoder("latin1").decode(der);
    const at = text.indexOf("Example") - 2;
    assert(der[at] === 0x13 || der[at] === 0x0c, `identifier 0x${der[at].toString(16)}`);
    der[at] |= 0x20;
    const result = await intake(derToPem(der));
    assertOutcome(result, {
      kind: "unusable-csr",
      code: "not-csr",
      reason: ["not a valid PKCS#10", "in constructed form is not DER", `at byte ${at}`],
    }, "constructed string");
    // The control: the same CSR unaltered is read.
    assert((await intake(pem)).ok, "the unaltered CSR");
  } finally {
    await openssl.close();
  }
});

Deno.test("PEM framing", async (t) => {
  const openssl = await OpensslFactory.create();
  try {
    const pem = await openssl.csr({ san: "DNS:www.example.org" });
    const reference = await parseCsrPem(pem);
    assert(reference.ok);
    const sameCsr = async (body: string | Uint8Array, label: string) => {
      const parsed = await parseCsrPem(body);
      assert(parsed.ok, `${label}: ${JSON.stringify(parsed)}`);
      assertEquals(parsed.csr.sha256, reference.csr.sha256, label);
      assertEquals(parsed.csr.der, reference.csr.der, label);
    };
    const refused = async (body: string | Uint8Array, code: CsrRefusalCode, reason: string[], label: string) => {
      const result = await intake(body);
      assertOutcome(result, { kind: "unusable-csr", code, reason }, label);
    };
    const certificate = await openssl.certificate();
    const der = await openssl.toDer(pem);
    const lines = pem.trim().split("\n");
    const table: [string, () => Promise<void>][] = [
      ["string body", () => sameCsr(pem, "string")],
      ["byte body", () => sameCsr(new TextEncoder().encode(pem), "bytes")],
      ["CRLF line endings", () => sameCsr(pem.replaceAll("\n", "\r\n"), "crlf")],
      ["garbage around the PEM", () => sameCsr(`Here is my CSR:\n\n${pem}\n-- \nsent from my toaster\n`, "garbage")],
      ["no trailing newline", () => sameCsr(pem.trimEnd(), "no newline")],
      ["one long base64 line", () => sameCsr(`${lines[0]}\n${lines.slice(1, -1).join("")}\n${lines.at(-1)}`, "1 line")],
      [
        "NEW CERTIFICATE REQUEST label",
        () => sameCsr(pem.replaceAll("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"), "new"),
      ],
      ["empty body", () => refused("", "empty", ["The request body is empty"], "empty")],
      ["whitespace body", () => refused(" \r\n", "empty", ["The request body is empty"], "blank")],
      ["DER instead of PEM", () => refused(der, "der", ["looks like DER", "openssl req -inform DER"], "der")],
      [
        "a certificate instead of a CSR",
        () => refused(certificate, "wrong-pem-type", ["is a PEM CERTIFICATE, not a certificate request"], "cert"),
      ],
      [
        "a certificate labelled as a CSR",
        () =>
          refused(
            certificate.replaceAll("CERTIFICATE", "CERTIFICATE REQUEST"),
            "not-csr",
            ["not a valid PKCS#10 certificate request"],
            "relabelled",
          ),
      ],
      [
        "a private key with the CSR",
        async () => refused(`${await openssl.privateKeyPem()}${pem}`, "private-key", ["PRIVATE KEY"], "key"),
      ],
      ["two CSRs", () => refused(pem + pem, "multiple", ["2 certificate requests"], "two")],
      ["missing END line", () => refused(lines.slice(0, -1).join("\n"), "bad-pem", ["has no '-----END"], "no end")],
      [
        "bad base64 character",
        () =>
          refused(
            pem.replace(lines[2], `${lines[2].slice(0, 10)}!${lines[2].slice(11)}`),
            "bad-pem",
            ["not valid base64: character '!' on line 2"],
            "bad char",
          ),
      ],
      ["truncated base64", () => refused(pem.replace(lines[2], lines[2].slice(0, 61)), "bad-pem", ["base64"], "trunc")],
      [
        "truncated DER",
        () => refused(derToPem(der.subarray(0, der.length - 40)), "not-csr", ["not a valid PKCS#10"], "short"),
      ],
      ["bare base64", () => refused(lines.slice(1, -1).join("\n"), "not-pem", ["base64 without PEM lines"], "b64")],
      ["text starting with 0", () => refused("0x30 is not DER\n", "not-pem", ["not a PEM certificate request"], "0")],
      ["plain text", () => refused("www.example.org\n", "not-pem", ["expected -----BEGIN CERTIFICATE REQUEST"], "txt")],
      ["empty PEM block", () => refused(`${lines[0]}\n${lines.at(-1)}\n`, "bad-pem", ["is empty"], "empty block")],
    ];
    for (const [name, run] of table) await t.step(name, run);
  } finally {
    await openssl.close();
  }
});

Deno.test("maxNamesForProfile", () => {
  assertEquals(maxNamesForProfile(), 100);
  assertEquals(maxNamesForProfile("classic"), 100);
  assertEquals(maxNamesForProfile("tlsserver"), 25);
  assertEquals(maxNamesForProfile("shortlived"), 25);
});
