import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { compileGlob } from "../../../src/lib/glob.ts";

/** [pattern, name, matches] */
const MATCHES: [string, string, boolean][] = [
  // Literal names, case-insensitive both ways.
  ["www.example.org", "www.example.org", true],
  ["www.example.org", "WWW.Example.ORG", true],
  ["WWW.EXAMPLE.ORG", "www.example.org", true],
  ["www.example.org", "example.org", false],
  ["www.example.org", "wwwxexample.org", false],
  ["example.org", "www.example.org", false],
  // `*` may span dots, as in the original ACMEMS.
  ["*.example.org", "www.example.org", true],
  ["*.example.org", "a.b.example.org", true],
  ["*.example.org", "example.org", false],
  ["*.example.org", "www.example.org.evil.net", false],
  ["*example.org", "evilexample.org", true], // why the README says to write `*.example.org`
  ["*example.org", "x.evilexample.org", true],
  ["*example.org", "www.example.org", true],
  ["*", "localhost", true],
  ["*", "www.example.org", true],
  ["www*.example.org", "www.example.org", true],
  ["www*.example.org", "www2.example.org", true],
  ["www*.example.org", "www.a.example.org", true],
  ["mail*-prod.example.org", "mail1-prod.example.org", true],
  ["mail*-prod.example.org", "mail1-stage.example.org", false],
  ["a*b*c.example.org", "aXbYc.example.org", true],
  ["a*b*c.example.org", "abc.example.org", true],
  ["a*b*c.example.org", "acb.example.org", false],
  ["*.*.example.org", "a.b.example.org", true],
  ["*.*.example.org", "a.example.org", false],
  ["host.*.example.org", "host.eu.example.org", true],
  // `?` is one character.
  ["mail?.example.org", "mail1.example.org", true],
  ["mail?.example.org", "mail.example.org", false],
  ["mail?.example.org", "mail12.example.org", false],
  ["a?b.example.org", "a.b.example.org", true],
  // Classes.
  ["mail[123].example.org", "mail2.example.org", true],
  ["mail[123].example.org", "mail4.example.org", false],
  ["mail[0-9].example.org", "mail7.example.org", true],
  ["mail[0-9].example.org", "maila.example.org", false],
  ["[a-c]x.example.org", "bx.example.org", true],
  ["[A-C]x.example.org", "bx.example.org", true],
  ["[a-c]x.example.org", "Bx.example.org", true],
  ["[!a-c]x.example.org", "dx.example.org", true],
  ["[!a-c]x.example.org", "bx.example.org", false],
  ["[!abc].example.org", "b.example.org", false],
  ["[-a]1.example.org", "-1.example.org", true],
  ["[a-]1.example.org", "-1.example.org", true],
  // `**` means the same as `*`.
  ["**.example.org", "www.example.org", true],
  ["**.example.org", "a.b.c.example.org", true],
  ["**.example.org", "example.org", false],
  ["**.example.org", "www.example.org.evil.net", false],
  ["**.example.org", "wwwexample.org", false],
  ["**", "a.b.c", true],
  ["host.**.example.org", "host.a.b.example.org", true],
  ["host.**.example.org", "host.example.org", false],
  ["**.*.example.org", "a.example.org", false],
  ["**.*.example.org", "a.b.example.org", true],
  ["**.[ab].example.org", "x.y.b.example.org", true],
  ["**.[ab].example.org", "x.y.c.example.org", false],
  // Requested wildcard names: their `*` is matched only by a `*` in the pattern.
  ["*.example.org", "*.example.org", true],
  ["**.example.org", "*.example.org", true],
  ["**.example.org", "*.a.example.org", true],
  ["www.example.org", "*.example.org", false],
  ["?.example.org", "*.example.org", false],
  ["[!a].example.org", "*.example.org", false],
  ["w*.example.org", "*.example.org", false],
  ["*x.example.org", "*.example.org", false],
  ["*.example.org", "*.a.example.org", true],
  ["*", "*.example.org", true],
  // Names that can never be valid never match.
  ["*.example.org", ".example.org", false],
  ["*.example.org", "a..example.org", false],
  ["**", "", false],
  ["**.org", "a*b.org", false],
];

Deno.test("compileGlob: matching table", () => {
  for (const [pattern, name, expected] of MATCHES) {
    const glob = compileGlob(pattern);
    assert(glob.ok, `${pattern}: ${JSON.stringify(glob)}`);
    assertEquals(glob.match(name), expected, `${JSON.stringify(pattern)} vs ${JSON.stringify(name)}`);
  }
});

/** [pattern, part of the error] */
const ERRORS: [string, string][] = [
  ["", "empty domain pattern"],
  ["mail[12.example.org", "unbalanced '[' at column 5"],
  ["[", "unbalanced '['"],
  ["mail].example.org", "']' without '['"],
  ["mail[].example.org", "empty class"],
  ["mail[!].example.org", "empty class"],
  ["mail[^1].example.org", "use '[!…]' to negate"],
  ["mail[z-a].example.org", "invalid range 'z-a'"],
  ["mail[_].example.org", "contains '_'"],
  ["example.org.", "ends with a dot"],
  ["a..example.org", "empty label at column 3"],
  [".example.org", "empty label at column 1"],
  ["exa mple.org", "contains ' ' at column 4"],
  ["exa_mple.org", "contains '_'"],
  ["example.org/24", "contains '/'"],
];

Deno.test("compileGlob: errors are reported, never thrown", () => {
  for (const [pattern, part] of ERRORS) {
    const glob = compileGlob(pattern);
    assert(!glob.ok, `${JSON.stringify(pattern)} should not compile`);
    assertStringIncludes(glob.error, part, `${JSON.stringify(pattern)}: ${glob.error}`);
  }
});

Deno.test("compileGlob: long patterns and names stay fast (no backtracking blow-up)", () => {
  const glob = compileGlob(`${"*a".repeat(20)}*b.**.**.**.org`);
  assert(glob.ok);
  const name = `${"a".repeat(63)}.${"a".repeat(63)}.${"a".repeat(63)}.${"a".repeat(57)}.org`;
  // Exponential backtracking would not finish; the matcher is linear in the name (no timing asserted).
  assertEquals(glob.match(name), false);
});
