import { assert, assertEquals, assertRejects } from "../../support/assert.ts";
import { exportPublicJwk } from "../../../src/acme/jwk.ts";
import { signJws } from "../../../src/acme/jws.ts";
import {
  describeKey,
  exportPrivateKeyPem,
  exportPublicKeyPem,
  generateKeyPair,
  importPrivateKeyPem,
  KEY_TYPES,
} from "../../../src/acme/keys.ts";
import { verifyJws } from "./_stub_ca.ts";

async function signsAndVerifies(pair: CryptoKeyPair): Promise<boolean> {
  const jwk = await exportPublicJwk(pair.publicKey);
  const jws = await signJws({ privateKey: pair.privateKey, jwk, nonce: "n", url: "https://ca.test/x", payload: {} });
  return await verifyJws(jws, jwk);
}

async function openssl(args: string[], stdin?: string): Promise<string> {
  const cmd = new Deno.Command("openssl", { args, stdin: stdin ? "piped" : "null", stdout: "piped", stderr: "piped" });
  const child = cmd.spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  if (!out.success) throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

for (const type of KEY_TYPES.filter((t) => t !== "rsa-4096" && t !== "rsa-3072")) {
  Deno.test(`generateKeyPair ${type}: PKCS#8 PEM round trip keeps the key`, async () => {
    const pair = await generateKeyPair(type);
    assertEquals(describeKey(pair.privateKey), type);
    const pem = await exportPrivateKeyPem(pair.privateKey);
    assert(pem.startsWith("-----BEGIN PRIVATE KEY-----\n"), pem.slice(0, 40));
    const back = await importPrivateKeyPem(pem);
    assertEquals(back.privateKey.extractable, false);
    assertEquals(await exportPublicJwk(back.publicKey), await exportPublicJwk(pair.publicKey));
    assert(await signsAndVerifies(back));
    assertEquals(await exportPublicKeyPem(back.publicKey), await exportPublicKeyPem(pair.publicKey));
  });
}

Deno.test("importPrivateKeyPem: openssl PKCS#1 RSA and SEC1 EC keys are wrapped into PKCS#8", async () => {
  const cases = [
    { name: "PKCS#1 RSA", pem: await openssl(["genrsa", "-traditional", "2048"]), label: "RSA PRIVATE KEY" },
    {
      name: "SEC1 P-256",
      pem: await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout"]),
      label: "EC PRIVATE KEY",
    },
    {
      name: "SEC1 P-384",
      pem: await openssl(["ecparam", "-name", "secp384r1", "-genkey", "-noout"]),
      label: "EC PRIVATE KEY",
    },
    {
      name: "PKCS#8 RSA",
      pem: await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
      label: "PRIVATE KEY",
    },
  ];
  for (const c of cases) {
    assert(c.pem.includes(`-----BEGIN ${c.label}-----`), `${c.name}: openssl wrote ${c.pem.slice(0, 40)}`);
    const pair = await importPrivateKeyPem(`Bag Attributes: junk\n${c.pem}`, { extractable: true });
    assert(await signsAndVerifies(pair), c.name);
    // The public key we derived must be openssl's public key.
    const opensslPub = await openssl(["pkey", "-pubout"], c.pem);
    assertEquals(await exportPublicKeyPem(pair.publicKey), opensslPub, c.name);
    // Re-exported as PKCS#8, openssl must read the same key back.
    const pkcs8 = await exportPrivateKeyPem(pair.privateKey);
    assertEquals(await openssl(["pkey", "-pubout"], pkcs8), opensslPub, c.name);
  }
});

Deno.test("importPrivateKeyPem rejects what it cannot use, naming the problem", async () => {
  const ed25519 = await openssl(["genpkey", "-algorithm", "ed25519"]);
  await assertRejects(() => importPrivateKeyPem(ed25519), /Unsupported private key algorithm OID 1\.3\.101\.112/);
  await assertRejects(
    () => importPrivateKeyPem("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"),
    /Encrypted private keys are not supported/,
  );
  await assertRejects(() => importPrivateKeyPem("nothing"), /No PEM block labelled "PRIVATE KEY" or/);
  await assertRejects(
    () => importPrivateKeyPem("-----BEGIN RSA PRIVATE KEY-----\nMAMCAQ==\n-----END RSA PRIVATE KEY-----\n"),
    /Malformed "RSA PRIVATE KEY" PEM|Truncated|DER/,
  );
  await assertRejects(() => generateKeyPair("rsa-1024" as never), /Unknown key type "rsa-1024"/);
});
