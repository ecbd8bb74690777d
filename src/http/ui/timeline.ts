/**
 * The expiry timeline of the operator page: inline SVG, one lane per certificate on a time axis from now to the
 * latest notAfter, with its remaining validity as a bar, its expiry as a dot and its renewal point as a diamond.
 * Pure: rows in, escaped markup out (names are text nodes and <title> tooltips, never markup).
 *
 * Contract: at most `maxLanes` lanes (the first rows, i.e. the earliest renewal points); the rest are counted in a
 * note under the chart. Points outside the axis (expired certificates, renewal points in the past) sit at its
 * ends. No scripts, no external references, no style attributes (the page's CSP allows only its own style sheet).
 */
import { type Html, html } from "./html.ts";
import type { CertificateRow } from "./rows.ts";
import { formatTime } from "./time_text.ts";

const WIDTH = 960;
const LABEL = 250;
const LEFT = LABEL + 14;
const RIGHT = WIDTH - 24;
const TOP = 34;
const LANE = 20;
const HOUR_MS = 3_600_000;

export interface TimelineOptions {
  /** Lanes drawn at most (default 200). */
  maxLanes?: number;
  /** Ticks on the axis (default 6). */
  ticks?: number;
}

/** The axis: from `now` to the latest notAfter (at least a day). */
export function timelineAxis(rows: readonly CertificateRow[], now: Date): { start: number; end: number } {
  const start = now.getTime();
  const latest = Math.max(start, ...rows.map((r) => Date.parse(r.notAfter)).filter((t) => !Number.isNaN(t)));
  return { start, end: Math.max(latest, start + 24 * HOUR_MS) };
}

/** The SVG (null when there is no certificate). */
export function timelineSvg(rows: readonly CertificateRow[], now: Date, opts: TimelineOptions = {}): Html | null {
  if (rows.length === 0) return null;
  const shown = rows.slice(0, opts.maxLanes ?? 200);
  const { start, end } = timelineAxis(rows, now);
  const x = (iso: string): number => {
    const t = Date.parse(iso);
    const clamped = Number.isNaN(t) ? start : Math.min(end, Math.max(start, t));
    return round(LEFT + ((clamped - start) / (end - start)) * (RIGHT - LEFT));
  };
  const height = TOP + shown.length * LANE + 8;
  const tickCount = Math.max(2, opts.ticks ?? 6);
  const ticks = Array.from({ length: tickCount }, (_, i) => {
    const iso = new Date(start + ((end - start) * i) / (tickCount - 1)).toISOString();
    const anchor = i === 0 ? "start" : i === tickCount - 1 ? "end" : "middle";
    return html`
      <g class="tick">
        <line x1="${x(iso)}" y1="${TOP - 6}" x2="${x(iso)}" y2="${height - 4}"></line>
        <text x="${x(iso)}" y="${TOP - 12}" text-anchor="${anchor}">${i === 0 ? "now" : iso.slice(0, 10)}</text>
      </g>
    `;
  });
  const lanes = shown.map((row, i) => {
    const y = TOP + i * LANE + LANE / 2;
    const label = row.names.length > 1 ? `${row.names[0]} +${row.names.length - 1}` : row.names[0] ?? "";
    const title = `${row.names.join(", ")} — not after ${formatTime(row.notAfter)}; renewal ${
      formatTime(row.renewal.at)
    } (${row.renewal.rule}); ${row.state}`;
    const from = Date.parse(row.notBefore) > now.getTime() ? row.notBefore : now.toISOString();
    const rx = x(row.renewal.at);
    const diamond = `${rx},${y - 6} ${rx + 6},${y} ${rx},${y + 6} ${rx - 6},${y}`;
    return html`
      <g class="cert ${row.state}">
        <title>${title}</title>
        <text class="label" x="${LABEL}" y="${y + 4}" text-anchor="end">${truncate(label, 34)}</text>
        <line class="bar" x1="${x(from)}" y1="${y}" x2="${x(row.notAfter)}" y2="${y}"></line>
        <polygon class="renewal" points="${diamond}"></polygon>
        <circle class="expiry" cx="${x(row.notAfter)}" cy="${y}" r="5"></circle>
      </g>
    `;
  });
  const more = rows.length - shown.length;
  const summary = `Expiry timeline of ${rows.length} certificate${rows.length === 1 ? "" : "s"}, from ${
    formatTime(new Date(start).toISOString())
  } to ${formatTime(new Date(end).toISOString())}`;
  const note = more > 0 ? html`<p class="note">${more} more not drawn (the table lists every certificate).</p>` : null;
  return html`
    <svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}"
      width="${WIDTH}" height="${height}" role="img" aria-label="${summary}"><title>${summary}</title>
    ${ticks}${lanes}</svg>
    ${note}
  `;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max - 1) + "…";
}
