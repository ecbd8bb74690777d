/**
 * The RFC 9773 §4.1 certificate identifier, computed with @peculiar/x509:
 * base64url(AuthorityKeyIdentifier keyIdentifier) "." base64url(serial number DER content bytes).
 */
import * as x509 from "@peculiar/x509";

const AKI_OID = "2.5.29.35";

export function ariCertIdOf(certPem: string): string {
  const cert = new x509.X509Certificate(certPem);
  const aki = cert.getExtension(AKI_OID) as x509.AuthorityKeyIdentifierExtension | null;
  if (!aki?.keyId) throw new Error("The certificate has no authority key identifier: ARI cannot identify it");
  let serial = fromHex(cert.serialNumber);
  // DER INTEGER content: minimal two's complement, so a set high bit needs a leading zero byte.
  while (serial.length > 1 && serial[0] === 0 && serial[1] < 0x80) serial = serial.subarray(1);
  if (serial.length === 0 || serial[0] >= 0x80) serial = Uint8Array.of(0, ...serial);
  return `${b64url(fromHex(aki.keyId))}.${b64url(serial)}`;
}

function fromHex(hex: string): Uint8Array {
  const clean = hex.length % 2 ? `0${hex}` : hex;
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => parseInt(h, 16));
}

function b64url(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
