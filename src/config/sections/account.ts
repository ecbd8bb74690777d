/**
 * `[account]` (merged across files): the CA, the account directory, terms of service, contacts, EAB, profile, and
 * the other origins the CA's URLs may use (`ca-origins`).
 * Pure apart from `ConfigEnvironment` (paths, whether ca-file exists). Gives null when `dir` is missing.
 */
import type { IniEntry, IniSection } from "../ini.ts";
import type { ConfigEnvironment } from "../environment.ts";
import { collectOptions, type Diagnostics, type Options, parseEntry, readOption } from "../diagnostics.ts";
import { LETS_ENCRYPT_STAGING } from "../defaults.ts";
import { type CaLimitOverrides, resolveCaLimits } from "../../ca/limits.ts";
import { ACCOUNT_OPTIONS as A, type AssignedOption } from "../schema.ts";
import { truncate } from "../text.ts";
import type { AccountConfig, TermsOfService } from "../types.ts";
import { isBase64, parseAbsoluteUrl, parseBoolean } from "../values.ts";

const LABEL = "[account]";

export const buildAccount = (function buildAccount(
  sections: IniSection[],
  firstFile: string,
  env: ConfigEnvironment,
  diag: Diagnostics,
  /** How messages name the section: `[account]`, or `[ca "name"]` (src/config/sections/ca.ts). */
  label = LABEL,
): AccountConfig | null {
  const source = sections[0]?.source ?? { file: firstFile, line: 0 };
  const o = collectOptions(sections.flatMap((s) => s.entries), A, label, diag);

  let acmeServer = LETS_ENCRYPT_STAGING;
  const server = o.one(A.acmeServer);
  const url = server && parseEntry(server, A.acmeServer, label, diag);
  if (server && url) {
    acmeServer = url.href;
    if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
      diag.warn(server.source, `${label} acme-server "${server.value}" is plain http: ACME CAs use https://`);
    }
    if (/acme-staging\.api\.letsencrypt\.org|acme-v01\.api\.letsencrypt\.org/.test(url.hostname)) {
      diag.error(
        server.source,
        `${label} acme-server "${server.value}" is Let's Encrypt's retired ACME v1 endpoint: use ` +
          `${LETS_ENCRYPT_STAGING} (staging) or https://acme-v02.api.letsencrypt.org/directory`,
      );
    }
  }

  const dirEntry = o.one(A.dir);
  let dir = "";
  if (!dirEntry || dirEntry.value === "") {
    diag.error(
      dirEntry?.source ?? source,
      `${label} dir is required: the directory that holds account.pem and registration.json, e.g. dir = /var/lib/acmems/account`,
    );
  } else {
    dir = env.resolvePath(dirEntry.value, dirEntry.source.file);
  }

  const account: AccountConfig = {
    acmeServer,
    acmeServerIsDefault: server === undefined,
    dir,
    acceptTermsOfService: readTermsOfService(o.all(A.acceptTermsOfService), diag),
    email: [],
    caOrigins: readCaOrigins(o.all(A.caOrigins), new URL(acmeServer).protocol === "http:", diag, label),
    limits: readLimits(o, acmeServer, diag, label),
    source,
  };
  readOption(o, A.email, account, label, diag);

  const caFile = o.one(A.caFile);
  if (caFile) {
    if (caFile.value === "") diag.error(caFile.source, `${label} ca-file is empty: give a PEM file path or remove it`);
    else {
      account.caFile = env.resolvePath(caFile.value, caFile.source.file);
      if (!env.fileExists(account.caFile)) {
        diag.warn(caFile.source, `${label} ca-file ${account.caFile} does not exist here`);
      }
    }
  }

  const kid = o.one(A.eabKid);
  const hmacKey = o.one(A.eabHmacKey);
  if (kid && !hmacKey) diag.error(kid.source, `${label} eab-kid needs eab-hmac-key too (both come from your CA)`);
  if (hmacKey && !kid) diag.error(hmacKey.source, `${label} eab-hmac-key needs eab-kid too (both come from your CA)`);
  if (kid) account.eabKid = kid.value;
  if (hmacKey) {
    if (!isBase64(hmacKey.value)) {
      diag.error(
        hmacKey.source,
        `${label} eab-hmac-key is not base64url or base64: paste the key exactly as the CA gave it`,
      );
    } else account.eabHmacKey = hmacKey.value;
  }

  const profile = o.one(A.profile);
  if (profile) {
    const checked = checkProfile(profile, diag);
    if (checked) account.profile = checked;
  }

  return dirEntry && dirEntry.value !== "" ? account : null;
}).bind(null);

/** `rate-limits` and the `limit-*` options over the CA's built-in limits (src/ca/limits.ts). */
const readLimits =
  (function readLimits(o: Options, acmeServer: string, diag: Diagnostics, label: string): AccountConfig["limits"] {
    const overrides: CaLimitOverrides = {};
    for (const spec of [A.rateLimits, A.limitOrders, A.limitRegisteredDomain, A.limitExactSet]) {
      readOption(o, spec as AssignedOption<CaLimitOverrides, unknown>, overrides, label, diag);
    }
    readOption(o, A.limitFailedAuthorizations, overrides, label, diag);
    return resolveCaLimits(acmeServer, overrides);
  }).bind(null);

