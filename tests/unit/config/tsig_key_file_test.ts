/** The TSIG key file reader: BIND's `tsig-keygen` format, comments, and secrets that look like comments. */
import { assertEquals } from "../../support/assert.ts";
import { parseTsigKeyFile } from "../../../src/config/tsig_key_file.ts";

Deno.test("tsig key file: a secret holding // (as base64 may) is read whole, comments around it are not", () => {
  const secret = "ab//cd+/Ef0gH1iJ2kL3mN4oP5qR6sT7uV8wX9yZ+//=";
  const text = `# made by tsig-keygen
// another comment "with quotes"
key "acmems-key" { /* inline */
\talgorithm hmac-sha256; # trailing
\tsecret "${secret}"; // trailing
};
`;
  assertEquals(parseTsigKeyFile(text), { name: "acmems-key", algorithm: "hmac-sha256", secret });
});

Deno.test("tsig key file: a commented-out secret does not count, the error names what is missing", () => {
  const text = 'key "k" {\n  algorithm hmac-sha256;\n  # secret "c2VjcmV0";\n};\n';
  assertEquals(parseTsigKeyFile(text), { error: 'key "k" needs both "algorithm" and "secret" statements' });
});

Deno.test("tsig key file: the named key among several", () => {
  const text =
    'key "a" { algorithm hmac-sha256; secret "YQ=="; };\nkey "b" { algorithm HMAC-SHA512; secret "Yg//"; };\n';
  assertEquals(parseTsigKeyFile(text, "b."), { name: "b", algorithm: "hmac-sha512", secret: "Yg//" });
  assertEquals(parseTsigKeyFile(text, "c"), { error: 'no key named "c" in it (found: a, b)' });
});
