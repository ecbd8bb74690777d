/**
 * Host accounts (RFC 8555 §7.3): newAccount with external account binding (required: it names the auth block the
 * account is bound to), `onlyReturnExisting`, account POST (POST-as-GET, `contact` update, `status: deactivated`)
 * and keyChange (§7.3.5).
 *
 * Contract: an account's key is unique (the store enforces it); a key that has an account gets that account (200 with
 * Location) whatever else the request says. Contacts are `mailto:` URLs, kept as sent, shown to nobody else. A
 * deactivated account is refused from then on (router.ts: `unauthorized`). Failures are `AcmeError`s.
 */
import type { AuthBlock } from "../config/types.ts";
import { blockAllowsAddress } from "../policy/authorize.ts";
import type { AcmeFrontAccount } from "../storage/port.ts";
import { type AcmeExchange, type BoundAccount, jsonResponse, type Signed } from "./context.ts";
import { verifyEab } from "./eab.ts";
import { type Jwk, parseJws, payloadJson, publicMembers, thumbprint, verifyJws } from "./jws.ts";
import { AcmeError } from "./problems.ts";
import { newId } from "./urls.ts";

/** The account object as a client sees it. */
export function accountJson(ex: AcmeExchange, account: AcmeFrontAccount): Record<string, unknown> {
  return {
    status: account.status,
    contact: account.contact,
    termsOfServiceAgreed: true,
    orders: `${ex.urls.account(account.id)}/orders`,
    createdAt: account.createdAt,
  };
}

/** Refuses a client whose address the block's `ip =` lines do not hold (as /sign would). */
export function checkClientAddress(ex: AcmeExchange, block: AuthBlock): void {
  if (blockAllowsAddress(block, ex.peer)) return;
  throw new AcmeError(
    "unauthorized",
    `The client address ${ex.client} is not allowed to use this account: check the auth block's ip = lines`,
  );
}

/** POST newAccount. */
export async function newAccount(ex: AcmeExchange, signed: Signed): Promise<Response> {
  const jwk = signed.jwk!;
  const payload = signed.payload ?? {};
  const print = await thumbprint(jwk);
  const found = await ex.state.stores.find(ex.context.config, (store) => store.accountByThumbprint(print));
  if (found) {
    return jsonResponse(200, accountJson(ex, found.value), { Location: ex.urls.account(found.value.id) });
  }
  if (payload.onlyReturnExisting === true) {
    throw new AcmeError("accountDoesNotExist", "No account has this key (onlyReturnExisting was set)");
  }
  if (payload.externalAccountBinding === undefined) {
    throw new AcmeError(
      "externalAccountRequired",
      "acmems requires external account binding: pass the acme-eab-kid and acme-eab-hmac-key of your auth block " +
        "(certbot --eab-kid/--eab-hmac-key, lego --eab --kid/--hmac)",
    );
  }
  const block = await verifyEab(payload.externalAccountBinding, jwk, ex.urls.newAccount, ex.context.config.auth);
  checkClientAddress(ex, block);
  const record: AcmeFrontAccount = {
    id: newId(),
    thumbprint: print,
    jwk: publicMembers(jwk),
    block: block.name,
    eabKid: block.acmeEab!.kid,
    status: "valid",
    contact: readContact(payload.contact),
    createdAt: ex.state.now().toISOString(),
  };
  const store = ex.state.stores.forBlock(ex.context.config, block);
  const stored = await store.createAccount(record);
  ex.state.log.info("acme account created", { account: stored.id, block: block.name, client: ex.client });
  return jsonResponse(stored.id === record.id ? 201 : 200, accountJson(ex, stored), {
    Location: ex.urls.account(stored.id),
  });
}

/** POST to the account URL: read, update contact, deactivate. */
export async function accountRequest(ex: AcmeExchange, signed: Signed, id: string): Promise<Response> {
  const account = signed.account!;
  if (account.record.id !== id) throw new AcmeError("unauthorized", "This account URL is not the signer's account");
  const payload = signed.payload;
  if (payload === undefined) return jsonResponse(200, accountJson(ex, account.record));
  const record = { ...account.record };
  if (payload.contact !== undefined) record.contact = readContact(payload.contact);
  if (payload.status !== undefined) {
    if (payload.status !== "deactivated") {
      throw new AcmeError("malformed", `An account's status can only be set to "deactivated"`);
    }
    record.status = "deactivated";
  }
  await account.store.updateAccount(record, record.thumbprint);
  if (record.status === "deactivated") {
    ex.state.log.info("acme account deactivated", { account: record.id, block: record.block, client: ex.client });
  }
  return jsonResponse(200, accountJson(ex, record));
}

/** The `orders` list of an account (RFC 8555 §7.1.2.1): acmems keeps no list, so it is always empty. */
export function accountOrders(_ex: AcmeExchange, signed: Signed, id: string): Response {
  if (signed.account!.record.id !== id) {
    throw new AcmeError("unauthorized", "This account URL is not the signer's account");
  }
  return jsonResponse(200, { orders: [] });
}

/** POST keyChange (RFC 8555 §7.3.5): the payload is a JWS by the new key over {account, oldKey}. */
export async function keyChange(ex: AcmeExchange, signed: Signed): Promise<Response> {
  const account: BoundAccount = signed.account!;
  const inner = parseJws(signed.payload, { nonce: "forbidden" });
  if (!inner.header.jwk) throw new AcmeError("malformed", "The inner JWS of a key change must carry the new jwk");
  if (inner.header.url !== signed.jws.header.url) {
    throw new AcmeError("malformed", "The inner JWS url must equal the outer JWS url");
  }
  await verifyJws(inner, inner.header.jwk);
  const body = payloadJson(inner) ?? {};
  if (body.account !== signed.jws.header.kid) {
    throw new AcmeError("malformed", "The key change payload's account is not the signer's account URL");
  }
  let oldPrint = "";
  try {
    oldPrint = await thumbprint(body.oldKey as Jwk);
  } catch {
    throw new AcmeError("malformed", "The key change payload's oldKey is not a JWK");
  }
  if (oldPrint !== account.record.thumbprint) {
    throw new AcmeError("malformed", "The key change payload's oldKey is not the account's current key");
  }
  const newJwk = publicMembers(inner.header.jwk);
  const newPrint = await thumbprint(newJwk);
  const holder = await ex.state.stores.find(ex.context.config, (store) => store.accountByThumbprint(newPrint));
  if (holder && holder.value.id !== account.record.id) {
    throw new AcmeError("malformed", "The new key is the key of another account", {
      kind: "conflict",
      headers: { Location: ex.urls.account(holder.value.id) },
    });
  }
  const record = { ...account.record, jwk: newJwk, thumbprint: newPrint };
  if (!(await account.store.updateAccount(record, account.record.thumbprint))) {
    throw new AcmeError("malformed", "The new key is the key of another account", { kind: "conflict" });
  }
  ex.state.log.info("acme account key changed", { account: record.id, block: record.block, client: ex.client });
  return jsonResponse(200, accountJson(ex, record));
}

function readContact(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((c) => typeof c !== "string")) {
    throw new AcmeError("malformed", "contact must be a list of mailto: URLs");
  }
  if (value.length > 10) throw new AcmeError("malformed", "contact has more than 10 entries");
  for (const c of value as string[]) {
    if (!/^mailto:[^\s,?]+@[^\s,?]+$/.test(c)) {
      throw new AcmeError("malformed", `contact ${JSON.stringify(c.slice(0, 80))} is not a mailto: URL`);
    }
  }
  return value as string[];
}
