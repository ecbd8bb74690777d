/**
 * `configSecrets`: every secret a config holds, for the logger to scrub, including the webhook URL's token and the
 * database password (the README says they are scrubbed); and a logger given them never shows them.
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { configSecrets, databasePasswords, urlSecrets } from "../../../src/config/secrets.ts";
import { memoryLogger } from "../../../src/ops/log.ts";
import { BASE, errorLines, load } from "./helpers.ts";

const HOOK = "https://hooks.example.net/services/T0001/B0002/Xq9sK2mZ4tQ8vL1n?token=s3cr3t-qu3ry-v4lue";
const DB = "postgres://acmems:pa%22ss%5Cw0rd@db.example.net:5432/acmems?sslpassword=k3y-p4ss";

Deno.test("configSecrets: HMAC, webhook tokens and the database password", () => {
  const result = load(
    `${BASE}hmac_type = sha256\nhmac_key = hmac-key-0123456789abcdef\n` +
      `[notify "hook"]\ntype = webhook\nurl = ${HOOK}\nevents = issue-failed\n` +
      `[storage "db"]\ntype = postgres\nurl = ${DB}\n[mgmt]\ndefault-storage = db\n`,
  );
  assert(result.ok, errorLines(result).join("\n"));
  const secrets = configSecrets(result.config!);
  for (const s of ["hmac-key-0123456789abcdef", "Xq9sK2mZ4tQ8vL1n", "s3cr3t-qu3ry-v4lue", 'pa"ss\\w0rd', "k3y-p4ss"]) {
    assert(secrets.includes(s), `${s} in ${JSON.stringify(secrets)}`);
  }
  // Words of the path are not secrets (they would blank out ordinary log text).
  assert(!secrets.includes("services"));

  const log = memoryLogger("debug", secrets);
  log.error("notification failed", { url: HOOK, error: `connect to ${DB} refused`, password: 'pa"ss\\w0rd' });
  const line = log.lines.join("\n");
  for (const leaked of ["Xq9sK2mZ4tQ8vL1n", "s3cr3t-qu3ry-v4lue", "pa%22ss%5Cw0rd", "ss\\\\w0rd", "k3y-p4ss"]) {
    assert(!line.includes(leaked), `${leaked} in ${line}`);
  }
});

Deno.test("urlSecrets and databasePasswords", () => {
  assertEquals(urlSecrets("https://hooks.example.net/"), []);
  assert(urlSecrets("https://user:pw-1234@hooks.example.net/x").includes("pw-1234"));
  assert(urlSecrets("https://hooks.example.net/ntfy-topic").includes("/ntfy-topic"));
  assertEquals(databasePasswords("postgres://acmems@db/acmems"), []);
  assertEquals(databasePasswords("postgres://u:p%40ss@db/x"), ["p%40ss", "p@ss"]);
});
