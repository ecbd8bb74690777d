/**
 * The leaf check (src/issuance/chain.ts): the CA's certificate is for the CSR's key, exactly the requested names,
 * valid now, and (issue 13 item 12, issue 16 item 4) has no subject alternative name other than DNS names and the
 * ordered IP addresses: an unordered IP, an e-mail, URI or other SAN is the CA adding something nobody asked for.
 */
import * as x509 from "@peculiar/x509";
import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import { ChainMismatchError, checkChainMatchesCsr } from "../../../src/issuance/chain.ts";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const caKeys = await crypto.subtle.generateKey(ALG, false, ["sign", "verify"]) as CryptoKeyPair;
const hostKeys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
const csr = await x509.Pkcs10CertificateRequestGenerator.create({
  keys: hostKeys,
  signingAlgorithm: ALG,
  extensions: [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "www.example.test" }])],
});
const csrDer = new Uint8Array(csr.rawData);

/** A leaf for the host's key with these SAN extensions, as the CA's PEM chain (leaf only). */
async function chainWith(...sans: x509.JsonGeneralNames[]): Promise<string> {
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: "0a",
    subject: "",
    issuer: "CN=Test CA",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86400_000),
    signingAlgorithm: ALG,
    publicKey: hostKeys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: sans.map((names) => new x509.SubjectAlternativeNameExtension(names)),
  });
  return leaf.toString("pem") + "\n";
}

const WWW = { type: "dns", value: "www.example.test" } as const;

Deno.test("leaf check: DNS names only, exactly the requested ones", async () => {
  const info = await checkChainMatchesCsr(await chainWith([WWW]), csrDer, ["WWW.example.test"]);
  assert(info.notAfter.getTime() > Date.now());
});

Deno.test("leaf check: IP address SANs are compared with the ordered IP addresses (canonical text)", async () => {
  const ips: x509.JsonGeneralName[] = [{ type: "ip", value: "192.0.2.1" }, { type: "ip", value: "2001:db8::1" }];
  await checkChainMatchesCsr(await chainWith([WWW, ...ips]), csrDer, ["www.example.test", "192.0.2.1", "2001:db8::1"]);
  await checkChainMatchesCsr(await chainWith(ips), csrDer, ["2001:db8::1", "192.0.2.1"]);
  const extra = await assertRejects(async () =>
    await checkChainMatchesCsr(await chainWith([WWW, ...ips]), csrDer, ["www.example.test", "192.0.2.1"])
  );
  assert(extra instanceof ChainMismatchError, String(extra));
  assertEquals(extra.message, "The CA returned a certificate for other names (missing: none; extra: 2001:db8::1)");
  const missing = await assertRejects(async () =>
    await checkChainMatchesCsr(await chainWith([WWW]), csrDer, ["www.example.test", "192.0.2.9"])
  );
  assertEquals(
    (missing as Error).message,
    "The CA returned a certificate for other names (missing: 192.0.2.9; extra: none)",
  );
  const dnsForIp = await assertRejects(async () =>
    await checkChainMatchesCsr(await chainWith([{ type: "dns", value: "192.0.2.1" }]), csrDer, ["192.0.2.1"])
  );
  assert(dnsForIp instanceof ChainMismatchError, "a dNSName spelling an address is not the IP SAN");
});

Deno.test("leaf check: a SAN that is not a dNSName or an IP address is refused, naming it", async () => {
  const cases: [x509.JsonGeneralName, string][] = [
    [{ type: "email", value: "root@example.test" }, "email root@example.test"],
    [{ type: "url", value: "https://www.example.test/" }, "url https://www.example.test/"],
    [{ type: "dn", value: "CN=www.example.test" }, "dn CN=www.example.test"],
  ];
  for (const [extra, shown] of cases) {
    const refused = await assertRejects(async () =>
      await checkChainMatchesCsr(await chainWith([WWW, extra]), csrDer, ["www.example.test"])
    );
    assert(refused instanceof ChainMismatchError, `${shown}: ${refused}`);
    assert(refused.message.includes(shown), `${shown}: ${refused.message}`);
    assert(refused.message.includes("DNS names and IP addresses only"), refused.message);
  }
});

Deno.test("leaf check: a second subjectAltName extension is refused (only the first would be read)", async () => {
  const refused = await assertRejects(async () =>
    await checkChainMatchesCsr(
      await chainWith([WWW], [{ type: "ip", value: "192.0.2.1" }]),
      csrDer,
      ["www.example.test"],
    )
  );
  assert(refused instanceof ChainMismatchError, String(refused));
  assertEquals(refused.message, "The CA returned a certificate with 2 subjectAltName extensions (RFC 5280 allows one)");
});
