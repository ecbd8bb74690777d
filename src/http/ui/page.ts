/**
 * The operator page's HTML: a plain, self-contained document (one style sheet in the page, no scripts, no external
 * references) with the CAs' reachability, the certificates (summary, expiry timeline, table), the rate-limit budget,
 * the dns-persist-01 records to publish and the storages. Pure: `PageData` in, a string out; every value escaped
 * (html.ts).
 *
 * Contract: `PAGE_STYLE` is the only style sheet; the handler allows exactly it by hash in the CSP.
 */
import type { BudgetLine } from "../../ca/ledger_port.ts";
import { type Html, html, trusted } from "./html.ts";
import type { PersistSection } from "./persist_rows.ts";
import type { RecentFailure } from "./recent_failures.ts";
import { type CertificateRow, countStates } from "./rows.ts";
import { formatTime, relativeTime } from "./time_text.ts";
import { timelineSvg } from "./timeline.ts";

/** One CA's reachability, as the account session knows it. */
export interface CaStatus {
  /** `default` for `[account]`, else the `[ca]` block's name. */
  name: string;
  directoryUrl: string;
  /** The session's state: `ready` (shown as connected), `starting`, `unavailable`, `failed`. */
  state: string;
  reason: string;
  /** ISO time the session entered this state, or null when unknown. */
  since: string | null;
  /** ISO time the CA's directory last answered, or null (never). */
  lastDirectoryOk: string | null;
}

/** One storage as the page read it. */
export interface StorageStatus {
  name: string;
  kind: string;
  /** Entries read. */
  entries: number;
  /** Why it could not be (fully) read, or null. */
  problem: string | null;
}

export interface PageData {
  now: Date;
  version: string;
  cas: CaStatus[];
  storages: StorageStatus[];
  rows: CertificateRow[];
  /** Budget lines; null: no ledger configured; `{error}`: the ledger could not be asked. */
  budget: BudgetLine[] | null | { error: string };
  persist: PersistSection;
  /** /sign failures with an error id, newest first; null: not recorded (no running server). */
  failures: RecentFailure[] | null;
}

