/**
 * `[auth "name"]`: which clients (ip, HMAC, or all) may ask for which names (domain globs), with which
 * verification, storage and profile; `ip-identifiers` opts the block into IP address certificates (RFC 8738). Pure. Gives null when the block has errors: a broken block is never
 * half-applied (the original ACMEMS dropped the rest of a block, which opened it to every client).
 */
import type { IniSection } from "../ini.ts";
import { collectOptions, type Diagnostics, readOption, sectionLabel } from "../diagnostics.ts";
import { AUTH_OPTIONS as A } from "../schema.ts";
import { isLetsEncrypt } from "../defaults.ts";
import { truncate } from "../text.ts";
import type { AuthBlock, HmacType, IpNetwork, MgmtConfig, Source } from "../types.ts";
import { isBase64, parseBoolean } from "../values.ts";
import { checkProfile } from "./account.ts";
import { parseCaPreference } from "./ca.ts";

/** What the rest of the config says that the `ip-identifiers` checks need (absent: those checks are skipped). */
export interface AuthContext {
  /** The type of each verification that built (`http01`, `dns01-dnsUpdate`, …). */
  verificationTypes?: ReadonlyMap<string, string>;
  /** [account] acme-server and profile. */
  acmeServer?: string;
  accountProfile?: string;
  /** The names of the configured CAs, for `ca =` (absent: `ca =` is checked against none). */
  caNames?: readonly string[];
  /** The default CA's name (the dns-persist-01 note of `ca =`). */
  defaultCa?: string;
  /** Every CA's directory and profile, by name (the shortlived warning of `ip-identifiers` for `ca =`). */
  cas?: ReadonlyMap<string, { acmeServer: string; profile?: string }>;
}

const HMAC_TYPES: Record<string, HmacType> = { sha256: "sha256", sha384: "sha384", sha512: "sha512", sha1: "sha1" };

