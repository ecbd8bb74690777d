/**
 * `acmems register`: the account key and the ACME account (the original's `acme-register`). This file parses the
 * command line and prints; finding or creating the account is src/account/enroll.ts (shared with `serve`).
 */
import { KEY_TYPES, type KeyType } from "../src/acme/mod.ts";
import { generateKeyPair } from "../src/acme/mod.ts";
import { enroll, termsAgreement } from "../src/account/enroll.ts";
import { openAccount } from "../src/account/open.ts";
import { accountKeyPath, AccountStoreError, hasNextKey, nextKeyPath, saveAccountKey } from "../src/account/store.ts";
import { consoleOutput, loadConfigOrReport } from "./_config.ts";
import type { AccountConfig } from "../src/config/types.ts";
import { NO_AUTH_BLOCK_WARNING } from "../src/config/build.ts";
import { parseAbsoluteUrl, parseEmail } from "../src/config/values.ts";
import { describeCaError } from "./ca_error.ts";
import { describeKeyType, type Output, reportRecovery, runDeactivate, runRollover } from "./register_key.ts";
import { commandFiles, report, termsRefusal } from "./register_report.ts";
import { type Subcommand, UsageError } from "./usage.ts";

export { describeCaError } from "./ca_error.ts";
export type { Output } from "./register_key.ts";

const USAGE = `Usage: acmems register [options] CONFIG...

Creates the account key and the ACME account named by [account] in CONFIG (or by [ca "NAME"] with
--ca NAME), shows the account, replaces its key (--rollover-key) or deactivates it (--deactivate --yes).

  --ca NAME                         the CA whose account this is: a [ca "NAME"] section, or default
                                    for [account] (default: the default CA)

Actions (with none, the account is shown):
  --gen-key                         generate account.pem in [account] dir (mode 0600)
      --key-type TYPE               ec-p256 (default), ec-p384, rsa-2048, rsa-3072, rsa-4096;
                                    ec is ec-p256, rsa is rsa-2048
      --force                       replace an existing account key (the old key's account stays at the CA)
  --register                        create the account at the CA (or find the one this key already has)
      --email ADDRESS               contact address, repeatable (default: [account] email)
      --accept-terms-of-service[=URL]
                                    agree to the CA's terms of service (any, or only this URL);
                                    [account] accept-terms-of-service counts too
      --eab-kid KID --eab-hmac-key-file FILE
                                    external account binding (default: [account] eab-kid/eab-hmac-key);
                                    FILE holds the MAC key the CA gave you (white space around it is ignored)
      --eab-hmac-key KEY            the MAC key as an argument: every local user can read it in the process
                                    list while this runs; use --eab-hmac-key-file
  --rollover-key                    replace the account key, keeping the account (RFC 8555 key change);
      --key-type TYPE               the new key's type (default: the old key's)
  --deactivate --yes                deactivate the account at the CA for good (refused without --yes)
  -h, --help                        show this help

Files in [account] dir: account.pem (the key) and registration.json (account URL and the CA's answer).
A key that is registered but lacks registration.json is recovered from the CA. During a key rollover the new
key waits in account.pem.next until the CA accepted it; one left by a crash is finished or discarded by the
next acmems register or acmems serve. A running acmems serve takes the new key on SIGHUP.
Exit statuses: 0 done, 1 refused or failed (the message says what to do), 2 usage error.

Example:
  acmems register --gen-key --register --email ops@example.org --accept-terms-of-service /etc/acmems/acmems.ini
`;

interface RegisterOptions {
  genKey: boolean;
  /** --key-type (--gen-key: default ec-p256; --rollover-key: default the old key's type). */
  keyType?: KeyType;
  rolloverKey: boolean;
  deactivate: boolean;
  yes: boolean;
  force: boolean;
  register: boolean;
  emails: string[];
  /** undefined: not given; true: any; string: this URL. */
  acceptTos?: true | string;
  eabKid?: string;
  eabHmacKey?: string;
  /** --eab-hmac-key-file: read by `runRegister` (the key itself never on the command line). */
  eabHmacKeyFile?: string;
  /** --ca NAME: the CA (a `[ca "NAME"]`, or `default` for [account]); default: the config's default CA. */
  ca?: string;
  files: string[];
}

