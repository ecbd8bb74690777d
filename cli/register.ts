/**
 * `acmems register`: the account key and the ACME account (the original's `acme-register`).
 */
import {
  type AccountResult,
  AcmeClient,
  type AcmeDirectoryMeta,
  isProblem,
  KEY_TYPES,
  type KeyType,
} from "../src/acme/mod.ts";
import { generateKeyPair } from "../src/acme/mod.ts";
import {
  accountKeyPath,
  AccountStoreError,
  loadAccountKey,
  loadRegistration,
  type Registration,
  saveAccountKey,
  saveRegistration,
} from "../src/account/store.ts";
import { loadConfig } from "../src/config/load.ts";
import { formatDiagnostic } from "../src/config/summary.ts";
import type { AccountConfig } from "../src/config/types.ts";
import { parseAbsoluteUrl, parseEmail } from "../src/config/values.ts";
import { VERSION } from "../src/version.ts";
import { type Subcommand, UsageError } from "./usage.ts";

const USAGE = `Usage: acmems register [options] CONFIG...

Creates the account key and the ACME account named by [account] in CONFIG, or shows the account.

Actions (with none, the account is shown):
  --gen-key                         generate account.pem in [account] dir (mode 0600)
      --key-type TYPE               ec-p256 (default), ec-p384, rsa-2048, rsa-3072, rsa-4096
      --force                       replace an existing account key
  --register                        create the account at the CA (or find the one this key already has)
      --email ADDRESS               contact address, repeatable (default: [account] email)
      --accept-terms-of-service[=URL]
                                    agree to the CA's terms of service (any, or only this URL);
                                    [account] accept-terms-of-service counts too
      --eab-kid KID --eab-hmac-key KEY
                                    external account binding (default: [account] eab-kid/eab-hmac-key)
  -h, --help                        show this help

Files in [account] dir: account.pem (the key) and registration.json (account URL and the CA's answer).
A key that is registered but lacks registration.json is recovered from the CA.

Example:
  acmems register --gen-key --register --email ops@example.org --accept-terms-of-service /etc/acmems/acmems.ini
`;

interface RegisterOptions {
  genKey: boolean;
  keyType: KeyType;
  force: boolean;
  register: boolean;
  emails: string[];
  /** undefined: not given; true: any; string: this URL. */
  acceptTos?: true | string;
  eabKid?: string;
  eabHmacKey?: string;
  files: string[];
}

/** Parses the command line; throws UsageError. */
export function parseRegisterArgs(args: string[]): RegisterOptions {
  const opts: RegisterOptions = {
    genKey: false,
    keyType: "ec-p256",
    force: false,
    register: false,
    emails: [],
    files: [],
  };
  const takeValue = (flag: string, inline: string | undefined, rest: string[]): string => {
    if (inline !== undefined) return inline;
    const next = rest.shift();
    if (next === undefined || next.startsWith("--")) throw new UsageError(`${flag} needs a value`);
    return next;
  };
  const rest = [...args];
  while (rest.length > 0) {
    const arg = rest.shift()!;
    if (!arg.startsWith("--") || arg === "--") {
      if (arg === "--") opts.files.push(...rest.splice(0));
      else if (arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown option "${arg}"`);
      else opts.files.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    switch (flag) {
      case "--gen-key":
      case "--force":
      case "--register":
        if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
        if (flag === "--gen-key") opts.genKey = true;
        else if (flag === "--force") opts.force = true;
        else opts.register = true;
        break;
      case "--key-type": {
        const value = takeValue(flag, inline, rest);
        if (!KEY_TYPES.includes(value as KeyType)) {
          throw new UsageError(`--key-type "${value}" is not one of ${KEY_TYPES.join(", ")}`);
        }
        opts.keyType = value as KeyType;
        break;
      }
      case "--email": {
        const value = takeValue(flag, inline, rest);
        const parsed = parseEmail(value);
        if ("error" in parsed) throw new UsageError(`--email: ${parsed.error}`);
        opts.emails.push(parsed.value);
        break;
      }
      case "--accept-terms-of-service":
        if (inline === undefined || inline === "") opts.acceptTos = true;
        else {
          // Kept as written: it is compared with the CA's termsOfService exactly (any scheme, e.g. pebble's data:).
          const url = parseAbsoluteUrl(inline);
          if ("error" in url) {
            throw new UsageError(
              `--accept-terms-of-service=${inline}: the value must be the terms' URL (${url.error})`,
            );
          }
          opts.acceptTos = url.value;
        }
        break;
      case "--eab-kid":
        opts.eabKid = takeValue(flag, inline, rest);
        break;
      case "--eab-hmac-key":
        opts.eabHmacKey = takeValue(flag, inline, rest);
        break;
      default:
        throw new UsageError(`unknown option "${flag}"`);
    }
  }
  if (opts.files.length === 0) throw new UsageError("no config file given");
  if ((opts.eabKid === undefined) !== (opts.eabHmacKey === undefined)) {
    throw new UsageError("--eab-kid and --eab-hmac-key go together");
  }
  if (opts.keyType !== "ec-p256" && !opts.genKey) throw new UsageError("--key-type only applies with --gen-key");
  if (opts.force && !opts.genKey) throw new UsageError("--force only applies with --gen-key");
  return opts;
}

