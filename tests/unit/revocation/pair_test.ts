/**
 * The /revoke body check (src/revocation/pair.ts), the reason names (service.ts) and /sign's refusal of compromised
 * keys (compromised.ts), with certificates and CSRs made by @peculiar/x509 in-process.
 */
import * as x509 from "@peculiar/x509";
import { createCsrParser } from "../../../src/csr/parser.ts";
import { IssueFailure } from "../../../src/issuance/failure.ts";
import type { IssueRequest, IssueResult } from "../../../src/issuance/request.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { CompromisedKeyRegistry, refuseCompromisedKeys } from "../../../src/revocation/compromised.ts";
import { checkRevocationPair, csrKeySha256 } from "../../../src/revocation/pair.ts";
import { parseReason } from "../../../src/revocation/service.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../support/assert.ts";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const parser = createCsrParser({ maxEntries: 10 });

async function keyPair(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
}

/** A self-signed certificate; `ip:` names become iPAddress SANs, the others dNSName. */
async function certFor(keys: CryptoKeyPair, names: string[]): Promise<string> {
  const sans = names.map((value) =>
    value.startsWith("ip:") ? { type: "ip" as const, value: value.slice(3) } : { type: "dns" as const, value }
  );
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "0a1b2c",
    name: "CN=revoke test",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: ALG,
    extensions: [new x509.SubjectAlternativeNameExtension(sans)],
  });
  return cert.toString("pem");
}