/** The notes on a valid [account]: the CA is the default (staging), no terms of service are accepted yet. */
export const accountNotes = (function accountNotes(
  account: AccountConfig,
  sections: IniSection[],
  diag: Diagnostics,
  /** The CA's name when it is a `[ca "name"]` (the command then names it: `register --ca NAME`). */
  caName?: string,
): void {
  if (account.acmeServerIsDefault) {
    diag.note(
      account.source,
      `acme-server is not set: using Let's Encrypt staging (${LETS_ENCRYPT_STAGING}), whose certificates are not ` +
        "trusted; set acme-server = https://acme-v02.api.letsencrypt.org/directory for production",
    );
  }

  // Only when the option is absent: a written but invalid value has its error, `no` is a decision.
  const tosWritten = sections.some((s) => s.entries.some((e) => e.key === A.acceptTermsOfService.key));
  if (!tosWritten) {
    diag.note(
      account.source,
      "accept-terms-of-service is not set: acmems will not create an ACME account by itself; " +
        `run acmems register ${caName ? `--ca ${caName} ` : ""}--accept-terms-of-service CONFIG, or set ` +
        "accept-terms-of-service = yes",
    );
  }
}).bind(null);

/** `accept-terms-of-service` lines: yes/no once, or the URLs of the accepted terms (not both). */
const readTermsOfService = (function readTermsOfService(entries: IniEntry[], diag: Diagnostics): TermsOfService {
  let tos: TermsOfService = { kind: "none" };
  for (const entry of entries) {
    const bool = parseBoolean(entry.value);
    if ("value" in bool) {
      if (!bool.value) {
        if (tos.kind !== "none") {
          diag.error(entry.source, "accept-terms-of-service = no contradicts an earlier accept-terms-of-service line");
        }
        continue;
      }
      if (tos.kind !== "none") {
        diag.error(
          entry.source,
          "accept-terms-of-service: either accept any terms (yes) once or list the accepted terms-of-service URLs, not both",
        );
        continue;
      }
      tos = { kind: "any", source: entry.source };
      continue;
    }
    // Any absolute URL (pebble's terms are a data: URL), kept as written: it is compared with the CA's exactly.
    const url = parseAbsoluteUrl(entry.value);
    if ("error" in url) {
      const shown = truncate(entry.value);
      diag.error(
        entry.source,
        `accept-terms-of-service "${shown}" is neither yes/no nor the URL of the CA's terms of service ` +
          "(write it exactly as the CA's directory lists it, e.g. https://ca.example/terms.pdf)",
      );
      continue;
    }
    if (tos.kind === "any") {
      diag.error(
        entry.source,
        "accept-terms-of-service: either accept any terms (yes) once or list the accepted terms-of-service URLs, not both",
      );
      continue;
    }
    if (tos.kind === "urls") {
      if (!tos.urls.includes(url.value)) tos.urls.push(url.value);
    } else tos = { kind: "urls", urls: [url.value], source: entry.source };
  }
  return tos;
}).bind(null);

/**
 * `ca-origins` lines: bare origins (`https://host[:port]`, a trailing `/` is fine), several to a line, normalised
 * (`URL.origin`) and without duplicates; `http:` only when acme-server is http: (a test CA).
 */
const readCaOrigins =
  (function readCaOrigins(entries: IniEntry[], httpDirectory: boolean, diag: Diagnostics, label: string): string[] {
    const origins: string[] = [];
    for (const entry of entries) {
      for (const text of entry.value.split(/\s+/).filter(Boolean)) {
        const origin = parseOrigin(text, httpDirectory);
        if ("error" in origin) diag.error(entry.source, `${label} ca-origins "${truncate(text)}" ${origin.error}`);
        else if (!origins.includes(origin.value)) origins.push(origin.value);
      }
    }
    return origins;
  }).bind(null);

const parseOrigin = (function parseOrigin(text: string, httpAllowed: boolean): { value: string } | { error: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { error: "is not an origin: write it as https://host or https://host:port" };
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && httpAllowed)) {
    return {
      error: "is not an https: origin" +
        (url.protocol === "http:" ? " (http: is only allowed when acme-server is http:, a test CA)" : ""),
    };
  }
  if (url.pathname !== "/" || url.search || url.hash || url.username || url.password || /[?#]$/.test(text)) {
    return { error: `is not an origin: drop the path, write it as ${url.origin}` };
  }
  return { value: url.origin };
}).bind(null);

/** A `profile =` of [account] or an [auth] block: a name the CA lists; undefined after reporting a bad one. */
export const checkProfile = (function checkProfile(entry: IniEntry, diag: Diagnostics): string | undefined {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(entry.value)) {
    diag.error(
      entry.source,
      `profile "${
        truncate(entry.value)
      }" is not a profile name: use one the CA lists, e.g. classic, tlsserver or shortlived`,
    );
    return undefined;
  }
  return entry.value;
}).bind(null);

const isLoopbackHost = (function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname.startsWith("127.") || hostname === "[::1]";
}).bind(null);
