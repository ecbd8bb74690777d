/**
 * `[verification "name"]`: how challenges are answered: `http01` (listeners serving the tokens),
 * `dns01-dnsUpdate` (dns-01 through RFC 2136 updates to a DNS server, optionally signed with a TSIG key from the
 * config or a key file) or `dns-account01` (dns-account-01: the same options, the record at the account label). Pure apart from `ConfigEnvironment` (hosts file, key files). Gives null when the section has errors
 * that leave it unusable.
 */
import type { IniSection } from "../ini.ts";
import type { ConfigEnvironment } from "../environment.ts";
import { collectOptions, type Diagnostics, firstIsType, readOption, sectionLabel, where } from "../diagnostics.ts";
import { DEFAULT_HTTP01_LISTENER, IMPLICIT_VERIFICATION_NAME } from "../defaults.ts";
import { DNS_PERSIST_OPTIONS as P, DNS_UPDATE_OPTIONS as D, HTTP01_OPTIONS as H } from "../schema.ts";
import { didYouMean, truncate } from "../text.ts";
import { parseTsigKeyFile } from "../tsig_key_file.ts";
import { warnIfReadable } from "../file_modes.ts";
import type {
  DnsPersistVerification,
  DnsUpdateVerification,
  Http01Verification,
  TsigAlgorithm,
  TsigKey,
  VerificationConfig,
} from "../types.ts";
import { isDnsName, isStandardBase64 } from "../values.ts";
import { resolveListeners } from "./listeners.ts";
import { DEFAULT_RECORD_FORMAT, RECORD_FORMATS } from "../../challenges/dns_persist01/record.ts";

/** The http01 verification on the default listener that a config without [verification] sections gets. */
export const implicitVerification =
  (function implicitVerification(firstFile: string, env: ConfigEnvironment, diag: Diagnostics): Http01Verification {
    const source = { file: firstFile, line: 0 };
    const listeners = resolveListeners([{ key: H.listener.key, value: DEFAULT_HTTP01_LISTENER, source }], env, diag);
    return { type: "http01", name: IMPLICIT_VERIFICATION_NAME, listeners, implicit: true, source };
  }).bind(null);

export const buildVerification = (function buildVerification(
  section: IniSection,
  env: ConfigEnvironment,
  diag: Diagnostics,
): VerificationConfig | null {
  const type = firstIsType(section, diag, "http01, dns01-dnsUpdate, dns-account01 or dns-persist01");
  if (type === null) return null;
  const label = sectionLabel(section);
  const name = section.name!;
  if (type === "http01") {
    const o = collectOptions(section.entries, H, label, diag);
    const entries = o.all(H.listener);
    const listeners = resolveListeners(
      entries.length > 0 ? entries : [{ key: H.listener.key, value: DEFAULT_HTTP01_LISTENER, source: section.source }],
      env,
      diag,
    );
    const v: Http01Verification = { type: "http01", name, listeners, implicit: false, source: section.source };
    return v;
  }
  if (type === "dns01-dnsUpdate" || type === "dns-account01") return buildDnsUpdate(section, type, env, diag);
  if (type === "dns-persist01") return buildDnsPersist(section, diag);
  const typeSource = section.entries[0].source;
  if (type === "dns01-boulder" || type === "dns01-server") {
    diag.error(
      typeSource,
      `${label}: type ${type} was a test-only type of the original ACMEMS and is not supported; ` +
        "use type = dns01-dnsUpdate against a real DNS server",
    );
    return null;
  }
  const hint = didYouMean(type, ["http01", "dns01-dnsUpdate", "dns-account01", "dns-persist01"]);
  diag.error(
    typeSource,
    `${label}: unknown verification type "${truncate(type)}"${hint ? `: did you mean ${hint}?` : ""} ` +
      "(supported: http01, dns01-dnsUpdate, dns-account01, dns-persist01)",
  );
  return null;
}).bind(null);

const TSIG_ALGORITHMS: Record<string, TsigAlgorithm> = {
  "hmac-sha256": "hmac-sha256",
  "hmac-sha384": "hmac-sha384",
  "hmac-sha512": "hmac-sha512",
};

const parseTsigAlgorithm = (function parseTsigAlgorithm(value: string): TsigAlgorithm | { error: string } {
  const lower = value.toLowerCase().replace(/\.$/, "");
  const found = TSIG_ALGORITHMS[lower];
  if (found) return found;
  if (
    lower === "hmac-md5" || lower === "hmac-md5.sig-alg.reg.int" || lower === "hmac-sha1" || lower === "hmac-sha224"
  ) {
    return {
      error: `TSIG algorithm ${value} is refused: MD5 and SHA-1 are broken as MACs; generate a new key with ` +
        "tsig-keygen -a hmac-sha256",
    };
  }
  return { error: `TSIG algorithm "${truncate(value)}" is not one of hmac-sha256, hmac-sha384, hmac-sha512` };
}).bind(null);

