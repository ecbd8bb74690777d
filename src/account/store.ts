/**
 * The account directory (`[account] dir`): `account.pem` (the account key, PKCS#8 PEM, mode 0600) and
 * `registration.json` (the account URL and the CA's answer); during a key rollover (src/account/rollover.ts) also
 * `account.pem.next`, the new key the CA may or may not have accepted yet.
 *
 * Contract: both files are replaced atomically (src/lib/atomic_write.ts); a crash leaves the old or the new file.
 * `registration.json` belongs to the account of the key next to it: a new key (`--gen-key`) removes it, a rollover
 * (same account, `promoteNextKey`) keeps it. Reading never changes anything.
 * Keys from the original ACMEMS (RSA in PKCS#1 "BEGIN RSA PRIVATE KEY" or PKCS#8) are accepted.
 */
import { join } from "../lib/path.ts";
import { describeKey, exportPrivateKeyPem, importPrivateKeyPem } from "../acme/mod.ts";
import type { AcmeAccount } from "../acme/mod.ts";
import { atomicWriteFile, syncDirectory } from "../lib/atomic_write.ts";
import { describeFsError } from "../lib/bytes.ts";

export const ACCOUNT_KEY_FILE = "account.pem";
export const REGISTRATION_FILE = "registration.json";
/** The new key of a key rollover, until the CA accepted it (then renamed over account.pem) or refused it (removed). */
export const NEXT_KEY_FILE = "account.pem.next";

/** What registration.json holds. */
export interface Registration {
  /** The account URL (the JWS `kid`). */
  url: string;
  /** The directory URL of the CA this account lives at. */
  directoryUrl: string;
  /** The CA's account object as last seen. */
  account: AcmeAccount;
  /** The terms-of-service URL agreed to, when known. */
  termsOfServiceAgreed?: string;
  /** ISO time of the last write. */
  updatedAt: string;
}

export class AccountStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AccountStoreError";
  }
}

export function accountKeyPath(dir: string): string {
  return join(dir, ACCOUNT_KEY_FILE);
}

export function nextKeyPath(dir: string): string {
  return join(dir, NEXT_KEY_FILE);
}

/** True when a rollover's new key (`account.pem.next`) is waiting in `dir` (a rollover did not finish). */
export async function hasNextKey(dir: string): Promise<boolean> {
  try {
    await Deno.lstat(nextKeyPath(dir));
    return true;
  } catch {
    return false;
  }
}

export function registrationPath(dir: string): string {
  return join(dir, REGISTRATION_FILE);
}

export interface LoadedKey {
  keyPair: CryptoKeyPair;
  /** e.g. "EC P-256", "RSA 2048". */
  description: string;
  /** Problems worth telling the operator (a key readable by others). */
  warnings: string[];
}

/** Reads the account key; null when the file does not exist. Throws AccountStoreError for unreadable/bad keys. */
export async function loadAccountKey(dir: string): Promise<LoadedKey | null> {
  return await loadKeyFile(accountKeyPath(dir));
}

/** Reads the new key of an unfinished rollover (`account.pem.next`); null when there is none. */
export async function loadNextKey(dir: string): Promise<LoadedKey | null> {
  return await loadKeyFile(nextKeyPath(dir));
}

async function loadKeyFile(path: string): Promise<LoadedKey | null> {
  let text: string;
  let mode: number | null = null;
  try {
    text = await Deno.readTextFile(path);
    mode = (await Deno.stat(path)).mode;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new AccountStoreError(`Cannot read the account key ${path}: ${describeFsError(error)}`);
  }
  let keyPair: CryptoKeyPair;
  try {
    keyPair = await importPrivateKeyPem(text, { extractable: true });
  } catch (error) {
    throw new AccountStoreError(
      `The account key ${path} is not a usable private key (${describeFsError(error)}): ` +
        "restore it from a backup, or move it away and run acmems register --gen-key --register",
    );
  }
  const warnings: string[] = [];
  if (mode !== null && (mode & 0o077) !== 0) {
    warnings.push(
      `The account key ${path} is readable by others (mode ${(mode & 0o777).toString(8).padStart(4, "0")}): ` +
        `run chmod 600 ${path}`,
    );
  }
  return { keyPair, description: describeKey(keyPair.privateKey), warnings };
}

