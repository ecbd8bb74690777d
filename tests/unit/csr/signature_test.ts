/**
 * The CSR signature check without the X.509 library (src/csr/signature.ts): openssl's CSRs of every usual key type
 * verify natively; a changed byte, a foreign key or an algorithm it does not handle is false (the X.509 library
 * then decides, in intake.ts).
 */
import { assertEquals } from "../../support/assert.ts";
import { verifyCsrSignatureNatively } from "../../../src/csr/signature.ts";
import { type KeySpec, OpensslFactory, pemToDer } from "./openssl_helpers.ts";

const factory = await OpensslFactory.create();

Deno.test("native CSR signature: ECDSA P-256/P-384/P-521, RSA and Ed25519 CSRs from openssl verify", async () => {
  const specs: [KeySpec, string[]][] = [
    ["ec:P-256", []],
    ["ec:P-384", ["-sha384"]],
    ["ec:P-521", ["-sha512"]],
    ["rsa:2048", []],
    ["rsa:3072", ["-sha384"]],
    ["ed25519", []],
  ];
  for (const [key, extraArgs] of specs) {
    const der = pemToDer(await factory.csr({ key, san: "DNS:www.example.org", extraArgs }));
    assertEquals(await verifyCsrSignatureNatively(der), true, `${key} ${extraArgs.join(" ")}`);
  }
});

Deno.test("native CSR signature: one changed byte in the signed part, or in the signature, is false", async () => {
  const der = pemToDer(await factory.csr({ key: "ec:P-256", san: "DNS:www.example.org" }));
  const name = new TextEncoder().encode("www.example.org");
  const at = der.findIndex((_, i) => name.every((b, j) => der[i + j] === b));
  const renamed = der.slice();
  renamed[at] = "v".charCodeAt(0); // www → vww: same length, another name
  assertEquals(await verifyCsrSignatureNatively(renamed), false);
  const badSignature = der.slice();
  badSignature[badSignature.length - 2] ^= 0x01;
  assertEquals(await verifyCsrSignatureNatively(badSignature), false);
  assertEquals(await verifyCsrSignatureNatively(new Uint8Array([0x30, 0x00])), false);
});

Deno.test("native CSR signature: RSA-PSS and SHA-1 are left to the X.509 library (false)", async () => {
  const pss = pemToDer(
    await factory.csr({ key: "rsa:2048", san: "DNS:www.example.org", extraArgs: ["-sigopt", "rsa_padding_mode:pss"] }),
  );
  assertEquals(await verifyCsrSignatureNatively(pss), false);
  const sha1 = pemToDer(await factory.csr({ key: "rsa:2048", san: "DNS:www.example.org", extraArgs: ["-sha1"] }));
  assertEquals(await verifyCsrSignatureNatively(sha1), false);
});

Deno.test("native CSR signature: the factory is closed", async () => {
  await factory.close();
});
