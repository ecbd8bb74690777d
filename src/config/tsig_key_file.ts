/**
 * Reads a TSIG key in the format BIND's `tsig-keygen` writes:
 *
 *     key "acmems-key" {
 *         algorithm hmac-sha256;
 *         secret "3hYIGgFoN0Oh8BlsJXywGe+tRHiJXElBYQGJj8UoKbY=";
 *     };
 */

export interface TsigKeyFileEntry {
  name: string;
  algorithm: string;
  secret: string;
}

/** Parses the first (or the named) key statement; `{ error }` names what is missing. */
export const parseTsigKeyFile =
  (function parseTsigKeyFile(text: string, wantedName?: string): TsigKeyFileEntry | { error: string } {
    const withoutComments = stripComments(text);
    const pattern = /key\s+"?([A-Za-z0-9._-]+)"?\s*\{([^}]*)\}\s*;/g;
    const keys: TsigKeyFileEntry[] = [];
    for (const match of withoutComments.matchAll(pattern)) {
      const body = match[2];
      const algorithm = /algorithm\s+"?([A-Za-z0-9.-]+)"?\s*;/.exec(body)?.[1];
      const secret = /secret\s+"([^"]+)"\s*;/.exec(body)?.[1];
      if (!algorithm || !secret) {
        return { error: `key "${match[1]}" needs both "algorithm" and "secret" statements` };
      }
      keys.push({ name: match[1], algorithm: algorithm.toLowerCase(), secret });
    }
    if (keys.length === 0) {
      return {
        error:
          'no key statement found: expected the output of tsig-keygen, key "name" { algorithm ...; secret "..."; };',
      };
    }
    if (wantedName === undefined) return keys[0];
    const named = keys.find((k) => k.name === wantedName.replace(/\.$/, ""));
    if (!named) return { error: `no key named "${wantedName}" in it (found: ${keys.map((k) => k.name).join(", ")})` };
    return named;
  }).bind(null);

/**
 * The text without BIND's comments (`#` and `//` to the end of the line, `/* … *\/`), quoted strings left whole: a
 * base64 secret may hold `//` (about one `tsig-keygen` secret in a hundred).
 */
const stripComments = (function stripComments(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      const close = text.indexOf('"', i + 1);
      const stop = close < 0 ? text.length : close + 1;
      out += text.slice(i, stop);
      i = stop;
    } else if (c === "#" || (c === "/" && text[i + 1] === "/")) {
      const newline = text.indexOf("\n", i);
      i = newline < 0 ? text.length : newline;
    } else if (c === "/" && text[i + 1] === "*") {
      const close = text.indexOf("*/", i + 2);
      i = close < 0 ? text.length : close + 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}).bind(null);