export const buildAuth = (function buildAuth(
  section: IniSection,
  mgmt: MgmtConfig,
  verifications: Set<string>,
  storages: Set<string>,
  diag: Diagnostics,
  context: AuthContext = {},
): AuthBlock | null {
  const label = sectionLabel(section);
  const before = diag.errors.length;
  const o = collectOptions(section.entries, A, label, diag);

  const ips: IpNetwork[] = [];
  readOption(o, A.ip, { ips }, label, diag);
  const ipIdentifiers: IpNetwork[] = [];
  readOption(o, A.ipIdentifiers, { ipIdentifiers }, label, diag);
  const domains: string[] = [];
  readOption(o, A.domain, { domains }, label, diag);
  if (!o.has(A.domain) && !o.has(A.ipIdentifiers)) {
    diag.error(
      section.source,
      `${label} has no domain = (or ip-identifiers =) line, so it can never match: add the names it may request`,
    );
  }

  const hmacType = o.one(A.hmacType);
  const hmacKey = o.one(A.hmacKey);
  let hmac: AuthBlock["hmac"];
  if (hmacType || hmacKey) {
    let type: HmacType | undefined;
    if (hmacType) {
      const lower = hmacType.value.toLowerCase().replace(/-/g, "");
      type = HMAC_TYPES[lower];
      if (lower === "md5") {
        diag.error(hmacType.source, `${label} hmac_type md5 is refused: MD5 is broken; use sha256`);
      } else if (!type) {
        diag.error(
          hmacType.source,
          `${label} hmac_type "${
            truncate(hmacType.value)
          }" is not one of sha256, sha384, sha512 (sha1 is accepted but weak)`,
        );
      } else if (type === "sha1") {
        diag.warn(hmacType.source, `${label} hmac_type sha1 is weak: move clients to sha256`);
      }
    } else {
      diag.error(hmacKey!.source, `${label} hmac_key needs hmac_type (e.g. hmac_type = sha256)`);
    }
    if (!hmacKey) diag.error(hmacType!.source, `${label} hmac_type needs hmac_key (the shared secret)`);
    else if (hmacKey.value === "") diag.error(hmacKey.source, `${label} hmac_key is empty`);
    else if (hmacKey.value.length < 16) {
      diag.warn(hmacKey.source, `${label} hmac_key is shorter than 16 characters: use a long random secret`);
    }
    if (type && hmacKey && hmacKey.value !== "") hmac = { type, key: hmacKey.value };
  }

  let all = false;
  const allEntry = o.one(A.all);
  if (allEntry) {
    const parsed = parseBoolean(allEntry.value);
    if ("error" in parsed || !parsed.value) {
      diag.error(allEntry.source, `${label} all accepts only yes (remove the line to require ip or hmac)`);
    } else all = true;
  }

  const acmeOnly = o.has(A.acmeEabKid);
  if (ips.length === 0 && !o.has(A.hmacType) && !o.has(A.hmacKey) && !all && o.all(A.ip).length === 0 && !acmeOnly) {
    diag.warn(
      section.source,
      `${label} has no ip, hmac_type/hmac_key or all line: it admits every client that can reach the mgmt listener`,
    );
  }

  let verification = mgmt.defaultVerification;
  const verificationEntry = o.one(A.verification);
  if (verificationEntry) {
    if (!verifications.has(verificationEntry.value)) {
      diag.error(
        verificationEntry.source,
        `${label} verification "${truncate(verificationEntry.value)}" names no [verification] section ` +
          `(defined: ${[...verifications].join(", ") || "none"})`,
      );
    }
    verification = verificationEntry.value;
  } else if (verification === null) {
    diag.error(
      section.source,
      `${label} has no verification = line and there is no default: set verification = or [mgmt] default-verification`,
    );
  }

  let storage = mgmt.defaultStorage;
  const storageEntry = o.one(A.storage);
  if (storageEntry) {
    if (!storages.has(storageEntry.value)) {
      diag.error(
        storageEntry.source,
        `${label} storage "${truncate(storageEntry.value)}" names no [storage] section (defined: ${
          [...storages].join(", ") || "none"
        })`,
      );
    }
    storage = storageEntry.value;
  } else if (storage === null && storages.size > 1) {
    diag.warn(
      section.source,
      `${label} has no storage = line and [mgmt] default-storage is not set, so its certificates are not cached; ` +
        "set storage = or default-storage =",
    );
  }

  const block: AuthBlock = {
    name: section.name!,
    ips,
    ipIdentifiers,
    domains,
    all,
    verification: verification ?? "",
    storage,
    source: section.source,
  };
  if (hmac) block.hmac = hmac;
  const profile = o.one(A.profile);
  if (profile) {
    const checked = checkProfile(profile, diag);
    if (checked) block.profile = checked;
  }
  const ca = o.one(A.ca);
  if (ca) {
    const parsed = parseCaPreference(ca.value, context.caNames ?? []);
    if ("error" in parsed) diag.error(ca.source, `${label} ca ${parsed.error}`);
    else {
      block.cas = parsed.value;
      notePersistRecordsOfOtherCas(ca.source, label, block, context, diag);
    }
  }
  readOption(o, A.limitOrders, block, label, diag);
  readOption(o, A.limitOrdersPerClient, block, label, diag);
  const eab = readAcmeEab(o.one(A.acmeEabKid), o.one(A.acmeEabHmacKey), label, diag);
  if (eab) block.acmeEab = eab;
  if (ipIdentifiers.length > 0) checkIpIdentifiers(o.all(A.ipIdentifiers)[0].source, label, block, context, diag);
  return diag.errors.length === before ? block : null;
}).bind(null);

/**
 * `acme-eab-kid` + `acme-eab-hmac-key` (both or neither): the ACME front end's EAB pair for this block. The key is
 * base64url (or base64) text, as CAs hand out EAB keys, of at least 16 bytes; never echoed.
 */
const readAcmeEab = (function readAcmeEab(
  kid: { value: string; source: Source } | undefined,
  key: { value: string; source: Source } | undefined,
  label: string,
  diag: Diagnostics,
): AuthBlock["acmeEab"] | undefined {
  if (!kid && !key) return undefined;
  if (!key) {
    diag.error(kid!.source, `${label} acme-eab-kid needs acme-eab-hmac-key too (\`acmems eab new\` prints a pair)`);
    return undefined;
  }
  if (!kid) {
    diag.error(key.source, `${label} acme-eab-hmac-key needs acme-eab-kid too (\`acmems eab new\` prints a pair)`);
    return undefined;
  }
  if (!/^[A-Za-z0-9._~-]{1,128}$/.test(kid.value)) {
    diag.error(
      kid.source,
      `${label} acme-eab-kid "${truncate(kid.value)}" must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -`,
    );
    return undefined;
  }
  if (!isBase64(key.value)) {
    diag.error(key.source, `${label} acme-eab-hmac-key is not base64url: write the key exactly as it was printed`);
    return undefined;
  }
  const bytes = decodeBase64Any(key.value);
  if (bytes.length < 16) {
    diag.error(
      key.source,
      `${label} acme-eab-hmac-key is only ${bytes.length} bytes: use at least 16 random bytes (32 recommended)`,
    );
    return undefined;
  }
  return { kid: kid.value, hmacKey: bytes, keyText: key.value };
}).bind(null);

