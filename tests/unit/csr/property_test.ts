/**
 * Robustness: parseCsrPem must never throw, whatever the body. Random bytes, random PEM-wrapped bytes and mutated
 * real CSRs (bit flips, truncation, insertion, deletion, in the DER and in the PEM text) all end in either a parsed
 * CSR or a typed refusal (kind `refused` or `unusable-csr`) with a one-line reason. The PRNG is seeded so a failure is reproducible.
 */
import { assert } from "../../support/assert.ts";
import { checkCsrRules, type CsrParseResult, parseCsrPem } from "../../../src/csr/intake.ts";
import { derToPem, OpensslFactory, pemToDer } from "./openssl_helpers.ts";

const SEED = Number(Deno.env.get("ACMEMS_PROPERTY_SEED") ?? 20260501);

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function assertTyped(result: CsrParseResult, label: string): void {
  if (result.ok) {
    // Whatever parsed must also survive the rules.
    const rules = checkCsrRules(result.csr, { maxNames: 100 });
    if (!rules.ok) assertRefusal(rules.kind, rules.reason, label);
    return;
  }
  assertRefusal(result.kind, result.reason, label);
}

function assertRefusal(kind: string, reason: string, label: string): void {
  assert(kind === "refused" || kind === "unusable-csr", `${label}: kind ${kind}`);
  assert(typeof reason === "string" && reason.length > 0, `${label}: empty reason`);
  assert(!/[\r\n]/.test(reason), `${label}: multi-line reason ${JSON.stringify(reason)}`);
}

async function parseNoThrow(body: string | Uint8Array, label: string): Promise<CsrParseResult> {
  try {
    return await parseCsrPem(body);
  } catch (error) {
    throw new Error(`${label} (seed ${SEED}): parseCsrPem threw ${error instanceof Error ? error.stack : error}`);
  }
}

function mutate(bytes: Uint8Array, random: () => number): Uint8Array {
  let out = new Uint8Array(bytes);
  const count = 1 + Math.floor(random() * 4);
  for (let i = 0; i < count && out.length > 0; i++) {
    const at = Math.floor(random() * out.length);
    switch (Math.floor(random() * 5)) {
      case 0:
        out[at] ^= 1 << Math.floor(random() * 8);
        break;
      case 1:
        out[at] = Math.floor(random() * 256);
        break;
      case 2:
        out = out.slice(0, at);
        break;
      case 3: {
        const grown = new Uint8Array(out.length + 1);
        grown.set(out.subarray(0, at));
        grown[at] = Math.floor(random() * 256);
        grown.set(out.subarray(at), at + 1);
        out = grown;
        break;
      }
      default: {
        const shrunk = new Uint8Array(out.length - 1);
        shrunk.set(out.subarray(0, at));
        shrunk.set(out.subarray(at + 1), at);
        out = shrunk;
      }
    }
  }
  return out;
}

Deno.test(`parseCsrPem never throws: 1,000 random bodies (seed ${SEED})`, async () => {
  const random = prng(SEED);
  for (let i = 0; i < 1000; i++) {
    const bytes = new Uint8Array(Math.floor(random() * 1500));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
    const kind = i % 4;
    const body = kind === 0
      ? bytes
      : kind === 1
      ? derToPem(bytes)
      : kind === 2
      ? derToPem(new Uint8Array([0x30, 0x82, bytes.length >> 8, bytes.length & 0xff, ...bytes]))
      : new TextDecoder().decode(bytes);
    assertTyped(await parseNoThrow(body, `random body #${i}`), `random body #${i}`);
  }
});

Deno.test(`parseCsrPem never throws: 1,000 mutated CSRs (seed ${SEED})`, async () => {
  const openssl = await OpensslFactory.create();
  try {
    const pems = [
      await openssl.csr({ key: "rsa:2048", san: "DNS:www.example.org,DNS:example.org" }),
      await openssl.csr({ key: "ec:P-256", san: "DNS:*.example.org,IP:192.0.2.1,email:a@example.org" }),
      await openssl.csr({ key: "ec:P-384", san: "DNS:a.example.org", addext: ["tlsfeature=status_request"] }),
      await openssl.csr({ key: "ed25519", subj: "/CN=x.example.org/O=Example" }),
    ];
    const random = prng(SEED + 1);
    let parsedOk = 0;
    for (let i = 0; i < 1000; i++) {
      const pem = pems[i % pems.length];
      const label = `mutation #${i}`;
      const body = i % 3 === 2
        ? mutate(new TextEncoder().encode(pem), random)
        : derToPem(mutate(pemToDer(pem), random));
      const result = await parseNoThrow(body, label);
      if (result.ok) parsedOk++;
      assertTyped(result, label);
    }
    // Nearly every mutation must be caught (by the structure, the base64 or the signature).
    assert(parsedOk < 100, `${parsedOk} of 1,000 mutated CSRs still parsed and verified`);
  } finally {
    await openssl.close();
  }
});
