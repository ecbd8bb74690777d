/**
 * Enrollment, once for `acmems register` and `acmems serve`: given an ACME client for the account key, find the
 * key's account (registration.json, else the CA's onlyReturnExisting lookup), or create one when the terms of
 * service are agreed and the external account binding is at hand. The answer is a typed outcome; the callers print
 * it (cli/register.ts) or act on it (src/account/session.ts), never parsing message text.
 *
 * Contract: the lookup always comes before any newAccount, so a key that already has an account is recovered and
 * never registered twice. registration.json is written (atomically, src/account/store.ts) for every outcome that
 * names an account; refusals write nothing. `enroll` never throws for the CA or the network (outcome `ca-error`,
 * the caller decides whether to retry); it throws `AccountStoreError` when registration.json cannot be written.
 */
import type { AccountResult, AcmeAccount, AcmeClient, AcmeDirectoryMeta } from "../acme/mod.ts";
import { isProblem } from "../acme/mod.ts";
import type { AccountConfig } from "../config/types.ts";
import { type Clock, systemClock } from "../lib/clock.ts";
import { AccountStoreError, loadRegistration, type Registration, saveRegistration } from "./store.ts";

export interface EnrollRequest {
  account: AccountConfig;
  /** The registration.json for this CA (null: none, or one for another CA: see `registrationFor`). */
  registration: Registration | null;
  /** "create": find the account or create it; "lookup": find it only (outcome `no-account` otherwise). */
  mode: "create" | "lookup";
  /** Ask the CA for the account object even when registration.json names it (and store the answer). */
  refresh: boolean;
  /** Contact URLs (`mailto:…`) of a new account. */
  contact: string[];
  /** Also set `contact` on a found account whose contacts differ. */
  updateContact?: boolean;
  /** Terms agreed on the command line (true: any), besides `[account] accept-terms-of-service`. */
  acceptTos?: true | string;
  /** The external account binding, when there is one. */
  eab?: { kid: string; hmacKey: string };
  now?: Clock;
}

/** An account the key has; `url` is the account URL. */
export type Enrolled =
  /** registration.json named it (with `refresh`, `account` is the CA's current object). */
  | { kind: "known"; url: string; registration: Registration; account?: AcmeAccount; contactsUpdated: boolean }
  /** The CA's onlyReturnExisting lookup found it (registration.json was missing or for another CA). */
  | { kind: "recovered"; url: string; account: AcmeAccount; contactsUpdated: boolean }
  /** newAccount created it (201). */
  | { kind: "created"; url: string; account: AcmeAccount }
  /** newAccount answered with an account the key already had (200). */
  | { kind: "found"; url: string; account: AcmeAccount };

/** Why no account could be had; the operator has to act. */
export type EnrollRefusal =
  /** Mode "lookup": the CA knows no account for the key. */
  | { kind: "no-account" }
  /** No account, and the CA's terms `tosUrl` are not among the `accepted` ones (nor is "any" accepted). */
  | { kind: "terms-not-accepted"; tosUrl: string; accepted: string[] }
  /** No account, and the CA requires external account binding that was not given. */
  | { kind: "eab-required" };

export type Enrollment =
  | ((Enrolled | EnrollRefusal) & { meta: AcmeDirectoryMeta })
  /** The CA could not be reached or refused a request; `meta` is set when its directory did answer. */
  | { kind: "ca-error"; error: unknown; meta?: AcmeDirectoryMeta };

/** The stored registration when it is for `account`'s CA; `otherCa` names the CA of one that is not. */
export async function registrationFor(
  account: AccountConfig,
): Promise<{ registration: Registration | null; otherCa?: string }> {
  const stored = await loadRegistration(account.dir);
  if (!stored) return { registration: null };
  if (stored.directoryUrl === account.acmeServer) return { registration: stored };
  return { registration: null, otherCa: stored.directoryUrl };
}

