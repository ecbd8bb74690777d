/**
 * `GET /acme/directory` (RFC 8555 §7.1.1, RFC 9773 `renewalInfo`): the front end's URLs on the listener the client
 * used, and `meta`: `externalAccountRequired: true` always; `termsOfService`, `website` and `profiles` relayed from
 * the upstream CA's directory (the [account] acme-server) when it can be read right now, else left out.
 */
import type { AcmeDirectoryMeta } from "../acme/mod.ts";
import { type AcmeExchange, jsonResponse } from "./context.ts";

/** How long the upstream directory may take before it is left out of the answer. */
const UPSTREAM_WAIT_MS = 3_000;

export async function directory(ex: AcmeExchange): Promise<Response> {
  const upstream = await upstreamMeta(ex);
  const meta: Record<string, unknown> = { externalAccountRequired: true };
  if (upstream?.termsOfService) meta.termsOfService = upstream.termsOfService;
  if (upstream?.website) meta.website = upstream.website;
  if (upstream?.profiles && Object.keys(upstream.profiles).length > 0) meta.profiles = upstream.profiles;
  const u = ex.urls;
  return jsonResponse(200, {
    newNonce: u.newNonce,
    newAccount: u.newAccount,
    newOrder: u.newOrder,
    revokeCert: u.revokeCert,
    keyChange: u.keyChange,
    renewalInfo: u.renewalInfo,
    meta,
  });
}

async function upstreamMeta(ex: AcmeExchange): Promise<AcmeDirectoryMeta | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const client = ex.context.upstream?.();
    if (!client) return undefined;
    const read = client.directory().then((d) => d.meta);
    return await Promise.race([
      read,
      new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), UPSTREAM_WAIT_MS)),
    ]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
