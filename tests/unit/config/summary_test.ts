/** The effective config as check-config prints it: diagnostics, the JSON object, redaction. */
import { assert, assertEquals } from "../../support/assert.ts";
import { formatDiagnostic, redactPassword, resultToJson } from "../../../src/config/summary.ts";
import { BASE, errorLines, load } from "./helpers.ts";

Deno.test("formatDiagnostic: errors as FILE:LINE: message, the others say what they are", () => {
  const d = { file: "/etc/acmems/a.ini", line: 7, message: "Something is wrong" };
  assertEquals(formatDiagnostic(d, "error"), "/etc/acmems/a.ini:7: Something is wrong");
  assertEquals(formatDiagnostic(d, "warning"), "/etc/acmems/a.ini:7: warning: Something is wrong");
  assertEquals(formatDiagnostic(d, "note"), "/etc/acmems/a.ini:7: note: Something is wrong");
  assertEquals(formatDiagnostic({ ...d, line: 0 }, "error"), "/etc/acmems/a.ini: Something is wrong");
});

Deno.test("resultToJson: ok, errors, warnings, notes, and the effective config at the top level and under config", () => {
  const result = load(`${BASE}[mgmt]\nmax-size = 16k\n`);
  assert(result.ok, errorLines(result).join("\n"));
  const json = JSON.parse(JSON.stringify(resultToJson(result)));
  assertEquals(json.ok, true);
  assertEquals([json.mgmt.maxSize, json.config.mgmt.maxSize], [16384, 16384]);
  for (const section of ["files", "account", "mgmt", "logging", "verifications", "storages", "auth", "notifiers"]) {
    assertEquals(json[section], json.config[section], section);
  }
  assertEquals(Array.isArray(json.errors) && Array.isArray(json.warnings) && Array.isArray(json.notes), true);

  const invalid = JSON.parse(JSON.stringify(resultToJson(load(`${BASE}[mgmt]\nmax-size = lots\n`))));
  assertEquals([invalid.ok, invalid.config, invalid.mgmt], [false, null, undefined]);
  assertEquals(invalid.errors.map((e: { line: number }) => e.line), [8]);
});

Deno.test("redactPassword: the userinfo password and password parameters", () => {
  assertEquals(redactPassword("postgres://u:pw@db:5432/x"), "postgres://u:***@db:5432/x");
  assertEquals(
    redactPassword("postgres://u@db/x?password=pw&sslpassword=k&sslmode=require"),
    "postgres://u@db/x?password=***&sslpassword=***&sslmode=require",
  );
  assertEquals(redactPassword("not a url"), "***");
});