const buildDnsUpdate = (function buildDnsUpdate(
  section: IniSection,
  type: DnsUpdateVerification["type"],
  env: ConfigEnvironment,
  diag: Diagnostics,
): DnsUpdateVerification | null {
  const label = sectionLabel(section);
  const o = collectOptions(section.entries, D, label, diag);
  const v: DnsUpdateVerification = {
    type,
    name: section.name!,
    servers: [],
    ttl: 60,
    timeoutMs: 30_000,
    transport: "tcp",
    source: section.source,
  };
  readOption(o, D.dnsServer, v, label, diag);
  if (!o.has(D.dnsServer)) {
    diag.error(section.source, `${label} needs dns-server = the address of the DNS server to update (ip or ip:port)`);
  }
  readOption(o, D.ttl, v, label, diag);
  readOption(o, D.timeout, v, label, diag);
  const zone = o.one(D.zone);
  if (zone) {
    const value = zone.value.replace(/\.$/, "").toLowerCase();
    if (!isDnsName(value)) diag.error(zone.source, `${label} zone "${truncate(zone.value)}" is not a DNS name`);
    else v.zone = value;
  }
  const transport = o.one(D.transport);
  if (transport) {
    const value = transport.value.toLowerCase();
    if (value === "tcp" || value === "udp") v.transport = value;
    else diag.error(transport.source, `${label} transport "${truncate(transport.value)}" is not tcp or udp`);
  }

  const keyName = o.one(D.tsigKeyName);
  const algorithm = o.one(D.tsigAlgorithm);
  const secret = o.one(D.tsigSecret);
  const keyFile = o.one(D.tsigKeyFile);
  if (secret && keyFile) {
    diag.error(
      secret.source,
      `${label}: set tsig-secret or tsig-key-file, not both (also at ${where(keyFile.source)})`,
    );
  } else if (keyFile) {
    const path = env.resolvePath(keyFile.value, keyFile.source.file);
    const read = env.readTextFile(path);
    if ("error" in read) {
      diag.error(keyFile.source, `${label} tsig-key-file ${path} cannot be read: ${read.error}`);
    } else {
      const key = parseTsigKeyFile(read.text, keyName?.value);
      if ("error" in key) diag.error(keyFile.source, `${label} tsig-key-file ${path}: ${key.error}`);
      else {
        const alg = parseTsigAlgorithm(algorithm?.value ?? key.algorithm);
        if (algorithm && algorithm.value.toLowerCase() !== key.algorithm) {
          diag.error(
            algorithm.source,
            `${label} tsig-algorithm ${algorithm.value} differs from the key file's algorithm ${key.algorithm}; ` +
              "remove tsig-algorithm",
          );
        } else if (typeof alg === "object") diag.error(keyFile.source, `${label} tsig-key-file ${path}: ${alg.error}`);
        else if (!isStandardBase64(key.secret)) {
          diag.error(keyFile.source, `${label} tsig-key-file ${path}: the secret is not base64`);
        } else {
          warnIfReadable(path, `${label} tsig-key-file ${path} holds the TSIG secret`, keyFile.source, env, diag);
          const tsig: TsigKey = { name: key.name, algorithm: alg, secret: key.secret, source: keyFile.source };
          v.tsig = tsig;
        }
      }
    }
  } else if (secret) {
    if (!keyName) {
      diag.error(secret.source, `${label}: tsig-secret needs tsig-key-name (the key's name on the DNS server)`);
    } else if (!isDnsName(keyName.value.replace(/\.$/, ""))) {
      diag.error(
        keyName.source,
        `${label} tsig-key-name "${truncate(keyName.value)}" is not a DNS name: write the name from the server's ` +
          "key statement, e.g. tsig-key-name = acmems-key",
      );
    } else if (!isStandardBase64(secret.value)) {
      diag.error(secret.source, `${label} tsig-secret is not base64: paste the secret from tsig-keygen`);
    } else {
      const alg = parseTsigAlgorithm(algorithm?.value ?? "hmac-sha256");
      if (typeof alg === "object") diag.error(algorithm!.source, `${label}: ${alg.error}`);
      else {
        v.tsig = {
          name: keyName.value.replace(/\.$/, ""),
          algorithm: alg,
          secret: secret.value,
          source: secret.source,
        };
      }
    }
  } else if (keyName || algorithm) {
    diag.error(
      (keyName ?? algorithm)!.source,
      `${label}: tsig-key-name/tsig-algorithm without a key: add tsig-secret or tsig-key-file`,
    );
  }
  if (algorithm && !keyFile && !secret) {
    const alg = parseTsigAlgorithm(algorithm.value);
    if (typeof alg === "object") diag.error(algorithm.source, `${label}: ${alg.error}`);
  }
  return v;
}).bind(null);

/** `type = dns-persist01`: no DNS credentials; a resolver for the pre-check and what the printed records say. */
const buildDnsPersist = (function buildDnsPersist(section: IniSection, diag: Diagnostics): DnsPersistVerification {
  const label = sectionLabel(section);
  const o = collectOptions(section.entries, P, label, diag);
  const v: DnsPersistVerification = {
    type: "dns-persist01",
    name: section.name!,
    resolvers: [],
    recordFormat: DEFAULT_RECORD_FORMAT,
    timeoutMs: 10_000,
    source: section.source,
  };
  readOption(o, P.resolver, v, label, diag);
  readOption(o, P.persistUntil, v, label, diag);
  readOption(o, P.timeout, v, label, diag);
  const issuer = o.one(P.issuerDomainName);
  if (issuer) {
    const value = issuer.value.replace(/\.$/, "").toLowerCase();
    if (!isDnsName(value)) {
      diag.error(
        issuer.source,
        `${label} issuer-domain-name "${truncate(issuer.value)}" is not a DNS name: write the CA's CAA issuer ` +
          "domain name, e.g. letsencrypt.org",
      );
    } else v.issuerDomainName = value;
  }
  const format = o.one(P.recordFormat);
  if (format) {
    const known = RECORD_FORMATS as readonly string[];
    if (known.includes(format.value)) v.recordFormat = format.value as DnsPersistVerification["recordFormat"];
    else {
      diag.error(
        format.source,
        `${label} record-format "${truncate(format.value)}" is not one of ${known.join(", ")}`,
      );
    }
  }
  return v;
}).bind(null);
