/**
 * What the real-client tests check on the files certbot and lego leave behind, with the openssl CLI (as an operator
 * would): the leaf's public key is the host's, the chain verifies to pebble's root, and what pebble's management
 * API says about a serial.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import type { Pebble } from "../../support/pebble.ts";
import { runChecked } from "../../support/process.ts";

/** The SubjectPublicKeyInfo (PEM) of a certificate, a CSR or a private key file. */
export async function publicKeyOf(file: string, kind: "cert" | "csr" | "key"): Promise<string> {
  const args = kind === "cert"
    ? ["x509", "-pubkey", "-noout", "-in", file]
    : kind === "csr"
    ? ["req", "-pubkey", "-noout", "-in", file]
    : ["pkey", "-pubout", "-in", file];
  return (await runChecked("openssl", args)).stdout.trim();
}

/** The PEM certificates in `text`, in order. */
export function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** Writes the first certificate of `file` to `<file>.leaf.pem` and returns that path. */
export async function leafFile(file: string): Promise<string> {
  const [leaf] = pemCertificates(await Deno.readTextFile(file));
  assert(leaf, `${file} holds no certificate`);
  const out = `${file}.leaf.pem`;
  await Deno.writeTextFile(out, `${leaf}\n`);
  return out;
}

/** `openssl verify -CAfile root -untrusted chain leaf` must say OK. */
export async function assertChainVerifies(leaf: string, chainFile: string, rootFile: string): Promise<void> {
  const r = await runChecked("openssl", ["verify", "-CAfile", rootFile, "-untrusted", chainFile, leaf]);
  assertEquals(r.stdout.trim(), `${leaf}: OK`, r.output);
}

/** The certificate's names (subjectAltName DNS entries), sorted. */
export async function dnsNamesOf(certFile: string): Promise<string[]> {
  const r = await runChecked("openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", certFile]);
  return [...r.stdout.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1]).sort();
}

/** The serial as pebble's management API spells it (lower-case hex, no leading zeros). */
export async function serialOf(certFile: string): Promise<string> {
  const r = await runChecked("openssl", ["x509", "-noout", "-serial", "-in", certFile]);
  return r.stdout.trim().replace(/^serial=/, "").toLowerCase().replace(/^0+/, "");
}

/** Pebble's `/cert-status-by-serial/<serial>` answer: `Status` is `Valid` or `Revoked` (with `Reason`). */
export async function pebbleCertStatus(pebble: Pebble, serial: string): Promise<{ Status: string; Reason?: number }> {
  const r = await runChecked("curl", [
    "-sS",
    "--fail-with-body",
    "--cacert",
    pebble.caFile,
    `${pebble.managementUrl}/cert-status-by-serial/${serial}`,
  ]);
  return JSON.parse(r.stdout);
}
