/**
 * Integer knobs of the test tiers read from the environment (`FUZZ_CASES`, `LOAD_SECONDS`, ...). A value that is
 * not an integer, or below the least that still tests something, is refused with an error naming the knob: a run
 * that silently does nothing must not pass. Read at module load, so the test file fails before it starts a peer.
 */

/** Options for `intKnob`. */
export interface IntKnob {
  /** Used when the variable is unset or blank. */
  fallback: number;
  /** The least accepted value. */
  min: number;
  /** Why smaller values are refused (goes into the error). */
  why?: string;
}

/** The integer value of environment variable `name`; throws on a non-integer or a value below `min`. */
export function intKnob(name: string, opts: IntKnob): number {
  return parseIntKnob(name, Deno.env.get(name), opts);
}

/** `intKnob` on a given text (testable without touching the environment). */
export function parseIntKnob(name: string, text: string | undefined, opts: IntKnob): number {
  if (text === undefined || text.trim() === "") return opts.fallback;
  const n = /^\s*[+-]?\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < opts.min) {
    throw new Error(
      `${name}=${JSON.stringify(text)}: expected an integer >= ${opts.min}${opts.why ? ` (${opts.why})` : ""}`,
    );
  }
  return n;
}
