/**
 * Orders, authorizations and challenges (RFC 8555 §7.4, §7.5; RFC 8738 ip identifiers; RFC 9773 `replaces`; the
 * profiles extension).
 *
 * acmems, not the host, proves control to the upstream CA, so authorization is the auth block's decision: every
 * identifier the account's block admits (`domain =` globs, `ip-identifiers`) is refused or admitted at newOrder
 * (`rejectedIdentifier`, naming each refused identifier in a subproblem), and the authorizations of an admitted order
 * are `valid` from the start, each with one `valid` challenge (http-01; dns-01 for a wildcard) that needs no answer.
 * An order is therefore `ready` at once; finalize.ts takes it on. Deactivating an authorization makes its order
 * `invalid`. Orders expire after 7 days.
 */
import { ipName, isIpName, normalizeDnsName } from "../csr/names.ts";
import { maxNamesForProfile } from "../csr/intake.ts";
import { blockAdmitsName } from "../policy/authorize.ts";
import type { AcmeFrontOrder } from "../storage/port.ts";
import { b64url, utf8 } from "../acme/encoding.ts";
import { checkClientAddress } from "./accounts.ts";
import { type AcmeExchange, type BoundAccount, jsonResponse, type Signed } from "./context.ts";
import { AcmeError, errorType, type Subproblem } from "./problems.ts";
import { newId } from "./urls.ts";

const ORDER_LIFETIME_MS = 7 * 86_400_000;

type Identifier = { type: string; value: string };

/** The order object as a client sees it. */
export function orderJson(ex: AcmeExchange, order: AcmeFrontOrder): Record<string, unknown> {
  const json: Record<string, unknown> = {
    status: order.status,
    expires: order.expires,
    identifiers: order.identifiers,
    authorizations: order.identifiers.map((_, i) => ex.urls.authorization(order.id, i)),
    finalize: ex.urls.finalize(order.id),
  };
  if (order.profile) json.profile = order.profile;
  if (order.replaces) json.replaces = order.replaces;
  if (order.status === "valid") json.certificate = ex.urls.certificate(order.id);
  if (order.error) json.error = order.error;
  return json;
}

/** The order's answer headers: its Location, and Retry-After while it is processing. */
export function orderHeaders(ex: AcmeExchange, order: AcmeFrontOrder): Record<string, string> {
  const headers: Record<string, string> = { Location: ex.urls.order(order.id) };
  if (order.status === "processing") headers["Retry-After"] = String(ex.state.processingRetryAfter);
  return headers;
}

/** The normalized identifiers of a newOrder payload; throws malformed / unsupportedIdentifier / rejectedIdentifier. */
export function readIdentifiers(value: unknown): Identifier[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new AcmeError("malformed", "identifiers must be a non-empty list of {type, value}");
  }
  const out: Identifier[] = [];
  const seen = new Set<string>();
  for (const item of value) {
    const type = (item as Identifier)?.type;
    const raw = (item as Identifier)?.value;
    if (typeof type !== "string" || typeof raw !== "string") {
      throw new AcmeError("malformed", "Each identifier needs a type and a value string");
    }
    let normalized: string;
    if (type === "dns") {
      const checked = normalizeDnsName(raw);
      if (!checked.ok) throw new AcmeError("rejectedIdentifier", checked.reason);
      normalized = checked.name;
    } else if (type === "ip") {
      const canonical = ipName(raw);
      if (canonical === null) {
        throw new AcmeError("malformed", `ip identifier ${JSON.stringify(raw.slice(0, 60))} is not an IP address`);
      }
      normalized = canonical;
    } else {
      throw new AcmeError(
        "unsupportedIdentifier",
        `Identifier type ${JSON.stringify(type.slice(0, 20))} is not supported: use dns or ip`,
      );
    }
    if (seen.has(`${type} ${normalized}`)) continue;
    seen.add(`${type} ${normalized}`);
    out.push({ type, value: normalized });
  }
  return out;
}

