/**
 * The README reads in a terminal (issue 18, item 9): no table row is wider than 120 columns (the project's line
 * width); what needs more room is a list under a short table, or a list alone.
 */
import { assertEquals } from "../support/assert.ts";

const README = await Deno.readTextFile(new URL("../../README.md", import.meta.url));

Deno.test("README: every table fits in 120 columns", () => {
  const wide: string[] = [];
  let fenced = false;
  README.split("\n").forEach((line, i) => {
    if (line.startsWith("```")) fenced = !fenced;
    if (!fenced && line.startsWith("|") && line.length > 120) wide.push(`README.md:${i + 1}: ${line.length} columns`);
  });
  assertEquals(wide, [], "tables wider than 120 columns: make the long cells a list under the table");
});
