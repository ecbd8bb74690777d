/**
 * Account operations (RFC 8555 §7.3): create/find, read, update contacts, deactivate, key change.
 * Each is one signed request through the session (badNonce retried there, every other CA error thrown
 * as `AcmeProblem`); a key change switches the session's signing key only after the CA accepted it.
 */
import { parseJson } from "./answers.ts";
import type { AccountResult, NewAccountOptions, RequestOptions } from "./client_options.ts";
import { externalAccountBinding } from "./eab.ts";
import { AcmeUnsupportedError } from "./errors.ts";
import { exportPublicJwk } from "./jwk.ts";
import { signJws } from "./jws.ts";
import type { AcmeSession } from "./session.ts";
import type { AcmeAccount } from "./types.ts";

/** Creates (201) or finds (200) the account for the session's key; the session keeps its URL. */
export async function newAccount(
  s: AcmeSession,
  opts: NewAccountOptions = {},
  req: RequestOptions = {},
): Promise<AccountResult> {
  const dir = await s.directory(req);
  const payload: Record<string, unknown> = {};
  if (opts.contact) payload.contact = opts.contact;
  if (opts.termsOfServiceAgreed !== undefined) payload.termsOfServiceAgreed = opts.termsOfServiceAgreed;
  if (opts.onlyReturnExisting) payload.onlyReturnExisting = true;
  if (opts.eab) {
    payload.externalAccountBinding = await externalAccountBinding(opts.eab, await s.publicJwk(), dir.newAccount);
  }
  const res = await s.post(dir.newAccount, payload, { ...req, jwkOf: s.accountKey });
  const url = s.location(res);
  s.accountUrl = url;
  return { url, account: parseJson<AcmeAccount>(res), created: res.status === 201 };
}

/** Fetches the account object. */
export async function getAccount(s: AcmeSession, req: RequestOptions = {}): Promise<AcmeAccount> {
  const url = s.requireAccount();
  return parseJson<AcmeAccount>(await s.post(url, undefined, req));
}

/** Replaces the account's contact URLs. */
export async function updateAccount(
  s: AcmeSession,
  update: { contact: string[] },
  req: RequestOptions = {},
): Promise<AcmeAccount> {
  const url = s.requireAccount();
  return parseJson<AcmeAccount>(await s.post(url, { contact: update.contact }, req));
}

/** Deactivates the account (irreversible, RFC 8555 §7.3.6). */
export async function deactivateAccount(s: AcmeSession, req: RequestOptions = {}): Promise<AcmeAccount> {
  const url = s.requireAccount();
  return parseJson<AcmeAccount>(await s.post(url, { status: "deactivated" }, req));
}

/** Rolls the account over to a new key (RFC 8555 §7.3.5); the session signs with it afterwards. */
export async function changeAccountKey(s: AcmeSession, newKey: CryptoKeyPair, req: RequestOptions = {}): Promise<void> {
  const account = s.requireAccount();
  const dir = await s.directory(req);
  if (!dir.keyChange) throw new AcmeUnsupportedError(`The CA at ${s.directoryUrl} offers no keyChange`);
  const inner = await signJws({
    privateKey: newKey.privateKey,
    url: dir.keyChange,
    jwk: await exportPublicJwk(newKey.publicKey),
    payload: { account, oldKey: await s.publicJwk() },
  });
  await s.post(dir.keyChange, inner, req);
  s.accountKey = newKey;
}
