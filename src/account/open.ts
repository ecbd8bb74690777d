/**
 * The account as the operator's commands use it (`acmems register`, `acmems revoke`): the CA file read, an
 * unfinished key rollover finished or discarded (src/account/rollover.ts), the key loaded, an `AcmeClient` for it.
 *
 * Contract: `openAccount` returns a typed refusal for what the operator must fix (no key, an unreadable CA file)
 * and throws for the CA or the network (the rollover lookup) and for AccountStoreError; the caller closes the
 * client it gets.
 */
import { AcmeClient, type AcmeClientOptions } from "../acme/mod.ts";
import type { AccountConfig } from "../config/types.ts";
import { VERSION } from "../version.ts";
import { registrationFor } from "./enroll.ts";
import { lookupThrough, recoverRollover, type Recovery } from "./rollover.ts";
import { accountKeyPath, loadAccountKey, type LoadedKey, type Registration } from "./store.ts";

export interface OpenAccount {
  client: AcmeClient;
  loaded: LoadedKey;
  /** registration.json when it is for this CA. */
  registration: Registration | null;
  /** The CA of a registration.json for another CA. */
  otherCa?: string;
  /** What was done about an unfinished rollover. */
  recovery: Recovery;
  /** The CA certificates of `[account] ca-file`, for more clients. */
  caCerts: string[] | undefined;
}

export type OpenRefusal = { kind: "no-key"; path: string } | { kind: "ca-file"; message: string };

/** Reads `[account] ca-file` (undefined without one); a refusal naming the file when it cannot be read. */
export async function readCaCerts(account: AccountConfig): Promise<string[] | undefined | OpenRefusal> {
  if (!account.caFile) return undefined;
  try {
    return [await Deno.readTextFile(account.caFile)];
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { kind: "ca-file", message: `Cannot read [account] ca-file ${account.caFile}: ${why}` };
  }
}

/** The options of a client for `key` at the account's CA: the one place they are put together. */
export function accountClientOptions(
  account: AccountConfig,
  key: CryptoKeyPair,
  caCerts: string[] | undefined,
  accountUrl?: string,
): AcmeClientOptions {
  return {
    directoryUrl: account.acmeServer,
    caOrigins: account.caOrigins,
    accountKey: key,
    accountUrl,
    caCerts,
    userAgent: `acmems/${VERSION}`,
  };
}

/** A client for `key` at the account's CA (no account URL unless given). */
export function accountClient(
  account: AccountConfig,
  key: CryptoKeyPair,
  caCerts: string[] | undefined,
  accountUrl?: string,
): AcmeClient {
  return new AcmeClient(accountClientOptions(account, key, caCerts, accountUrl));
}

/** Opens the account of `[account]` (see the contract). */
export async function openAccount(account: AccountConfig): Promise<OpenAccount | OpenRefusal> {
  const caCerts = await readCaCerts(account);
  if (caCerts && !Array.isArray(caCerts)) return caCerts;
  const certs = caCerts as string[] | undefined;
  const recovery = await recoverRollover(account.dir, lookupThrough((key) => accountClient(account, key, certs)));
  const loaded = await loadAccountKey(account.dir);
  if (!loaded) return { kind: "no-key", path: accountKeyPath(account.dir) };
  const { registration, otherCa } = await registrationFor(account);
  const client = accountClient(account, loaded.keyPair, certs, registration?.url);
  return { client, loaded, registration, otherCa, recovery, caCerts: certs };
}
