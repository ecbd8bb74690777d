/**
 * What the section builders share: the diagnostics they report (`FILE:LINE: message`, in the order found), the
 * options of one section checked against its table, and `readOption`, the one parse-or-report step.
 *
 * Pure: reports go into a `Diagnostics` the caller owns; nothing throws.
 */
import type { IniEntry, IniSection } from "./ini.ts";
import { type AssignedOption, type OptionRule, type OptionTable, type ParsedOption, TYPE_OPTION } from "./schema.ts";
import { didYouMean, truncate } from "./text.ts";
import type { Diagnostic, Source } from "./types.ts";

/** Errors, warnings and notes in the order they are found (that order is what check-config prints). */
export class Diagnostics {
  errors: Diagnostic[] = [];
  warnings: Diagnostic[] = [];
  notes: Diagnostic[] = [];
  error(source: Source, message: string): void {
    this.errors.push({ file: source.file, line: source.line, message });
  }
  warn(source: Source, message: string): void {
    this.warnings.push({ file: source.file, line: source.line, message });
  }
  note(source: Source, message: string): void {
    this.notes.push({ file: source.file, line: source.line, message });
  }
}

/** Options of one (possibly merged) section, checked against its table; entries carry the canonical key. */
export class Options {
  constructor(private readonly values: Map<string, IniEntry[]>) {}
  /** The entry of a single option (the first, when it was wrongly repeated). */
  one(rule: OptionRule): IniEntry | undefined {
    return this.values.get(rule.key)?.[0];
  }
  all(rule: OptionRule): IniEntry[] {
    return this.values.get(rule.key) ?? [];
  }
  has(rule: OptionRule): boolean {
    return this.values.has(rule.key);
  }
}

/** `file:line`, for messages that name a second place. */
export const where = (function where(source: Source): string {
  return `${source.file}:${source.line}`;
}).bind(null);

/** `[mgmt]`, `[auth "office"]`: how messages name a section. */
export const sectionLabel = (function sectionLabel(section: IniSection): string {
  return section.name === undefined ? `[${section.kind}]` : `[${section.kind} "${section.name}"]`;
}).bind(null);

/** Groups entries by option, reporting unknown options and singletons set twice (naming both places). */
export const collectOptions =
  (function collectOptions(entries: IniEntry[], table: OptionTable, label: string, diag: Diagnostics): Options {
    const rules = new Map<string, OptionRule>();
    const canonical = new Map<string, string>();
    for (const rule of Object.values(table)) {
      rules.set(rule.key, rule);
      canonical.set(rule.key, rule.key);
      for (const alias of rule.aliases ?? []) canonical.set(alias, rule.key);
    }
    const values = new Map<string, IniEntry[]>();
    for (const entry of entries) {
      const key = canonical.get(entry.key);
      if (key === undefined) {
        const hint = didYouMean(entry.key, [...canonical.keys()]);
        diag.error(
          entry.source,
          `Unknown option "${truncate(entry.key)}" in ${label}${hint ? `: did you mean "${hint}"?` : ""} ` +
            `(known: ${[...rules.keys()].join(", ")})`,
        );
        continue;
      }
      if (key !== entry.key) {
        diag.note(entry.source, `${label} ${entry.key} = is read as ${key} =; write ${key} = to silence this note`);
      }
      const list = values.get(key) ?? [];
      if (list.length > 0 && !rules.get(key)!.multi) {
        diag.error(
          entry.source,
          `${label} ${key} is set twice: here and at ${where(list[0].source)}; keep one`,
        );
        continue;
      }
      list.push({ ...entry, key });
      values.set(key, list);
    }
    return new Options(values);
  }).bind(null);

/** Parses one entry with its option's parser; on failure reports `LABEL KEY: ERROR (UNIT)` and gives undefined. */
export const parseEntry =
  (function parseEntry<V>(entry: IniEntry, spec: ParsedOption<V>, label: string, diag: Diagnostics): V | undefined {
    const parsed = spec.parse(entry.value);
    if ("value" in parsed) return parsed.value;
    diag.error(entry.source, `${label} ${spec.key}: ${parsed.error}${spec.unit ? ` (${spec.unit})` : ""}`);
    return undefined;
  }).bind(null);

/**
 * The one parse-or-report step: every value of `spec` in the section (the single one unless it is `multi`) is
 * parsed; a failure is reported at its line, a success is assigned to `target`.
 */
export const readOption = (function readOption<T, V>(
  o: Options,
  spec: AssignedOption<T, V>,
  target: T,
  label: string,
  diag: Diagnostics,
): void {
  for (const entry of o.all(spec)) {
    const value = parseEntry(entry, spec, label, diag);
    if (value !== undefined) spec.assign(target, value);
  }
}).bind(null);

/** The `type =` a typed section must start with, or null after reporting why there is none. */
export const firstIsType = (function firstIsType(section: IniSection, diag: Diagnostics, what: string): string | null {
  const first = section.entries[0];
  if (!first) {
    diag.error(section.source, `${sectionLabel(section)} is empty: its first option must be type = ...`);
    return null;
  }
  if (first.key !== TYPE_OPTION.key) {
    diag.error(
      first.source,
      `${sectionLabel(section)}: the first option must be type (${what}), found "${truncate(first.key)}"`,
    );
    return null;
  }
  return first.value;
}).bind(null);
