/**
 * `acmems revoke CONFIG… --cert FILE [--reason R] [--ca NAME]`: the operator revokes a certificate through the
 * account of the CA that issued it (RFC 8555 §7.6, signed with that account's key), e.g. one found in the cache:
 * `--ca NAME`, else the CA its cache entry records, else the default CA. It does not need the running server. After
 * the CA revoked it (or said it already was), every cache entry whose leaf is that certificate is removed from the
 * configured storages that can be reached, so no /sign serves it again and no renewal runs for it; a storage that
 * cannot be reached is named and left as it is.
 *
 * Exit statuses: 0 revoked, 1 failed (config, account, file, the CA refused or could not be reached), 2 usage
 * error, 3 the CA says it was already revoked (the cache entries are removed all the same).
 */
import { decodePemBlocks, REVOCATION_REASON } from "../src/acme/mod.ts";
import { enroll } from "../src/account/enroll.ts";
import { openAccount } from "../src/account/open.ts";
import { AccountStoreError } from "../src/account/store.ts";
import { isProblem } from "../src/acme/mod.ts";
import { consoleOutput, loadConfigOrReport } from "./_config.ts";
import type { AccountConfig, Config } from "../src/config/types.ts";
import { issuerOf } from "../src/ca/issuer_of.ts";
import { memoryLogger } from "../src/ops/log.ts";
import { createStorages, loadStorageDrivers, prepareStorages } from "../src/storage/factory.ts";
import type { Storage } from "../src/storage/mod.ts";
import { parseReason, REASON_NAMES, removeEntriesOf, type RevocationReason } from "../src/revocation/service.ts";
import { certKeySha256 } from "../src/revocation/pair.ts";
import { describeCaError } from "./ca_error.ts";
import type { Output } from "./register_key.ts";
import { type Subcommand, UsageError } from "./usage.ts";

export { REASON_NAMES };

const USAGE = `Usage: acmems revoke --cert FILE [--reason REASON] [--ca NAME] CONFIG...

Revokes a certificate through the ACME account of the CA that issued it (signed with that account's key): any
certificate that account was issued, e.g. one from the cache. The running server is not needed. Afterwards the
cache entries holding the certificate are removed from the storages of CONFIG that can be reached, so /sign
issues a new certificate for that CSR.

With several CAs in CONFIG the CA is --ca NAME, else the one the certificate's cache entry records (the entry
given as --cert, or one found in the storages), else the default CA.

Options:
  --cert FILE        the certificate: PEM (the first certificate of a chain is the one revoked) or a
                     cache entry of a file storage (<key>.json)
  --reason REASON    ${REASON_NAMES.join(", ")} (default unspecified)
  --ca NAME          the CA to revoke at: a [ca "NAME"] section, or default for [account]
  -h, --help         show this help

Exit statuses: 0 revoked, 1 failed (the message says why), 2 usage error, 3 already revoked.

Example:
  acmems revoke --cert /var/lib/acmems/host.pem --reason keyCompromise /etc/acmems/acmems.ini
`;

export interface RevokeOptions {
  cert: string;
  reason: RevocationReason;
  files: string[];
  /** --ca NAME: the CA to revoke at (a `[ca "NAME"]`, `default` for [account]). */
  ca?: string;
}

