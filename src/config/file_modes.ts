/**
 * Secrets in files others can read: a config file holding `hmac_key`, `tsig-secret`, `eab-hmac-key` or a database
 * URL with a password, or a `tsig-key-file`, whose mode lets its group or everyone read it, gets a warning naming the
 * file and the `chmod 600 FILE` that fixes it (check-config prints it, serve logs it). Pure: the file's mode comes
 * from `ConfigEnvironment.fileMode`; without one (tests, fakes) nothing is checked.
 */
import { shellWord } from "./text.ts";
import type { Diagnostics } from "./diagnostics.ts";
import type { ConfigEnvironment } from "./environment.ts";
import type { IniDocument, IniEntry } from "./ini.ts";
import { databasePasswords, SECRET_OPTIONS } from "./secrets.ts";
import type { Source } from "./types.ts";

/** Warns once per config file that holds a secret and is group- or world-readable, at its first secret's line. */
export const warnReadableConfigFiles = (function warnReadableConfigFiles(
  documents: { file: string; document: IniDocument }[],
  env: ConfigEnvironment,
  diag: Diagnostics,
): void {
  for (const { file, document } of documents) {
    const first = document.sections.flatMap((section) =>
      section.entries.filter((entry) => holdsSecret(section.kind, entry))
    )[0];
    if (!first) continue;
    const what = first.key === "url" ? "a database password (url)" : `a secret (${first.key})`;
    warnIfReadable(file, `Config file ${file} holds ${what}`, first.source, env, diag);
  }
}).bind(null);

/** Warns when `path` (a file holding a secret, described by `holds`) is group- or world-readable. */
export const warnIfReadable = (function warnIfReadable(
  path: string,
  holds: string,
  source: Source,
  env: ConfigEnvironment,
  diag: Diagnostics,
): void {
  const mode = env.fileMode?.(path);
  if (mode === null || mode === undefined) return;
  const readers = readableBy(mode);
  if (!readers) return;
  const octal = (mode & 0o777).toString(8).padStart(4, "0");
  diag.warn(
    source,
    `${holds} and is ${readers} (mode ${octal}): run chmod 600 ${shellWord(path)} (or chmod go-rwx) ` +
      "so only acmems' user can read it",
  );
}).bind(null);

/** `group-readable`, `world-readable`, `group- and world-readable`, or null when only the owner may read. */
export const readableBy = (function readableBy(mode: number): string | null {
  const group = (mode & 0o040) !== 0;
  const world = (mode & 0o004) !== 0;
  if (group && world) return "group- and world-readable";
  if (group) return "group-readable";
  if (world) return "world-readable";
  return null;
}).bind(null);

const holdsSecret = (function holdsSecret(kind: string, entry: IniEntry): boolean {
  if (SECRET_OPTIONS.has(entry.key)) return entry.value.trim() !== "";
  return kind === "storage" && entry.key === "url" && databasePasswords(entry.value).length > 0;
}).bind(null);
