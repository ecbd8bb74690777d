/**
 * Our own ACME client (src/acme) against the front end in-process, issuing through the real issuer in front of the
 * fake CA: account with EAB, orders (valid authorizations, no challenge to answer), finalize, polling, download, a
 * cache hit without an upstream order, refused identifiers, badCSR, account update, key change, deactivation.
 */
import * as x509 from "@peculiar/x509";
import { assert, assertEquals } from "../../support/assert.ts";
import { makeCsr } from "../../support/csr.ts";
import { type AcmeClient, AcmeProblem, generateKeyPair, splitPemChain } from "../../../src/acme/mod.ts";
import { EAB_KEY, EAB_KID, setup } from "./_setup.ts";

const EAB = { kid: EAB_KID, hmacKey: EAB_KEY };

/** The AcmeProblem `run` rejects with (fails the test when it resolves or throws anything else). */
async function problemOf(run: () => Promise<unknown>): Promise<AcmeProblem> {
  try {
    await run();
  } catch (error) {
    assert(error instanceof AcmeProblem, `expected an AcmeProblem, got ${error}`);
    return error;
  }
  throw new Error("expected an ACME problem, the call succeeded");
}

async function issue(client: AcmeClient, names: string[], csrPem?: string) {
  let order = await client.newOrder({ identifiers: names });
  assertEquals(order.status, "ready");
  for (const url of order.authorizations) {
    const authz = await client.getAuthorization(url);
    assertEquals(authz.status, "valid");
    assertEquals(authz.challenges[0].status, "valid");
    assert(authz.challenges[0].token, "challenges carry a token (certbot's parser needs one)");
  }
  const csr = csrPem ?? (await makeCsr({ names })).csrPem;
  order = await client.finalize(order, csr);
  order = await client.pollOrder(order.url, { deadline: Date.now() + 10_000 });
  assertEquals(order.status, "valid");
  const chain = await client.downloadCertificate(order.certificate!);
  return { order, chain, csr };
}

Deno.test("acme front flow: account, order, finalize, download; the same CSR again is a cache hit", async () => {
  const s = setup({ cache: true });
  const client = await s.client();
  try {
    const account = await client.newAccount({ termsOfServiceAgreed: true, eab: EAB });
    assert(account.created);
    const first = await issue(client, ["www.example.test"]);
    const leaf = new x509.X509Certificate(splitPemChain(first.chain.pem)[0]);
    const csr = new x509.Pkcs10CertificateRequest(first.csr);
    assertEquals(leaf.publicKey.toString("base64"), csr.publicKey.toString("base64"), "the host's key");
    assertEquals(s.fake.orders, 1);
    const second = await issue(client, ["www.example.test"], first.csr);
    assertEquals(second.chain.pem, first.chain.pem, "served from the cache");
    assertEquals(s.fake.orders, 1, "no second upstream order");
  } finally {
    client.close();
    await s.close();
  }
});

Deno.test("acme front flow: an identifier outside the block is rejectedIdentifier naming it", async () => {
  const s = setup();
  const client = await s.client();
  try {
    await client.newAccount({ eab: EAB });
    const error = await problemOf(() => client.newOrder({ identifiers: ["www.example.test", "www.other.test"] }));
    assert(error.is("rejectedIdentifier"), error.type);
    assert(error.detail.includes("www.other.test"), error.detail);
    assert(!error.detail.includes("www.example.test"), "only the refused identifier is named");
    assertEquals(error.subproblems?.[0]?.identifier?.value, "www.other.test");
    assertEquals(s.fake.orders, 0);
  } finally {
    client.close();
    await s.close();
  }
});

Deno.test("acme front flow: a CSR for other names than the order is badCSR", async () => {
  const s = setup();
  const client = await s.client();
  try {
    await client.newAccount({ eab: EAB });
    const order = await client.newOrder({ identifiers: ["a.example.test"] });
    const csr = await makeCsr({ names: ["b.example.test"] });
    const error = await problemOf(() => client.finalize(order, csr.csrPem));
    assert(error.is("badCSR"), error.type);
    assert(error.detail.includes("b.example.test"), error.detail);
  } finally {
    client.close();
    await s.close();
  }
});

Deno.test("acme front flow: contact update, key change (old key refused after), deactivation", async () => {
  const s = setup();
  const client = await s.client(await generateKeyPair("rsa-2048"));
  try {
    const created = await client.newAccount({ eab: EAB });
    const updated = await client.updateAccount({ contact: ["mailto:hostmaster@example.test"] });
    assertEquals(updated.contact, ["mailto:hostmaster@example.test"]);
    const oldKey = client.accountKey;
    const newKey = await generateKeyPair("ec-p384");
    await client.changeAccountKey(newKey);
    const again = await client.getAccount();
    assertEquals(again.status, "valid");
    const stale = await s.client(oldKey);
    const lookup = await problemOf(() => stale.findAccount());
    assert(lookup.is("accountDoesNotExist"), lookup.type);
    stale.close();
    const found = await (await s.client(newKey)).findAccount();
    assertEquals(found.url, created.url);
    const gone = await client.deactivateAccount();
    assertEquals(gone.status, "deactivated");
    const refused = await problemOf(() => client.newOrder({ identifiers: ["x.example.test"] }));
    assert(refused.is("unauthorized"), refused.type);
  } finally {
    client.close();
    await s.close();
  }
});