/** Writes a new account key (mode 0600), creating the directory (mode 0700) if needed. */
export async function saveAccountKey(
  dir: string,
  keyPair: CryptoKeyPair,
  opts: { force?: boolean } = {},
): Promise<void> {
  const path = accountKeyPath(dir);
  await ensureDirectory(dir);
  if (!opts.force) {
    try {
      await Deno.lstat(path);
      throw new AccountStoreError(
        `An account key already exists at ${path}: pass --force to replace it ` +
          "(the CA account of the old key stays registered; keep a copy of the old key if you may need it)",
      );
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  let pem: string;
  try {
    pem = await exportPrivateKeyPem(keyPair.privateKey);
  } catch (error) {
    throw new AccountStoreError(`Cannot export the new account key: ${describeFsError(error)}`);
  }
  try {
    await atomicWriteFile(path, pem, { mode: 0o600 });
    // The registration belongs to the previous key.
    await Deno.remove(registrationPath(dir)).catch(() => {});
  } catch (error) {
    throw new AccountStoreError(`Cannot write the account key ${path}: ${describeFsError(error)}`);
  }
}

/**
 * Writes the new key of a rollover to `account.pem.next` (mode 0600, atomically), before the CA is asked: a crash
 * after the CA accepted leaves the key the account now has on disk.
 */
export async function saveNextKey(dir: string, keyPair: CryptoKeyPair): Promise<void> {
  const path = nextKeyPath(dir);
  await ensureDirectory(dir);
  try {
    await atomicWriteFile(path, await exportPrivateKeyPem(keyPair.privateKey), { mode: 0o600 });
  } catch (error) {
    throw new AccountStoreError(`Cannot write the new account key ${path}: ${describeFsError(error)}`);
  }
}

/**
 * The CA accepted the new key: `account.pem.next` replaces `account.pem` in one rename (a crash leaves the old or the
 * new key in account.pem, and in the first case account.pem.next still there). registration.json stays: the
 * account and its URL are the same.
 */
export async function promoteNextKey(dir: string): Promise<void> {
  try {
    await Deno.rename(nextKeyPath(dir), accountKeyPath(dir));
    await syncDirectory(dir);
  } catch (error) {
    throw new AccountStoreError(
      `Cannot rename ${nextKeyPath(dir)} to ${accountKeyPath(dir)}: ${describeFsError(error)}. The CA already ` +
        `accepted the new key: rename it by hand (mv ${nextKeyPath(dir)} ${accountKeyPath(dir)})`,
    );
  }
}

/** The CA does not know the new key: `account.pem.next` is removed (nothing when it is gone already). */
export async function discardNextKey(dir: string): Promise<void> {
  try {
    await Deno.remove(nextKeyPath(dir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw new AccountStoreError(`Cannot remove ${nextKeyPath(dir)}: ${describeFsError(error)}`);
  }
}

/** Reads registration.json; null when missing. A corrupt file is an error naming it. */
export async function loadRegistration(dir: string): Promise<Registration | null> {
  const path = registrationPath(dir);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw new AccountStoreError(`Cannot read ${path}: ${describeFsError(error)}`);
  }
  try {
    const value = JSON.parse(text);
    if (typeof value?.url !== "string" || typeof value?.directoryUrl !== "string") throw new Error("url missing");
    return value as Registration;
  } catch (error) {
    throw new AccountStoreError(
      `${path} is not a valid registration (${
        describeFsError(error)
      }): remove it and run acmems register to recover it from the CA`,
    );
  }
}

export async function saveRegistration(dir: string, registration: Registration): Promise<void> {
  const path = registrationPath(dir);
  await ensureDirectory(dir);
  try {
    await atomicWriteFile(path, JSON.stringify(registration, null, 2) + "\n", { mode: 0o600 });
  } catch (error) {
    throw new AccountStoreError(`Cannot write ${path}: ${describeFsError(error)}`);
  }
}

async function ensureDirectory(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new AccountStoreError(`Cannot create the account directory ${dir}: ${describeFsError(error)}`);
  }
}
