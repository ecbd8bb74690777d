/**
 * The row model of the operator page and `acmems status`: one `CertificateRow` per cached certificate, computed from
 * the stored entries (src/storage/types.ts) and the renewal rules (src/renewal/due.ts). Pure: the callers read the
 * storages; the same rows are rendered as HTML (page.ts), as text and as JSON (cli/status.ts).
 *
 * Contract: rows are sorted by renewal point (then first name, storage); every time is an ISO string (or null); the
 * keys of a row are stable (they are the `--json` output, documented in the README).
 */
import { renewalDue } from "../../renewal/due.ts";
import type { Entry } from "../../storage/types.ts";
import type { FetchRecord } from "./fetch_log.ts";

const DAY_MS = 86_400_000;

/** One stored entry with the settings of the storage that holds it. */
export interface StoredEntry {
  /** The `[storage]` block's name. */
  storage: string;
  renewWithinDays: number;
  renewActiveDays: number;
  entry: Entry;
}

/**
 * - `expired`: past notAfter.
 * - `inactive`: no client fetched it within `renew-active-days`: not renewed in the background, removed 7 days after
 *   expiry.
 * - `backing-off`: due, but its last renewal failed and the next attempt waits (`backoffUntil`).
 * - `due`: due for renewal now (the next sweep or /sign renews it).
 * - `valid`: not due yet.
 */
export type CertificateState = "expired" | "inactive" | "backing-off" | "due" | "valid";

export interface CertificateRow {
  storage: string;
  /** The cache key (hex SHA-256 of CA directory URL, profile and CSR). */
  key: string;
  names: string[];
  /** The CA's name when the entry records one, else its directory URL. */
  ca: string;
  directoryUrl: string;
  profile: string | null;
  issuedAt: string;
  notBefore: string;
  notAfter: string;
  state: CertificateState;
  /** When it is (or was) due for renewal, and which rule decided (renew-within, two-thirds, ari, ari-window-past). */
  renewal: { at: string; rule: string };
  /** The CA's ARI window (RFC 9773), when known. */
  ariWindow: { start: string; end: string } | null;
  /** The `[auth]` block the certificate was issued for (null in entries of old versions). */
  block: string | null;
  /** The last client fetch the storage recorded. */
  lastFetchedAt: string;
  /** Who fetched it last, when this process saw it (the operator page only; null otherwise). */
  lastFetchedBy: { block: string | null; client: string | null } | null;
  /** The last failed renewal, while it is the entry's latest news (cleared by a successful renewal). */
  lastFailure: { at: string | null; error: string; errorId: string | null; failures: number } | null;
  /** No renewal is tried before this time (after a failure); null when not backing off. */
  backoffUntil: string | null;
}

/** Finds who last fetched an entry (the operator page's in-memory fetch log). */
export type FetchLookup = (storage: string, key: string) => FetchRecord | undefined;

/** The row of one stored entry at `now`. */
export function certificateRow(stored: StoredEntry, now: Date, fetches?: FetchLookup): CertificateRow {
  const { entry } = stored;
  const due = renewalDue(entry, stored.renewWithinDays, now);
  const renewal = entry.renewal;
  const next = renewal?.nextAttemptAt ? Date.parse(renewal.nextAttemptAt) : NaN;
  const backoffUntil = !Number.isNaN(next) && next > now.getTime() ? new Date(next).toISOString() : null;
  const fetched = fetches?.(stored.storage, entry.key);
  const lastFetchedAt = laterOf(entry.lastFetchedAt, fetched && new Date(fetched.atMs).toISOString());
  const active = Date.parse(lastFetchedAt) >= now.getTime() - stored.renewActiveDays * DAY_MS;
  let state: CertificateState = "valid";
  if (Date.parse(entry.notAfter) <= now.getTime()) state = "expired";
  else if (!active) state = "inactive";
  else if (due.due && backoffUntil) state = "backing-off";
  else if (due.due) state = "due";
  const window = entry.ari?.window;
  // A named CA (several CAs, issue 15) is recorded as `ca`; entries without one show their directory URL.
  const caName = (entry as Entry & { ca?: unknown }).ca;
  return {
    storage: stored.storage,
    key: entry.key,
    names: entry.names.map(String),
    ca: typeof caName === "string" && caName ? caName : entry.directoryUrl,
    directoryUrl: entry.directoryUrl,
    profile: entry.profile ?? null,
    issuedAt: entry.issuedAt,
    notBefore: entry.notBefore,
    notAfter: entry.notAfter,
    state,
    renewal: { at: due.at.toISOString(), rule: due.reason },
    ariWindow: window ? { start: window.start, end: window.end } : null,
    block: entry.block ?? null,
    lastFetchedAt,
    lastFetchedBy: fetched ? { block: fetched.block, client: fetched.client } : null,
    lastFailure: renewal?.lastError
      ? {
        at: renewal.lastFailureAt ?? null,
        error: renewal.lastError,
        errorId: renewal.lastErrorId ?? null,
        failures: renewal.failures,
      }
      : null,
    backoffUntil,
  };
}

/** The rows of every entry, sorted by renewal point, then first name, then storage. */
export function certificateRows(entries: readonly StoredEntry[], now: Date, fetches?: FetchLookup): CertificateRow[] {
  return entries.map((e) => certificateRow(e, now, fetches)).sort((a, b) =>
    Date.parse(a.renewal.at) - Date.parse(b.renewal.at) ||
    (a.names[0] ?? "").localeCompare(b.names[0] ?? "") ||
    a.storage.localeCompare(b.storage)
  );
}

/** How many rows are in each state (for the page's summary line). */
export function countStates(rows: readonly CertificateRow[]): Record<CertificateState, number> {
  const counts: Record<CertificateState, number> = { expired: 0, inactive: 0, "backing-off": 0, due: 0, valid: 0 };
  for (const row of rows) counts[row.state]++;
  return counts;
}

/** The later of two ISO times (the first when the second is absent or invalid). */
function laterOf(a: string, b: string | undefined): string {
  if (!b || Number.isNaN(Date.parse(b))) return a;
  return Date.parse(b) > Date.parse(a) || Number.isNaN(Date.parse(a)) ? b : a;
}