/** Whether the CA's terms are agreed, by the command line flag or the config; else the terms accepted instead. */
export function termsAgreement(
  caTerms: string | undefined,
  flag: true | string | undefined,
  config: AccountConfig["acceptTermsOfService"],
): { agreed: true } | { agreed: false; accepted: string[] } {
  if (caTerms === undefined) return { agreed: true };
  if (flag === true || config.kind === "any") return { agreed: true };
  const accepted = [...(typeof flag === "string" ? [flag] : []), ...(config.kind === "urls" ? config.urls : [])];
  return accepted.includes(caTerms) ? { agreed: true } : { agreed: false, accepted };
}

/** Finds or creates the key's account (see the contract above). */
export async function enroll(client: AcmeClient, request: EnrollRequest): Promise<Enrollment> {
  let meta: AcmeDirectoryMeta | undefined;
  try {
    meta = await client.meta();
    const outcome = await enrollWith(client, meta, request);
    return { ...outcome, meta };
  } catch (error) {
    if (error instanceof AccountStoreError) throw error;
    return { kind: "ca-error", error, meta };
  }
}

async function enrollWith(
  client: AcmeClient,
  meta: AcmeDirectoryMeta,
  request: EnrollRequest,
): Promise<Enrolled | EnrollRefusal> {
  const { account, registration } = request;
  const now = request.now ?? systemClock;
  const save = (result: { url: string; account: AcmeAccount }, terms?: string) =>
    saveRegistration(account.dir, toRegistration(result, account.acmeServer, now(), terms));
  const updateContacts = async (current: AcmeAccount): Promise<AcmeAccount | null> =>
    request.updateContact && !sameSet(current.contact ?? [], request.contact)
      ? await client.updateAccount({ contact: request.contact })
      : null;

  if (registration) {
    if (!request.refresh) return { kind: "known", url: registration.url, registration, contactsUpdated: false };
    const current = await client.getAccount();
    const updated = await updateContacts(current);
    const latest = updated ?? current;
    await saveRegistration(account.dir, { ...registration, account: latest, updatedAt: now().toISOString() });
    return { kind: "known", url: registration.url, registration, account: latest, contactsUpdated: !!updated };
  }

  // The key may already have an account (registered elsewhere, registration.json lost): recover it with
  // onlyReturnExisting before anything is created, whatever the terms and the binding.
  const existing = await findExisting(client);
  if (existing) {
    const updated = await updateContacts(existing.account);
    const found = { url: existing.url, account: updated ?? existing.account };
    // The CA does not say which terms an existing account agreed to; it agreed to some to exist at all.
    await save(found);
    return { kind: "recovered", ...found, contactsUpdated: !!updated };
  }
  if (request.mode === "lookup") return { kind: "no-account" };

  const terms = termsAgreement(meta.termsOfService, request.acceptTos, account.acceptTermsOfService);
  if (!terms.agreed) return { kind: "terms-not-accepted", tosUrl: meta.termsOfService!, accepted: terms.accepted };
  if (meta.externalAccountRequired && !request.eab) return { kind: "eab-required" };

  const result = await client.newAccount({
    contact: request.contact,
    termsOfServiceAgreed: meta.termsOfService !== undefined ? true : undefined,
    eab: request.eab,
  });
  await save(result, meta.termsOfService);
  return { kind: result.created ? "created" : "found", url: result.url, account: result.account };
}

async function findExisting(client: AcmeClient): Promise<AccountResult | null> {
  try {
    return await client.findAccount();
  } catch (error) {
    if (isProblem(error, "accountDoesNotExist")) return null;
    throw error;
  }
}

function toRegistration(
  result: { url: string; account: AcmeAccount },
  directoryUrl: string,
  at: Date,
  terms: string | undefined,
): Registration {
  const registration: Registration = {
    url: result.url,
    directoryUrl,
    account: result.account,
    updatedAt: at.toISOString(),
  };
  if (terms) registration.termsOfServiceAgreed = terms;
  return registration;
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
