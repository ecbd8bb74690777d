/**
 * Text helpers for config messages: "did you mean" hints and truncation of echoed values. Pure.
 */

/** The closest candidate within a small edit distance, for "did you mean" hints. */
export const didYouMean = (function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const lower = word.toLowerCase();
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3)));
  return bestDistance <= limit ? best : undefined;
}).bind(null);

const editDistance = (function editDistance(a: string, b: string): number {
  // Optimal string alignment: insertions, deletions, substitutions and adjacent transpositions cost 1;
  // swapping "-" and "_" costs nothing (hmac-type vs hmac_type).
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const same = a[i - 1] === b[j - 1] || ("-_".includes(a[i - 1]) && "-_".includes(b[j - 1]));
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (same ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}).bind(null);

/** Shortens a value for an error message so a binary file does not flood the terminal. */
export const truncate = (function truncate(text: string, max = 80): string {
  // deno-lint-ignore no-control-regex
  const printable = text.replace(/[\x00-\x1f\x7f]/g, "?");
  return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}).bind(null);

/** `text` as one shell word: as it is when it needs no quoting, else in single quotes (for commands we print). */
export const shellWord = (function shellWord(text: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}).bind(null);
