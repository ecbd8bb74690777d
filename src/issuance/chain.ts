/**
 * Trust but verify: the certificate the CA returns must be for the CSR's key and exactly the requested names,
 * and valid now. A CA bug or a mix-up of orders must never hand a host someone else's certificate.
 */
import * as x509 from "@peculiar/x509";

const SAN_OID = "2.5.29.17";

export class ChainMismatchError extends Error {
  override name = "ChainMismatchError";
}

/** Validity of a checked leaf. */
export interface LeafInfo {
  notBefore: Date;
  notAfter: Date;
}

/** Throws ChainMismatchError unless the chain's leaf matches the CSR's public key and names; returns its validity. */
export async function checkChainMatchesCsr(
  chainPem: string,
  csrDer: Uint8Array,
  names: string[],
  /** The clock reading the validity period is checked against. */
  at: Date = new Date(),
): Promise<LeafInfo> {
  const leafPem = chainPem.split(/\n\n/)[0];
  let leaf: x509.X509Certificate;
  let csr: x509.Pkcs10CertificateRequest;
  try {
    leaf = new x509.X509Certificate(leafPem);
    csr = new x509.Pkcs10CertificateRequest(new Uint8Array(csrDer));
  } catch (error) {
    throw new ChainMismatchError(
      `The CA returned a certificate that cannot be parsed: ${error instanceof Error ? error.message : error}`,
    );
  }
  if (!sameBytes(new Uint8Array(leaf.publicKey.rawData), new Uint8Array(csr.publicKey.rawData))) {
    throw new ChainMismatchError("The CA returned a certificate for a different public key than the CSR's");
  }
  const san = leaf.getExtension(SAN_OID) as x509.SubjectAlternativeNameExtension | null;
  const certNames = (san?.names.items ?? []).filter((n) => n.type === "dns").map((n) => n.value.toLowerCase());
  const wanted = names.map((n) => n.toLowerCase());
  const missing = wanted.filter((n) => !certNames.includes(n));
  const extra = certNames.filter((n) => !wanted.includes(n));
  if (missing.length > 0 || extra.length > 0) {
    throw new ChainMismatchError(
      `The CA returned a certificate for other names (missing: ${missing.join(", ") || "none"}; ` +
        `extra: ${extra.join(", ") || "none"})`,
    );
  }
  const now = at.getTime();
  // Allow for clock skew between us and the CA at the start of the validity period.
  if (leaf.notAfter.getTime() <= now || leaf.notBefore.getTime() > now + 5 * 60_000) {
    throw new ChainMismatchError(
      `The CA returned a certificate that is not valid now (${leaf.notBefore.toISOString()} to ${leaf.notAfter.toISOString()})`,
    );
  }
  await Promise.resolve();
  return { notBefore: leaf.notBefore, notAfter: leaf.notAfter };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
