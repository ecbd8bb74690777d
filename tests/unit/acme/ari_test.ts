import * as x509 from "@peculiar/x509";
import { assert, assertEquals, assertThrows } from "../../support/assert.ts";
import {
  ARI_DEFAULT_RETRY_MS,
  ariCertId,
  ariCertIdFromParts,
  normaliseSerial,
  parseRenewalInfo,
  renewalInfoUrl,
} from "../../../src/acme/ari.ts";
import { toHex } from "../../../src/acme/encoding.ts";
import { AcmeProtocolError } from "../../../src/acme/errors.ts";
import { decodePem } from "../../../src/acme/pem.ts";

// RFC 9773 Appendix A: expected id "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE".
const RFC9773_CERT = `-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----`;

Deno.test("ariCertId matches RFC 9773 Appendix A (PEM and DER)", () => {
  assertEquals(ariCertId(RFC9773_CERT), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
  assertEquals(ariCertId(decodePem(RFC9773_CERT, ["CERTIFICATE"]).der), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
});

Deno.test("ariCertIdFromParts normalises serials to positive minimal DER", () => {
  const aki = "69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4";
  for (const serial of ["00:87:65:43:21", "87654321", "000087654321"]) {
    assertEquals(ariCertIdFromParts({ aki, serial }), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", serial);
  }
  const cases: [string, string][] = [["01", "01"], ["0001", "01"], ["00", "00"], ["7f", "7f"], ["80", "0080"]];
  for (const [input, expected] of cases) {
    assertEquals(toHex(normaliseSerial(Uint8Array.from(input.match(/../g)!.map((h) => parseInt(h, 16))))), expected);
  }
  assertThrows(() => ariCertIdFromParts({ aki: "", serial: "01" }), /AKI keyIdentifier is empty/);
});

async function makeCert(extensions: x509.Extension[], serialNumber: string): Promise<string> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: "CN=leaf.test",
    issuer: "CN=Test CA",
    notBefore: new Date("2026-01-01T00:00:00Z"),
    notAfter: new Date("2026-04-01T00:00:00Z"),
    signingAlgorithm: alg,
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    extensions,
  });
  return cert.toString("pem");
}

Deno.test("ariCertId reads certificates with and without AKI", async () => {
  const keyId = "0102030405060708090a0b0c0d0e0f1011121314";
  const withAki = await makeCert(
    [new x509.AuthorityKeyIdentifierExtension(keyId), new x509.BasicConstraintsExtension(false, undefined, true)],
    "ff00ee",
  );
  const parsed = new x509.X509Certificate(withAki);
  assertEquals(
    ariCertId(withAki),
    ariCertIdFromParts({ aki: keyId, serial: parsed.serialNumber }),
  );
  assert(ariCertId(withAki).endsWith(".AP8A7g"), ariCertId(withAki)); // 00 ff 00 ee
  const withoutAki = await makeCert([new x509.BasicConstraintsExtension(false)], "01");
  assertThrows(() => ariCertId(withoutAki), /no Authority Key Identifier extension/);
  const noExtensions = await makeCert([], "02");
  assertThrows(() => ariCertId(noExtensions), /no extensions|no Authority Key Identifier/);
  assertThrows(() => ariCertId(new Uint8Array([0x30, 0x05, 0x02])), /Malformed certificate DER/);
  assertThrows(() => ariCertId("no pem here"), /No PEM block labelled "CERTIFICATE"/);
});

Deno.test("renewalInfoUrl joins with exactly one slash", () => {
  assertEquals(renewalInfoUrl("https://ca.test/ari/", "a.b"), "https://ca.test/ari/a.b");
  assertEquals(renewalInfoUrl("https://ca.test/ari", "a.b"), "https://ca.test/ari/a.b");
});

Deno.test("parseRenewalInfo: window validation and Retry-After clamping", () => {
  const now = new Date("2026-11-27T10:00:00Z");
  const body = {
    suggestedWindow: { start: "2026-12-01T00:00:00Z", end: "2026-12-03T00:00:00Z" },
    explanationURL: "https://ca.test/why",
  };
  const ok = parseRenewalInfo(body, "21600", "u", now);
  assertEquals(ok.suggestedWindow.start.toISOString(), "2026-12-01T00:00:00.000Z");
  assertEquals(ok.suggestedWindow.end.toISOString(), "2026-12-03T00:00:00.000Z");
  assertEquals(ok.explanationURL, "https://ca.test/why");
  assertEquals(ok.retryAfter.toISOString(), "2026-11-27T16:00:00.000Z");

  const retryCases: [string | null, number][] = [
    [null, ARI_DEFAULT_RETRY_MS],
    ["garbage", ARI_DEFAULT_RETRY_MS],
    ["5", 60_000], // clamped up to one minute
    ["604800", 86_400_000], // clamped down to one day
  ];
  for (const [header, ms] of retryCases) {
    assertEquals(parseRenewalInfo(body, header, "u", now).retryAfter.getTime() - now.getTime(), ms, String(header));
  }

  const bad: unknown[] = [
    null,
    {},
    { suggestedWindow: { start: "x", end: "2026-12-03T00:00:00Z" } },
    { suggestedWindow: { start: "2026-12-03T00:00:00Z", end: "2026-12-03T00:00:00Z" } },
    { suggestedWindow: { start: "2026-12-04T00:00:00Z", end: "2026-12-03T00:00:00Z" } },
  ];
  for (const b of bad) {
    const e = assertThrows(() => parseRenewalInfo(b, "60", "https://ca.test/ari/x", now));
    assert(e instanceof AcmeProtocolError, JSON.stringify(b));
    assert(/suggestedWindow|empty window/.test(e.message), e.message);
  }
});
