/**
 * The dns-persist-01 TXT record (draft-ietf-acme-dns-persist): ONE module that knows its format.
 *
 *   _validation-persist.<name> TXT "<issuer-domain-name>; accounturi=<account URL>[; policy=wildcard][; persistUntil=<unix s>]"
 *
 * The value is an RFC 8659 issue-value: an issuer domain name, then `;`-separated `tag=value` parameters with optional
 * space/tab around each part; tags are case-insensitive, a tag may appear once, values are printable ASCII without
 * `;` or whitespace. Several records (for several CAs) may share one owner.
 *
 * Contract: pure. `parsePersistRecord` never throws (it returns `{error}`); `checkPersistRecords` decides exactly as a
 * CA following the draft (and pebble 2.10's VA) does. A later draft (e.g. a hashed account form) is one more entry
 * in `RECORD_FORMATS`, chosen by the verification's `record-format`.
 */

/** The record formats acmems can build and check; the first is the default. */
export const RECORD_FORMATS = ["draft-ietf-acme-dns-persist-00"] as const;
export type RecordFormat = typeof RECORD_FORMATS[number];
export const DEFAULT_RECORD_FORMAT: RecordFormat = RECORD_FORMATS[0];

/** The owner label prefix. */
export const PERSIST_LABEL = "_validation-persist";

/** What a record says. */
export interface PersistRecord {
  issuer: string;
  accountUri: string;
  /** True for `policy=wildcard` (any case); another policy value counts as absent (the draft). */
  wildcard: boolean;
  /** `persistUntil`, unix seconds. */
  persistUntil?: number;
}

/** The owner name of the record for `name` (a leading `*.` is dropped: a wildcard's record is its base's). */
export function persistOwner(name: string): string {
  const base = name.startsWith("*.") ? name.slice(2) : name;
  return `${PERSIST_LABEL}.${base.replace(/\.$/, "").toLowerCase()}`;
}

/** The TXT value of `record`, in `format`. */
export function buildPersistValue(record: PersistRecord, _format: RecordFormat = DEFAULT_RECORD_FORMAT): string {
  let value = `${record.issuer}; accounturi=${record.accountUri}`;
  if (record.wildcard) value += "; policy=wildcard";
  if (record.persistUntil !== undefined) value += `; persistUntil=${record.persistUntil}`;
  return value;
}

/** A zone-file line publishing `record` for `name`. */
export function zoneLine(name: string, record: PersistRecord, format: RecordFormat = DEFAULT_RECORD_FORMAT): string {
  return `${persistOwner(name)}. IN TXT ${quoteTxt(buildPersistValue(record, format))}`;
}

/** A TXT value as one quoted character-string (zone-file / nsupdate syntax). */
export function quoteTxt(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

const WSP = /^[ \t]+|[ \t]+$/g;
const trimWsp = (s: string) => s.replace(WSP, "");

/**
 * Parses one TXT value. `{issuer}` alone (with `error`) when the record names an issuer but is malformed, so the
 * caller can tell "not for this CA" from "for this CA but broken".
 */
export function parsePersistRecord(
  value: string,
  _format: RecordFormat = DEFAULT_RECORD_FORMAT,
): PersistRecord | { issuer: string; error: string } {
  const [first, ...params] = value.split(";");
  const issuer = trimWsp(first ?? "");
  if (issuer === "") return { issuer, error: "no issuer-domain-name before the first ';'" };
  const seen = new Set<string>();
  let accountUri: string | undefined;
  let wildcard = false;
  let persistUntil: number | undefined;
  for (const raw of params) {
    const param = trimWsp(raw);
    if (param === "") return { issuer, error: "an empty parameter (a ';' too many)" };
    const eq = param.indexOf("=");
    if (eq < 0) return { issuer, error: `parameter "${param}" is not tag=value` };
    const tag = trimWsp(param.slice(0, eq));
    const val = trimWsp(param.slice(eq + 1));
    if (tag === "") return { issuer, error: `parameter "${param}" has an empty tag` };
    const lower = tag.toLowerCase();
    if (seen.has(lower)) return { issuer, error: `parameter ${tag} appears twice` };
    seen.add(lower);
    if (!/^[\x21-\x3a\x3c-\x7e]*$/.test(val)) return { issuer, error: `the value "${val}" of ${tag} is malformed` };
    if (lower === "accounturi") {
      if (val === "") return { issuer, error: "accounturi is empty" };
      accountUri = val;
    } else if (lower === "policy") {
      wildcard = val.toLowerCase() === "wildcard";
    } else if (lower === "persistuntil") {
      if (!/^-?\d+$/.test(val)) return { issuer, error: `persistUntil "${val}" is not unix seconds` };
      persistUntil = Number(val);
    }
  }
  if (accountUri === undefined) return { issuer, error: "accounturi is missing" };
  return { issuer, accountUri, wildcard, ...(persistUntil !== undefined ? { persistUntil } : {}) };
}

/** What the CA needs for one authorization. */
export interface PersistExpectation {
  /** The CA's issuer domain names (the challenge's `issuer-domain-names`). */
  issuers: readonly string[];
  accountUri: string;
  /** The authorization is for a wildcard name: the record needs policy=wildcard. */
  wildcard: boolean;
  /** Unix seconds of the check. */
  now: number;
}

export type PersistVerdict =
  | { ok: true; record: PersistRecord }
  | { ok: false; state: "missing" | "wrong"; reason: string };

/** Decides whether the TXT values at the owner authorize the expectation, as the CA will. */
export function checkPersistRecords(
  values: readonly string[],
  want: PersistExpectation,
  format: RecordFormat = DEFAULT_RECORD_FORMAT,
): PersistVerdict {
  const problems: string[] = [];
  for (const value of values) {
    const parsed = parsePersistRecord(value, format);
    if (!want.issuers.includes(parsed.issuer)) continue;
    if ("error" in parsed) {
      problems.push(`the record for ${parsed.issuer} is malformed: ${parsed.error}`);
      continue;
    }
    if (parsed.accountUri !== want.accountUri) {
      problems.push(`the record for ${parsed.issuer} names account ${parsed.accountUri}, not ${want.accountUri}`);
      continue;
    }
    if (want.wildcard && !parsed.wildcard) {
      problems.push(`the record for ${parsed.issuer} lacks policy=wildcard, needed for a wildcard name`);
      continue;
    }
    if (parsed.persistUntil !== undefined && want.now > parsed.persistUntil) {
      problems.push(
        `the record for ${parsed.issuer} ended at persistUntil=${parsed.persistUntil} (${
          new Date(parsed.persistUntil * 1000).toISOString()
        })`,
      );
      continue;
    }
    return { ok: true, record: parsed };
  }
  if (problems.length > 0) return { ok: false, state: "wrong", reason: problems.join("; ") };
  const issuers = want.issuers.join(" or ");
  return {
    ok: false,
    state: "missing",
    reason: values.length === 0 ? "no TXT record" : `no TXT record names the issuer ${issuers}`,
  };
}
