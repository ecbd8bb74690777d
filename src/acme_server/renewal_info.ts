/**
 * `GET /acme/renewal-info/<certID>` (RFC 9773 ARI): the renewal window acmems keeps for a certificate it issued
 * through the front end, so hosts come back when acmems has (or is about to have) the renewed certificate.
 *
 * The window: the CA's ARI window from the cache entry, when the entry still holds this certificate; else the window
 * from acmems' own renewal point (src/renewal/due.ts: renew-within or two thirds of the lifetime) to half of the
 * remaining lifetime; a certificate revoked through the front end, or one the cache no longer holds (renewed,
 * revoked, removed) is due now. For a block that caches nothing, the window recorded at issuance.
 * `Retry-After: 21600` (6 h). An unknown certID is 404.
 */
import { ariCertId, splitPemChain } from "../acme/mod.ts";
import { renewalDue } from "../renewal/due.ts";
import type { AcmeFrontCertificate } from "../storage/port.ts";
import { type AcmeExchange, jsonResponse } from "./context.ts";
import { windowFrom } from "./finalize.ts";
import { AcmeError } from "./problems.ts";

const RETRY_AFTER_SECONDS = 21_600;

export async function renewalInfo(ex: AcmeExchange, certId: string): Promise<Response> {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(certId)) {
    throw new AcmeError("malformed", "The certID must be base64url(AKI).base64url(serial)");
  }
  const found = await ex.state.stores.find(ex.context.config, (store) => store.getCertificate(certId));
  if (!found) {
    throw new AcmeError("malformed", "acmems issued no certificate with this certID", { kind: "not-found" });
  }
  const window = await windowOf(ex, found.value);
  return jsonResponse(
    200,
    { suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() } },
    { "Retry-After": String(RETRY_AFTER_SECONDS) },
  );
}

async function windowOf(ex: AcmeExchange, cert: AcmeFrontCertificate): Promise<{ start: Date; end: Date }> {
  const now = ex.state.now();
  const dueNow = { start: new Date(now.getTime() - 3_600_000), end: now };
  if (cert.revokedAt) return dueNow;
  const storage = cert.storage === null ? undefined : ex.context.storages?.get(cert.storage);
  const caching = storage !== undefined && storage.kind !== "none";
  const entry = caching ? await storage.get(cert.cacheKey) : null;
  if (caching && !entry) return dueNow;
  if (entry && storage) {
    const leaf = splitPemChain(entry.chain)[0];
    let same = false;
    try {
      same = ariCertId(leaf) === cert.certId;
    } catch {
      same = false;
    }
    if (!same) return dueNow;
    const ari = entry.ari?.window;
    if (ari) return { start: new Date(ari.start), end: new Date(ari.end) };
    const due = renewalDue(entry, storage.renewWithinDays, now);
    return windowFrom(due.at, new Date(entry.notAfter));
  }
  if (cert.window) return { start: new Date(cert.window.start), end: new Date(cert.window.end) };
  const notBefore = Date.parse(cert.notBefore);
  const notAfter = Date.parse(cert.notAfter);
  return windowFrom(new Date(notBefore + (notAfter - notBefore) * 2 / 3), new Date(notAfter));
}
