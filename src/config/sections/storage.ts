/**
 * `[storage "name"]`: where certificates are cached: `none`, `file` (a directory; a warning when it is on a
 * network filesystem, whose locks are no cluster lock) or `postgres` (several hosts). Pure apart from
 * `ConfigEnvironment` (paths, the filesystem type). Gives null when the section has errors.
 */
import type { IniSection } from "../ini.ts";
import { type ConfigEnvironment, networkFilesystem } from "../environment.ts";
import {
  collectOptions,
  type Diagnostics,
  firstIsType,
  type Options,
  readOption,
  sectionLabel,
} from "../diagnostics.ts";
import { DEFAULT_RENEW_ACTIVE_DAYS, DEFAULT_RENEW_WITHIN_DAYS, IMPLICIT_STORAGE_NAME } from "../defaults.ts";
import {
  FILE_STORAGE_OPTIONS as F,
  NONE_STORAGE_OPTIONS,
  POSTGRES_STORAGE_OPTIONS as P,
  type RenewalDays,
} from "../schema.ts";
import { didYouMean, truncate } from "../text.ts";
import type { AccountConfig, FileStorage, PostgresStorage, Source, StorageConfig } from "../types.ts";

export const buildStorage =
  (function buildStorage(section: IniSection, env: ConfigEnvironment, diag: Diagnostics): StorageConfig | null {
    const type = firstIsType(section, diag, "none, file or postgres");
    if (type === null) return null;
    const label = sectionLabel(section);
    const name = section.name!;
    if (type === "none") {
      collectOptions(section.entries, NONE_STORAGE_OPTIONS, `${label} (type none takes no options)`, diag);
      return { type: "none", name, source: section.source };
    }
    if (type === "file") {
      const o = collectOptions(section.entries, F, label, diag);
      const directory = o.one(F.directory);
      if (!directory || directory.value === "") {
        diag.error(section.source, `${label} needs directory = where cached certificates are kept`);
        return null;
      }
      const storage: FileStorage = {
        type: "file",
        name,
        directory: env.resolvePath(directory.value, directory.source.file),
        renewWithinDays: DEFAULT_RENEW_WITHIN_DAYS,
        renewActiveDays: DEFAULT_RENEW_ACTIVE_DAYS,
        implicit: false,
        source: section.source,
      };
      readRenewalDays(o, label, storage, diag);
      warnIfNetworkFilesystem(
        `${label} directory ${storage.directory}`,
        storage.directory,
        directory.source,
        env,
        diag,
      );
      return storage;
    }
    if (type === "postgres") return buildPostgresStorage(section, diag);
    const typeSource = section.entries[0].source;
    const hint = didYouMean(type, ["none", "file", "postgres"]);
    diag.error(
      typeSource,
      `${label}: unknown storage type "${truncate(type)}"${
        hint ? `: did you mean ${hint}?` : ""
      } (supported: none, file, postgres)`,
    );
    return null;
  }).bind(null);

const buildPostgresStorage =
  (function buildPostgresStorage(section: IniSection, diag: Diagnostics): PostgresStorage | null {
    const label = sectionLabel(section);
    const before = diag.errors.length;
    const o = collectOptions(section.entries, P, label, diag);
    const storage: PostgresStorage = {
      type: "postgres",
      name: section.name!,
      poolSize: 5,
      leaseMs: 30_000,
      schema: "acmems",
      renewWithinDays: DEFAULT_RENEW_WITHIN_DAYS,
      renewActiveDays: DEFAULT_RENEW_ACTIVE_DAYS,
      source: section.source,
    };
    const url = o.one(P.url);
    if (url && url.value !== "") {
      let parsed: URL | undefined;
      try {
        parsed = new URL(url.value);
      } catch {
        parsed = undefined;
      }
      if (!parsed || (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:")) {
        // Never echo the value: it may hold the password.
        diag.error(url.source, `${label} url must be postgres://user:password@host:port/database`);
      } else {
        storage.url = url.value;
      }
    }
    readOption(o, P.poolSize, storage, label, diag);
    readOption(o, P.lease, storage, label, diag);
    const schema = o.one(P.schema);
    if (schema) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema.value)) {
        diag.error(
          schema.source,
          `${label} schema "${
            truncate(schema.value)
          }" must be lower-case letters, digits and _ (not starting with a digit)`,
        );
      } else storage.schema = schema.value;
    }
    readRenewalDays(o, label, storage, diag);
    return diag.errors.length > before ? null : storage;
  }).bind(null);

/** `renew-within` and `renew-active-days`, shared by the storages that cache. */
const readRenewalDays =
  (function readRenewalDays(o: Options, label: string, storage: RenewalDays, diag: Diagnostics): void {
    readOption(o, F.renewWithin, storage, label, diag);
    readOption(o, F.renewActiveDays, storage, label, diag);
  }).bind(null);

/** The file storage `<account dir>/cache` that a config without [storage] sections gets. */
export const implicitStorage = (function implicitStorage(
  account: AccountConfig,
  firstFile: string,
  env: ConfigEnvironment,
  diag: Diagnostics,
): FileStorage {
  const source = { file: firstFile, line: 0 };
  const directory = `${account.dir.replace(/\/+$/, "")}/cache`;
  const storage: FileStorage = {
    type: "file",
    name: IMPLICIT_STORAGE_NAME,
    directory,
    renewWithinDays: DEFAULT_RENEW_WITHIN_DAYS,
    renewActiveDays: DEFAULT_RENEW_ACTIVE_DAYS,
    implicit: true,
    source,
  };
  warnIfNetworkFilesystem(
    `The default cache (no [storage] block) directory ${directory}`,
    directory,
    source,
    env,
    diag,
  );
  return storage;
}).bind(null);

/** flock over NFS is no cluster lock: a `file` storage there does not keep hosts from ordering twice. */
const warnIfNetworkFilesystem = (function warnIfNetworkFilesystem(
  what: string,
  directory: string,
  source: Source,
  env: ConfigEnvironment,
  diag: Diagnostics,
): void {
  const remote = (env.networkFilesystem ?? networkFilesystem)(directory);
  if (!remote) return;
  diag.warn(
    source,
    `${what} is on a network filesystem (${remote}): its file locks do not keep acmems processes on different ` +
      "hosts from ordering the same certificate; use type = postgres for several hosts",
  );
}).bind(null);
