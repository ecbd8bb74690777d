/**
 * The INI dialect of acmems config files.
 *
 * - `[account]`, `[mgmt]`, `[logging]`, and typed sections `[verification "name"]`, `[storage "name"]`,
 *   `[auth "name"]`, `[notify "name"]`, `[ca "name"]` (quotes optional, as the original ACMEMS accepts them).
 * - `key = value` lines; the value is everything after the first `=`, trimmed. Repeated keys form lists.
 * - Full-line comments start with `#` or `;`. There are no inline comments: a value containing ` #` or ` ;` keeps that
 *   text and gets a warning, because the seed README's own `accept-terms-of-service = yes # or true` relies on them.
 *
 * This module only splits text into sections and entries with their file and line; what the keys mean is
 * the section builders' business (src/config/build.ts over src/config/schema.ts).
 */
import type { Diagnostic, Source } from "./types.ts";
import { isSecretOption, REDACTED } from "./secrets.ts";
import { didYouMean, truncate } from "./text.ts";

export type SectionKind = "account" | "mgmt" | "logging" | "verification" | "storage" | "auth" | "notify" | "ca";

export interface IniEntry {
  key: string;
  value: string;
  source: Source;
}

export interface IniSection {
  kind: SectionKind;
  /** The name of a typed section (`[auth "mail"]` → `mail`); undefined for singleton sections. */
  name?: string;
  source: Source;
  entries: IniEntry[];
}

export interface IniDocument {
  sections: IniSection[];
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/** What a message may show of a line: the value of a secret option is replaced by `***`. */
const shownLine = (function shownLine(line: string): string {
  const match = /^([^\s:=]+)(\s*:?\s*)(.+)$/.exec(line);
  if (match && isSecretOption(match[1])) return `${truncate(match[1])}${match[2]}${REDACTED}`;
  return truncate(line);
}).bind(null);

const SINGLETON_SECTIONS: SectionKind[] = ["account", "mgmt", "logging"];
const TYPED_SECTIONS: SectionKind[] = ["verification", "storage", "auth", "notify", "ca"];
const KNOWN_SECTION_WORDS = [...SINGLETON_SECTIONS, ...TYPED_SECTIONS];

/** Parses one config file's text. Never throws: problems become diagnostics. */
export const parseIni = (function parseIni(text: string, file: string): IniDocument {
  const sections: IniSection[] = [];
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [];
  let current: IniSection | null = null;
  // Entries of an unknown or broken section are swallowed after one error instead of one per line.
  let skipping = false;

  if (text.startsWith("\uFEFF")) text = text.slice(1);
  const lines = text.split(/\r\n|\n|\r/);
  for (let index = 0; index < lines.length; index++) {
    const source = { file, line: index + 1 };
    const line = lines[index].trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    if (line.includes("\0")) {
      errors.push({ ...source, message: "Line contains a NUL byte: is this a text file?" });
      continue;
    }

    if (line.startsWith("[")) {
      const header = parseHeader(line);
      if ("error" in header) {
        errors.push({ ...source, message: header.error });
        current = null;
        skipping = true;
        continue;
      }
      current = { kind: header.kind, source, entries: [] };
      if (header.name !== undefined) current.name = header.name;
      sections.push(current);
      skipping = false;
      continue;
    }

    const equals = line.indexOf("=");
    if (equals < 0) {
      const colon = /^([A-Za-z0-9_.-]+)\s*:(\s|$)/.exec(line)?.[1];
      errors.push({
        ...source,
        message: `Expected "key = value", a [section] header or a comment, found "${shownLine(line)}"` +
          (colon ? `: write ${colon} = …` : ""),
      });
      continue;
    }
    const key = line.slice(0, equals).trim();
    const value = line.slice(equals + 1).trim();
    if (skipping) continue;
    if (current === null) {
      errors.push({ ...source, message: `Option "${truncate(key)}" is outside any section: put it under a [section]` });
      continue;
    }
    if (key === "") {
      // The value is not echoed: it may be a secret whose option name went missing.
      errors.push({ ...source, message: 'Option name missing before "=": write option = value' });
      continue;
    }
    const comment = /\s([#;])/.exec(value);
    if (comment) {
      const shown = isSecretOption(key)
        ? `contains " ${comment[1]}" (the value is a secret and not shown)`
        : `is "${truncate(value)}"`;
      warnings.push({
        ...source,
        message: `Inline comments are not supported: the value of ${truncate(key)} ${shown}; ` +
          "move the comment to its own line",
      });
    }
    current.entries.push({ key, value, source });
  }
  return { sections, errors, warnings };
}).bind(null);

type Header = { kind: SectionKind; name?: string } | { error: string };

const parseHeader = (function parseHeader(line: string): Header {
  if (!line.endsWith("]")) return { error: `Section header "${truncate(line)}" is missing its closing "]"` };
  const inner = line.slice(1, -1).trim();
  if (inner === "") return { error: "Empty section header []: name the section, e.g. [account]" };
  const match = /^([A-Za-z0-9_-]+)(?:\s+(.*))?$/.exec(inner);
  if (!match) {
    return { error: `Section header [${truncate(inner)}] is not valid: expected e.g. [account] or [auth "name"]` };
  }
  const word = match[1];
  const rest = match[2];
  const kind = KNOWN_SECTION_WORDS.find((k) => k === word);
  if (!kind) {
    const hint = didYouMean(word, KNOWN_SECTION_WORDS);
    return {
      error: `Unknown section [${truncate(inner)}]${hint ? `: did you mean [${hint}]?` : ""} ` +
        `(known: ${KNOWN_SECTION_WORDS.map((k) => `[${k}]`).join(", ")})`,
    };
  }
  if (SINGLETON_SECTIONS.includes(kind)) {
    if (rest !== undefined) return { error: `Section [${kind}] takes no name: write [${kind}]` };
    return { kind };
  }
  if (rest === undefined) return { error: `Section [${kind}] needs a name: write [${kind} "name"]` };
  let name = rest.trim();
  if (name.startsWith('"') || name.endsWith('"')) {
    if (!(name.length >= 2 && name.startsWith('"') && name.endsWith('"'))) {
      return { error: `Section name ${name} has unbalanced quotes: write [${kind} "name"]` };
    }
    name = name.slice(1, -1);
  }
  if (name === "") {
    return { error: `Section [${kind}] needs a non-empty name: write [${kind} "name"]` };
  }
  if (!/^[A-Za-z0-9_.@:+-]+$/.test(name)) {
    return {
      error: `Section name "${truncate(name)}" may only contain letters, digits and _ . @ : + -`,
    };
  }
  return { kind, name };
}).bind(null);
