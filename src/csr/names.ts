/**
 * Name rules for requested certificate names: DNS names, and IP addresses (RFC 8738) in their canonical text
 * (`ipName`). DNS names are compared and matched lower-case; the CSR may carry
 * them in any case. Internationalized names must come as A-labels (`xn--…`), the form CAs and DNS use.
 *
 * A name in acmems' lists (`IssueRequest.names`, a cache entry's names) is an IP address exactly when `ipName`
 * gives it back unchanged; every other name is a DNS name.
 */
import { formatIp, parseIpAddress, parseIpv4 } from "../lib/ip.ts";
import { showEscaped, showValue } from "./display.ts";

export type NameCheck = { ok: true; name: string } | { ok: false; reason: string };

const MAX_NAME = 253;
const MAX_LABEL = 63;

/**
 * Normalizes one requested name (lower-case) and checks it: ASCII only, no trailing dot, at most 253 characters,
 * LDH labels of 1 to 63 characters not starting or ending with `-`, `??--` reserved except for valid `xn--`
 * A-labels, an optional `*` that is the whole leftmost label, not an IP address, not an all-numeric last label.
 */
export function normalizeDnsName(raw: string): NameCheck {
  if (raw === "") return { ok: false, reason: "The CSR has an empty DNS name in subjectAltName: remove it" };
  const notAscii = nonAsciiProblem(raw);
  if (notAscii) return { ok: false, reason: notAscii };
  const name = asciiLower(raw);
  const shown = showValue(name);
  if (name.endsWith(".")) return { ok: false, reason: `The name ${shown} ends with a dot: remove the trailing dot` };
  if (name.length > MAX_NAME) {
    return {
      ok: false,
      reason: `The name ${shown} is ${name.length} characters long, more than the ${MAX_NAME} allowed: shorten it`,
    };
  }
  if (parseIpv4(name)) {
    return {
      ok: false,
      reason: `The name ${shown} is an IP address in a DNS SAN: request it as an IP SAN (subjectAltName=IP:${name})`,
    };
  }
  const labels = name.split(".");
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    const problem = labelProblem(label, i, labels.length);
    if (problem) return { ok: false, reason: `The name ${shown} is not a valid DNS name: ${problem}` };
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1])) {
    return { ok: false, reason: `The name ${shown} is not a valid DNS name: its last label is all digits` };
  }
  return { ok: true, name };
}

/**
 * Lower-cases A–Z only. Unicode case folding must never touch a requested name: U+212A KELVIN SIGN lower-cases to
 * an ASCII `k`, so folding before the ASCII check would let `\u{212a}.example.org` pass as `k.example.org`.
 */
export function asciiLower(value: string): string {
  return value.replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
}

/**
 * The refusal reason for a raw (unfolded) name with any character outside printable ASCII, or null. Names it
 * twice when that helps (as it looks, and escaped) and says the fix: IDNs go in as A-labels (`xn--…`).
 */
export function nonAsciiProblem(raw: string): string | null {
  if (!/[^\x20-\x7e]/.test(raw)) return null;
  const shown = showValue(raw);
  const escaped = showEscaped(raw);
  const both = shown === escaped ? shown : `${shown} (${escaped})`;
  const aLabel = toALabels(raw);
  const hint = aLabel?.includes("xn--")
    ? `request its A-label form ${showValue(aLabel)}`
    : "DNS names go in as ASCII, an internationalized name as its IDNA A-labels (xn--…)";
  return `The name ${both} is not ASCII: ${hint}`;
}

function labelProblem(label: string, index: number, count: number): string | null {
  if (label === "") return "it has an empty label (a leading dot or two dots in a row)";
  if (label.includes("*")) {
    if (label === "*" && index === 0 && count > 1) return null;
    if (label === "*" && count === 1) return "a wildcard needs a domain after it (as in *.example.org)";
    return `a wildcard '*' is allowed only as the whole leftmost label (as in *.example.org), not in ${
      showValue(label)
    }`;
  }
  if (label.length > MAX_LABEL) {
    return `label ${showValue(label)} is ${label.length} characters long, more than the ${MAX_LABEL} allowed`;
  }
  const bad = /[^a-z0-9-]/.exec(label);
  if (bad) {
    return `label ${showValue(label)} contains ${showValue(bad[0])}; only letters, digits and hyphens are allowed`;
  }
  if (label.startsWith("-") || label.endsWith("-")) {
    return `label ${showValue(label)} starts or ends with a hyphen`;
  }
  if (label.slice(2, 4) === "--") {
    if (!label.startsWith("xn--")) {
      return `label ${showValue(label)} has '--' in positions 3 and 4, which is reserved for A-labels (xn--)`;
    }
    if (!isValidALabel(label)) return `label ${showValue(label)} is not a valid IDNA A-label (bad punycode)`;
  }
  return null;
}

/** The WHATWG URL host parser does UTS 46 processing, including punycode validation: pure, no I/O. */
function isValidALabel(label: string): boolean {
  try {
    return new URL(`http://${label}.invalid/`).hostname === `${label}.invalid`;
  } catch {
    return false;
  }
}

function toALabels(name: string): string | null {
  if (/[\s/\\:@?#[\]%]/.test(name)) return null;
  try {
    const host = new URL(`http://${name.replace(/\.$/, "")}/`).hostname;
    return /^[\x21-\x7e]+$/.test(host) ? host : null;
  } catch {
    return null;
  }
}

/**
 * The canonical text of an IP address name (`192.0.2.1`, RFC 5952 `2001:db8::1`), or null when `text` is not an IP
 * address (a zone id or brackets are not an address either).
 */
export function ipName(text: string): string | null {
  if (text.startsWith("[") || text.includes("%")) return null;
  const address = parseIpAddress(text);
  return address ? formatIp(address.family, address.bytes) : null;
}

/** True when `name` (from acmems' own lists) is an IP address rather than a DNS name. */
export function isIpName(name: string): boolean {
  return ipName(name) === name;
}
