/**
 * The dns-persist-01 section of the operator page: the TXT records to publish, exactly as `acmems records` lists
 * them (src/challenges/dns_persist01/records.ts: same owners, values and issuer domain names; the account URL from
 * registration.json). Pure: the caller reads registration.json.
 */
import { issuerDomainName, planRecords } from "../../challenges/dns_persist01/records.ts";
import { quoteTxt } from "../../challenges/dns_persist01/record.ts";
import type { Config } from "../../config/types.ts";

export interface PersistRecordRow {
  verification: string;
  /** Owner name without the trailing dot (`_validation-persist.example.org`). */
  owner: string;
  /** The names (domain globs) it serves. */
  names: string[];
  /** The TXT value, quoted as in a zone file. */
  txt: string;
}

export type PersistSection =
  /** No `[verification] type = dns-persist01` block. */
  | { configured: false }
  | {
    configured: true;
    records: PersistRecordRow[];
    /** Globs no single record covers (list their names with `acmems records NAME…`). */
    skipped: { name: string; reason: string }[];
    /** Why no records can be listed (no account yet, no issuer domain name), or null. */
    problem: string | null;
  };

/** What registration.json said: the account (or none yet), or why it could not be read. */
export type RegistrationRead = { url: string; directoryUrl: string } | null | { error: string };

/** The records of the config's dns-persist01 blocks for the stored account. */
export function persistSection(config: Config, registration: RegistrationRead): PersistSection {
  const blocks = [...config.verifications.values()].filter((v) => v.type === "dns-persist01");
  if (blocks.length === 0) return { configured: false };
  const none = (problem: string): PersistSection => ({ configured: true, records: [], skipped: [], problem });
  const issuers = new Map<string, string>();
  for (const v of blocks) {
    if (v.type !== "dns-persist01") continue;
    const issuer = issuerDomainName(v, config.account.acmeServer);
    if ("error" in issuer) return none(issuer.error);
    issuers.set(v.name, issuer.value);
  }
  if (registration && "error" in registration) return none(registration.error);
  if (!registration) return none(`no account yet in ${config.account.dir}: run acmems register first`);
  if (registration.directoryUrl !== config.account.acmeServer) {
    return none(
      `the account in ${config.account.dir} is at ${registration.directoryUrl}, not at acme-server ` +
        `${config.account.acmeServer}: run acmems register first`,
    );
  }
  const plan = planRecords(config, registration.url, issuers);
  return {
    configured: true,
    records: plan.records.map((r) => ({
      verification: r.verification,
      owner: r.owner,
      names: r.names,
      txt: quoteTxt(r.value),
    })),
    skipped: plan.skipped,
    problem: null,
  };
}
