/**
 * Orders, authorizations and challenges (RFC 8555 §7.4–7.5): create an order, read orders and
 * authorizations, answer a challenge, deactivate an authorization. One signed request each through the
 * session (badNonce retried there; every other CA error thrown as `AcmeProblem`). Polling is poll.ts. The URLs in
 * an order or authorization are checked against the session's `CaUrlPolicy` as they arrive.
 */
import { parseJson, withUrl } from "./answers.ts";
import type { NewOrderOptions, RequestOptions } from "./client_options.ts";
import { AcmeUnsupportedError } from "./errors.ts";
import type { AcmeIdentifier } from "./problem.ts";
import { parseRetryAfter, rememberRetryAfter } from "./retry_after.ts";
import type { AcmeSession } from "./session.ts";
import type { AcmeAuthorization, AcmeChallenge, AcmeOrder } from "./types.ts";

/** Creates an order (RFC 8555 §7.4). */
export async function newOrder(s: AcmeSession, opts: NewOrderOptions, req: RequestOptions = {}): Promise<AcmeOrder> {
  if (!opts.identifiers?.length) throw new TypeError("newOrder needs at least one identifier");
  const dir = await s.directory(req);
  const payload: Record<string, unknown> = { identifiers: opts.identifiers.map(toIdentifier) };
  if (opts.profile !== undefined) {
    const offered = dir.meta?.profiles;
    if (!offered) {
      throw new AcmeUnsupportedError(
        `Profile "${opts.profile}" was asked for, but ${s.directoryUrl} offers no profiles (no meta.profiles)`,
      );
    }
    if (!Object.hasOwn(offered, opts.profile)) {
      throw new AcmeUnsupportedError(
        `Profile "${opts.profile}" is not offered by ${s.directoryUrl} (offered: ${
          Object.keys(offered).join(", ") || "none"
        })`,
      );
    }
    payload.profile = opts.profile;
  }
  // RFC 9773 §5: do not send `replaces` to a CA that does not advertise ARI.
  if (opts.replaces !== undefined && dir.renewalInfo) payload.replaces = opts.replaces;
  if (opts.notBefore !== undefined) payload.notBefore = toRfc3339(opts.notBefore);
  if (opts.notAfter !== undefined) payload.notAfter = toRfc3339(opts.notAfter);
  const res = await s.post(dir.newOrder, payload, req);
  return checkOrderUrls(s, withUrl<AcmeOrder>(parseJson(res), s.location(res)));
}

/** Fetches an order. */
export async function getOrder(s: AcmeSession, url: string, req: RequestOptions = {}): Promise<AcmeOrder> {
  return checkOrderUrls(s, (await s.getWithRetryAfter<AcmeOrder>(url, req.signal)).value);
}

/** The order, once its authorization, finalize and certificate URLs passed the session's URL policy. */
export function checkOrderUrls(s: AcmeSession, order: AcmeOrder): AcmeOrder {
  for (const url of Array.isArray(order.authorizations) ? order.authorizations : []) {
    s.urls.check(String(url), "authorization URL");
  }
  if (order.finalize !== undefined) s.urls.check(String(order.finalize), "finalize URL");
  if (order.certificate !== undefined) s.urls.check(String(order.certificate), "certificate URL");
  return order;
}

/** The authorization, once its challenges' URLs passed the session's URL policy. */
export function checkAuthorizationUrls(s: AcmeSession, authorization: AcmeAuthorization): AcmeAuthorization {
  for (const challenge of Array.isArray(authorization.challenges) ? authorization.challenges : []) {
    if (challenge?.url !== undefined) s.urls.check(String(challenge.url), "challenge URL");
  }
  return authorization;
}

/** Fetches an authorization. */
export async function getAuthorization(
  s: AcmeSession,
  url: string,
  req: RequestOptions = {},
): Promise<AcmeAuthorization> {
  return checkAuthorizationUrls(s, (await s.getWithRetryAfter<AcmeAuthorization>(url, req.signal)).value);
}

/** Tells the CA the challenge is ready to be validated (POST `{}`, RFC 8555 §7.5.1). */
export async function respondToChallenge(
  s: AcmeSession,
  url: string,
  req: RequestOptions = {},
): Promise<AcmeChallenge> {
  const res = await s.post(url, {}, req);
  return rememberRetryAfter(
    withUrl<AcmeChallenge>(parseJson(res), url),
    parseRetryAfter(res.headers.get("retry-after")),
  );
}

/** Deactivates an authorization (RFC 8555 §7.5.2). */
export async function deactivateAuthorization(
  s: AcmeSession,
  url: string,
  req: RequestOptions = {},
): Promise<AcmeAuthorization> {
  return withUrl<AcmeAuthorization>(parseJson(await s.post(url, { status: "deactivated" }, req)), url);
}

const IPV4_RE = /^(\d{1,3})(\.\d{1,3}){3}$/;

/** Types a bare string identifier: IPv4/IPv6 literals → "ip" (RFC 8738), anything else → "dns". */
export function toIdentifier(id: string | AcmeIdentifier): AcmeIdentifier {
  if (typeof id !== "string") return id;
  if (id === "") throw new TypeError("Empty identifier in newOrder");
  return IPV4_RE.test(id) || id.includes(":") ? { type: "ip", value: id } : { type: "dns", value: id };
}

function toRfc3339(value: Date | string): string {
  if (typeof value === "string") return value;
  if (Number.isNaN(value.getTime())) throw new TypeError("Invalid Date for notBefore/notAfter");
  return value.toISOString();
}
