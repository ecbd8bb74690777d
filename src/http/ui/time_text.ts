/** How the operator page and `acmems status` write times: UTC to the minute, and a short distance from now. Pure. */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** `2026-12-07 06:41 UTC` ("" for an empty or invalid time). */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  return new Date(t).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** `in 3 d`, `5 h ago`, `now` ("" for an empty or invalid time). */
export function relativeTime(iso: string | null | undefined, now: Date): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const diff = t - now.getTime();
  const abs = Math.abs(diff);
  if (abs < MINUTE) return "now";
  const amount = abs >= 2 * DAY
    ? `${Math.round(abs / DAY)} d`
    : abs >= 2 * HOUR
    ? `${Math.round(abs / HOUR)} h`
    : `${Math.round(abs / MINUTE)} min`;
  return diff > 0 ? `in ${amount}` : `${amount} ago`;
}