export const PAGE_STYLE = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em;color:#1b1f24;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;width:100%;margin:.3em 0}th,td{border:1px solid #d0d7de;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.names{font-weight:600;white-space:nowrap}code,.mono{font-family:ui-monospace,
monospace;font-size:.92em;word-break:break-all}.muted,.note{color:#57606a}.bad{color:#b42318}.ok{color:#1a7f37}
.state{display:inline-block;padding:0 .4em;border-radius:.6em;font-size:.85em;border:1px solid currentColor}
.state.valid{color:#1a7f37}.state.due{color:#9a6700}.state.backing-off,.state.expired{color:#b42318}
.state.inactive{color:#57606a}svg.timeline{max-width:100%;height:auto;font-size:11px}
svg .tick line{stroke:#d0d7de}svg .tick text{fill:#57606a}svg .label{fill:#1b1f24}
svg .bar{stroke:#8c959f;stroke-width:3}svg .expiry{fill:#1a7f37}svg .renewal{fill:#0969da}
svg .due .expiry{fill:#9a6700}svg .backing-off .expiry,svg .expired .expiry{fill:#b42318}
svg .inactive .expiry{fill:#8c959f}.legend span{margin-right:1.2em}
`;

/** The whole page. */
export function renderPage(data: PageData): string {
  const { now } = data;
  const page = html`
    <!DOCTYPE html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <title>acmems — operator page</title>
        <style>${styleMarkup()}</style>
      </head>
      <body>
    <h1>acmems operator page</h1>
    <p class="muted">acmems ${data.version} · generated <time id="generated" datetime="${now
      .toISOString()}">${formatTime(now.toISOString())}</time> · reload the page to refresh</p>
    ${casSection(data.cas, now)}
    ${certificatesSection(data.rows, now)}
    ${failuresSection(data.failures, now)}
    ${budgetSection(data.budget)}
    ${persistSectionHtml(data.persist)}
    ${storagesSection(data.storages)}
      </body>
    </html>
  `;
  return page.text.trimStart();
}

/** The style sheet as markup (a constant: nothing in it comes from outside). */
function styleMarkup(): Html {
  return trusted(PAGE_STYLE);
}

function time(iso: string | null | undefined, now: Date): Html | null {
  if (!iso) return null;
  return html`<time datetime="${iso}">${formatTime(iso)}</time> <span class="muted">(${relativeTime(iso, now)})</span>`;
}

function casSection(cas: readonly CaStatus[], now: Date): Html {
  const rows = cas.map((ca) => {
    const connected = ca.state === "ready";
    const state = connected
      ? html`<span class="ok">connected</span>`
      : html`<span class="bad">${ca.state}</span>${
        ca.since
          ? html`
            since ${time(ca.since, now)}
          `
          : null
      }`;
    return html`
      <tr>
        <td>${ca.name}</td>
        <td class="mono">${ca.directoryUrl}</td>
        <td>${state}</td>
        <td>${connected ? null : ca.reason}</td>
        <td>${time(ca.lastDirectoryOk, now) ?? "never"}</td>
      </tr>
    `;
  });
  return html`
    <section id="cas">
      <h2>CAs</h2>
      <table>
        <thead>
          <tr>
            <th>CA</th>
            <th>Directory</th>
            <th>State</th>
            <th>Reason</th>
            <th>Directory last answered</th>
          </tr>
        </thead>
        <tbody>${rows}</tbody>
      </table>
    </section>
  `;
}

function certificatesSection(rows: readonly CertificateRow[], now: Date): Html {
  if (rows.length === 0) {
    return html`
      <section id="certificates">
        <h2>Certificates</h2>
        <p>No certificates in the cache.</p>
      </section>
    `;
  }
  const counts = countStates(rows);
  const summary = Object.entries(counts).filter(([, n]) => n > 0).map(([state, n]) => `${n} ${state}`).join(", ");
  const body = rows.map((row) => certificateRow(row, now));
  return html`<section id="certificates"><h2>Certificates</h2>
<p>${rows.length} certificate${rows.length === 1 ? "" : "s"}: ${summary}.</p>
<p class="legend muted"><span>● expiry (not after)</span><span>◆ renewal point</span><span>bar: remaining validity</span></p>
${timelineSvg(rows, now)}
<table id="certificate-table"><thead><tr><th>Names</th><th>State</th><th>CA / profile</th><th>Not after</th>
<th>Renewal</th><th>Last fetched</th><th>Last failure</th><th>Backoff until</th><th>Storage</th></tr></thead>
<tbody>${body}</tbody></table></section>`;
}

function certificateRow(row: CertificateRow, now: Date): Html {
  const window = row.ariWindow
    ? html`<br><span class="muted">ARI window ${time(row.ariWindow.start, now)} – ${
      time(row.ariWindow.end, now)
    }</span>`
    : null;
  const by = row.lastFetchedBy
    ? html`<br><span class="muted">by ${row.lastFetchedBy.block ? `[auth "${row.lastFetchedBy.block}"]` : "?"}${
      row.lastFetchedBy.client ? ` from ${row.lastFetchedBy.client}` : ""
    }</span>`
    : null;
  const failure = row.lastFailure
    ? html`
      <span class="bad">${row.lastFailure.error}</span><br><span
        class="muted">${time(row.lastFailure.at, now)}${row.lastFailure.errorId
          ? ` · error id ${row.lastFailure.errorId}`
          : ""} · ${row.lastFailure.failures} failure${row.lastFailure.failures === 1 ? "" : "s"}</span>
    `
    : null;
  const names = row.names.map((n, i) => html`${i > 0 ? html`<br>` : null}<span class="name">${n}</span>`);
  return html`
    <tr data-key="${row.key}">
      <td class="names">${names}</td>
      <td><span class="state ${row.state}">${row.state}</span></td>
      <td><span class="mono">${row.ca}</span>${row.profile ? html`<br>profile ${row.profile}` : null}</td>
      <td>${time(row.notAfter, now)}</td>
      <td>${time(row.renewal.at, now)}<br><span class="muted">${row.renewal.rule}</span>${window}</td>
      <td>${time(row.lastFetchedAt, now)}${by}${row.block
        ? html`<br><span class="muted">issued for [auth "${row.block}"]</span>`
        : null}</td>
      <td>${failure}</td>
      <td>${time(row.backoffUntil, now)}</td>
      <td>${row.storage}</td>
    </tr>
  `;
}

function failuresSection(failures: readonly RecentFailure[] | null, now: Date): Html | null {
  if (failures === null) return null;
  const body = failures.length === 0 ? html`<p class="muted">None since acmems started.</p>` : html`
    <table>
      <thead>
        <tr>
          <th>Time</th>
          <th>Status</th>
          <th>Names</th>
          <th>Block</th>
          <th>Client</th>
          <th>Outcome</th>
          <th>Error id</th>
        </tr>
      </thead>
      <tbody>${failures.map((f) =>
        html`
          <tr>
            <td>${time(f.at, now)}</td>
            <td>${f.status}</td>
            <td>${f.names.join(", ")}</td>
            <td>${f.block}</td>
            <td class="mono">${f.client}</td>
            <td>${f.outcome}</td>
            <td class="mono">${f.errorId}</td>
          </tr>
        `
      )}</tbody>
    </table>
  `;
  return html`<section id="failures"><h2>Recent failed requests</h2>
<p class="muted">The last /sign requests (up to 20, this process) that failed with an error id: the log line with the same id has the cause.</p>
${body}</section>`;
}

function budgetSection(budget: PageData["budget"]): Html {
  let body: Html;
  if (budget === null) body = html`<p class="muted">Rate-limit ledger: not configured.</p>`;
  else if ("error" in budget) body = html`<p class="bad">The rate-limit ledger could not be read: ${budget.error}</p>`;
  else if (budget.length === 0) body = html`<p class="muted">No rate limit is configured.</p>`;
  else {
    const rows = budget.map((b) =>
      html`
        <tr>
          <td>${b.owner}</td>
          <td>${b.limit}</td>
          <td class="mono">${b.key}</td>
          <td>${b.remaining} / ${b.max}</td>
        </tr>
      `
    );
    body = html`
      <table>
        <thead>
          <tr>
            <th>CA / block</th>
            <th>Limit</th>
            <th>Key</th>
            <th>Remaining / max</th>
          </tr>
        </thead>
        <tbody>${rows}</tbody>
      </table>
    `;
  }
  return html`<section id="budget"><h2>Rate-limit budget</h2>${body}</section>`;
}

function persistSectionHtml(persist: PersistSection): Html {
  let body: Html;
  if (!persist.configured) {
    body = html`<p class="muted">No [verification] block with type = dns-persist01.</p>`;
  } else if (persist.problem) {
    body = html`<p class="bad">${persist.problem}</p>`;
  } else {
    const rows = persist.records.map((r) =>
      html`
        <tr>
          <td>${r.verification}</td>
          <td>${r.names.join(", ")}</td>
          <td class="mono">${r.owner}.</td>
          <td class="mono">${r.txt}</td>
        </tr>
      `
    );
    const skipped = persist.skipped.map((s) => html`<li>${s.name}: ${s.reason}</li>`);
    body = html`
      <p class="muted">TXT records to publish once (acmems records prints them as zone-file or nsupdate lines).</p>
      <table>
        <thead>
          <tr>
            <th>Verification</th>
            <th>Names</th>
            <th>Owner</th>
            <th>TXT</th>
          </tr>
        </thead>
        <tbody>${rows}</tbody>
      </table>
      ${skipped.length > 0 ? html`<ul class="note">${skipped}</ul>` : null}
    `;
  }
  return html`<section id="dns-persist"><h2>dns-persist-01 records</h2>${body}</section>`;
}

function storagesSection(storages: readonly StorageStatus[]): Html {
  const rows = storages.map((s) =>
    html`
      <tr>
        <td>${s.name}</td>
        <td>${s.kind}</td>
        <td>${s.entries}</td>
        <td>${s.problem ? html`<span class="bad">${s.problem}</span>` : null}</td>
      </tr>
    `
  );
  return html`
    <section id="storages">
      <h2>Storages</h2>
      <table>
        <thead>
          <tr>
            <th>Storage</th>
            <th>Type</th>
            <th>Certificates</th>
            <th>Problem</th>
          </tr>
        </thead>
        <tbody>${rows}</tbody>
      </table>
    </section>
  `;
}
