/**
 * `acmems revoke` without a CA: the command line (the reason names of RFC 5280, --cert required), the certificate
 * file (the first certificate of a chain), and the refusals that need no network, with their exit statuses.
 */
import { assertEquals, assertStringIncludes, assertThrows } from "../../support/assert.ts";
import { firstCertificate, parseRevokeArgs, REASON_NAMES, runRevoke } from "../../../cli/revoke.ts";
import { main } from "../../../main.ts";

Deno.test("parseRevokeArgs: --cert is required, --reason takes the RFC 5280 names, default unspecified", () => {
  assertEquals(parseRevokeArgs(["--cert", "c.pem", "a.ini"]), {
    cert: "c.pem",
    reason: "unspecified",
    files: ["a.ini"],
  });
  assertEquals(parseRevokeArgs(["a.ini", "--cert=c.pem", "--reason=keyCompromise", "b.ini"]), {
    cert: "c.pem",
    reason: "keyCompromise",
    files: ["a.ini", "b.ini"],
  });
  assertEquals(REASON_NAMES.toSorted(), [
    "affiliationChanged",
    "cessationOfOperation",
    "keyCompromise",
    "superseded",
    "unspecified",
  ]);
  for (const reason of REASON_NAMES) {
    assertEquals(parseRevokeArgs(["--cert", "c", "--reason", reason, "a"]).reason, reason);
  }
  assertThrows(() => parseRevokeArgs(["a.ini"]), /--cert FILE is required/);
  assertThrows(() => parseRevokeArgs(["--cert", "c.pem"]), /no config file given/);
  assertThrows(
    () => parseRevokeArgs(["--cert", "c", "--reason", "compromised", "a"]),
    /--reason "compromised" is not one of/,
  );
  assertThrows(() => parseRevokeArgs(["--cert", "c", "--force", "a"]), /unknown option "--force"/);
  assertThrows(() => parseRevokeArgs(["--cert"]), /--cert needs a value/);
});

Deno.test("parseRevokeArgs: --ca NAME names the CA to revoke at; absent, none is set", () => {
  assertEquals(parseRevokeArgs(["--cert", "c.pem", "--ca", "b", "a.ini"]), {
    cert: "c.pem",
    reason: "unspecified",
    files: ["a.ini"],
    ca: "b",
  });
  assertEquals(parseRevokeArgs(["--ca=default", "--cert", "c.pem", "a.ini"]).ca, "default");
  assertEquals("ca" in parseRevokeArgs(["--cert", "c.pem", "a.ini"]), false);
  assertThrows(() => parseRevokeArgs(["--cert", "c", "a.ini", "--ca"]), /--ca needs a value/);
  assertThrows(() => parseRevokeArgs(["--cert", "c", "--ca=", "a.ini"]), /--ca needs a CA name/);
});

Deno.test("firstCertificate: the first CERTIFICATE block of a chain or of a cache entry; a key is an error naming the file", () => {
  const cert = (b: string) => `-----BEGIN CERTIFICATE-----\n${b}\n-----END CERTIFICATE-----\n`;
  assertEquals(firstCertificate(cert("AQID") + cert("BAUG"), "c.pem"), new Uint8Array([1, 2, 3]));
  const entry = JSON.stringify({ version: 1, key: "k", chain: cert("BAUG") + cert("AQID") });
  assertEquals(firstCertificate(entry, "k.json"), new Uint8Array([4, 5, 6]), "a file storage's cache entry");
  const key = "-----BEGIN PRIVATE KEY-----\nAQID\n-----END PRIVATE KEY-----\n";
  assertEquals(firstCertificate(key, "k.pem"), {
    error: 'k.pem holds no "BEGIN CERTIFICATE" block: give the certificate in PEM',
  });
});

Deno.test("acmems revoke: exit 2 for usage errors, 1 for an unreadable certificate file", async () => {
  const lines: string[] = [];
  const out = { info: (l: string) => lines.push(l), error: (l: string) => lines.push(l) };
  const code = await runRevoke({ cert: "/nonexistent/c.pem", reason: "unspecified", files: ["a.ini"] }, out);
  assertEquals(code, 1);
  assertStringIncludes(lines.join("\n"), "Cannot read --cert /nonexistent/c.pem");
  const error = console.error;
  console.error = () => {};
  try {
    assertEquals(await main(["revoke", "a.ini"]), 2);
  } finally {
    console.error = error;
  }
});
