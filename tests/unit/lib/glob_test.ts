import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { compileGlob, globCovers } from "../../../src/lib/glob.ts";

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

/** [a, b, a matches every name b matches] */
const COVERS: [string, string, boolean][] = [
  ["*.example.org", "*.prod.example.org", true],
  ["*.prod.example.org", "*.example.org", false],
  ["*.example.org", "db.prod.example.org", true],
  ["*.example.org", "example.org", false],
  ["example.org", "example.org", true],
  ["EXAMPLE.org", "example.ORG", true],
  ["*", "anything.example.net", true],
  ["*example.org", "*.example.org", true],
  ["*.example.org", "*example.org", false],
  ["**.example.org", "*.example.org", true],
  ["web?.example.org", "web[0-9].example.org", true],
  ["web[0-9].example.org", "web?.example.org", false],
  ["web[0-9].example.org", "web[2-5].example.org", true],
  ["web[!a].example.org", "web[b-z].example.org", true],
  ["web[!a].example.org", "web[a-c].example.org", false],
  ["a*.example.org", "*b.example.org", false],
  ["*.example.org", "*.example.net", false],
  ["*.*.example.org", "*.prod.example.org", true],
  ["*.prod.example.org", "*.*.example.org", false],
  ["[", "x", false],
];

Deno.test("globCovers: a glob covers another when it matches every name the other matches", () => {
  for (const [a, b, expected] of COVERS) assertEquals(globCovers(a, b), expected, `globCovers(${a}, ${b})`);
});

Deno.test("globCovers agrees with matching on sample names", () => {
  const names = [
    "www.example.org",
    "db.prod.example.org",
    "example.org",
    "*.example.org",
    "web1.example.org",
    "weba.example.org",
    "xexample.org",
    "a.b.example.net",
    "*.prod.example.org",
  ];
  for (const [a, b, covered] of COVERS) {
    const ma = compileGlob(a);
    const mb = compileGlob(b);
    if (!ma.ok || !mb.ok || !covered) continue;
    for (const name of names) if (mb.match(name)) assert(ma.match(name), `${a} covers ${b} but misses ${name}`);
  }
});
