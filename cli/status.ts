/**
 * `acmems status [--json] CONFIG…`: the certificates in the config's storages, sorted by renewal point, read
 * straight from the storages (file directories, PostgreSQL) without a running server. The same rows as the
 * operator page (src/http/ui/rows.ts); `--json` prints them as JSON with stable keys.
 *
 * Contract: read-only: a file storage's directory that does not exist is reported as holding nothing (it is not
 * created); `none` storages hold nothing. PostgreSQL is read with the storage's own queries (migrating an old
 * schema first, as serve would). Exit 1 when the config is invalid or a storage could not be read.
 */
import type { Config } from "../src/config/types.ts";
import { collectEntries } from "../src/http/ui/collect.ts";
import type { StorageStatus } from "../src/http/ui/page.ts";
import { type CertificateRow, certificateRows, countStates, type StoredEntry } from "../src/http/ui/rows.ts";
import { formatTime, relativeTime } from "../src/http/ui/time_text.ts";
import { silentLogger } from "../src/ops/log.ts";
import { createStorages, loadStorageDrivers } from "../src/storage/factory.ts";
import type { Storage } from "../src/storage/mod.ts";
import { consoleOutput, loadConfigOrReport } from "./_config.ts";
import type { Output } from "./register_key.ts";
import { type Subcommand, UsageError } from "./usage.ts";

const USAGE = `Usage: acmems status [--json] CONFIG...

Prints the certificates in the config's storages (file and postgres), sorted by renewal point: names, state, CA,
profile, not-after, renewal point (or ARI window), last fetch, last failure with its error id and backoff. Reads the
storages directly: no running server is needed, and nothing is written.

Options:
  --json        the same rows as JSON: {now, storages: [...], certificates: [...]} (keys in the README)
  -h, --help    show this help

Exit status: 0 done, 1 invalid config or a storage that could not be read, 2 usage error.
`;

export interface StatusOptions {
  files: string[];
  json: boolean;
}

/** Parses the command line. Throws UsageError. */
export function parseStatusArgs(args: string[]): StatusOptions {
  const opts: StatusOptions = { files: [], json: false };
  for (const arg of args) {
    if (arg === "--json") opts.json = true;
    else if (arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown option "${arg}"`);
    else opts.files.push(arg);
  }
  if (opts.files.length === 0) throw new UsageError("no config file given");
  return opts;
}

/** What `status` found: the rows and every storage's status. */
export interface StatusReport {
  now: Date;
  storages: (StorageStatus & { note: string | null })[];
  certificates: CertificateRow[];
}

/** Reads every storage of `config` (see the contract above). */
export async function readStatus(config: Config, now: Date): Promise<StatusReport> {
  const storages: StatusReport["storages"] = [];
  const readable: Storage[] = [];
  await loadStorageDrivers(config);
  const built = createStorages(config, silentLogger);
  try {
    for (const block of config.storages.values()) {
      const storage = built.get(block.name)!;
      if (block.type === "none") {
        storages.push({
          name: block.name,
          kind: "none",
          entries: 0,
          problem: null,
          note: "type = none stores nothing",
        });
      } else if (block.type === "file" && !await isDirectory(block.directory)) {
        const note = `${block.directory} does not exist: nothing stored yet`;
        storages.push({ name: block.name, kind: "file", entries: 0, problem: null, note });
      } else readable.push(storage);
    }
    const collected = await collectEntries(readable);
    storages.push(...collected.storages.map((s) => ({ ...s, note: null })));
    // In the config's order.
    const order = [...config.storages.keys()];
    storages.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    const entries: StoredEntry[] = collected.entries;
    return { now, storages, certificates: certificateRows(entries, now) };
  } finally {
    for (const storage of built.values()) await storage.close().catch(() => {});
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** The report as JSON (the README documents the keys). */
export function statusJson(report: StatusReport): string {
  return JSON.stringify(
    {
      now: report.now.toISOString(),
      storages: report.storages.map((s) => ({
        name: s.name,
        type: s.kind,
        certificates: s.entries,
        problem: s.problem,
        note: s.note,
      })),
      certificates: report.certificates,
    },
    null,
    2,
  );
}

/** The report for a terminal: a short block per certificate, then the storages. */
export function statusText(report: StatusReport): string {
  const { now, certificates } = report;
  const lines: string[] = [];
  if (report.storages.every((s) => s.kind === "none")) {
    lines.push("Nothing is stored: every [storage] block has type = none.");
    return lines.join("\n");
  }
  const counts = Object.entries(countStates(certificates)).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`);
  lines.push(
    `${certificates.length} certificate${certificates.length === 1 ? "" : "s"}` +
      (counts.length > 0 ? ` (${counts.join(", ")})` : "") + `, sorted by renewal point; now ${
      formatTime(
        now.toISOString(),
      )
    }`,
  );
  const when = (iso: string | null) => (iso ? `${formatTime(iso)} (${relativeTime(iso, now)})` : "");
  for (const row of certificates) {
    lines.push("");
    lines.push(`${row.names.join(", ")}  [${row.state}]`);
    lines.push(`  renew     ${when(row.renewal.at)} by ${row.renewal.rule}`);
    if (row.ariWindow) lines.push(`  ARI       ${formatTime(row.ariWindow.start)} – ${formatTime(row.ariWindow.end)}`);
    lines.push(`  not after ${when(row.notAfter)}`);
    lines.push(
      `  CA        ${row.ca}${row.profile ? `  profile ${row.profile}` : ""}  storage ${row.storage}` +
        (row.block ? `  block ${row.block}` : ""),
    );
    lines.push(`  fetched   ${when(row.lastFetchedAt)}`);
    if (row.lastFailure) {
      const id = row.lastFailure.errorId ? ` [error id ${row.lastFailure.errorId}]` : "";
      lines.push(`  failed    ${when(row.lastFailure.at)} ×${row.lastFailure.failures}${id}: ${row.lastFailure.error}`);
    }
    if (row.backoffUntil) lines.push(`  backoff   until ${when(row.backoffUntil)}`);
  }
  lines.push("");
  for (const s of report.storages) {
    const detail = s.problem ?? s.note ?? `${s.entries} certificate${s.entries === 1 ? "" : "s"}`;
    lines.push(`storage ${s.name} (${s.kind}): ${detail}`);
  }
  return lines.join("\n");
}

/** Runs `acmems status` (tests pass `out` and `now`). */
export async function runStatus(args: string[], out: Output = consoleOutput, now = new Date()): Promise<number> {
  const opts = parseStatusArgs(args);
  const config = await loadConfigOrReport(opts.files, out);
  if (!config) return 1;
  const report = await readStatus(config, now);
  out.info(opts.json ? statusJson(report) : statusText(report));
  const failed = report.storages.filter((s) => s.problem);
  for (const s of failed) out.error(`acmems status: storage "${s.name}": ${s.problem}`);
  return failed.length > 0 ? 1 : 0;
}

export const statusCommand: Subcommand = {
  name: "status",
  summary: "print the cached certificates from the storages (no server needed)",
  usage: USAGE,
  run: (args) => runStatus(args),
};
