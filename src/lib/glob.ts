/**
 * Domain globs for `[auth] domain = …` lines, with the original ACMEMS's `fnmatch` meaning made safe:
 *  - matching is case-insensitive (pattern and name are both lower-cased; names never carry a trailing dot);
 *  - `*` matches any run of characters, dots included, as in the original: `*.example.org` matches
 *    `www.example.org` and `a.b.example.org`, but not `example.org`. Beware that `*example.org` also matches
 *    `evilexample.org`: write `*.example.org`. `**` means the same as `*`;
 *  - `?` matches exactly one character; `[abc]`, `[a-z]`, `[!abc]` one character of (not of) a set.
 *
 * A requested wildcard name (`*.example.org`) is matched literally: its `*` character is matched only by a `*` in
 * the pattern, never by `?` or a class (a wildcard certificate covers every label those could stand for, not just the
 * ones they allow). So the pattern `*.example.org` admits `*.example.org`, the pattern `www.example.org` does not.
 *
 * Errors (unbalanced `[`, empty labels, characters that never occur in DNS names) are reported by `compileGlob`,
 * which the config validator calls to report them with `file:line`.
 */

export type CompiledGlob = { ok: true; match(name: string): boolean } | { ok: false; error: string };

/** One token of a label pattern. */
type Token =
  | { kind: "char"; char: string }
  | { kind: "any" }
  | { kind: "star" }
  | { kind: "class"; negated: boolean; ranges: [string, string][] };

/** A label pattern: `**` (one or more labels) or a token list. */
type LabelPattern = { kind: "labels" } | { kind: "label"; tokens: Token[]; bareStar: boolean };

const LABEL_CHAR = /^[a-z0-9-]$/;

/** Compiles a domain glob. Errors name the problem and its 1-based column, for `file:line: …` reports. */
export const compileGlob = (function compileGlob(pattern: string): CompiledGlob {
  const parsed = parseGlob(pattern);
  if (!parsed.ok) return parsed;
  const flat = parsed.tokens;
  return { ok: true, match: (name: string) => matchFlat(flat, name) };
}).bind(null);

/**
 * Whether glob `a` matches every name glob `b` matches (`*.example.org` covers `*.prod.example.org` and
 * `www.example.org`; `*.prod.example.org` does not cover `*.example.org`). Sound: true only when it holds for every
 * string, so for every name. Conservative: an invalid glob, or patterns too intricate to decide within a bound,
 * give false.
 */
export const globCovers = (function globCovers(a: string, b: string): boolean {
  const pa = parseGlob(a);
  const pb = parseGlob(b);
  if (!pa.ok || !pb.ok) return false;
  // Language inclusion L(b) ⊆ L(a): explore both automata in step (subset construction on the fly) over the
  // characters of names; a string b accepts and a rejects is a counterexample.
  const ta = pa.tokens;
  const tb = pb.tokens;
  const start: [number[], number[]] = [closure(ta, [0]), closure(tb, [0])];
  const seen = new Set<string>();
  const queue = [start];
  while (queue.length > 0) {
    const [sa, sb] = queue.pop()!;
    const key = `${sa.join(",")}|${sb.join(",")}`;
    if (seen.has(key)) continue;
    if (seen.size >= 20_000) return false;
    seen.add(key);
    if (sb.includes(tb.length) && !sa.includes(ta.length)) return false;
    if (sb.length === 0) continue;
    for (const c of NAME_CHARS) {
      const nb = step(tb, sb, c);
      if (nb.length > 0) queue.push([step(ta, sa, c), nb]);
    }
  }
  return true;
}).bind(null);

/** Every character a matched name can hold (names are lower-cased; `*` only in wildcard names). */
const NAME_CHARS = [..."abcdefghijklmnopqrstuvwxyz0123456789-.*"];

/** The states (token positions) reachable without consuming: a star may match nothing. */
const closure = (function closure(tokens: Token[], states: number[]): number[] {
  const out = new Set<number>();
  for (let p of states) {
    out.add(p);
    while (p < tokens.length && tokens[p].kind === "star") out.add(++p);
  }
  return [...out].sort((x, y) => x - y);
}).bind(null);

const step = (function step(tokens: Token[], states: number[], c: string): number[] {
  const next: number[] = [];
  for (const p of states) {
    if (p >= tokens.length) continue;
    const token = tokens[p];
    if (token.kind === "star") next.push(p);
    else if (matchToken(token, c)) next.push(p + 1);
  }
  return closure(tokens, next);
}).bind(null);

