/**
 * The leaf check's fast path without the X.509 library (src/issuance/leaf.ts): it accepts the usual leaf (the
 * CSR's key, exactly the ordered names, valid now) and returns undefined for everything the full check
 * (chain_test.ts) refuses, so that check runs and names the problem.
 */
import * as x509 from "@peculiar/x509";
import { assert, assertEquals } from "../../support/assert.ts";
import { quickLeafCheck } from "../../../src/issuance/leaf.ts";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const caKeys = await crypto.subtle.generateKey(ALG, false, ["sign", "verify"]) as CryptoKeyPair;
const hostKeys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
const otherKeys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
const csr = await x509.Pkcs10CertificateRequestGenerator.create({
  keys: hostKeys,
  signingAlgorithm: ALG,
  extensions: [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "www.example.test" }])],
});
const csrDer = new Uint8Array(csr.rawData);
const WWW = { type: "dns", value: "www.example.test" } as const;
const NOW = new Date();
const notBefore = new Date(Math.floor(NOW.getTime() / 1000) * 1000 - 60_000);
const notAfter = new Date(notBefore.getTime() + 90 * 86400_000);

async function leaf(
  opts: { sans?: x509.JsonGeneralNames[]; key?: CryptoKey; notBefore?: Date; notAfter?: Date } = {},
): Promise<string> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "0a",
    subject: "",
    issuer: "CN=Test CA",
    notBefore: opts.notBefore ?? notBefore,
    notAfter: opts.notAfter ?? notAfter,
    signingAlgorithm: ALG,
    publicKey: opts.key ?? hostKeys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: (opts.sans ?? [[WWW]]).map((names) => new x509.SubjectAlternativeNameExtension(names)),
  });
  return cert.toString("pem") + "\n";
}

Deno.test("quick leaf check: the usual leaf is accepted with its validity, names compared without case", async () => {
  const info = quickLeafCheck(await leaf(), csrDer, ["WWW.example.test"], NOW);
  assertEquals(info, { notBefore, notAfter });
  const ips: x509.JsonGeneralName[] = [{ type: "ip", value: "192.0.2.1" }, { type: "ip", value: "2001:db8::1" }];
  const both = quickLeafCheck(await leaf({ sans: [[WWW, ...ips]] }), csrDer, [
    "www.example.test",
    "2001:DB8:0::1",
    "192.0.2.1",
  ], NOW);
  assert(both, "IP SANs compared as canonical addresses");
});

Deno.test("quick leaf check: anything the full check refuses is left to it (undefined)", async () => {
  const cases: [string, string, string[]][] = [
    ["another key", await leaf({ key: otherKeys.publicKey }), ["www.example.test"]],
    ["an extra name", await leaf({ sans: [[WWW, { type: "dns", value: "x.example.test" }]] }), ["www.example.test"]],
    ["a missing name", await leaf(), ["www.example.test", "x.example.test"]],
    ["an e-mail SAN", await leaf({ sans: [[WWW, { type: "email", value: "a@example.test" }]] }), ["www.example.test"]],
    ["two SAN extensions", await leaf({ sans: [[WWW], [WWW]] }), ["www.example.test"]],
    ["no SAN", await leaf({ sans: [] }), ["www.example.test"]],
    ["a dNSName spelling an address", await leaf({ sans: [[{ type: "dns", value: "192.0.2.1" }]] }), ["192.0.2.1"]],
    ["expired", await leaf({ notAfter: new Date(NOW.getTime() - 1000) }), ["www.example.test"]],
    ["not yet valid", await leaf({ notBefore: new Date(NOW.getTime() + 3600_000) }), ["www.example.test"]],
    ["not a certificate", "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n", ["www.example.test"]],
  ];
  for (const [what, pem, names] of cases) assertEquals(quickLeafCheck(pem, csrDer, names, NOW), undefined, what);
});