/** Parses the command line; throws UsageError. */
export function parseRegisterArgs(args: string[]): RegisterOptions {
  const opts: RegisterOptions = {
    genKey: false,
    rolloverKey: false,
    deactivate: false,
    yes: false,
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
      case "--rollover-key":
      case "--deactivate":
      case "--yes":
        if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
        SWITCHES[flag](opts);
        break;
      case "--key-type": {
        const value = takeValue(flag, inline, rest);
        const type = KEY_TYPE_ALIASES[value] ?? value;
        if (!KEY_TYPES.includes(type as KeyType)) {
          throw new UsageError(`--key-type "${value}" is not one of ec, rsa, ${KEY_TYPES.join(", ")}`);
        }
        opts.keyType = type as KeyType;
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
      case "--eab-hmac-key-file":
        opts.eabHmacKeyFile = takeValue(flag, inline, rest);
        break;
      case "--ca":
        opts.ca = takeValue(flag, inline, rest);
        break;
      default:
        throw new UsageError(`unknown option "${flag}"`);
    }
  }
  if (opts.files.length === 0) throw new UsageError("no config file given");
  if (opts.eabHmacKey !== undefined && opts.eabHmacKeyFile !== undefined) {
    throw new UsageError("give --eab-hmac-key-file FILE or --eab-hmac-key KEY, not both");
  }
  const eabKeyGiven = opts.eabHmacKey !== undefined || opts.eabHmacKeyFile !== undefined;
  if ((opts.eabKid === undefined) === eabKeyGiven) {
    throw new UsageError("--eab-kid and --eab-hmac-key-file (or --eab-hmac-key) go together");
  }
  if (opts.keyType !== undefined && !opts.genKey && !opts.rolloverKey) {
    throw new UsageError("--key-type only applies with --gen-key or --rollover-key");
  }
  if (opts.force && !opts.genKey) throw new UsageError("--force only applies with --gen-key");
  if (opts.yes && !opts.deactivate) throw new UsageError("--yes only applies with --deactivate");
  const actions = [opts.genKey || opts.register || opts.acceptTos !== undefined, opts.rolloverKey, opts.deactivate];
  if (actions.filter(Boolean).length > 1) {
    throw new UsageError("--rollover-key and --deactivate go alone: not with each other, --gen-key or --register");
  }
  return opts;
}

const SWITCHES: Record<string, (opts: RegisterOptions) => void> = {
  "--gen-key": (o) => (o.genKey = true),
  "--force": (o) => (o.force = true),
  "--register": (o) => (o.register = true),
  "--rollover-key": (o) => (o.rolloverKey = true),
  "--deactivate": (o) => (o.deactivate = true),
  "--yes": (o) => (o.yes = true),
};

/** --key-type's short names. */
const KEY_TYPE_ALIASES: Record<string, KeyType> = { ec: "ec-p256", rsa: "rsa-2048" };

/** Decides whether the CA's current terms are agreed, from the flag and the config; the reason says what to run. */
export function termsDecision(
  caTerms: string | undefined,
  flag: true | string | undefined,
  config: AccountConfig["acceptTermsOfService"],
  context: { files: readonly string[]; acmeServer: string } = { files: ["CONFIG"], acmeServer: "the CA" },
): { agreed: boolean; reason?: string } {
  const terms = termsAgreement(caTerms, flag, config);
  return terms.agreed
    ? { agreed: true }
    : { agreed: false, reason: termsRefusal(caTerms!, terms.accepted, { ...context, flag }) };
}

/**
 * The EAB MAC key of --eab-hmac-key-file (trimmed) or --eab-hmac-key (with a warning: it is on the command line);
 * undefined when neither was given. A file that cannot be read or is empty is an error naming it.
 */
export async function eabKeyFromOptions(
  opts: Pick<RegisterOptions, "eabHmacKey" | "eabHmacKeyFile">,
  out: Output,
): Promise<{ key?: string } | { error: string }> {
  if (opts.eabHmacKeyFile !== undefined) {
    const file = opts.eabHmacKeyFile;
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return { error: `Cannot read --eab-hmac-key-file ${file}: ${why}. Give a file that holds the MAC key.` };
    }
    const key = text.trim();
    if (key === "") return { error: `--eab-hmac-key-file ${file} is empty: put the MAC key your CA gave you in it.` };
    return { key };
  }
  if (opts.eabHmacKey !== undefined) {
    out.error(
      "Warning: --eab-hmac-key puts the MAC key where every local user can read it (ps, /proc/PID/cmdline): " +
        "use --eab-hmac-key-file FILE.",
    );
  }
  return { key: opts.eabHmacKey };
}

