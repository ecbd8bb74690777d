/**
 * Trust but verify: the certificate the CA returns must be for the CSR's key and exactly the requested names,
 * and valid now. A CA bug or a mix-up of orders must never hand a host someone else's certificate.
 *
 * Its subject alternative names are DNS names and IP addresses only (RFC 8738), compared with the ordered names
 * (IP addresses in canonical text, `ipName`): an e-mail, URI, directory name or other SAN, an IP SAN that is not
 * an address, one that cannot be read, or a second subjectAltName extension is refused; an IP acmems did not order
 * is an extra name like any other.
 */
import { sameBytes } from "../lib/bytes.ts";
import type * as x509 from "@peculiar/x509";
import { loadX509 } from "../lib/x509.ts";
import { quickLeafCheck } from "./leaf.ts";
import { ipName } from "../csr/names.ts";

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
  // The usual case (the right key, exactly the names, valid now) without the X.509 library (leaf.ts); anything
  // else gets the full check below, which names the problem.
  const quick = quickLeafCheck(leafPem, csrDer, names, at);
  if (quick) return quick;
  const { X509Certificate, Pkcs10CertificateRequest } = await loadX509();
  let leaf: x509.X509Certificate;
  let csr: x509.Pkcs10CertificateRequest;
  try {
    leaf = new X509Certificate(leafPem);
    csr = new Pkcs10CertificateRequest(new Uint8Array(csrDer));
  } catch (error) {
    throw new ChainMismatchError(
      `The CA returned a certificate that cannot be parsed: ${error instanceof Error ? error.message : error}`,
    );
  }
  if (!sameBytes(new Uint8Array(leaf.publicKey.rawData), new Uint8Array(csr.publicKey.rawData))) {
    throw new ChainMismatchError("The CA returned a certificate for a different public key than the CSR's");
  }
  // Typed keys: a dNSName spelling an address is not the IP SAN that was ordered.
  const certNames = leafNames(leaf);
  const wanted = names.map((n) => ipName(n) !== null ? `ip|${ipName(n)}` : `dns|${n.toLowerCase()}`);
  const missing = wanted.filter((n) => !certNames.includes(n)).map(showKey);
  const extra = certNames.filter((n) => !wanted.includes(n)).map(showKey);
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

/**
 * The leaf's SANs as `dns|name` (lower-cased) and `ip|address` (canonical text); ChainMismatchError when it has
 * any other kind of SAN.
 */
function leafNames(leaf: x509.X509Certificate): string[] {
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
        `(${error instanceof Error ? error.message : error}): acmems accepts DNS names and IP addresses only`,
    );
  }
  const others = items.filter((n) => n.type !== "dns" && !(n.type === "ip" && ipName(n.value) !== null));
  if (others.length > 0) {
    throw new ChainMismatchError(
      `The CA returned a certificate with subject alternative names that are not DNS names or IP addresses ` +
        `(${others.map((n) => `${n.type} ${n.value}`).join(", ")}): acmems accepts DNS names and IP addresses only`,
    );
  }
  return items.map((n) => n.type === "ip" ? `ip|${ipName(n.value)}` : `dns|${n.value.toLowerCase()}`);
}

/** A name key for a message: the name, and `DNS:` before a dNSName that spells an IP address. */
function showKey(key: string): string {
  const value = key.slice(key.indexOf("|") + 1);
  return key.startsWith("dns|") && ipName(value) !== null ? `DNS:${value}` : value;
}
