/**
 * Whether the current config still admits a stored entry, for background renewal: a pure decision, no I/O.
 *
 * A renewal has no client: the `ip` rule and the HMAC of an `[auth]` block cannot be checked again (they were checked
 * by the /sign that stored the entry). What can be checked is:
 * - the entry's block (`Entry.block`, recorded by issuance) is still in the config — by name; a block that was
 *   removed or renamed admits nothing, even if another block would admit the same names (for other clients);
 * - that block admits every name of the entry (its `domain` globs for DNS names, its `ip-identifiers` for IP
 *   addresses, as src/policy/authorize.ts matches them), and the names are normalized DNS names or canonical IP
 *   addresses as /sign stores them (src/csr/names.ts: nothing a glob's case folding could stretch);
 * - the block's `verification` is the entry's, and its `storage` the one the entry is in.
 * An entry without a block (written by a version before issue 13) is admitted by the first block, in config order,
 * that passes these checks; renewing it records that block.
 *
 * Reasons name the entry's names and what to change; they are for the operator's log only.
 */
import type { AuthBlock } from "../config/types.ts";
import { isIpName, normalizeDnsName } from "../csr/names.ts";
import { blockAdmitsName, describeNames } from "../policy/authorize.ts";
import type { Entry } from "../storage/mod.ts";

export type Admission = { ok: true; block: AuthBlock } | { ok: false; reason: string };

/** The parts of an entry the decision reads (a stored entry may hold anything: every field is checked). */
export type AdmissionInput = Pick<Entry, "names" | "verification" | "block">;

/** Whether `blocks` (the current config's, in order) admit `entry`, stored in the storage named `storage`. */
export function admitStoredEntry(blocks: readonly AuthBlock[], entry: AdmissionInput, storage: string): Admission {
  const names: unknown[] = Array.isArray(entry.names) ? entry.names : [];
  const shown = describeNames(names.map(String));
  if (names.length === 0) return { ok: false, reason: "The entry lists no names" };
  for (const name of names) {
    if (typeof name === "string" && isIpName(name)) continue;
    const checked = typeof name === "string" ? normalizeDnsName(name) : undefined;
    if (!checked?.ok || checked.name !== name) {
      return {
        ok: false,
        reason: `The entry's names (${shown}) are not normalized DNS names or IP addresses as /sign stores them`,
      };
    }
  }
  const valid = names as string[];
  if (entry.block !== undefined) {
    const block = blocks.find((b) => b.name === entry.block);
    if (!block) {
      return {
        ok: false,
        reason:
          `auth block ${JSON.stringify(String(entry.block))} that admitted ${shown} is no longer in the config: ` +
          "it is renewed only when a client a current block admits asks /sign for it",
      };
    }
    const problem = blockProblem(block, valid, entry.verification, storage);
    return problem ? { ok: false, reason: `auth block "${block.name}" ${problem}` } : { ok: true, block };
  }
  const block = blocks.find((b) => blockProblem(b, valid, entry.verification, storage) === null);
  if (block) return { ok: true, block };
  return {
    ok: false,
    reason: `No auth block admits ${shown} with verification ${JSON.stringify(String(entry.verification))} and ` +
      `storage "${storage}"`,
  };
}

/** Why `block` does not admit the names, verification and storage; null when it does. */
function blockProblem(block: AuthBlock, names: string[], verification: unknown, storage: string): string | null {
  const outside = names.find((name) => !blockAdmitsName(block, name));
  if (outside !== undefined) {
    const lines = isIpName(outside) ? "ip-identifiers" : "domain";
    return `does not admit ${describeNames([outside])} (its ${lines} lines)`;
  }
  if (block.verification !== verification) {
    return `uses verification "${block.verification}", not ${JSON.stringify(String(verification))}`;
  }
  if (block.storage !== storage) return `uses storage ${JSON.stringify(block.storage)}, not "${storage}"`;
  return null;
}
