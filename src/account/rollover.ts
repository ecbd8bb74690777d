/**
 * Account key rollover (RFC 8555 §7.3.5) with a crash-safe hand-over on disk.
 *
 * Contract: `rolloverKey` writes the new key to `account.pem.next` first, then asks the CA (inner JWS signed by the
 * new key, outer by the old: src/acme/accounts.ts `changeAccountKey`), and only after the CA accepted renames it
 * over `account.pem` (src/account/store.ts). A crash before the rename leaves the old `account.pem` and the new key
 * beside it; `recoverRollover` (run by `acmems register` and `acmems serve` before they use the key) asks the CA
 * which of the two it knows — the account lookup with onlyReturnExisting, signed by the new key — and finishes (the
 * CA knows the new key: rename) or discards (`accountDoesNotExist`: remove account.pem.next). When the CA cannot
 * say (unreachable, any other answer), both files stay and the error is thrown: nothing is guessed.
 * Not coordinated between processes: one rollover at a time (the operator's command).
 */
import { isProblem } from "../acme/mod.ts";
import { discardNextKey, loadNextKey, promoteNextKey, saveNextKey } from "./store.ts";

/** The account URL the CA has for `key` (onlyReturnExisting), null for `accountDoesNotExist`; throws otherwise. */
export type AccountLookup = (key: CryptoKeyPair) => Promise<string | null>;

/** What `recoverRollover` found and did. */
export type Recovery =
  /** No account.pem.next: nothing to do. */
  | { kind: "none" }
  /** The CA knows the new key: it is account.pem now. */
  | { kind: "finished"; keyPair: CryptoKeyPair; url: string }
  /** The CA does not know the new key: account.pem.next was removed, account.pem stays. */
  | { kind: "discarded" };

/** Finishes or discards an unfinished rollover in `dir` (see the contract). Throws when the CA cannot say. */
export async function recoverRollover(dir: string, lookup: AccountLookup): Promise<Recovery> {
  const next = await loadNextKey(dir);
  if (!next) return { kind: "none" };
  const url = await lookup(next.keyPair);
  if (url === null) {
    await discardNextKey(dir);
    return { kind: "discarded" };
  }
  await promoteNextKey(dir);
  return { kind: "finished", keyPair: next.keyPair, url };
}

/** What `rolloverKey` did. */
export type Rollover =
  /** The CA accepted: account.pem is the new key, the account URL is unchanged. */
  | { kind: "rolled"; url: string }
  /** The CA refused (or never got the request): account.pem.next removed, the old key stays in use. */
  | { kind: "refused"; error: unknown }
  /** The CA's answer was lost and it cannot be asked now: both keys stay; the next run finishes or discards. */
  | { kind: "pending"; error: unknown; lookupError: unknown };

/** The key change request of a connected client (AcmeClient.changeAccountKey). */
export interface KeyChanger {
  readonly accountUrl: string | undefined;
  changeAccountKey(newKey: CryptoKeyPair): Promise<void>;
}

/** Rolls the account of `client` over to `newKey` (see the contract); throws AccountStoreError for disk trouble. */
export async function rolloverKey(
  client: KeyChanger,
  dir: string,
  newKey: CryptoKeyPair,
  lookup: AccountLookup,
): Promise<Rollover> {
  await saveNextKey(dir, newKey);
  try {
    await client.changeAccountKey(newKey);
  } catch (error) {
    // A refusal, or an answer lost on the way back: the CA decides which key it knows.
    try {
      const recovery = await recoverRollover(dir, lookup);
      if (recovery.kind === "finished") return { kind: "rolled", url: recovery.url };
      return { kind: "refused", error };
    } catch (lookupError) {
      return { kind: "pending", error, lookupError };
    }
  }
  await promoteNextKey(dir);
  return { kind: "rolled", url: client.accountUrl ?? "" };
}

/** An `AccountLookup` through a client made for each key (closed afterwards). */
export function lookupThrough(
  create: (key: CryptoKeyPair) => { findAccount(): Promise<{ url: string }>; close(): void },
): AccountLookup {
  return async (key) => {
    const client = create(key);
    try {
      return (await client.findAccount()).url;
    } catch (error) {
      if (isProblem(error, "accountDoesNotExist")) return null;
      throw error;
    } finally {
      client.close();
    }
  };
}
