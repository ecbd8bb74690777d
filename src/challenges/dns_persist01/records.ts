/**
 * Which dns-persist-01 records a config needs: for every `[verification] type = dns-persist01` block, one record per
 * domain glob of the `[auth]` blocks using it (`*.example.org` → `_validation-persist.example.org` with
 * policy=wildcard; a name and its wildcard share one record), or, given NAMEs, one per NAME (the block whose globs
 * cover it). Used by `acmems records` (cli/records.ts) and by the persistUntil watch (metrics, `expiring`).
 *
 * Contract: pure; the account URL comes from the caller (registration.json). Globs that are not a name or `*.name`
 * (e.g. `web?.example.org`, `*`) cannot be listed and are returned in `skipped`.
 */
import type { Config, DnsPersistVerification } from "../../config/types.ts";
import { compileGlob } from "../../lib/glob.ts";
import { isLetsEncrypt } from "../../config/defaults.ts";
import { buildPersistValue, persistOwner, type PersistRecord } from "./record.ts";

/** One record to publish. */
export interface NeededRecord {
  /** The verification block. */
  verification: string;
  /** The owner name, without the trailing dot. */
  owner: string;
  /** The names (globs or NAMEs) it serves. */
  names: string[];
  record: PersistRecord;
  /** The TXT value. */
  value: string;
}

export interface RecordPlan {
  records: NeededRecord[];
  /** Globs (or NAMEs) no record could be listed for, with why. */
  skipped: { name: string; reason: string }[];
}

/** The issuer domain name of a block's records, or an error naming the option to set. */
export function issuerDomainName(v: DnsPersistVerification, acmeServer: string): { value: string } | { error: string } {
  if (v.issuerDomainName) return { value: v.issuerDomainName };
  // Let's Encrypt's issuer domain name (its CAA name).
  if (isLetsEncrypt(acmeServer)) return { value: "letsencrypt.org" };
  return {
    error: `[verification "${v.name}"] needs issuer-domain-name = the CA's issuer domain name (its CAA name): ` +
      `acme-server ${acmeServer} is not Let's Encrypt`,
  };
}

/** A glob acmems can publish a record for: `name` or `*.name` (no other wildcard characters). */
function listable(glob: string): boolean {
  const rest = glob.startsWith("*.") ? glob.slice(2) : glob;
  return rest.length > 0 && !/[*?[\]]/.test(rest);
}

/**
 * The records of every dns-persist01 block (or of `names` only). `issuers` maps a block name to its issuer domain
 * name (see `issuerDomainName`).
 */
export function planRecords(
  config: Config,
  accountUrl: string,
  issuers: ReadonlyMap<string, string>,
  names: readonly string[] = [],
): RecordPlan {
  const blocks = [...config.verifications.values()].filter((v): v is DnsPersistVerification =>
    v.type === "dns-persist01"
  );
  const byOwner = new Map<string, NeededRecord>();
  const skipped: RecordPlan["skipped"] = [];
  const add = (v: DnsPersistVerification, name: string) => {
    const owner = persistOwner(name);
    const key = `${v.name}|${owner}`;
    const wildcard = name.startsWith("*.");
    const issuer = issuers.get(v.name)!;
    const found = byOwner.get(key);
    if (found) {
      if (!found.names.includes(name)) found.names.push(name);
      if (wildcard && !found.record.wildcard) found.record.wildcard = true;
      found.value = buildPersistValue(found.record, v.recordFormat);
      return;
    }
    const record: PersistRecord = { issuer, accountUri: accountUrl, wildcard, persistUntil: v.persistUntil };
    byOwner.set(key, { verification: v.name, owner, names: [name], record, value: "" });
    byOwner.get(key)!.value = buildPersistValue(record, v.recordFormat);
  };
  if (names.length > 0) {
    for (const raw of names) {
      const name = raw.toLowerCase().replace(/\.$/, "");
      const v = blocks.find((b) => globsOf(config, b.name).some((g) => covers(g, name)));
      if (!v) skipped.push({ name, reason: "no [auth] block with a dns-persist01 verification covers it" });
      else if (!listable(name)) skipped.push({ name, reason: "not a name or *.name" });
      else add(v, name);
    }
  } else {
    for (const v of blocks) {
      for (const glob of globsOf(config, v.name)) {
        if (listable(glob)) add(v, glob.toLowerCase());
        else skipped.push({ name: glob, reason: "a glob no one record covers: list its names with acmems records" });
      }
    }
  }
  return { records: [...byOwner.values()], skipped };
}

/** The domain globs of the auth blocks using verification `name`, in config order, once each. */
function globsOf(config: Config, name: string): string[] {
  const globs = config.auth.flatMap((a) => (a.verification === name ? a.domains : []));
  return [...new Set(globs)];
}

/** Whether glob `pattern` admits `name` (a `*.x` NAME must be admitted as written). */
function covers(pattern: string, name: string): boolean {
  const glob = compileGlob(pattern);
  return glob.ok && glob.match(name);
}
