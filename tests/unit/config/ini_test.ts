import { assertEquals, assertMatch } from "../../support/assert.ts";
import { didYouMean, parseIni } from "../../../src/config/ini.ts";

Deno.test("ini: sections, typed names with and without quotes, comments, repeated keys", () => {
  const doc = parseIni(
    `# comment
; another
[account]
dir = /a = b
[auth "mail"]
domain = a.example
domain = b.example
[auth ext]
all = yes
`,
    "x.ini",
  );
  assertEquals(doc.errors, []);
  assertEquals(doc.sections.map((s) => [s.kind, s.name, s.source.line]), [
    ["account", undefined, 3],
    ["auth", "mail", 5],
    ["auth", "ext", 8],
  ]);
  assertEquals(doc.sections[0].entries[0], { key: "dir", value: "/a = b", source: { file: "x.ini", line: 4 } });
  assertEquals(doc.sections[1].entries.map((e) => e.value), ["a.example", "b.example"]);
});

const ERROR_CASES: [string, string, number, RegExp][] = [
  ["option outside a section", "dir = /x\n", 1, /outside any section/],
  ["line without =", "[account]\njust words\n", 2, /Expected "key = value"/],
  ["unknown section with hint", "[acount]\n", 1, /Unknown section \[acount\]: did you mean \[account\]\?/],
  ["typed section without name", "[auth]\n", 1, /needs a name/],
  ["singleton section with name", '[mgmt "x"]\n', 1, /takes no name/],
  ["unclosed header", "[account\n", 1, /missing its closing/],
  ["empty header", "[]\n", 1, /Empty section header/],
  ["unbalanced quotes", '[auth "x]\n', 1, /unbalanced quotes/],
  ["empty key", "[account]\n= x\n", 2, /Option name missing/],
];

for (const [name, text, line, message] of ERROR_CASES) {
  Deno.test(`ini error: ${name}`, () => {
    const doc = parseIni(text, "x.ini");
    assertEquals(doc.errors.length, 1, JSON.stringify(doc.errors));
    assertEquals(doc.errors[0].line, line);
    assertMatch(doc.errors[0].message, message);
  });
}

Deno.test("ini: inline comment warns and keeps the text", () => {
  const doc = parseIni("[account]\naccept-terms-of-service = yes # or true\n", "x.ini");
  assertEquals(doc.errors, []);
  assertEquals(doc.warnings.length, 1);
  assertEquals(doc.warnings[0].line, 2);
  assertMatch(doc.warnings[0].message, /Inline comments are not supported/);
  assertEquals(doc.sections[0].entries[0].value, "yes # or true");
});

Deno.test("ini: CRLF line endings and a BOM", () => {
  const doc = parseIni("\uFEFF[account]\r\ndir = /x\r\n", "x.ini");
  assertEquals(doc.errors, []);
  assertEquals(doc.sections[0].entries[0], { key: "dir", value: "/x", source: { file: "x.ini", line: 2 } });
});

Deno.test("ini: did-you-mean treats - and _ as a cheap typo", () => {
  assertEquals(didYouMean("hmac-type", ["hmac_type", "hmac_key", "ip"]), "hmac_type");
  assertEquals(didYouMean("domian", ["domain", "ip"]), "domain");
  assertEquals(didYouMean("zzzzzz", ["domain", "ip"]), undefined);
});
