/**
 * Seeded property testing for tests/fuzz: a small PRNG, the case count (`FUZZ_CASES`, default 1000) and the seed
 * (`FUZZ_SEED`, default: from the clock, printed so a failure can be replayed with `FUZZ_SEED=<seed>`).
 *
 * Each case gets its own generator derived from (seed, case index), so `FUZZ_SEED=<seed> FUZZ_ONLY=<index>` replays
 * exactly one failing case without running the ones before it. A knob that is not an integer, or `FUZZ_CASES=0`,
 * is refused (tests/support/knobs.ts); so is a target that ran no case.
 */
import { intKnob } from "../support/knobs.ts";

/** Number of cases per target (at least 1: `FUZZ_CASES=0` would run nothing and pass). */
export const FUZZ_CASES = intKnob("FUZZ_CASES", { fallback: 1000, min: 1, why: "0 cases would test nothing" });
/** The run's seed. */
export const FUZZ_SEED = intKnob("FUZZ_SEED", { fallback: Date.now() % 2_147_483_647, min: 0 });
/** Only this case index (replay), or undefined for all. */
const FUZZ_ONLY = Deno.env.get("FUZZ_ONLY") === undefined ? undefined : intKnob("FUZZ_ONLY", { fallback: 0, min: 0 });

/** A seeded generator with the helpers the targets need. */
export class Rng {
  #a: number;

  constructor(seed: number) {
    this.#a = seed >>> 0;
  }

  /** mulberry32: a float in [0, 1). */
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  bool(p = 0.5): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(n: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  /** A string of `n` characters drawn from `alphabet`. */
  string(n: number, alphabet: string): string {
    let out = "";
    for (let i = 0; i < n; i++) out += alphabet[this.int(alphabet.length)];
    return out;
  }

  /** Lengths skewed towards small values, sometimes large. */
  length(max: number): number {
    const r = this.next();
    if (r < 0.6) return this.int(Math.min(16, max + 1));
    if (r < 0.9) return this.int(Math.min(256, max + 1));
    return this.int(max + 1);
  }
}

/** The generator for case `index` of a target named `target`. */
export function caseRng(target: string, index: number): Rng {
  let h = FUZZ_SEED ^ 0x9e3779b9;
  for (const c of target) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  h = Math.imul(h ^ index, 0x85ebca6b);
  h ^= h >>> 13;
  return new Rng(h >>> 0);
}

/** What one run of a target did (printed by the test). */
export interface FuzzStats {
  cases: number;
  ms: number;
  /** Outcome label -> count. */
  outcomes: Map<string, number>;
}

/**
 * Runs `body` for each case index (all FUZZ_CASES, or FUZZ_ONLY). `body` returns an outcome label for the summary;
 * a throw fails the test with the seed and the case index needed to replay it.
 */
export async function runCases(
  target: string,
  body: (rng: Rng, index: number) => Promise<string> | string,
  opts: { cases?: number } = {},
): Promise<FuzzStats> {
  const cases = opts.cases ?? FUZZ_CASES;
  const started = performance.now();
  const outcomes = new Map<string, number>();
  const indices = FUZZ_ONLY === undefined ? [...Array(cases).keys()] : [FUZZ_ONLY];
  if (indices.length === 0) throw new Error(`${target}: no case to run (cases: ${cases}): this run would test nothing`);
  for (const index of indices) {
    let outcome: string;
    try {
      outcome = await body(caseRng(target, index), index);
    } catch (error) {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      throw new Error(
        `${target}: case ${index} failed (replay: FUZZ_SEED=${FUZZ_SEED} FUZZ_ONLY=${index}):\n${detail}`,
      );
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  const stats = { cases: indices.length, ms: Math.round(performance.now() - started), outcomes };
  const summary = [...outcomes.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(" ");
  console.log(`  ${target}: ${stats.cases} cases in ${stats.ms} ms (seed ${FUZZ_SEED}): ${summary}`);
  return stats;
}

/** Byte-level mutations: bit flips, byte sets, insertions, deletions, truncation, span duplication, splicing. */
export function mutateBytes(input: Uint8Array, rng: Rng, donor?: Uint8Array): Uint8Array<ArrayBuffer> {
  let out = new Uint8Array(input);
  const steps = 1 + rng.int(4);
  for (let s = 0; s < steps; s++) {
    const at = rng.int(out.length + 1);
    switch (rng.int(8)) {
      case 0:
        if (out.length > 0) out[Math.min(at, out.length - 1)] ^= 1 << rng.int(8);
        break;
      case 1:
        if (out.length > 0) out[Math.min(at, out.length - 1)] = rng.pick([0, 0x7f, 0x80, 0xff, rng.int(256)]);
        break;
      case 2:
        out = concatBytes(out.subarray(0, at), rng.bytes(1 + rng.int(8)), out.subarray(at));
        break;
      case 3:
        out = concatBytes(out.subarray(0, at), out.subarray(Math.min(out.length, at + 1 + rng.int(16))));
        break;
      case 4:
        out = out.slice(0, at);
        break;
      case 5: {
        const len = rng.int(32);
        out = concatBytes(out.subarray(0, at), out.subarray(at, at + len), out.subarray(at));
        break;
      }
      case 6:
        if (donor && donor.length > 0) {
          const from = rng.int(donor.length);
          out = concatBytes(out.subarray(0, at), donor.subarray(from, from + 1 + rng.int(64)), out.subarray(at));
        }
        break;
      default:
        // A DER-ish length byte: long-form lengths are where parsers go wrong.
        if (out.length > 0) out[Math.min(at, out.length - 1)] = rng.pick([0x80, 0x81, 0x82, 0x83, 0x84, 0x88, 0x8f]);
    }
  }
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Text mutations driven by a token list (what breaks line-based and key=value parsers). */
export function mutateText(text: string, rng: Rng, tokens: readonly string[]): string {
  let out = text;
  const steps = 1 + rng.int(6);
  for (let s = 0; s < steps; s++) {
    const at = rng.int(out.length + 1);
    switch (rng.int(7)) {
      case 0:
        out = out.slice(0, at) + out.slice(at + 1 + rng.int(24));
        break;
      case 1:
        out = out.slice(0, at) + rng.pick(tokens) + out.slice(at);
        break;
      case 2: {
        const lines = out.split("\n");
        const i = rng.int(lines.length);
        lines.splice(i, 0, lines[i]);
        out = lines.join("\n");
        break;
      }
      case 3: {
        const lines = out.split("\n");
        lines.splice(rng.int(lines.length), 1);
        out = lines.join("\n");
        break;
      }
      case 4: {
        const lines = out.split("\n");
        const a = rng.int(lines.length);
        const b = rng.int(lines.length);
        [lines[a], lines[b]] = [lines[b], lines[a]];
        out = lines.join("\n");
        break;
      }
      case 5:
        out = out.slice(0, at) + String.fromCharCode(rng.int(0x10000)) + out.slice(at);
        break;
      default:
        out = out.slice(0, at);
    }
  }
  return out;
}