async function csrFor(keys: CryptoKeyPair, name: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${name}`,
    keys,
    signingAlgorithm: ALG,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: name }])],
  });
  return csr.toString("pem");
}

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("a certificate and a CSR by its key make a pair: names, serial and the key's SHA-256", async () => {
  const keys = await keyPair();
  const cert = await certFor(keys, ["www.example.test", "Example.test"]);
  const csr = await csrFor(keys, "anything.example.test");
  const result = await checkRevocationPair(bytes(`${cert}\n${csr}\n`), parser);
  assert(result.ok, JSON.stringify(result));
  assertEquals(result.pair.names, ["www.example.test", "example.test"]);
  assertEquals(result.pair.serial, "0a1b2c");
  const csrDer = await parser.parse(csr);
  assert(csrDer.ok);
  assertEquals(result.pair.spkiSha256, await csrKeySha256(csrDer.csr.der));
  assertEquals(result.pair.spkiSha256.length, 64);
});

Deno.test("IP address SANs are names of the pair too, in acmems' text form (what ip-identifiers admits)", async () => {
  const keys = await keyPair();
  const cert = await certFor(keys, ["www.example.test", "ip:192.0.2.7", "ip:2001:db8:0:0:0:0:0:1"]);
  const result = await checkRevocationPair(bytes(`${cert}\n${await csrFor(keys, "x.example.test")}`), parser);
  assert(result.ok, JSON.stringify(result));
  assertEquals(result.pair.names, ["www.example.test", "192.0.2.7", "2001:db8::1"]);

  const ipOnly = await certFor(keys, ["ip:127.0.0.1"]);
  const alone = await checkRevocationPair(bytes(`${ipOnly}\n${await csrFor(keys, "x.example.test")}`), parser);
  assert(alone.ok, JSON.stringify(alone));
  assertEquals(alone.pair.names, ["127.0.0.1"]);
});

Deno.test("a chain after the certificate is ignored: the first certificate is the one revoked", async () => {
  const keys = await keyPair();
  const cert = await certFor(keys, ["www.example.test"]);
  const issuer = await certFor(await keyPair(), ["issuer.example.test"]);
  const result = await checkRevocationPair(
    bytes(`${cert}\n${issuer}\n${await csrFor(keys, "x.example.test")}`),
    parser,
  );
  assert(result.ok, JSON.stringify(result));
  assertEquals(result.pair.names, ["www.example.test"]);
});

Deno.test("a CSR signed by another key than the certificate's is refused (403), not a bad request", async () => {
  const cert = await certFor(await keyPair(), ["www.example.test"]);
  const csr = await csrFor(await keyPair(), "www.example.test");
  const result = await checkRevocationPair(bytes(cert + csr), parser);
  assert(!result.ok);
  assertEquals(result.kind, "refused");
  assertEquals(result.code, "key-mismatch");
});

Deno.test("bodies that are not one certificate and one CSR are bad requests (400)", async () => {
  const keys = await keyPair();
  const cert = await certFor(keys, ["www.example.test"]);
  const csr = await csrFor(keys, "www.example.test");
  const cases: [string, string][] = [
    ["", "no PEM block"],
    [csr, "CERTIFICATE REQUEST"],
    [cert, "found CERTIFICATE"],
    [csr + cert, "CERTIFICATE REQUEST, CERTIFICATE"],
    [cert + csr + csr, "CERTIFICATE, CERTIFICATE REQUEST, CERTIFICATE REQUEST"],
  ];
  for (const [body, found] of cases) {
    const result = await checkRevocationPair(bytes(body), parser);
    assert(!result.ok, body);
    assertEquals(result.kind, "bad-request");
    assertStringIncludes(result.reason, found);
  }
  const garbled = cert.replace(/\n[A-Za-z0-9+/]{8}/, "\nAAAAAAAA");
  const unparsable = await checkRevocationPair(bytes(garbled + csr), parser);
  assert(!unparsable.ok);
  assertEquals(unparsable.kind, "bad-request");
  // A CSR whose signature does not verify proves nothing: 400.
  const lines = csr.trim().split("\n");
  const last = lines.length - 2;
  lines[last] = lines[last].slice(0, -6) + (lines[last].endsWith("AAAAAA") ? "BBBBBB" : "AAAAAA");
  const badSignature = await checkRevocationPair(bytes(cert + lines.join("\n") + "\n"), parser);
  assert(!badSignature.ok);
  assertEquals(badSignature.kind, "bad-request");
  assertStringIncludes(badSignature.reason, "The CSR is not usable");
});

Deno.test("reason: the RFC 5280 names, unspecified by default, anything else refused", () => {
  assertEquals(parseReason(null), "unspecified");
  assertEquals(parseReason(""), "unspecified");
  for (const name of ["keyCompromise", "superseded", "cessationOfOperation", "affiliationChanged", "unspecified"]) {
    assertEquals(parseReason(name), name);
  }
  assertEquals(parseReason("keycompromise"), null);
  assertEquals(parseReason("certificateHold"), null);
});

Deno.test("/sign's issuer refuses a compromised key with `refused` and passes every other key through", async () => {
  const leaked = await keyPair();
  const leakedCsr = await parser.parse(await csrFor(leaked, "a.example.test"));
  const fineCsr = await parser.parse(await csrFor(await keyPair(), "b.example.test"));
  assert(leakedCsr.ok && fineCsr.ok);
  let issued = 0;
  const inner = {
    issue: (_request: IssueRequest, _deadline: number) => {
      issued++;
      return Promise.resolve({ chain: "chain" } as unknown as IssueResult);
    },
  };
  const registry = new CompromisedKeyRegistry();
  const guarded = refuseCompromisedKeys(inner, registry);
  const request = (csr: typeof leakedCsr.csr) => ({ csrDer: csr.der, csrSha256: csr.sha256 }) as IssueRequest;
  await guarded.issue(request(leakedCsr.csr), 0);
  assertEquals(issued, 1, "nothing recorded yet: issued");

  const stored: string[] = [];
  const storage = {
    name: "s",
    compromisedKeys: () => Promise.resolve([...stored]),
    recordCompromisedKey: (key: string) => Promise.resolve(void stored.push(key)),
  };
  await registry.record(await csrKeySha256(leakedCsr.csr.der), new Date(), [storage]);
  assertEquals(stored.length, 1);
  const error = await assertRejects(() => guarded.issue(request(leakedCsr.csr), 0));
  assert(error instanceof IssueFailure && error.kind === "refused", String(error));
  assertStringIncludes(error.message, "was revoked for keyCompromise");
  await guarded.issue(request(fineCsr.csr), 0);
  assertEquals(issued, 2);

  // A fresh registry learns the key from the storage (another instance, a restart).
  const restarted = new CompromisedKeyRegistry();
  await restarted.load(
    [storage, { ...storage, compromisedKeys: () => Promise.reject(new Error("down")) }],
    memoryLogger(),
  );
  assert(restarted.has(stored[0]));
});

Deno.test("/sign's issuer: the synchronous hit passes only for a key already checked and not compromised", async () => {
  const leaked = await keyPair();
  const leakedCsr = await parser.parse(await csrFor(leaked, "c.example.test"));
  const fineCsr = await parser.parse(await csrFor(await keyPair(), "d.example.test"));
  assert(leakedCsr.ok && fineCsr.ok);
  const hit = { chain: "chain", cache: "hit" } as unknown as IssueResult;
  const inner = {
    issue: () => Promise.resolve(hit),
    hitNow: () => hit,
  };
  const registry = new CompromisedKeyRegistry();
  const guarded = refuseCompromisedKeys(inner, registry);
  const request = (csr: typeof leakedCsr.csr) => ({ csrDer: csr.der, csrSha256: csr.sha256 }) as IssueRequest;
  assertEquals(guarded.hitNow!(request(leakedCsr.csr)), hit, "no key recorded: passes through");
  await registry.record(await csrKeySha256(leakedCsr.csr.der), new Date(), []).catch(() => {});
  assertEquals(guarded.hitNow!(request(leakedCsr.csr)), null, "a key not checked yet is left to issue");
  await assertRejects(() => guarded.issue(request(leakedCsr.csr), 0));
  assertEquals(guarded.hitNow!(request(leakedCsr.csr)), null, "the compromised key: never a synchronous hit");
  await guarded.issue(request(fineCsr.csr), 0);
  assertEquals(guarded.hitNow!(request(fineCsr.csr)), hit, "a checked, sound key: the hit");
});