/** The register subcommand; returns the exit status. */
export async function runRegister(opts: RegisterOptions, out: Output = consoleOutput): Promise<number> {
  const eabOption = await eabKeyFromOptions(opts, out);
  if ("error" in eabOption) {
    out.error(eabOption.error);
    return 1;
  }
  // No [auth] block is a serve matter: register needs none.
  const config = await loadConfigOrReport(opts.files, out, (w) => w.message === NO_AUTH_BLOCK_WARNING);
  if (!config) return 1;
  const name = opts.ca ?? config.defaultCa;
  const account = config.cas.get(name);
  if (!account) {
    out.error(
      `--ca "${name}" names no CA in ${opts.files.join(" ")}: the CAs there are ${[...config.cas.keys()].join(", ")} ` +
        `([account] is "default"; each [ca "NAME"] section is NAME)`,
    );
    return 1;
  }
  if (config.cas.size > 1) out.info(`CA "${name}": ${account.acmeServer} (account dir ${account.dir})`);
  const caArg = name === config.defaultCa ? "" : `--ca ${name} `;
  const dir = account.dir;

  try {
    if (opts.rolloverKey) return await runRollover(account, opts.keyType, opts.files, out);
    if (opts.deactivate) return await runDeactivate(account, opts.yes, opts.files, out);
    if (opts.genKey) {
      if (await hasNextKey(dir)) {
        out.error(
          `${nextKeyPath(dir)} holds the new key of an unfinished key rollover: run acmems register ` +
            `${caArg}${commandFiles(opts.files)} first (it finishes or discards it), then --gen-key`,
        );
        return 1;
      }
      const keyType = opts.keyType ?? "ec-p256";
      const keyPair = await generateKeyPair(keyType, { extractable: true });
      await saveAccountKey(dir, keyPair, { force: opts.force });
      out.info(`Generated a new ${describeKeyType(keyType)} account key in ${accountKeyPath(dir)} (mode 0600).`);
      if (!opts.register && opts.acceptTos === undefined) {
        out.info(`Next: acmems register ${caArg}--register --accept-terms-of-service ${commandFiles(opts.files)}`);
        return 0;
      }
    }

    const open = await openAccount(account);
    if ("kind" in open) {
      out.error(
        open.kind === "ca-file" ? open.message : `No account key at ${open.path}: run acmems register ${caArg}` +
          `--gen-key --register --accept-terms-of-service ${commandFiles(opts.files)}`,
      );
      return 1;
    }
    const { client, loaded, registration, otherCa } = open;
    reportRecovery(open.recovery, dir, out);
    for (const warning of loaded.warnings) out.error(`Warning: ${warning}`);
    if (otherCa) {
      out.error(
        `Note: registration.json is for ${otherCa}, not ${account.acmeServer}; looking the key up at the new CA.`,
      );
    }
    // With --register (or terms given for a key without registration.json) the account is found or created;
    // otherwise it is shown (found, never created).
    const registering = opts.register || (opts.acceptTos !== undefined && !registration);
    const emails = opts.emails.length > 0 ? opts.emails : account.email;
    const contact = emails.map((e) => `mailto:${e}`);
    const eabKid = opts.eabKid ?? account.eabKid;
    const eabKey = eabOption.key ?? account.eabHmacKey;
    try {
      const outcome = await enroll(client, {
        account,
        registration,
        mode: registering ? "create" : "lookup",
        refresh: true,
        contact,
        updateContact: registering && opts.emails.length > 0,
        acceptTos: opts.acceptTos,
        eab: eabKid && eabKey ? { kid: eabKid, hmacKey: eabKey } : undefined,
      });
      return report(outcome, { registering, contact }, opts, account, out);
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

export const registerCommand: Subcommand = {
  name: "register",
  summary: "the ACME account and its key: create, show, roll over, deactivate",
  usage: USAGE,
  async run(args: string[]): Promise<number> {
    return await runRegister(parseRegisterArgs(args));
  },
};