/** Prints lines; tests replace it. */
export interface Output {
  info(line: string): void;
  error(line: string): void;
}

const consoleOutput: Output = { info: (l) => console.log(l), error: (l) => console.error(l) };

/** Decides whether the CA's current terms are agreed, from the flag and the config. */
export function termsDecision(
  caTerms: string | undefined,
  flag: true | string | undefined,
  config: AccountConfig["acceptTermsOfService"],
): { agreed: boolean; reason?: string } {
  if (caTerms === undefined) return { agreed: true };
  if (flag === true || config.kind === "any") return { agreed: true };
  const accepted = [...(typeof flag === "string" ? [flag] : []), ...(config.kind === "urls" ? config.urls : [])];
  if (accepted.includes(caTerms)) return { agreed: true };
  const reason = accepted.length > 0
    ? `The CA's terms of service are now ${caTerms}, not ${accepted.join(", ")}: read them, then run ` +
      `acmems register --accept-terms-of-service=${caTerms} CONFIG (or update accept-terms-of-service in the config)`
    : `You need to accept the terms of service at ${caTerms}: run acmems register --accept-terms-of-service CONFIG`;
  return { agreed: false, reason };
}

/** The register subcommand; returns the exit status. */
export async function runRegister(opts: RegisterOptions, out: Output = consoleOutput): Promise<number> {
  const result = await loadConfig(opts.files);
  for (const w of result.warnings) out.error(formatDiagnostic(w, "warning"));
  if (!result.ok || !result.config) {
    for (const e of result.errors) out.error(formatDiagnostic(e, "error"));
    out.error("The config is invalid: fix the errors above (acmems check-config shows them too).");
    return 1;
  }
  const account = result.config.account;
  const dir = account.dir;

  try {
    if (opts.genKey) {
      const keyPair = await generateKeyPair(opts.keyType, { extractable: true });
      await saveAccountKey(dir, keyPair, { force: opts.force });
      out.info(`Generated a new ${describeKeyType(opts.keyType)} account key in ${accountKeyPath(dir)} (mode 0600).`);
      if (!opts.register && opts.acceptTos === undefined) {
        out.info(`Next: acmems register --register --accept-terms-of-service ${opts.files.join(" ")}`);
        return 0;
      }
    }

    const loaded = await loadAccountKey(dir);
    if (!loaded) {
      out.error(
        `No account key at ${accountKeyPath(dir)}: run acmems register --gen-key --register ` +
          `--accept-terms-of-service ${opts.files.join(" ")}`,
      );
      return 1;
    }
    for (const warning of loaded.warnings) out.error(`Warning: ${warning}`);

    let caCerts: string[] | undefined;
    if (account.caFile) {
      try {
        caCerts = [await Deno.readTextFile(account.caFile)];
      } catch (error) {
        out.error(`Cannot read [account] ca-file ${account.caFile}: ${error instanceof Error ? error.message : error}`);
        return 1;
      }
    }
    const stored = await loadRegistration(dir);
    const registration = stored && stored.directoryUrl === account.acmeServer ? stored : null;
    if (stored && !registration) {
      out.error(
        `Note: registration.json is for ${stored.directoryUrl}, not ${account.acmeServer}; looking the key up at the new CA.`,
      );
    }
    const client = new AcmeClient({
      directoryUrl: account.acmeServer,
      accountKey: loaded.keyPair,
      accountUrl: registration?.url,
      caCerts,
      userAgent: `acmems/${VERSION}`,
    });
    try {
      const meta = await client.meta();
      if (opts.register || (opts.acceptTos !== undefined && !registration)) {
        return await register(client, meta, opts, account, registration, out);
      }
      return await show(client, meta, opts, account, registration, out);
    } finally {
      client.close();
    }
  } catch (error) {
    if (error instanceof AccountStoreError) {
      out.error(error.message);
      return 1;
    }
    out.error(describeCaError(error, account.acmeServer));
    return 1;
  }
}