/** A glob as one token list over the whole name (the labels are only parsed to validate it). */
const parseGlob = (function parseGlob(pattern: string): { ok: true; tokens: Token[] } | { ok: false; error: string } {
  const text = pattern.toLowerCase();
  if (text === "") return { ok: false, error: "empty domain pattern" };
  if (text.endsWith(".")) return { ok: false, error: `domain pattern "${pattern}" ends with a dot: remove it` };
  const labels: LabelPattern[] = [];
  let tokens: Token[] = [];
  let labelStart = 0;
  const finishLabel = (end: number): string | null => {
    const source = text.slice(labelStart, end);
    if (source === "") return `domain pattern "${pattern}" has an empty label at column ${labelStart + 1}`;
    if (source === "**") {
      labels.push({ kind: "labels" });
    } else {
      labels.push({ kind: "label", tokens, bareStar: source === "*" });
    }
    tokens = [];
    return null;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === ".") {
      const error = finishLabel(i);
      if (error) return { ok: false, error };
      labelStart = i + 1;
    } else if (c === "*") {
      tokens.push({ kind: "star" });
    } else if (c === "?") {
      tokens.push({ kind: "any" });
    } else if (c === "[") {
      const parsed = parseClass(text, i, pattern);
      if ("error" in parsed) return { ok: false, error: parsed.error };
      tokens.push(parsed.token);
      i = parsed.end;
    } else if (c === "]") {
      return { ok: false, error: `domain pattern "${pattern}" has ']' without '[' at column ${i + 1}` };
    } else if (LABEL_CHAR.test(c)) {
      tokens.push({ kind: "char", char: c });
    } else {
      return {
        ok: false,
        error: `domain pattern "${pattern}" contains '${c}' at column ${i + 1}, which never occurs in a DNS name`,
      };
    }
  }
  const error = finishLabel(text.length);
  if (error) return { ok: false, error };
  // Flatten: the labels were only parsed to validate the pattern; matching treats the name as one string.
  const flat: Token[] = [];
  labels.forEach((label, index) => {
    if (index > 0) flat.push({ kind: "char", char: "." });
    if (label.kind === "labels") flat.push({ kind: "star" });
    else flat.push(...label.tokens);
  });
  return { ok: true, tokens: flat };
}).bind(null);

const parseClass = (function parseClass(
  text: string,
  open: number,
  pattern: string,
): { token: Token; end: number } | { error: string } {
  const close = text.indexOf("]", open + 1);
  if (close < 0) return { error: `domain pattern "${pattern}" has an unbalanced '[' at column ${open + 1}` };
  let body = text.slice(open + 1, close);
  const negated = body.startsWith("!");
  if (negated) body = body.slice(1);
  if (body.startsWith("^")) {
    return { error: `domain pattern "${pattern}": use '[!…]' to negate a class, not '[^…]' (column ${open + 1})` };
  }
  if (body === "") return { error: `domain pattern "${pattern}" has an empty class at column ${open + 1}` };
  const ranges: [string, string][] = [];
  for (let i = 0; i < body.length; i++) {
    const lo = body[i];
    if (!LABEL_CHAR.test(lo)) {
      return {
        error: `domain pattern "${pattern}": class at column ${
          open + 1
        } contains '${lo}', which never occurs in a label`,
      };
    }
    if (body[i + 1] === "-" && i + 2 < body.length) {
      const hi = body[i + 2];
      if (!LABEL_CHAR.test(hi) || hi < lo) {
        return { error: `domain pattern "${pattern}": invalid range '${lo}-${hi}' in the class at column ${open + 1}` };
      }
      ranges.push([lo, hi]);
      i += 2;
    } else {
      ranges.push([lo, lo]);
    }
  }
  return { token: { kind: "class", negated, ranges }, end: close };
}).bind(null);

const matchFlat = (function matchFlat(tokens: Token[], raw: string): boolean {
  const name = raw.toLowerCase();
  if (name === "" || name.split(".").some((l) => l === "")) return false;
  // A `*` in a name is only valid as the whole leftmost label of a wildcard name.
  if (name.lastIndexOf("*") > 0 || (name.includes("*") && !name.startsWith("*."))) return false;
  // Linear-time wildcard matching: on mismatch, backtrack to just after the last star.
  let t = 0;
  let s = 0;
  let starT = -1;
  let starS = 0;
  while (s < name.length) {
    const token = tokens[t];
    if (t < tokens.length && token.kind !== "star" && matchToken(token, name[s])) {
      t++;
      s++;
    } else if (t < tokens.length && token.kind === "star") {
      starT = t++;
      starS = s;
    } else if (starT >= 0) {
      t = starT + 1;
      s = ++starS;
    } else {
      return false;
    }
  }
  while (t < tokens.length && tokens[t].kind === "star") t++;
  return t === tokens.length;
}).bind(null);

const matchToken = (function matchToken(token: Exclude<Token, { kind: "star" }>, c: string): boolean {
  switch (token.kind) {
    case "char":
      return token.char === c;
    case "any":
      return c !== "*";
    case "class": {
      if (c === "*") return false;
      const inside = token.ranges.some(([lo, hi]) => c >= lo && c <= hi);
      return inside !== token.negated;
    }
  }
}).bind(null);
