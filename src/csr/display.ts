/**
 * Showing untrusted values (from a CSR or a header) inside one-line refusal reasons: quoted, control characters
 * escaped, long values cut, so a reason can never span lines or smuggle terminal escapes into a log.
 */

const MAX_SHOWN = 80;

/** `'value'` with control and format characters escaped as `\xNN` / `\u{N}`, cut to 80 characters. */
export function showValue(value: string): string {
  let out = "";
  let count = 0;
  for (const ch of value) {
    if (count === MAX_SHOWN) {
      out += "…";
      break;
    }
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(ch) || ch === "'" || ch === "\\") {
      out += ch === "'" || ch === "\\" ? `\\${ch}` : `\\u{${cp.toString(16)}}`;
    } else out += ch;
    count++;
  }
  return `'${out}'`;
}

/**
 * `'value'` with every character outside printable ASCII escaped (`\u{212a}`, `\x00`), so look-alikes show what
 * they are: `'\u{212a}.example.org'`, not a `K` that reads as ASCII. Cut to 80 characters like `showValue`.
 */
export function showEscaped(value: string): string {
  let out = "";
  let count = 0;
  for (const ch of value) {
    if (count === MAX_SHOWN) {
      out += "…";
      break;
    }
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else if (cp > 0x7e) out += `\\u{${cp.toString(16)}}`;
    else out += ch === "'" || ch === "\\" ? `\\${ch}` : ch;
    count++;
  }
  return `'${out}'`;
}