async function register(
  client: AcmeClient,
  meta: AcmeDirectoryMeta,
  opts: RegisterOptions,
  account: AccountConfig,
  registration: Registration | null,
  out: Output,
): Promise<number> {
  const dir = account.dir;
  const emails = opts.emails.length > 0 ? opts.emails : account.email;
  const contact = emails.map((e) => `mailto:${e}`);

  if (registration) {
    // Already registered: bring contacts up to date when asked, and refresh the stored answer.
    let current = await client.getAccount();
    if (opts.emails.length > 0 && !sameSet(current.contact ?? [], contact)) {
      current = await client.updateAccount({ contact });
      out.info(`Updated the contacts of ${registration.url} to ${contact.join(", ") || "(none)"}.`);
    }
    await saveRegistration(dir, { ...registration, account: current, updatedAt: new Date().toISOString() });
    out.info(`The account is already registered: ${registration.url} (status ${current.status}).`);
    return 0;
  }

  // The key may already have an account (registered elsewhere, registration.json lost): recover it with
  // onlyReturnExisting before anything is created, whatever the terms and the binding.
  const existing = await findExisting(client);
  if (existing) {
    let found = existing;
    if (opts.emails.length > 0 && !sameSet(found.account.contact ?? [], contact)) {
      found = { ...found, account: await client.updateAccount({ contact }) };
      out.info(`Updated the contacts of ${found.url} to ${contact.join(", ") || "(none)"}.`);
    }
    return await recovered(found, meta, account, out);
  }

  const terms = termsDecision(meta.termsOfService, opts.acceptTos, account.acceptTermsOfService);
  if (!terms.agreed) {
    out.error(terms.reason!);
    return 1;
  }

  const eabKid = opts.eabKid ?? account.eabKid;
  const eabKey = opts.eabHmacKey ?? account.eabHmacKey;
  if (meta.externalAccountRequired && (!eabKid || !eabKey)) {
    out.error(
      "The CA requires external account binding: pass --eab-kid and --eab-hmac-key " +
        "(or set eab-kid and eab-hmac-key in [account]) with the values your CA gave you.",
    );
    return 1;
  }

  const result = await client.newAccount({
    contact,
    termsOfServiceAgreed: meta.termsOfService !== undefined ? true : undefined,
    eab: eabKid && eabKey ? { kid: eabKid, hmacKey: eabKey } : undefined,
  });
  await saveRegistration(dir, toRegistration(result, account, meta.termsOfService));
  if (result.created) {
    out.info(`Registered a new account at ${account.acmeServer}: ${result.url}`);
    if (meta.termsOfService) out.info(`Agreed to the terms of service at ${meta.termsOfService}.`);
  } else {
    out.info(`This key already has an account at ${account.acmeServer}: ${result.url} (registration.json written).`);
  }
  out.info("Next: acmems serve CONFIG");
  return 0;
}

