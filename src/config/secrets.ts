/**
 * Which option values a message or summary must not show, derived from the option tables (src/config/schema.ts),
 * so a new secret option is marked once, where it is declared. Pure.
 */
import { OPTION_TABLES, type OptionRule } from "./schema.ts";
import { didYouMean } from "./text.ts";

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
export function isSecretOption(key: string): boolean {
  return didYouMean(key, UNECHOED) !== undefined;
}