/** POST newOrder. */
export async function newOrder(ex: AcmeExchange, signed: Signed): Promise<Response> {
  const account = signed.account!;
  const { block } = account;
  checkClientAddress(ex, block);
  const payload = signed.payload ?? {};
  if (payload.notBefore !== undefined || payload.notAfter !== undefined) {
    throw new AcmeError("malformed", "notBefore and notAfter are not supported: leave them out");
  }
  const identifiers = readIdentifiers(payload.identifiers);
  const profile = await readProfile(ex, account, payload.profile);
  const max = maxNamesForProfile(profile ?? ex.context.config.account.profile);
  if (identifiers.length > max) {
    throw new AcmeError("rejectedIdentifier", `The order has ${identifiers.length} identifiers, more than ${max}`);
  }
  const refused: Subproblem[] = [];
  const verification = ex.context.config.verifications.get(block.verification);
  for (const identifier of identifiers) {
    const shown = `${identifier.type} identifier ${identifier.value}`;
    let detail: string | null = null;
    if (!blockAdmitsName(block, identifier.value) || (identifier.type === "dns") === isIpName(identifier.value)) {
      detail = `${shown} is not allowed for this account (auth block "${block.name}"): ` +
        "ask the operator to add it to the block's domain = (or ip-identifiers =) lines";
    } else if (identifier.value.startsWith("*.") && verification?.type === "http01") {
      detail = `${shown} is a wildcard: CAs validate wildcards only over dns-01, but auth block "${block.name}" ` +
        `uses the http01 verification "${block.verification}"`;
    }
    if (detail) refused.push({ type: errorType("rejectedIdentifier"), detail, identifier });
  }
  if (refused.length > 0) {
    throw new AcmeError(
      "rejectedIdentifier",
      refused.length === 1 ? refused[0].detail : `${refused.length} identifiers refused: ` +
        refused.map((r) => r.identifier.value).join(", "),
      { subproblems: refused },
    );
  }
  const replaces = await readReplaces(ex, account, payload.replaces);
  const now = ex.state.now();
  const order: AcmeFrontOrder = {
    id: newId(),
    account: account.record.id,
    identifiers,
    status: "ready",
    expires: new Date(now.getTime() + ORDER_LIFETIME_MS).toISOString(),
    createdAt: now.toISOString(),
  };
  if (profile) order.profile = profile;
  if (replaces) order.replaces = replaces;
  await account.store.putOrder(order);
  ex.state.log.info("acme order created", {
    account: account.record.id,
    order: order.id,
    names: identifiers.map((i) => i.value),
    block: block.name,
    client: ex.client,
  });
  return jsonResponse(201, orderJson(ex, order), orderHeaders(ex, order));
}

/**
 * The profile a newOrder asks for: absent means the block's (or [account]'s) profile; a block with a profile allows
 * only that one; the upstream CA must advertise it when it advertises profiles (`invalidProfile` otherwise).
 */
async function readProfile(ex: AcmeExchange, account: BoundAccount, value: unknown): Promise<string | undefined> {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw new AcmeError("malformed", "profile must be a string");
  const own = account.block.profile;
  if (own && own !== value) {
    throw new AcmeError(
      "invalidProfile",
      `Profile "${value.slice(0, 40)}" is not allowed for this account: its auth block uses profile "${own}"`,
    );
  }
  let advertised: Record<string, string> | undefined;
  try {
    advertised = (await ex.context.upstream?.().directory())?.meta?.profiles;
  } catch {
    advertised = undefined;
  }
  if (advertised && !(value in advertised)) {
    throw new AcmeError(
      "invalidProfile",
      `Profile "${value.slice(0, 40)}" is not offered: use one of ${Object.keys(advertised).join(", ")}`,
    );
  }
  return value;
}

/** RFC 9773 `replaces`: a certID; when acmems issued it, it must be this account's. */
async function readReplaces(ex: AcmeExchange, account: BoundAccount, value: unknown): Promise<string | undefined> {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(value)) {
    throw new AcmeError("malformed", "replaces must be an ARI certID (base64url AKI, a dot, base64url serial)");
  }
  const known = await ex.state.stores.find(ex.context.config, (store) => store.getCertificate(value));
  if (known && known.value.account !== account.record.id) {
    throw new AcmeError("unauthorized", "The certificate named by replaces was not issued to this account");
  }
  return value;
}

