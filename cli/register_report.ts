/**
 * What `acmems register` prints for an enrollment outcome (src/account/enroll.ts): the account shown, created,
 * found or recovered, or what the operator must do; returns the exit status.
 */
import type { AcmeDirectoryMeta } from "../src/acme/mod.ts";
import type { Enrollment } from "../src/account/enroll.ts";
import { accountKeyPath } from "../src/account/store.ts";
import type { AccountConfig } from "../src/config/types.ts";
import { describeCaError } from "./ca_error.ts";
import type { Output } from "./register_key.ts";

/** The config files as they go on a command line (quoted for a POSIX shell where needed), for "run …" hints. */
export function commandFiles(files: readonly string[]): string {
  return files.map((f) => /^[A-Za-z0-9_@%+=:,./-]+$/.test(f) ? f : `'${f.replaceAll("'", `'"'"'`)}'`).join(" ");
}

/** How the terms refusal came about: the flag given, the config files, the CA. */
export interface TermsContext {
  /** `--accept-terms-of-service[=URL]`: true (any), the URL, or undefined (not given). */
  flag?: true | string;
  files: readonly string[];
  acmeServer: string;
}

/** What to do when the CA's terms `caTerms` are not among the `accepted` ones. */
export function termsRefusal(caTerms: string, accepted: string[], context: TermsContext): string {
  const files = commandFiles(context.files);
  const run = `acmems register --accept-terms-of-service=${caTerms} ${files}`;
  if (typeof context.flag === "string" && context.flag !== caTerms) {
    return `--accept-terms-of-service=${context.flag} is not the CA's current terms of service: ${context.acmeServer} ` +
      `now has ${caTerms}. Read them, then run ${run}`;
  }
  return accepted.length > 0
    ? `The CA's terms of service are now ${caTerms}, not ${accepted.join(", ")} (accept-terms-of-service in ` +
      `${files}): read them, then run ${run} (or update accept-terms-of-service in the config)`
    : `You need to accept the terms of service at ${caTerms}: run acmems register --accept-terms-of-service ${files}`;
}

/**
 * A note when `--accept-terms-of-service=URL` names other terms than the CA's current ones (or the CA has none),
 * for outcomes where nothing was agreed (the account existed already); null when there is nothing to say.
 */
export function flagTermsNote(
  flag: true | string | undefined,
  caTerms: string | undefined,
  acmeServer: string,
): string | null {
  if (typeof flag !== "string" || flag === caTerms) return null;
  if (caTerms === undefined) {
    return `Note: --accept-terms-of-service=${flag}: ${acmeServer} publishes no terms of service; nothing to agree to.`;
  }
  return `Warning: --accept-terms-of-service=${flag} is not the CA's current terms of service: ${acmeServer} now ` +
    `has ${caTerms}; nothing was agreed (agreement to changed terms is given on the CA's website or by registering ` +
    "a new account).";
}

/** Prints an enrollment outcome; returns the exit status. */
export function report(
  outcome: Enrollment,
  { registering, contact }: { registering: boolean; contact: string[] },
  opts: { acceptTos?: true | string; files: string[] },
  account: AccountConfig,
  out: Output,
): number {
  if (outcome.kind === "ca-error") {
    out.error(describeCaError(outcome.error, account.acmeServer));
    return 1;
  }
  const { meta } = outcome;
  const files = commandFiles(opts.files);
  const note = flagTermsNote(opts.acceptTos, meta.termsOfService, account.acmeServer);
  const contactsUpdated = (url: string) =>
    out.info(`Updated the contacts of ${url} to ${contact.join(", ") || "(none)"}.`);
  switch (outcome.kind) {
    case "known": {
      const current = outcome.account!;
      if (outcome.contactsUpdated) contactsUpdated(outcome.url);
      if (registering) {
        out.info(`The account is already registered: ${outcome.url} (status ${current.status}).`);
        if (note) out.error(note);
        return 0;
      }
      const agreed = outcome.registration.termsOfServiceAgreed;
      printAccount(outcome.url, current.status, current.contact ?? [], meta, agreed, out);
      if (note) out.error(note);
      else if (opts.acceptTos !== undefined && meta.termsOfService && agreed !== meta.termsOfService) {
        out.info(
          `The CA's terms of service are ${meta.termsOfService}; agreement to changed terms is given on the CA's ` +
            "website or by registering a new account.",
        );
      }
      return 0;
    }
    case "recovered":
      if (outcome.contactsUpdated) contactsUpdated(outcome.url);
      out.info(`Recovered the existing account of this key from the CA and wrote registration.json: ${outcome.url}`);
      printAccount(outcome.url, outcome.account.status, outcome.account.contact ?? [], meta, undefined, out);
      if (note) out.error(note);
      return 0;
    case "created":
      out.info(`Registered a new account at ${account.acmeServer}: ${outcome.url}`);
      if (meta.termsOfService) out.info(`Agreed to the terms of service at ${meta.termsOfService}.`);
      out.info(`Next: acmems serve ${files}`);
      return 0;
    case "found":
      out.info(`This key already has an account at ${account.acmeServer}: ${outcome.url} (registration.json written).`);
      out.info(`Next: acmems serve ${files}`);
      return 0;
    case "no-account":
      out.error(
        `The key in ${accountKeyPath(account.dir)} has no account at ${account.acmeServer}: run acmems register ` +
          `--register --accept-terms-of-service ${files}`,
      );
      return 1;
    case "terms-not-accepted":
      out.error(
        termsRefusal(outcome.tosUrl, outcome.accepted, {
          flag: opts.acceptTos,
          files: opts.files,
          acmeServer: account.acmeServer,
        }),
      );
      return 1;
    case "eab-required":
      out.error(
        "The CA requires external account binding: pass --eab-kid and --eab-hmac-key-file " +
          "(or set eab-kid and eab-hmac-key in [account]) with the values your CA gave you.",
      );
      return 1;
  }
}

function printAccount(
  url: string,
  status: string,
  contact: string[],
  meta: AcmeDirectoryMeta,
  agreed: string | undefined,
  out: Output,
): void {
  out.info(`Account:  ${url}`);
  out.info(`Status:   ${status}`);
  out.info(`Contacts: ${contact.length > 0 ? contact.join(", ") : "(none)"}`);
  if (meta.termsOfService) {
    const state = agreed === meta.termsOfService
      ? "agreed"
      : agreed
      ? `agreed to earlier terms (${agreed})`
      : "agreed when the account was created (version not recorded)";
    out.info(`Terms:    ${meta.termsOfService} (${state})`);
  } else {
    out.info("Terms:    the CA publishes none");
  }
}
