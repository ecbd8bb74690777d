/**
 * `revokeCert` (RFC 8555 §7.6): by the account that ordered the certificate (or whose auth block admits every name
 * in it), signed with `kid`; or by the certificate's own key, signed with a `jwk` that is the certificate's public
 * key. It goes the same way as `POST /revoke`: the generation's revoker (src/revocation/service.ts: the upstream CA
 * revokes, the cache entries serving it are removed, keyCompromise records the key) and the `revoked` notification.
 *
 * Failures: not the certificate's account or key → `unauthorized`; an unknown reason → `badRevocationReason`;
 * revoked already → `alreadyRevoked`; the CA unavailable → `serverInternal` with 503 and Retry-After.
 */
import type * as x509 from "@peculiar/x509";
import { loadX509 } from "../lib/x509.ts";
import { ariCertId, REVOCATION_REASON } from "../acme/mod.ts";
import { fromB64url } from "../acme/encoding.ts";
import { hex } from "../lib/bytes.ts";
import { IssueFailure } from "../issuance/failure.ts";
import { blockAdmitsName } from "../policy/authorize.ts";
import type { RevocationReason } from "../revocation/service.ts";
import { certificateNames, type RevocationPair } from "../revocation/pair.ts";
import { checkClientAddress } from "./accounts.ts";
import type { AcmeExchange, Signed } from "./context.ts";
import { type Jwk, thumbprint } from "./jws.ts";
import { AcmeError, fromIssueFailure } from "./problems.ts";

export async function revokeCert(ex: AcmeExchange, signed: Signed): Promise<Response> {
  const revoker = ex.context.revoker;
  if (!revoker) throw new AcmeError("serverInternal", "Revocation is not available on this server");
  const payload = signed.payload ?? {};
  if (typeof payload.certificate !== "string") {
    throw new AcmeError("malformed", "revokeCert needs a certificate (base64url DER)");
  }
  const lib = await loadX509();
  let cert: x509.X509Certificate;
  try {
    cert = new lib.X509Certificate(fromB64url(payload.certificate));
  } catch {
    throw new AcmeError("malformed", "The certificate is not a base64url DER X.509 certificate");
  }
  const reason = readReason(payload.reason);
  const names = certificateNames(cert, lib.SubjectAlternativeNameExtension);
  const spki = new Uint8Array(cert.publicKey.rawData);
  let certId = "";
  try {
    certId = ariCertId(new Uint8Array(cert.rawData));
  } catch { /* no AKI: only the names can admit it */ }
  const record = certId ? await ex.state.stores.find(ex.context.config, (store) => store.getCertificate(certId)) : null;
  if (signed.account) {
    checkClientAddress(ex, signed.account.block);
    const ordered = record?.value.account === signed.account.record.id;
    const admitted = names.length > 0 && names.every((n) => blockAdmitsName(signed.account!.block, n));
    if (!ordered && !admitted) {
      throw new AcmeError("unauthorized", "This account neither ordered this certificate nor may get its names");
    }
  } else {
    const certJwk = await jwkOfSpki(spki, cert);
    if (!certJwk || (await thumbprint(certJwk)) !== (await thumbprint(signed.jwk!))) {
      throw new AcmeError("unauthorized", "The jwk that signed this request is not the certificate's key");
    }
  }
  const pair: RevocationPair = {
    certDer: new Uint8Array(cert.rawData),
    serial: cert.serialNumber.toLowerCase(),
    names,
    spkiSha256: hex(new Uint8Array(await crypto.subtle.digest("SHA-256", spki))),
    notAfter: cert.notAfter,
  };
  try {
    await revoker.revoke(pair, reason);
  } catch (error) {
    if (error instanceof IssueFailure) throw fromIssueFailure(error);
    throw error;
  }
  revoker.revoked(pair, reason, ex.client);
  if (record) {
    await record.store.putCertificate({ ...record.value, revokedAt: ex.state.now().toISOString() })
      .catch((error) => ex.state.log.warn("acme revocation not recorded", { certId, error: String(error) }));
  }
  ex.state.log.info("acme certificate revoked", {
    serial: pair.serial,
    reason,
    account: signed.account?.record.id ?? null,
    client: ex.client,
  });
  return new Response(null, { status: 200 });
}

function readReason(value: unknown): RevocationReason {
  if (value === undefined) return "unspecified";
  const entry = Object.entries(REVOCATION_REASON).find(([, code]) => code === value);
  if (!entry) {
    throw new AcmeError(
      "badRevocationReason",
      `Revocation reason ${JSON.stringify(value)} is not accepted: use one of ${
        Object.values(REVOCATION_REASON).join(", ")
      }`,
    );
  }
  return entry[0] as RevocationReason;
}

/** The certificate's public key as a JWK (EC, RSA or Ed25519), or null for another kind. */
async function jwkOfSpki(spki: Uint8Array, cert: x509.X509Certificate): Promise<Jwk | null> {
  const algorithm = cert.publicKey.algorithm as { name: string; namedCurve?: string };
  const params = algorithm.name === "ECDSA"
    ? { name: "ECDSA", namedCurve: algorithm.namedCurve! }
    : algorithm.name === "Ed25519"
    ? { name: "Ed25519" }
    : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  try {
    const key = await crypto.subtle.importKey("spki", new Uint8Array(spki), params, true, ["verify"]);
    return await crypto.subtle.exportKey("jwk", key) as Jwk;
  } catch {
    return null;
  }
}
