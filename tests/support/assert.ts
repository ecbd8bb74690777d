/**
 * Minimal assertions (JSR, where @std/assert lives, cannot be reached from these machines). Equality is structural
 * and strict (node's `isDeepStrictEqual`), never a comparison of serialisations.
 */
import { isDeepStrictEqual } from "node:util";

export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

export function assert(condition: unknown, message = "Assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** How values are shown in failure messages: full depth, keys sorted (so two shows line up). */
function show(value: unknown): string {
  return Deno.inspect(value, { depth: Infinity, sorted: true, iterableLimit: 1000, strAbbreviateSize: 10_000 });
}

/**
 * Structural equality as node's `assert.deepStrictEqual`: same prototypes, `Object.is` for primitives (NaN equals
 * NaN, not null; -0 is not 0), bytes of buffers, entries of Maps and Sets, name and message of Errors, own
 * enumerable keys (a key holding `undefined` is not a missing key).
 */
export function equal(actual: unknown, expected: unknown): boolean {
  return isDeepStrictEqual(actual, expected);
}

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (!equal(actual, expected)) {
    throw new AssertionError(`${message ? message + "\n" : ""}Expected: ${show(expected)}\nActual:   ${show(actual)}`);
  }
}

export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  if (equal(actual, expected)) {
    throw new AssertionError(message ?? `Expected values to differ: ${show(actual)}`);
  }
}

export function assertMatch(actual: string, pattern: RegExp, message?: string): void {
  if (!pattern.test(actual)) {
    throw new AssertionError(message ?? `Expected ${JSON.stringify(actual)} to match ${pattern}`);
  }
}

export function assertStringIncludes(actual: string, expected: string, message?: string): void {
  if (!actual.includes(expected)) {
    throw new AssertionError(message ?? `Expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`);
  }
}

export function assertThrows(fn: () => unknown, pattern?: RegExp): Error {
  try {
    fn();
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    if (pattern && !pattern.test(e.message)) throw new AssertionError(`Error "${e.message}" does not match ${pattern}`);
    return e;
  }
  throw new AssertionError("Expected function to throw");
}

export async function assertRejects(fn: () => Promise<unknown>, pattern?: RegExp): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    if (pattern && !pattern.test(e.message)) throw new AssertionError(`Error "${e.message}" does not match ${pattern}`);
    return e;
  }
  throw new AssertionError("Expected promise to reject");
}
