/**
 * Fetching RFC 9773 renewal information (ARI) from the CA. An unauthenticated GET (RFC 9773 §4.1), so
 * no nonce or signature; a CA error throws `AcmeProblem`, a CA without renewalInfo `AcmeUnsupportedError`.
 * The certificate id and answer parsing are in ari.ts.
 */
import { parseJson } from "./answers.ts";
import { ariCertId, ariCertIdFromParts, type AriCertParts, parseRenewalInfo, renewalInfoUrl } from "./ari.ts";
import type { RequestOptions } from "./client_options.ts";
import { AcmeUnsupportedError } from "./errors.ts";
import { problemFromResponse } from "./problem.ts";
import type { AcmeSession } from "./session.ts";
import type { RenewalInfo } from "./types.ts";

/** True if the CA advertises RFC 9773 renewalInfo. */
export async function supportsAri(s: AcmeSession, req: RequestOptions = {}): Promise<boolean> {
  return typeof (await s.directory(req)).renewalInfo === "string";
}

/** Renewal information for a certificate (PEM, DER, its AKI+serial, or a ready-made `certId`). */
export async function renewalInfo(
  s: AcmeSession,
  cert: string | Uint8Array | AriCertParts | { certId: string },
  req: RequestOptions = {},
): Promise<RenewalInfo> {
  const dir = await s.directory(req);
  if (!dir.renewalInfo) {
    throw new AcmeUnsupportedError(`The CA at ${s.directoryUrl} offers no renewalInfo (ARI)`);
  }
  const certId = typeof cert === "string" || cert instanceof Uint8Array
    ? ariCertId(cert)
    : "certId" in cert
    ? cert.certId
    : ariCertIdFromParts(cert);
  const url = renewalInfoUrl(dir.renewalInfo, certId);
  const res = await s.request({ method: "GET", url, signal: req.signal });
  if (res.status >= 400) throw problemFromResponse(res);
  return parseRenewalInfo(parseJson<unknown>(res), res.headers.get("retry-after"), url);
}
