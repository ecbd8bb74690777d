import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import { parseIni } from "../../../src/config/ini.ts";
import { isSecretOption } from "../../../src/config/secrets.ts";
import { didYouMean } from "../../../src/config/text.ts";

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

Deno.test("ini: messages about a secret option's line never echo its value", () => {
  const secret = "s3cr3t-value";
  const doc = parseIni(
    `[auth "a"]\nhmac_key = ${secret} #x\nhmac_key: ${secret}\nhmac-key ${secret}\ntsig_secret = ${secret} ;x\n` +
      `eab-hmac-key:${secret}\n[notify "n"]\nurl = https://hooks.example/${secret} #x\n` +
      `[storage "p"]\nurl: postgres://u:${secret}@db/x\n`,
    "x.ini",
  );
  const messages = [...doc.errors, ...doc.warnings].map((d) => `${d.line}: ${d.message}`);
  for (const m of messages) assert(!m.includes(secret), m);
  assertEquals(messages, [
    '3: Expected "key = value", a [section] header or a comment, found "hmac_key: ***": write hmac_key = …',
    '4: Expected "key = value", a [section] header or a comment, found "hmac-key ***"',
    '6: Expected "key = value", a [section] header or a comment, found "eab-hmac-key:***"',
    '10: Expected "key = value", a [section] header or a comment, found "url: ***": write url = …',
    '2: Inline comments are not supported: the value of hmac_key contains " #" (the value is a secret and not ' +
    "shown); move the comment to its own line",
    '5: Inline comments are not supported: the value of tsig_secret contains " ;" (the value is a secret and not ' +
    "shown); move the comment to its own line",
    '8: Inline comments are not supported: the value of url contains " #" (the value is a secret and not shown); ' +
    "move the comment to its own line",
  ]);
  // Other options are still quoted, so the operator sees what was read.
  const plain = parseIni("[account]\ndir: /var/lib/acmems\nemail = a@b.org # ops\n", "x.ini");
  assertMatch(plain.errors[0].message, /found "dir: \/var\/lib\/acmems": write dir = …/);
  assertMatch(plain.warnings[0].message, /the value of email is "a@b.org # ops"/);
});

Deno.test("ini: an option name missing before = does not echo the value", () => {
  const doc = parseIni('[auth "a"]\n= s3cr3t-value\n', "x.ini");
  assertEquals(doc.errors.map((e) => e.message), ['Option name missing before "=": write option = value']);
});

Deno.test("ini: secret options and their misspellings are recognised", () => {
  for (const key of ["hmac_key", "hmac-key", "HMAC_KEY", "tsig-secret", "tsig_secert", "eab-hmac-key", "url"]) {
    assert(isSecretOption(key), key);
  }
  for (const key of ["hmac_type", "tsig-key-name", "tsig-key-file", "eab-kid", "dir", "domain", "all", "ttl"]) {
    assert(!isSecretOption(key), key);
  }
});
