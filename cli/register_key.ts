/**
 * `acmems register --rollover-key` and `acmems register --deactivate --yes`: the two account actions that change the
 * account at the CA for good. The rollover itself is src/account/rollover.ts; this file opens the account, runs the
 * action and prints. Exit statuses: 0 done, 1 refused or failed (the message says what to do).
 */
import { generateKeyPair, KEY_TYPES, type KeyType } from "../src/acme/mod.ts";
import { enroll } from "../src/account/enroll.ts";
import { accountClient, type OpenAccount, openAccount } from "../src/account/open.ts";
import { lookupThrough, type Recovery, rolloverKey } from "../src/account/rollover.ts";
import {
  accountKeyPath,
  AccountStoreError,
  loadRegistration,
  nextKeyPath,
  saveRegistration,
} from "../src/account/store.ts";
import type { AccountConfig } from "../src/config/types.ts";
import { systemClock } from "../src/lib/clock.ts";
import { describeCaError } from "./ca_error.ts";
import { commandFiles } from "./register_report.ts";

/** Prints lines; tests replace it. */
export interface Output {
  info(line: string): void;
  error(line: string): void;
}

/** "EC P-256", "RSA 2048" for a key type. */
export function describeKeyType(type: string): string {
  return type.startsWith("ec-p") ? `EC P-${type.slice(4)}` : type.startsWith("rsa-") ? `RSA ${type.slice(4)}` : type;
}

/** Tells what was done about an unfinished rollover found at the start. */
export function reportRecovery(recovery: Recovery, dir: string, out: Output): void {
  if (recovery.kind === "finished") {
    out.info(
      `Finished an interrupted key rollover: the CA knows the key of ${nextKeyPath(dir)}, now ${accountKeyPath(dir)}.`,
    );
  } else if (recovery.kind === "discarded") {
    out.info(`Discarded ${nextKeyPath(dir)}: the CA never accepted that key; ${accountKeyPath(dir)} stays in use.`);
  }
}

/** Opens the account and finds its URL; prints why not and returns the exit status instead. */
async function openKnownAccount(
  account: AccountConfig,
  files: string[],
  out: Output,
): Promise<{ open: OpenAccount; url: string } | number> {
  let open;
  try {
    open = await openAccount(account);
  } catch (error) {
    if (error instanceof AccountStoreError) throw error;
    out.error(
      `Cannot tell whether the CA accepted the key in ${nextKeyPath(account.dir)}: ${
        describeCaError(error, account.acmeServer)
      }. Both keys stay; run the command again when the CA answers.`,
    );
    return 1;
  }
  if ("kind" in open) {
    out.error(
      open.kind === "ca-file" ? open.message : `No account key at ${open.path}: run acmems register --gen-key ` +
        `--register --accept-terms-of-service ${commandFiles(files)}`,
    );
    return 1;
  }
  reportRecovery(open.recovery, account.dir, out);
  const outcome = await enroll(open.client, {
    account,
    registration: open.registration,
    mode: "lookup",
    refresh: true,
    contact: [],
  });
  if (outcome.kind === "ca-error") {
    open.client.close();
    out.error(describeCaError(outcome.error, account.acmeServer));
    return 1;
  }
  if (outcome.kind !== "known" && outcome.kind !== "recovered") {
    open.client.close();
    out.error(
      `The key in ${accountKeyPath(account.dir)} has no account at ${account.acmeServer}: there is nothing to ` +
        `change (acmems register --register --accept-terms-of-service ${commandFiles(files)} creates one)`,
    );
    return 1;
  }
  return { open, url: outcome.url };
}

/** `--rollover-key [--key-type T]`: a new key for the same account. */
export async function runRollover(
  account: AccountConfig,
  keyType: KeyType | undefined,
  files: string[],
  out: Output,
): Promise<number> {
  const opened = await openKnownAccount(account, files, out);
  if (typeof opened === "number") return opened;
  const { open, url } = opened;
  try {
    // The new key is of the old key's type unless --key-type says otherwise (ec-p256 for a type we do not make).
    const old = open.loaded.description as KeyType;
    const type = keyType ?? (KEY_TYPES.includes(old) ? old : "ec-p256");
    const newKey = await generateKeyPair(type, { extractable: true });
    const lookup = lookupThrough((key) => accountClient(account, key, open.caCerts));
    const outcome = await rolloverKey(open.client, account.dir, newKey, lookup);
    switch (outcome.kind) {
      case "rolled":
        out.info(
          `Rolled the account key over: ${url} now signs with a new ${describeKeyType(type)} key in ${
            accountKeyPath(account.dir)
          } (mode 0600); the CA refuses the old key from now on.`,
        );
        out.info("Next: send SIGHUP to a running acmems serve (systemctl reload acmems) so it uses the new key.");
        return 0;
      case "refused":
        out.error(
          `The CA refused the key change: ${describeCaError(outcome.error, account.acmeServer)}. ` +
            `${accountKeyPath(account.dir)} stays the account key.`,
        );
        return 1;
      case "pending":
        out.error(
          `The key change got no clear answer (${describeCaError(outcome.error, account.acmeServer)}) and the CA ` +
            `cannot be asked now (${describeCaError(outcome.lookupError, account.acmeServer)}). The new key waits ` +
            `in ${nextKeyPath(account.dir)}: the next acmems register or acmems serve finishes or discards it.`,
        );
        return 1;
    }
  } finally {
    open.client.close();
  }
}

/** `--deactivate`: refuses without `yes`; with it the account is deactivated at the CA for good. */
export async function runDeactivate(
  account: AccountConfig,
  yes: boolean,
  files: string[],
  out: Output,
): Promise<number> {
  if (!yes) {
    const stored = await loadRegistration(account.dir).catch(() => null);
    const which = stored ? `the account ${stored.url}` : `the account of ${accountKeyPath(account.dir)}`;
    out.error(
      `Not deactivating: --deactivate ends ${which} at ${account.acmeServer} for good (the CA refuses its key ` +
        "from then on; certificates already issued stay valid). To do it, run: acmems register --deactivate --yes " +
        commandFiles(files),
    );
    return 1;
  }
  const opened = await openKnownAccount(account, files, out);
  if (typeof opened === "number") return opened;
  const { open, url } = opened;
  try {
    const deactivated = await open.client.deactivateAccount();
    const stored = await loadRegistration(account.dir);
    if (stored) {
      await saveRegistration(account.dir, { ...stored, account: deactivated, updatedAt: systemClock().toISOString() });
    }
    out.info(`Deactivated the account ${url} (status ${deactivated.status}); the CA refuses its key from now on.`);
    out.info(
      `Next: a new account needs a new key: acmems register --gen-key --force --register ` +
        `--accept-terms-of-service ${commandFiles(files)}`,
    );
    return 0;
  } catch (error) {
    if (error instanceof AccountStoreError) throw error;
    out.error(`The CA did not deactivate the account ${url}: ${describeCaError(error, account.acmeServer)}`);
    return 1;
  } finally {
    open.client.close();
  }
}
