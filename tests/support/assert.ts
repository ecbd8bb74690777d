/**
 * Minimal assertions (JSR, where @std/assert lives, cannot be reached from these machines).
 */
export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

export function assert(condition: unknown, message = "Assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

function stable(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v instanceof Map) return { __map: [...v.entries()] };
    if (v instanceof Set) return { __set: [...v.values()] };
    if (v instanceof Uint8Array) return { __bytes: [...v] };
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
    }
    return v === undefined ? "__undefined" : v;
  });
}

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  const a = stable(actual);
  const e = stable(expected);
  if (a !== e) throw new AssertionError(`${message ? message + "\n" : ""}Expected: ${e}\nActual:   ${a}`);
}

export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  if (stable(actual) === stable(expected)) {
    throw new AssertionError(message ?? `Expected values to differ: ${stable(actual)}`);
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
