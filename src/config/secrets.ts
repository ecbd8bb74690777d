/**
 * Which option values a message or summary must not show, derived from the option tables (src/config/schema.ts),
 * so a new secret option is marked once, where it is declared; and the secrets of a built config, which the logger
 * scrubs from every line (`configSecrets`). Pure.
 */
import { OPTION_TABLES, type OptionRule } from "./schema.ts";
import { didYouMean } from "./text.ts";
import type { Config } from "./types.ts";

const RULES: OptionRule[] = Object.values(OPTION_TABLES).flat().flatMap((table) => Object.values(table));

/** Options whose values are secrets: never echoed in a message, shown as `***` in summaries. */
export const SECRET_OPTIONS: ReadonlySet<string> = new Set(RULES.filter((r) => r.secret).map((r) => r.key));

/** The secrets and the options whose values may hold one (the `url` of [notify] and of [storage]). */
const UNECHOED: readonly string[] = [...new Set(RULES.filter((r) => r.secret || r.unechoed).map((r) => r.key))];

/** How a secret is shown. */
export const REDACTED = "***";

/**
 * Whether a message must not echo the value of this option: the secrets, the `url` of [notify] (a token in its
 * path or query) and of [storage] (a database password), and misspellings of them (`hmac-key`, `tsig_secert`).
 */
export const isSecretOption = (function isSecretOption(key: string): boolean {
  return didYouMean(key, UNECHOED) !== undefined;
}).bind(null);

/**
 * Every secret of a config, for the logger to scrub from any line: the EAB key, HMAC keys, TSIG secrets (written
 * inline or read from a `tsig-key-file`), the secret parts of each webhook URL (`urlSecrets`) and each database
 * URL's password (`databasePasswords`).
 */
export const configSecrets = (function configSecrets(config: Config): string[] {
  const secrets: string[] = [];
  if (config.account.eabHmacKey) secrets.push(config.account.eabHmacKey);
  for (const ca of config.cas?.values() ?? []) if (ca.eabHmacKey) secrets.push(ca.eabHmacKey);
  for (const block of config.auth) if (block.hmac) secrets.push(block.hmac.key);
  for (const block of config.auth) if (block.acmeEab) secrets.push(block.acmeEab.keyText);
  for (const v of config.verifications.values()) {
    if ((v.type === "dns01-dnsUpdate" || v.type === "dns-account01") && v.tsig) secrets.push(v.tsig.secret);
  }
  for (const n of config.notifiers) if (n.url) secrets.push(...urlSecrets(n.url));
  for (const s of config.storages.values()) {
    if (s.type === "postgres" && s.url) secrets.push(...databasePasswords(s.url));
  }
  return [...new Set(secrets)];
}).bind(null);

/**
 * What may be a token in a webhook URL, as it would appear in a line (raw and percent-decoded): the userinfo, the
 * path and query as a whole, and each path segment and query value of 8 characters or more that has a digit or is
 * 16 characters or more (a Slack or Discord token; not a word like `services`, which would blank out log lines).
 */
export const urlSecrets = (function urlSecrets(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [url];
  }
  const out = [parsed.username, parsed.password];
  if (parsed.pathname.length > 1 || parsed.search) out.push(parsed.pathname + parsed.search);
  if (parsed.search.length > 1) out.push(parsed.search.slice(1));
  const parts = [
    ...parsed.pathname.split("/"),
    ...parsed.search.slice(1).split("&").map((p) => p.replace(/^[^=]*=/, "")),
  ];
  for (const part of parts) if (part.length >= 16 || (part.length >= 8 && /[0-9]/.test(part))) out.push(part);
  return withDecoded(out);
}).bind(null);

/** A database URL's password: in the userinfo, or a `password` / `sslpassword` parameter (raw and decoded). */
export const databasePasswords = (function databasePasswords(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [url];
  }
  const out = [parsed.password];
  for (const [name, value] of parsed.searchParams) if (/password/i.test(name)) out.push(value);
  const raw = parsed.search.slice(1).split("&").filter((p) => /^[^=]*password[^=]*=/i.test(p));
  out.push(...raw.map((p) => p.replace(/^[^=]*=/, "")));
  return withDecoded(out);
}).bind(null);

const withDecoded = (function withDecoded(parts: string[]): string[] {
  const out = new Set<string>();
  for (const part of parts) {
    if (part === "") continue;
    out.add(part);
    try {
      out.add(decodeURIComponent(part.replace(/\+/g, " ")));
      out.add(decodeURIComponent(part));
    } catch {
      // not percent-encoded text: the raw form is enough
    }
  }
  return [...out];
}).bind(null);
