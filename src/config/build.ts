/**
 * Builds the typed config (src/config/types.ts) from parsed INI documents: the order of the sections' builders
 * (src/config/sections/) and the checks across sections: the implicit verification and storage, the default
 * verification and storage, a missing [auth] block, listener clashes, the terms-of-service and staging notes.
 *
 * Singleton sections ([account], [mgmt], [logging]) merge across files; typed sections need unique names per kind.
 * Unknown sections and options are errors. Diagnostics come out in the order found (check-config prints them so).
 * Pure apart from `ConfigEnvironment`, which supplies the few facts about the machine a config needs. Never throws.
 */
import type { IniDocument, IniSection } from "./ini.ts";
import type { ConfigEnvironment } from "./environment.ts";
import { collectOptions, Diagnostics, sectionLabel, where } from "./diagnostics.ts";
import { warnReadableConfigFiles } from "./file_modes.ts";
import { warnShadowedHmacBlocks } from "./auth_shadowing.ts";
import { IMPLICIT_STORAGE_NAME, IMPLICIT_VERIFICATION_NAME, isLetsEncrypt } from "./defaults.ts";
import { MGMT_OPTIONS } from "./schema.ts";
import type { AuthBlock, Config, ConfigResult, NotifyConfig, StorageConfig, VerificationConfig } from "./types.ts";
import { accountNotes } from "./sections/account.ts";
import { buildCas } from "./sections/ca.ts";
import { buildAuth, checkAcmeEabKidsUnique } from "./sections/auth.ts";
import { checkListenerClashes } from "./sections/listeners.ts";
import { buildLogging } from "./sections/logging.ts";
import { buildMgmt, resolveDefaultStorage, resolveDefaultVerification } from "./sections/mgmt.ts";
import { buildNotify } from "./sections/notify.ts";
import { buildStorage, implicitStorage } from "./sections/storage.ts";
import { buildVerification, implicitVerification } from "./sections/verification.ts";

/** The warning of a config without auth blocks (serve and check-config show it; register, which needs none, not). */
export const NO_AUTH_BLOCK_WARNING =
  'No [auth "name"] block: every /sign request will be refused. Add one with ip = and domain = lines';