async function show(
  client: AcmeClient,
  meta: AcmeDirectoryMeta,
  opts: RegisterOptions,
  account: AccountConfig,
  registration: Registration | null,
  out: Output,
): Promise<number> {
  if (!registration) {
    const existing = await findExisting(client);
    if (!existing) {
      out.error(
        `The key in ${accountKeyPath(account.dir)} has no account at ${account.acmeServer}: run acmems register ` +
          `--register --accept-terms-of-service ${opts.files.join(" ")}`,
      );
      return 1;
    }
    return await recovered(existing, meta, account, out);
  }
  const current = await client.getAccount();
  await saveRegistration(account.dir, { ...registration, account: current, updatedAt: new Date().toISOString() });
  printAccount(registration.url, current.status, current.contact ?? [], meta, registration.termsOfServiceAgreed, out);
  if (
    opts.acceptTos !== undefined && meta.termsOfService && registration.termsOfServiceAgreed !== meta.termsOfService
  ) {
    out.info(
      `The CA's terms of service are ${meta.termsOfService}; agreement to changed terms is given on the CA's ` +
        "website or by registering a new account.",
    );
  }
  return 0;
}

async function findExisting(client: AcmeClient): Promise<AccountResult | null> {
  try {
    return await client.findAccount();
  } catch (error) {
    if (isProblem(error, "accountDoesNotExist")) return null;
    throw error;
  }
}

async function recovered(
  result: AccountResult,
  meta: AcmeDirectoryMeta,
  account: AccountConfig,
  out: Output,
): Promise<number> {
  // The CA does not say which terms an existing account agreed to; it agreed to some to exist at all.
  await saveRegistration(account.dir, toRegistration(result, account, undefined));
  out.info(`Recovered the existing account of this key from the CA and wrote registration.json: ${result.url}`);
  printAccount(result.url, result.account.status, result.account.contact ?? [], meta, undefined, out);
  return 0;
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

function toRegistration(result: AccountResult, account: AccountConfig, terms: string | undefined): Registration {
  const registration: Registration = {
    url: result.url,
    directoryUrl: account.acmeServer,
    account: result.account,
    updatedAt: new Date().toISOString(),
  };
  if (terms) registration.termsOfServiceAgreed = terms;
  return registration;
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function describeKeyType(type: KeyType): string {
  return type.startsWith("ec-") ? `EC P-${type.slice(4)}` : `RSA ${type.slice(4)}`;
}

/** One line for an error from the CA or the network, naming the CA and the fix where known. */
export function describeCaError(error: unknown, directoryUrl: string): string {
  if (isProblem(error)) {
    const p = error;
    const short = p.type.replace("urn:ietf:params:acme:error:", "");
    if (short === "externalAccountRequired") {
      return `The CA requires external account binding: pass --eab-kid and --eab-hmac-key (${p.detail ?? ""})`;
    }
    if (short === "unauthorized" && /external|eab|binding/i.test(p.detail ?? "")) {
      return `The CA rejected the external account binding: check --eab-kid and --eab-hmac-key (${p.detail})`;
    }
    return `The CA at ${directoryUrl} refused: ${short || "error"} (HTTP ${p.status ?? "?"}): ${
      p.detail ?? "no detail"
    }`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `Cannot talk to the CA at ${directoryUrl}: ${message}. Check [account] acme-server, ca-file and the network.`;
}

export const registerCommand: Subcommand = {
  name: "register",
  summary: "create the account key and the ACME account, or show them",
  usage: USAGE,
  async run(args: string[]): Promise<number> {
    return await runRegister(parseRegisterArgs(args));
  },
};
