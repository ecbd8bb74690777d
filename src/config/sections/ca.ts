/**
 * The CAs of a config: `[account]` (the CA named `default`) and every `[ca "name"]` section, each with exactly the
 * options of `[account]` (the same table and builder: src/config/schema.ts ACCOUNT_OPTIONS, sections/account.ts), and
 * an auth block's ordered preference `ca = le, gts` (`parseCaPreference`).
 *
 * Rules: `[ca "default"]` beside `[account]` is an error naming both lines; two CAs with the same directory URL or
 * the same account directory are an error naming both. Without `[account]`, the default CA is `[ca "default"]`, else
 * the first `[ca]` section. Pure apart from `ConfigEnvironment` (paths).
 */
import type { IniSection } from "../ini.ts";
import type { ConfigEnvironment } from "../environment.ts";
import { type Diagnostics, sectionLabel, where } from "../diagnostics.ts";
import { ACCOUNT_OPTIONS } from "../schema.ts";
import { truncate } from "../text.ts";
import type { AccountConfig, Source } from "../types.ts";
import { buildAccount } from "./account.ts";

/** The name `[account]` has as a CA. */
export const DEFAULT_CA = "default";

export interface CaSet {
  /** By name, the default first, then `[ca]` sections in config order. */
  cas: Map<string, AccountConfig>;
  /** The CA of `[account]` (or `[ca "default"]`, or the first `[ca]`); auth blocks without `ca =` use it. */
  defaultCa: string;
  /** The sections each CA was built from (for notes). */
  sections: Map<string, IniSection[]>;
}

/** Builds every CA; `account` is null when the default CA did not build (its errors are reported). */
export const buildCas = (function buildCas(
  accountSections: IniSection[],
  caSections: IniSection[],
  firstFile: string,
  env: ConfigEnvironment,
  diag: Diagnostics,
): CaSet & { account: AccountConfig | null } {
  const cas = new Map<string, AccountConfig>();
  const sections = new Map<string, IniSection[]>();
  let account: AccountConfig | null = null;
  let broken = false;
  if (accountSections.length > 0 || caSections.length === 0) {
    account = buildAccount(accountSections, firstFile, env, diag);
    if (account) cas.set(DEFAULT_CA, account);
    else broken = true;
    sections.set(DEFAULT_CA, accountSections);
  }
  for (const section of caSections) {
    const name = section.name!;
    if (name === DEFAULT_CA && accountSections.length > 0) {
      diag.error(
        section.source,
        `${sectionLabel(section)} is the CA that [account] already defines (at ${where(accountSections[0].source)}): ` +
          `keep one of them, or rename this section`,
      );
      continue;
    }
    const ca = buildAccount([section], firstFile, env, diag, sectionLabel(section));
    if (ca) cas.set(name, ca);
    else if (name === DEFAULT_CA) broken = true;
    sections.set(name, [section]);
  }
  const defaultCa = accountSections.length > 0 || caSections.length === 0
    ? DEFAULT_CA
    : caSections.some((s) => s.name === DEFAULT_CA)
    ? DEFAULT_CA
    : caSections[0].name!;
  if (!account && !broken) account = cas.get(defaultCa) ?? null;
  checkClashes(cas, sections, diag);
  return { cas, defaultCa, sections, account };
}).bind(null);

/** Two CAs with one directory URL or one account directory: an error at the second, naming the first. */
const checkClashes = (function checkClashes(
  cas: Map<string, AccountConfig>,
  sections: Map<string, IniSection[]>,
  diag: Diagnostics,
): void {
  const seenUrl = new Map<string, { name: string; source: Source }>();
  const seenDir = new Map<string, { name: string; source: Source }>();
  for (const [name, ca] of cas) {
    const urlSource = optionSource(sections.get(name), ACCOUNT_OPTIONS.acmeServer.key) ?? ca.source;
    const dirSource = optionSource(sections.get(name), ACCOUNT_OPTIONS.dir.key) ?? ca.source;
    const url = seenUrl.get(ca.acmeServer);
    if (url) {
      diag.error(
        urlSource,
        `${caLabel(name)} acme-server ${ca.acmeServer} is also the directory of ${caLabel(url.name)} ` +
          `(at ${where(url.source)}): each CA needs its own directory URL; remove one of them`,
      );
    } else seenUrl.set(ca.acmeServer, { name, source: urlSource });
    const dir = seenDir.get(ca.dir);
    if (dir) {
      diag.error(
        dirSource,
        `${caLabel(name)} dir ${ca.dir} is also the account directory of ${caLabel(dir.name)} ` +
          `(at ${where(dir.source)}): give each CA its own dir`,
      );
    } else seenDir.set(ca.dir, { name, source: dirSource });
  }
}).bind(null);

const optionSource = (function optionSource(sections: IniSection[] | undefined, key: string): Source | undefined {
  for (const section of sections ?? []) {
    const entry = section.entries.find((e) => e.key === key);
    if (entry) return entry.source;
  }
  return undefined;
}).bind(null);

/** How messages name a CA: `[account]` for the default built from it, `[ca "name"]` otherwise. */
export const caLabel = (function caLabel(name: string): string {
  return `[ca "${name}"]`;
}).bind(null);

/**
 * An auth block's `ca = le, gts`: known CA names, comma-separated, each once. Gives the list, or the error (naming
 * the unknown name and the CAs there are).
 */
export const parseCaPreference =
  (function parseCaPreference(text: string, known: readonly string[]): { value: string[] } | { error: string } {
    const names: string[] = [];
    for (const part of text.split(",").map((p) => p.trim())) {
      if (part === "") return { error: `"${truncate(text)}" has an empty entry: write CA names separated by commas` };
      if (!known.includes(part)) {
        return {
          error: `"${truncate(part)}" names no CA (known CAs: ${known.join(", ") || "none"}); ` +
            `define it with a [ca "${truncate(part)}"] section or use one of those`,
        };
      }
      if (names.includes(part)) return { error: `"${truncate(part)}" is listed twice: name each CA once` };
      names.push(part);
    }
    return { value: names };
  }).bind(null);
