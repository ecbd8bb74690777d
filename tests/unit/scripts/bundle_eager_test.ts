/**
 * scripts/bundle_eager.ts: the bundle's copies of the config code's eager functions get their parentheses back
 * (esbuild drops them), and nothing else changes.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { parenthesizeEager } from "../../../scripts/bundle_eager.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;

const ESBUILD = [
  "var parseIni = function parseIni2(text, file) {",
  '  const lines = text.split("\\n");',
  "",
  "  return { lines, file };",
  "}.bind(null);",
  "var loadConfig = async function loadConfig2(paths) {",
  "  return await Promise.all(paths);",
  "}.bind(null);",
  "var plain = function plain2() {",
  "  return 1;",
  "};",
  "var other = function other2() {",
  "  return 2;",
  "}.bind(thing);",
  "  var inner = function inner2() {",
  "  }.bind(null);",
].join("\n");

Deno.test("bundle_eager: top-level `function … }.bind(null)` gets its parentheses back, nothing else", () => {
  const { text, count } = parenthesizeEager(ESBUILD);
  assertEquals(count, 2);
  // The first two functions get their parentheses; the rest (no .bind(null), another this, nested) stay as they are.
  const expected = ESBUILD.split("\n");
  expected[0] = "var parseIni = (function parseIni2(text, file) {";
  expected[4] = "}).bind(null);";
  expected[5] = "var loadConfig = (async function loadConfig2(paths) {";
  expected[7] = "}).bind(null);";
  assertEquals(text.split("\n"), expected);
  assertEquals(parenthesizeEager(text), { text, count: 0 }, "idempotent");
});

Deno.test("deno task bundle runs bundle_eager after the bundle is written", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks as Record<string, string>;
  assert(tasks.bundle.includes("scripts/bundle_eager.ts dist"), tasks.bundle);
  assert(tasks.bundle.indexOf("deno bundle") < tasks.bundle.indexOf("bundle_eager"), "after deno bundle");
});