/** The signer's order `id`, or `malformed` 404 when it is not the signer's (no difference is shown). */
export async function ownOrder(_ex: AcmeExchange, signed: Signed, id: string): Promise<AcmeFrontOrder> {
  const account = signed.account!;
  const order = await account.store.getOrder(id);
  if (!order || order.account !== account.record.id) {
    throw new AcmeError("malformed", `No order ${id.slice(0, 40)} for this account`, { kind: "not-found" });
  }
  return order;
}

/** An authorization: identifier `index` of the order. */
function authorizationJson(ex: AcmeExchange, order: AcmeFrontOrder, index: number): Record<string, unknown> {
  const identifier = order.identifiers[index];
  const wildcard = identifier.type === "dns" && identifier.value.startsWith("*.");
  const deactivated = order.deactivated?.includes(index) ?? false;
  const json: Record<string, unknown> = {
    identifier: wildcard ? { type: "dns", value: identifier.value.slice(2) } : identifier,
    status: deactivated ? "deactivated" : "valid",
    expires: order.expires,
    challenges: [challengeJson(ex, order, index)],
  };
  if (wildcard) json.wildcard = true;
  return json;
}

function challengeJson(ex: AcmeExchange, order: AcmeFrontOrder, index: number): Record<string, unknown> {
  const wildcard = order.identifiers[index].value.startsWith("*.");
  return {
    type: wildcard ? "dns-01" : "http-01",
    url: ex.urls.challenge(order.id, index),
    status: "valid",
    token: b64url(utf8(`${order.id}.${index}`)),
    validated: order.createdAt,
  };
}

function indexOf(order: AcmeFrontOrder, text: string): number {
  const index = /^\d{1,3}$/.test(text) ? Number(text) : -1;
  if (index < 0 || index >= order.identifiers.length) {
    throw new AcmeError("malformed", `No authorization ${text.slice(0, 10)} in this order`, { kind: "not-found" });
  }
  return index;
}

/** POST to an order URL (POST-as-GET). finalize.ts resumes a processing order first. */
export function orderResponse(ex: AcmeExchange, order: AcmeFrontOrder): Response {
  return jsonResponse(200, orderJson(ex, order), orderHeaders(ex, order));
}

/** POST to an authorization URL: POST-as-GET, or `{status: "deactivated"}`. */
export async function authorizationRequest(
  ex: AcmeExchange,
  signed: Signed,
  orderId: string,
  indexText: string,
): Promise<Response> {
  const order = await ownOrder(ex, signed, orderId);
  const index = indexOf(order, indexText);
  const payload = signed.payload;
  if (payload?.status !== undefined) {
    if (payload.status !== "deactivated") {
      throw new AcmeError("malformed", `An authorization's status can only be set to "deactivated"`);
    }
    order.deactivated = [...new Set([...(order.deactivated ?? []), index])];
    if (order.status === "ready" || order.status === "pending") {
      order.status = "invalid";
      order.error = {
        type: errorType("unauthorized"),
        detail: `The authorization for ${order.identifiers[index].value} was deactivated`,
      };
    }
    await signed.account!.store.putOrder(order);
  }
  return jsonResponse(200, authorizationJson(ex, order, index), { Location: ex.urls.authorization(order.id, index) });
}

/** POST to a challenge URL: the challenge is valid already; answering it changes nothing. */
export async function challengeRequest(
  ex: AcmeExchange,
  signed: Signed,
  orderId: string,
  indexText: string,
): Promise<Response> {
  const order = await ownOrder(ex, signed, orderId);
  const index = indexOf(order, indexText);
  return jsonResponse(200, challengeJson(ex, order, index), {
    Link: `<${ex.urls.authorization(order.id, index)}>;rel="up"`,
  });
}