/** Builds the config from documents in command-line order. Never throws. */
export const buildConfig = (function buildConfig(
  documents: { file: string; document: IniDocument }[],
  env: ConfigEnvironment,
): ConfigResult {
  const diag = new Diagnostics();
  for (const { document } of documents) {
    diag.errors.push(...document.errors);
    diag.warnings.push(...document.warnings);
  }
  const files = documents.map((d) => d.file);
  const firstFile = files[0] ?? "<none>";
  const sections = documents.flatMap((d) => d.document.sections);

  // Singleton sections merge across files; typed sections must have unique names per kind.
  const merged = (kind: "account" | "mgmt" | "logging") => sections.filter((s) => s.kind === kind);
  const typedInOrder = uniqueTypedSections(sections, diag);

  const accountSections = merged("account");
  const caSet = buildCas(accountSections, typedInOrder.filter((s) => s.kind === "ca"), firstFile, env, diag);
  const account = caSet.account;
  const logging = buildLogging(merged("logging"), env, diag);
  const mgmtSections = merged("mgmt");
  const mgmtOptions = collectOptions(mgmtSections.flatMap((s) => s.entries), MGMT_OPTIONS, "[mgmt]", diag);

  const verifications = new Map<string, VerificationConfig>();
  const storages = new Map<string, StorageConfig>();
  for (const section of typedInOrder) {
    if (section.kind === "verification") {
      const v = buildVerification(section, env, diag);
      if (v) verifications.set(v.name, v);
    } else if (section.kind === "storage") {
      const s = buildStorage(section, env, diag);
      if (s) storages.set(s.name, s);
    }
  }
  // Names that failed to build still exist for reference checks, to avoid a cascade of "undefined" errors.
  const definedVerifications = new Set(typedInOrder.filter((s) => s.kind === "verification").map((s) => s.name!));
  const definedStorages = new Set(typedInOrder.filter((s) => s.kind === "storage").map((s) => s.name!));

  if (definedVerifications.size === 0) {
    verifications.set(IMPLICIT_VERIFICATION_NAME, implicitVerification(firstFile, env, diag));
    definedVerifications.add(IMPLICIT_VERIFICATION_NAME);
  }

  const mgmt = buildMgmt(mgmtOptions, firstFile, env, diag);
  const defaultVerification = resolveDefaultVerification(mgmtOptions, definedVerifications, diag);
  mgmt.defaultVerification = defaultVerification;

  const storageChoice = resolveDefaultStorage(mgmtOptions, definedStorages, diag);
  if (storageChoice.implicit && account) {
    storages.set(IMPLICIT_STORAGE_NAME, implicitStorage(account, firstFile, env, diag));
    definedStorages.add(IMPLICIT_STORAGE_NAME);
  }
  mgmt.defaultStorage = storageChoice.name;

  const auth: AuthBlock[] = [];
  for (const section of typedInOrder) {
    if (section.kind !== "auth") continue;
    const block = buildAuth(section, mgmt, definedVerifications, definedStorages, diag, {
      verificationTypes: new Map([...verifications].map(([name, v]) => [name, v.type])),
      acmeServer: account?.acmeServer,
      accountProfile: account?.profile,
      caNames: [...caSet.sections.keys()],
      defaultCa: caSet.defaultCa,
      cas: caSet.cas,
    });
    if (block) auth.push(block);
  }
  checkAcmeEabKidsUnique(auth, diag);
  const notifiers: NotifyConfig[] = [];
  for (const section of typedInOrder) {
    if (section.kind !== "notify") continue;
    const notifier = buildNotify(section, env, diag);
    if (notifier) notifiers.push(notifier);
  }

  if (auth.length === 0 && diag.errors.length === 0) {
    diag.warn({ file: firstFile, line: 0 }, NO_AUTH_BLOCK_WARNING);
  }

  checkListenerClashes(mgmt, verifications, diag);
  if (account) warnPersistIssuerUnknown(verifications, account.acmeServer, diag);
  warnShadowedHmacBlocks(auth, diag);
  warnReadableConfigFiles(documents, env, diag);

  for (const [name, ca] of caSet.cas) {
    const sections = caSet.sections.get(name) ?? [];
    accountNotes(ca, sections, diag, sections.some((s) => s.kind === "ca") ? name : undefined);
  }

  const ok = diag.errors.length === 0 && account !== null;
  const result: ConfigResult = { ok, errors: diag.errors, warnings: diag.warnings, notes: diag.notes };
  if (ok && account) {
    const config: Config = {
      files,
      account,
      cas: caSet.cas,
      defaultCa: caSet.defaultCa,
      mgmt,
      logging,
      verifications,
      storages,
      auth,
      notifiers,
    };
    result.config = config;
  }
  return result;
}).bind(null);

/** Typed sections in file order, each name once per kind (a second definition is an error naming both). */
const uniqueTypedSections = (function uniqueTypedSections(sections: IniSection[], diag: Diagnostics): IniSection[] {
  const typed = new Map<string, IniSection>();
  const inOrder: IniSection[] = [];
  for (const section of sections) {
    if (section.name === undefined) continue;
    const id = `${section.kind}\u0000${section.name}`;
    const earlier = typed.get(id);
    if (earlier) {
      diag.error(
        section.source,
        `${sectionLabel(section)} is defined twice: here and at ${where(earlier.source)}; rename one or merge them`,
      );
      continue;
    }
    typed.set(id, section);
    inOrder.push(section);
  }
  return inOrder;
}).bind(null);

/**
 * A dns-persist01 block without `issuer-domain-name` when the default CA is not Let's Encrypt: `serve` still works
 * (the issuer comes from the CA's challenge), but `acmems records` cannot print the records to publish.
 */
const warnPersistIssuerUnknown = (function warnPersistIssuerUnknown(
  verifications: Map<string, VerificationConfig>,
  acmeServer: string,
  diag: Diagnostics,
): void {
  if (isLetsEncrypt(acmeServer)) return;
  for (const v of verifications.values()) {
    if (v.type !== "dns-persist01" || v.issuerDomainName) continue;
    diag.warn(
      v.source,
      `[verification "${v.name}"] has no issuer-domain-name and acme-server ${acmeServer} is not Let's Encrypt: ` +
        "acmems records cannot print its records (a 421 still names the record to publish); set issuer-domain-name " +
        "= the CA's issuer domain name, as in its CAA records",
    );
  }
}).bind(null);
