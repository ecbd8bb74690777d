/**
 * Trust but verify: the certificate the CA returns must be for the CSR's key and exactly the requested names,
 * and valid now. A CA bug or a mix-up of orders must never hand a host someone else's certificate.
 *
 * Its subject alternative names are DNS names only (acmems orders no IP certificates yet): an IP, e-mail, URI,
 * directory name or other SAN, one that cannot be read, or a second subjectAltName extension is refused.
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
  const certNames = dnsNamesOnly(leaf);
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

/** The leaf's SAN dNSNames, lower-cased; ChainMismatchError when it has any other kind of SAN. */
function dnsNamesOnly(leaf: x509.X509Certificate): string[] {
  const extensions = leaf.extensions.filter((e) => e.type === SAN_OID);
  if (extensions.length > 1) {
    throw new ChainMismatchError(
      `The CA returned a certificate with ${extensions.length} subjectAltName extensions (RFC 5280 allows one)`,
    );
  }
  const san = extensions[0] as x509.SubjectAlternativeNameExtension | undefined;
  let items: readonly x509.GeneralName[];
  try {
    items = san?.names.items ?? [];
  } catch (error) {
    throw new ChainMismatchError(
      `The CA returned a certificate whose subjectAltName cannot be read ` +
        `(${error instanceof Error ? error.message : error}): acmems accepts DNS names only`,
    );
  }
  const others = items.filter((n) => n.type !== "dns");
  if (others.length > 0) {
    throw new ChainMismatchError(
      `The CA returned a certificate with subject alternative names that are not DNS names ` +
        `(${others.map((n) => `${n.type} ${n.value}`).join(", ")}): acmems accepts DNS names only`,
    );
  }
  return items.map((n) => n.value.toLowerCase());
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