/** Reports an `acme-eab-kid` used by more than one block (an account must map to exactly one block). */
export const checkAcmeEabKidsUnique =
  (function checkAcmeEabKidsUnique(blocks: readonly AuthBlock[], diag: Diagnostics): void {
    const seen = new Map<string, AuthBlock>();
    for (const block of blocks) {
      if (!block.acmeEab) continue;
      const first = seen.get(block.acmeEab.kid);
      if (first) {
        diag.error(
          block.source,
          `auth "${block.name}" acme-eab-kid "${block.acmeEab.kid}" is also the acme-eab-kid of auth "${first.name}" ` +
            `(${first.source.file}:${first.source.line}): each block needs its own key id`,
        );
      } else seen.set(block.acmeEab.kid, block);
    }
  }).bind(null);

const decodeBase64Any = (function decodeBase64Any(text: string): Uint8Array {
  const body = text.replace(/=+$/, "").replaceAll("-", "+").replaceAll("_", "/");
  const binary = atob(body + "=".repeat((4 - (body.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}).bind(null);

/**
 * dns-persist-01 records name one CA (its issuer domain and the account URL there), and `acmems records` prints them
 * for the default CA only: a block that also orders from other CAs needs their records as well, or those orders fail
 * validation. A note, since an operator may have published them.
 */
const notePersistRecordsOfOtherCas = (function notePersistRecordsOfOtherCas(
  source: Source,
  label: string,
  block: AuthBlock,
  context: AuthContext,
  diag: Diagnostics,
): void {
  if (context.verificationTypes?.get(block.verification) !== "dns-persist01" || !context.defaultCa) return;
  const others = (block.cas ?? []).filter((name) => name !== context.defaultCa);
  if (others.length === 0) return;
  const named = others.map((name) => `"${name}"`).join(", ");
  diag.note(
    source,
    `${label} orders from CA ${named} with dns-persist01 verification "${block.verification}": acmems records ` +
      `prints the records for the default CA "${context.defaultCa}" only; publish a _validation-persist record with ` +
      `the issuer domain name and account URL of ${named} too (acmems register --ca NAME shows the account URL), ` +
      "or orders there fail validation",
  );
}).bind(null);

/**
 * IP identifiers are validated over http-01 only (RFC 8738 §7: no dns-01), and Let's Encrypt issues them only in
 * its `shortlived` profile: an error for a dns-01 verification, a warning for another Let's Encrypt profile.
 */
const checkIpIdentifiers = (function checkIpIdentifiers(
  source: Source,
  label: string,
  block: AuthBlock,
  context: AuthContext,
  diag: Diagnostics,
): void {
  const type = context.verificationTypes?.get(block.verification);
  if (type !== undefined && type !== "http01") {
    diag.error(
      source,
      `${label} ip-identifiers needs an http01 verification, but verification "${block.verification}" is ${type}: ` +
        "CAs validate IP addresses over http-01 (or tls-alpn-01), never dns-01; use an http01 [verification]",
    );
  }
  // Each CA the block orders from (`ca =`, else the default CA), with its own profile unless the block sets one.
  const cas = block.cas?.length && context.cas ? block.cas : [undefined];
  for (const name of cas) {
    const ca = name === undefined ? undefined : context.cas?.get(name);
    const acmeServer = ca?.acmeServer ?? context.acmeServer;
    const profile = block.profile ?? (ca ? ca.profile : context.accountProfile);
    if (!acmeServer || !isLetsEncrypt(acmeServer) || profile === "shortlived") continue;
    const which = name !== undefined && name !== context.defaultCa ? ` (CA "${name}")` : "";
    diag.warn(
      source,
      `${label} ip-identifiers: Let's Encrypt${which} issues IP address certificates only in the shortlived profile, ` +
        `but this block uses ${profile ? `profile "${profile}"` : "the CA's default profile"}: ` +
        "set profile = shortlived in this block",
    );
  }
}).bind(null);
