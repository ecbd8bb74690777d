/**
 * `acmems records CONFIG… [NAME…]`: the dns-persist-01 TXT records to publish for the config's dns-persist01
 * blocks, from the stored account URL (registration.json) and each block's issuer domain name. Offline, unless
 * `--check` looks each record up through the block's resolver (present, missing or wrong; exit 1 if any is not right).
 *
 * Arguments that name an existing file are config files; the others are names (`www.example.org`, `*.example.org`).
 */
import { loadRegistration } from "../src/account/store.ts";
import { txtLookup } from "../src/challenges/dns_persist01/lookup.ts";
import { checkPersistRecords, quoteTxt } from "../src/challenges/dns_persist01/record.ts";
import { issuerDomainName, type NeededRecord, planRecords } from "../src/challenges/dns_persist01/records.ts";
import type { Config } from "../src/config/types.ts";
import { describeError } from "../src/lib/bytes.ts";
import { consoleOutput, loadConfigOrReport } from "./_config.ts";
import { type Subcommand, UsageError } from "./usage.ts";

const USAGE = `Usage: acmems records [--format zone|nsupdate|json] [--check] CONFIG... [NAME...]

Prints the dns-persist-01 TXT records to publish once for the [verification] blocks with type = dns-persist01:
one per domain glob of the [auth] blocks using them (*.example.org -> _validation-persist.example.org with
policy=wildcard), naming the account of registration.json (run acmems register first) and the block's
issuer-domain-name. With NAMEs: only the records of those names. Touches no network unless --check.

Options:
  --format FMT  zone (default: zone-file lines), nsupdate (update add commands and send) or json
  --check       look each record up through the block's resolver: present, missing or wrong
  -h, --help    show this help

Exit status: 0 done (with --check: every record present), 1 invalid config, no account, a name no block covers
or (with --check) a record missing or wrong, 2 usage error.
`;

/** Records' TTL in the zone and nsupdate formats. */
const TTL = 3600;

export interface RecordsOptions {
  files: string[];
  names: string[];
  format: "zone" | "nsupdate" | "json";
  check: boolean;
}

/** Parses the command line; `isFile` tells config files from names. Throws UsageError. */
export function parseRecordsArgs(args: string[], isFile: (path: string) => boolean): RecordsOptions {
  const opts: RecordsOptions = { files: [], names: [], format: "zone", check: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--check") opts.check = true;
    else if (arg === "--format" || arg.startsWith("--format=")) {
      const value = arg === "--format" ? args[++i] : arg.slice("--format=".length);
      if (value !== "zone" && value !== "nsupdate" && value !== "json") {
        throw new UsageError(`--format must be zone, nsupdate or json, not "${value ?? ""}"`);
      }
      opts.format = value;
    } else if (arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown option "${arg}"`);
    else if (isFile(arg)) opts.files.push(arg);
    else if (/^(\*\.)?[A-Za-z0-9_.-]+$/.test(arg)) opts.names.push(arg);
    else throw new UsageError(`"${arg}" is neither a config file nor a DNS name`);
  }
  if (opts.files.length === 0) throw new UsageError("no config file given");
  return opts;
}

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** A record's state after `--check`. */
interface Checked extends NeededRecord {
  state?: "present" | "missing" | "wrong";
  reason?: string;
}

export const recordsCommand: Subcommand = {
  name: "records",
  summary: "print (and --check) the dns-persist-01 records to publish",
  usage: USAGE,
  async run(args: string[]): Promise<number> {
    const opts = parseRecordsArgs(args, fileExists);
    const config = await loadConfigOrReport(opts.files, consoleOutput);
    if (!config) return 1;
    const prepared = await prepare(config, opts.files);
    if ("error" in prepared) {
      console.error(`acmems records: ${prepared.error}`);
      return 1;
    }
    const plan = planRecords(config, prepared.accountUrl, prepared.issuers, opts.names);
    const records: Checked[] = plan.records;
    if (opts.check) await checkAll(config, records);
    console.log(render(records, opts.format, plan.skipped));
    for (const s of plan.skipped) console.error(`acmems records: no record for ${s.name}: ${s.reason}`);
    const givenNotListed = opts.names.length > 0 && plan.skipped.length > 0;
    return givenNotListed || records.some((r) => r.state !== undefined && r.state !== "present") ? 1 : 0;
  },
};

/** The account URL and each block's issuer, or why not. */
async function prepare(
  config: Config,
  files: string[],
): Promise<{ accountUrl: string; issuers: Map<string, string> } | { error: string }> {
  const issuers = new Map<string, string>();
  // The account is checked first: without one, `register` is the next step whatever else is missing.
  let issuerError: { error: string } | undefined;
  for (const v of config.verifications.values()) {
    if (v.type !== "dns-persist01") continue;
    const issuer = issuerDomainName(v, config.account.acmeServer);
    if ("error" in issuer) issuerError ??= issuer;
    else issuers.set(v.name, issuer.value);
  }
  if (issuers.size === 0 && !issuerError) {
    return { error: "the config has no [verification] block with type = dns-persist01" };
  }
  const register = `run acmems register ${files.join(" ")} first`;
  let registration;
  try {
    registration = await loadRegistration(config.account.dir);
  } catch (error) {
    return { error: describeError(error) };
  }
  if (!registration) return { error: `no account yet in ${config.account.dir}: ${register}` };
  if (registration.directoryUrl !== config.account.acmeServer) {
    return {
      error: `the account in ${config.account.dir} is at ${registration.directoryUrl}, not at acme-server ` +
        `${config.account.acmeServer}: ${register}`,
    };
  }
  if (issuerError) return issuerError;
  return { accountUrl: registration.url, issuers };
}

/** Looks every record up through its block's resolver. */
async function checkAll(config: Config, records: Checked[]): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  for (const r of records) {
    const v = config.verifications.get(r.verification);
    if (v?.type !== "dns-persist01") continue;
    try {
      const values = await txtLookup(v.resolvers, v.timeoutMs)(r.owner);
      const verdict = checkPersistRecords(values, {
        issuers: [r.record.issuer],
        accountUri: r.record.accountUri,
        wildcard: r.record.wildcard,
        now,
      }, v.recordFormat);
      r.state = verdict.ok ? "present" : verdict.state;
      if (!verdict.ok) r.reason = verdict.reason;
    } catch (error) {
      r.state = "missing";
      r.reason = `lookup failed: ${describeError(error)}`;
    }
  }
}

/** The records in `format`. */
export function render(records: Checked[], format: RecordsOptions["format"], skipped: unknown[] = []): string {
  if (format === "json") return JSON.stringify({ records, skipped }, null, 2);
  const lines: string[] = [];
  for (const r of records) {
    // `;` starts a comment in a zone file and in nsupdate's input alike (nsupdate refuses `#`).
    const state = r.state ? ` — ${r.state}${r.reason ? `: ${r.reason}` : ""}` : "";
    lines.push(`; [verification "${r.verification}"] ${r.names.join(", ")}${state}`);
    const rr = `${r.owner}. ${TTL} IN TXT ${quoteTxt(r.value)}`;
    lines.push(format === "zone" ? rr : `update add ${rr}`);
  }
  if (format === "nsupdate" && records.length > 0) lines.push("send");
  return lines.join("\n");
}
