/**
 * tests/support/assert.ts compares structurally: the false equalities of the old JSON.stringify compare (two
 * different Errors or ArrayBuffers were "equal", NaN and Infinity equalled null, functions and class identity
 * vanished) now fail, and the message still shows both values.
 */
import { assertEquals, AssertionError, assertNotEquals, assertThrows } from "../../support/assert.ts";

function refused(actual: unknown, expected: unknown, label: string): AssertionError {
  const e = assertThrows(() => assertEquals(actual, expected, label));
  if (!(e instanceof AssertionError)) throw new Error(`${label}: threw ${e}, not an AssertionError`);
  return e;
}

Deno.test("assertEquals: values the old JSON compare called equal are different", () => {
  class Point {
    constructor(readonly x: number) {}
  }
  const table: [string, unknown, unknown][] = [
    ["two different Errors", new Error("disk full"), new Error("permission denied")],
    ["Error and TypeError", new Error("x"), new TypeError("x")],
    ["two different ArrayBuffers", new Uint8Array([1, 2]).buffer, new Uint8Array([3, 4]).buffer],
    ["NaN and null", NaN, null],
    ["Infinity and null", Infinity, null],
    ["NaN and null in an object", { retryAfter: NaN }, { retryAfter: null }],
    ["-Infinity and null in an array", [-Infinity], [null]],
    ["two different functions", () => 1, () => 2],
    ["a key holding a function and no key", { f: () => 1 }, {}],
    ["a class instance and a plain object", new Point(1), { x: 1 }],
    ["a Date and its ISO string", new Date(0), new Date(0).toISOString()],
    ["a Map and an object with __map", new Map([["a", 1]]), { __map: [["a", 1]] }],
  ];
  const calledEqual = table.filter(([label, actual, expected]) => {
    try {
      assertEquals(actual, expected, label);
      return true;
    } catch (error) {
      if (!(error instanceof AssertionError)) throw error;
      assertNotEquals(actual, expected, label);
      return false;
    }
  }).map(([label]) => label);
  assertEquals(calledEqual, []);
});

Deno.test("assertEquals: still different, as before", () => {
  refused(new Uint8Array([1, 2]), [1, 2], "Uint8Array and an array of numbers");
  refused({ a: undefined }, {}, "a key holding undefined and no key");
  refused([undefined], [null], "undefined and null in an array");
  refused({ a: 1 }, { a: "1" }, "number and string");
});

Deno.test("assertEquals: structurally equal values pass", () => {
  assertEquals(NaN, NaN);
  assertEquals(new Error("same"), new Error("same"));
  assertEquals(new Uint8Array([1, 2]).buffer, new Uint8Array([1, 2]).buffer);
  assertEquals(new Uint8Array([1, 2]), new Uint8Array([1, 2]));
  assertEquals(new Map([["a", { b: [1, 2] }]]), new Map([["a", { b: [1, 2] }]]));
  assertEquals(new Set([1, "x"]), new Set(["x", 1]));
  assertEquals({ b: 1, a: [undefined, null] }, { a: [undefined, null], b: 1 });
  assertEquals(new Date(5), new Date(5));
});

Deno.test("assertEquals: the message carries the label and both values", () => {
  const e = refused({ status: 421, detail: "x" }, { status: 200, detail: "x" }, "POST /sign");
  const lines = e.message.split("\n");
  assertEquals(lines[0], "POST /sign");
  assertEquals(lines[1].startsWith("Expected: ") && lines[1].includes("200"), true, e.message);
  assertEquals(lines[2].startsWith("Actual:   ") && lines[2].includes("421"), true, e.message);
  const nan = refused(NaN, null, "nan");
  assertEquals(nan.message, "nan\nExpected: null\nActual:   NaN");
});
