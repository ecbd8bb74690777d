/**
 * The certificate end of an order: finalize with a CSR, download the chain, revoke (RFC 8555 §7.4,
 * §7.4.2, §7.6). One signed request each through the session (badNonce retried there; every other CA
 * error thrown as `AcmeProblem`); a malformed answer throws `AcmeProtocolError`.
 */
import { parseJson, withUrl } from "./answers.ts";
import type { RequestOptions, RevokeOptions } from "./client_options.ts";
import { b64url } from "./encoding.ts";
import { AcmeProtocolError, AcmeUnsupportedError } from "./errors.ts";
import { linksWithRel } from "./link_header.ts";
import { checkOrderUrls } from "./orders.ts";
import { decodePem } from "./pem.ts";
import { parseRetryAfter, rememberRetryAfter } from "./retry_after.ts";
import type { AcmeSession } from "./session.ts";
import type { AcmeOrder, CertificateChain } from "./types.ts";

const PEM_CHAIN = "application/pem-certificate-chain";

/** Submits the CSR (DER bytes or PEM text) to the order's finalize URL; returns the updated order. */
export async function finalize(
  s: AcmeSession,
  order: Pick<AcmeOrder, "finalize"> & { url?: string },
  csr: Uint8Array | string,
  req: RequestOptions = {},
): Promise<AcmeOrder> {
  const der = typeof csr === "string" ? decodePem(csr, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]).der : csr;
  const res = await s.post(order.finalize, { csr: b64url(der) }, req);
  const url = res.headers.get("location") ? s.location(res) : order.url;
  if (!url) throw new AcmeProtocolError(order.finalize, `Finalize answer from ${order.finalize} has no order URL`);
  const answered = checkOrderUrls(s, withUrl<AcmeOrder>(parseJson(res), url));
  return rememberRetryAfter(answered, parseRetryAfter(res.headers.get("retry-after")));
}

/** Downloads a certificate chain (PEM) and the URLs of alternate chains. */
export async function downloadCertificate(
  s: AcmeSession,
  url: string,
  req: RequestOptions = {},
): Promise<CertificateChain> {
  const res = await s.post(url, undefined, { ...req, accept: PEM_CHAIN });
  if (!res.text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new AcmeProtocolError(url, `Certificate download from ${url} returned no PEM certificate`);
  }
  const alternates = linksWithRel(res.headers.get("link"), url, "alternate");
  return { pem: res.text, alternates: alternates.map((link) => s.urls.check(link, "alternate chain link")) };
}

/**
 * Revokes a certificate (DER or PEM) (RFC 8555 §7.6), signed by the account unless `certificateKey` is
 * given. The second argument is a reason code or the full options.
 */
export async function revokeCertificate(
  s: AcmeSession,
  cert: Uint8Array | string,
  reasonOrOpts: number | RevokeOptions = {},
): Promise<void> {
  const opts = typeof reasonOrOpts === "number" ? { reason: reasonOrOpts } : reasonOrOpts;
  const dir = await s.directory(opts);
  if (!dir.revokeCert) throw new AcmeUnsupportedError(`The CA at ${s.directoryUrl} offers no revokeCert`);
  const der = typeof cert === "string" ? decodePem(cert, ["CERTIFICATE"]).der : cert;
  const payload: Record<string, unknown> = { certificate: b64url(der) };
  if (opts.reason !== undefined) payload.reason = opts.reason;
  await s.post(dir.revokeCert, payload, { signal: opts.signal, jwkOf: opts.certificateKey });
}
