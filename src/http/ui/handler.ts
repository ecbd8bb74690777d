/**
 * `GET /` for operators: gathers the page's data (the storages' entries, the CAs' sessions, the rate-limit budget,
 * the dns-persist-01 records) and answers the HTML page (page.ts) with strict headers. The caller (operator.ts)
 * decides who may see it (`[mgmt] metrics-ip` peers only).
 *
 * Headers: `Content-Security-Policy: default-src 'none'; style-src 'sha256-…'` (the page's one style sheet, by
 * hash), `img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`, `X-Content-Type-Options:
 * nosniff`, `Cache-Control: no-store`, `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`.
 *
 * Contract: never throws; a part that cannot be read (a storage, the ledger, registration.json) is shown as a
 * problem in its section. Read-only: nothing is written, no claim taken, the CA not asked.
 */
import { loadRegistration } from "../../account/store.ts";
import type { BudgetLine } from "../../ca/ledger_port.ts";
import type { Config } from "../../config/types.ts";
import { describeError } from "../../lib/bytes.ts";
import { type Clock, systemClock } from "../../lib/clock.ts";
import type { Storage } from "../../storage/mod.ts";
import { VERSION } from "../../version.ts";
import { collectEntries } from "./collect.ts";
import type { FetchLog } from "./fetch_log.ts";
import { type CaStatus, PAGE_STYLE, type PageData, renderPage } from "./page.ts";
import { persistSection, type RegistrationRead } from "./persist_rows.ts";
import type { RecentFailures } from "./recent_failures.ts";
import { certificateRows } from "./rows.ts";

export interface OperatorPageDeps {
  config: () => Config;
  storages: () => Iterable<Storage>;
  /** The CAs and their sessions' reachability. */
  cas: () => CaStatus[];
  /** The rate-limit ledger's budget (src/ca/ledger_port.ts); absent: "not configured". */
  budget?: () => Promise<BudgetLine[]>;
  /** Who fetched which certificate (in memory). */
  fetches?: FetchLog;
  /** The last /sign failures with an error id (in memory); absent: the section is left out. */
  failures?: RecentFailures;
  /** Default: the account's registration.json (as `acmems records` reads it). */
  registration?: (config: Config) => Promise<RegistrationRead>;
  now?: Clock;
}

/** The page's data now. Never throws. */
export async function gatherPage(deps: OperatorPageDeps): Promise<PageData> {
  const now = (deps.now ?? systemClock)();
  const config = deps.config();
  const { entries, storages } = await collectEntries(deps.storages());
  const fetches = deps.fetches;
  let budget: PageData["budget"] = null;
  if (deps.budget) {
    try {
      budget = await deps.budget();
    } catch (error) {
      budget = { error: describeError(error) };
    }
  }
  const registration = await (deps.registration ?? readRegistration)(config);
  return {
    now,
    version: VERSION,
    cas: deps.cas(),
    storages,
    rows: certificateRows(entries, now, fetches && ((storage, key) => fetches.get(storage, key))),
    budget,
    persist: persistSection(config, registration),
    failures: deps.failures?.list() ?? null,
  };
}

/** registration.json of the config's account dir, only when a dns-persist01 block needs it. */
export async function readRegistration(config: Config): Promise<RegistrationRead> {
  if (![...config.verifications.values()].some((v) => v.type === "dns-persist01")) return null;
  try {
    return await loadRegistration(config.account.dir);
  } catch (error) {
    return { error: describeError(error) };
  }
}

let styleHash: Promise<string> | undefined;

/** `'sha256-…'` of the page's style sheet (computed once). */
export function styleSource(): Promise<string> {
  styleHash ??= crypto.subtle.digest("SHA-256", new TextEncoder().encode(PAGE_STYLE)).then((d) =>
    `'sha256-${btoa(String.fromCharCode(...new Uint8Array(d)))}'`
  );
  return styleHash;
}

/** The headers of the page (see the file comment). */
export async function pageHeaders(): Promise<Record<string, string>> {
  return {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": `default-src 'none'; style-src ${await styleSource()}; img-src data:; ` +
      "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
  };
}

/** Answers the page. */
export async function operatorPage(deps: OperatorPageDeps): Promise<Response> {
  const data = await gatherPage(deps);
  return new Response(renderPage(data), { headers: await pageHeaders() });
}