/** Parses the command line; throws UsageError. */
export function parseRevokeArgs(args: string[]): RevokeOptions {
  let cert: string | undefined;
  let reason: RevocationReason = "unspecified";
  let ca: string | undefined;
  const files: string[] = [];
  const rest = [...args];
  while (rest.length > 0) {
    const arg = rest.shift()!;
    if (arg === "--") {
      files.push(...rest.splice(0));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      files.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    let value = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (flag !== "--cert" && flag !== "--reason" && flag !== "--ca") throw new UsageError(`unknown option "${flag}"`);
    if (value === undefined) {
      value = rest.shift();
      if (value === undefined || value.startsWith("--")) throw new UsageError(`${flag} needs a value`);
    }
    if (flag === "--cert") cert = value;
    else if (flag === "--ca") {
      if (value === "") throw new UsageError("--ca needs a CA name");
      ca = value;
    } else {
      const named = value === "" ? null : parseReason(value);
      if (named === null) throw new UsageError(`--reason "${value}" is not one of ${REASON_NAMES.join(", ")}`);
      reason = named;
    }
  }
  if (cert === undefined) throw new UsageError("--cert FILE is required: the certificate to revoke");
  if (files.length === 0) throw new UsageError("no config file given");
  return { cert, reason, files, ...(ca === undefined ? {} : { ca }) };
}

/**
 * The DER of the first certificate in `text` (PEM, or a file storage's cache entry `<key>.json`: its `chain`), or
 * why there is none.
 */
export function firstCertificate(text: string, file: string): Uint8Array | { error: string } {
  if (text.trimStart().startsWith("{")) {
    try {
      const entry = JSON.parse(text);
      if (typeof entry?.chain === "string") text = entry.chain;
    } catch {
      // Not JSON: read as PEM below.
    }
  }
  try {
    const block = decodePemBlocks(text).find((b) => b.label === "CERTIFICATE");
    if (block) return block.der;
  } catch (error) {
    return { error: `${file} is not PEM (${error instanceof Error ? error.message : error}): give the certificate` };
  }
  return { error: `${file} holds no "BEGIN CERTIFICATE" block: give the certificate in PEM` };
}

/** The revoke subcommand; returns the exit status. */
export async function runRevoke(opts: RevokeOptions, out: Output = consoleOutput): Promise<number> {
  let text: string;
  try {
    text = await Deno.readTextFile(opts.cert);
  } catch (error) {
    out.error(`Cannot read --cert ${opts.cert}: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
  const der = firstCertificate(text, opts.cert);
  if ("error" in der) {
    out.error(der.error);
    return 1;
  }
  const config = await loadConfigOrReport(opts.files, out);
  if (!config) return 1;
  const storages = storagesOf(config);
  try {
    return await revokeWith(opts, config, der, text, storages, out);
  } finally {
    await storages.close();
  }
}

/** `runRevoke` once the certificate and the config are read; `storages` are opened when first needed. */
async function revokeWith(
  opts: RevokeOptions,
  config: Config,
  der: Uint8Array,
  text: string,
  storages: ConfigStorages,
  out: Output,
): Promise<number> {
  const chosen = await revokingCa(opts, config, der, text, storages, out);
  if (!chosen) return 1;
  const account = chosen.account;
  // A refusal with several CAs may mean another CA issued it.
  const otherCa = opts.ca === undefined && config.cas.size > 1
    ? ` (if another CA issued it, give --ca NAME: the CAs are ${[...config.cas.keys()].join(", ")})`
    : "";
  let status: 0 | 3;
  try {
    const open = await openAccount(account);
    if ("kind" in open) {
      out.error(open.kind === "ca-file" ? open.message : `No account key at ${open.path}: nothing can be revoked`);
      return 1;
    }
    try {
      const outcome = await enroll(open.client, {
        account,
        registration: open.registration,
        mode: "lookup",
        refresh: false,
        contact: [],
      });
      if (outcome.kind === "ca-error") {
        out.error(describeCaError(outcome.error, account.acmeServer));
        return 1;
      }
      if (outcome.kind !== "known" && outcome.kind !== "recovered") {
        out.error(`The account key has no account at ${account.acmeServer}: it cannot revoke anything there`);
        return 1;
      }
      try {
        await open.client.revokeCertificate(der, REVOCATION_REASON[opts.reason]);
        out.info(`Revoked the certificate in ${opts.cert} (reason ${opts.reason}) at ${account.acmeServer}.`);
        status = 0;
      } catch (error) {
        if (!isProblem(error, "alreadyRevoked")) {
          out.error(`The CA did not revoke ${opts.cert}: ${describeCaError(error, account.acmeServer)}${otherCa}`);
          return 1;
        }
        out.error(`The certificate in ${opts.cert} was already revoked: nothing changed at the CA.`);
        status = 3;
      }
    } finally {
      open.client.close();
    }
  } catch (error) {
    out.error(error instanceof AccountStoreError ? error.message : describeCaError(error, account.acmeServer));
    return 1;
  }
  await dropCached(storages, der, out);
  if (opts.reason === "keyCompromise") await recordCompromised(config, storages, der, out);
  return status;
}

/**
 * keyCompromise: the key is recorded as compromised in every storage that keeps it across processes (`file`,
 * `postgres`), as `POST /revoke` does, so `/sign` refuses it from then on (a running serve reads the storages' keys
 * at its next renewal sweep or SIGHUP).
 */
async function recordCompromised(config: Config, storages: ConfigStorages, der: Uint8Array, out: Output) {
  const spki = await certKeySha256(der);
  try {
    for (const storage of await storages.open()) {
      if (config.storages.get(storage.name)?.type === "none") continue;
      try {
        await storage.recordCompromisedKey(spki, new Date());
        out.info(`Recorded the key (SPKI SHA-256 ${spki}) as compromised in storage "${storage.name}".`);
      } catch (error) {
        out.error(
          `Warning: storage "${storage.name}" did not record the key as compromised (${
            error instanceof Error ? error.message : error
          }): /sign may sign new CSRs with it; run acmems revoke again`,
        );
      }
    }
  } catch (error) {
    out.error(`Warning: the storages could not be opened (${error instanceof Error ? error.message : error})`);
  }
}

/** The config's storages, opened at the first `open()` (a failed open is tried again at the next) and kept. */
interface ConfigStorages {
  open(): Promise<Storage[]>;
  close(): Promise<void>;
}

function storagesOf(config: Config): ConfigStorages {
  let opened: Promise<Storage[]> | undefined;
  const created: Storage[] = [];
  const open = async () => {
    await loadStorageDrivers(config);
    const storages = [...createStorages(config, memoryLogger("error")).values()];
    created.push(...storages);
    await prepareStorages(storages);
    return storages;
  };
  return {
    open: () =>
      opened ??= open().catch((error) => {
        opened = undefined;
        throw error;
      }),
    close: async () => {
      for (const storage of created.splice(0)) await storage.close().catch(() => {});
    },
  };
}

type ChosenCa = { name: string; account: AccountConfig; directoryUrl: string };

/**
 * The CA to revoke at: `--ca NAME` (unknown: an error naming the CAs, undefined); with one CA, that one; with
 * several, the one whose directory URL the certificate's cache entry records (the entry given as --cert, else one
 * found in the storages, `issuerOf`), else the default CA. With several CAs the choice is printed.
 */
async function revokingCa(
  opts: RevokeOptions,
  config: Config,
  der: Uint8Array,
  certText: string,
  storages: ConfigStorages,
  out: Output,
): Promise<ChosenCa | undefined> {
  const cas: ChosenCa[] = [...config.cas].map(([name, account]) => ({
    name,
    account,
    directoryUrl: account.acmeServer,
  }));
  const names = cas.map((ca) => ca.name).join(", ");
  if (opts.ca !== undefined) {
    const named = cas.find((ca) => ca.name === opts.ca);
    if (!named) {
      out.error(
        `--ca "${opts.ca}" names no CA in ${opts.files.join(" ")}: the CAs there are ${names} ` +
          `([account] is "default"; each [ca "NAME"] section is NAME)`,
      );
    }
    return named;
  }
  const fallback = cas.find((ca) => ca.name === config.defaultCa)!;
  if (cas.length === 1) return fallback;
  const recorded = entryDirectoryUrl(certText);
  const found = cas.find((ca) => ca.directoryUrl === recorded) ??
    await storages.open().then((opened) => issuerOf(der, opened, cas), () => undefined);
  if (found) {
    out.info(`CA "${found.name}" issued it (its cache entry records ${found.directoryUrl}): revoking there.`);
    return found;
  }
  out.info(
    `No cache entry holds it: revoking at the default CA "${fallback.name}" (${fallback.directoryUrl}); ` +
      `give --ca NAME for another (${names}).`,
  );
  return fallback;
}

/** The `directoryUrl` a file storage's cache entry (`<key>.json`) records, or undefined for anything else. */
function entryDirectoryUrl(text: string): string | undefined {
  if (!text.trimStart().startsWith("{")) return undefined;
  try {
    const url = JSON.parse(text)?.directoryUrl;
    return typeof url === "string" ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the cache entries whose leaf is `der` from every storage it can reach; prints what it did. */
async function dropCached(storages: ConfigStorages, der: Uint8Array, out: Output): Promise<void> {
  try {
    for (const storage of await storages.open()) {
      try {
        const { removed, busy } = await removeEntriesOf(der, storage, "acmems-revoke");
        for (const names of removed) {
          out.info(`Removed the cache entry for ${names.join(", ")} from storage "${storage.name}".`);
        }
        for (const key of busy) {
          out.error(
            `Warning: entry ${key} of storage "${storage.name}" is being renewed right now; run acmems revoke again`,
          );
        }
      } catch (error) {
        out.error(
          `Warning: storage "${storage.name}" could not be searched (${
            error instanceof Error ? error.message : error
          }): a cache entry holding the certificate may remain there until it expires`,
        );
      }
    }
  } catch (error) {
    out.error(`Warning: the storages could not be opened (${error instanceof Error ? error.message : error})`);
  }
}

export const revokeCommand: Subcommand = {
  name: "revoke",
  summary: "revoke a certificate through the ACME account",
  usage: USAGE,
  async run(args: string[]): Promise<number> {
    return await runRevoke(parseRevokeArgs(args));
  },
};
