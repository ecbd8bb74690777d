/**
 * Secrets in files others can read: a config (or tsig-key-file) holding a secret that the group or everyone may read
 * gets a warning naming the file and the chmod that fixes it, in check-config's output and in serve's log; 0600, or
 * a file without secrets, gets none.
 */
import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { parseIni } from "../../../src/config/ini.ts";
import { buildConfig } from "../../../src/config/build.ts";
import { readableBy } from "../../../src/config/file_modes.ts";
import { BASE, fakeEnvironment } from "./helpers.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
const FILE = "/etc/acmems/a.ini";
const HMAC = `${BASE}hmac_type = sha256\nhmac_key = 0123456789abcdef0123456789abcdef\n`;

function warnings(text: string, modes: Record<string, number>, files: Record<string, string> = {}): string[] {
  const env = { ...fakeEnvironment(files), fileMode: (path: string) => modes[path] ?? null };
  const result = buildConfig([{ file: FILE, document: parseIni(text, FILE) }], env);
  assertEquals(result.errors, []);
  return result.warnings.map((w) => `${w.line}: ${w.message}`);
}

Deno.test("file modes: a readable config file with a secret warns at the secret's line, naming the chmod", () => {
  assertEquals(warnings(HMAC, { [FILE]: 0o100644 }), [
    `8: Config file ${FILE} holds a secret (hmac_key) and is group- and world-readable (mode 0644): ` +
    `run chmod 600 ${FILE} (or chmod go-rwx) so only acmems' user can read it`,
  ]);
  assertStringIncludes(warnings(HMAC, { [FILE]: 0o640 })[0], "is group-readable (mode 0640)");
  assertEquals(warnings(HMAC, { [FILE]: 0o600 }), []);
  assertEquals(warnings(BASE, { [FILE]: 0o644 }), []);
  assertEquals(warnings(HMAC, {}), [], "unknown mode: nothing to say");
});

Deno.test("file modes: eab-hmac-key, tsig-secret, a database password, a tsig-key-file", () => {
  const eab = BASE.replace("[account]\n", "[account]\neab-kid = kid\neab-hmac-key = c2VjcmV0LWVhYi1rZXktMTIzNA\n");
  assertStringIncludes(warnings(eab, { [FILE]: 0o644 })[0], "holds a secret (eab-hmac-key)");
  const tsig = `${BASE}verification = dns\n[verification "dns"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1:53\n` +
    `tsig-key-name = acmems\ntsig-algorithm = hmac-sha256\n`;
  assertStringIncludes(
    warnings(`${tsig}tsig-secret = c2VjcmV0LXRzaWcta2V5LTEyMzQ=\n`, { [FILE]: 0o604 })[0],
    "holds a secret (tsig-secret) and is world-readable (mode 0604)",
  );
  const db = `${BASE}[storage "db"]\ntype = postgres\nurl = postgres://acmems:pw@db.example.net/acmems\n`;
  assertStringIncludes(warnings(db, { [FILE]: 0o644 })[0], "holds a database password (url)");
  const noPassword = `${BASE}[storage "db"]\ntype = postgres\nurl = postgres://acmems@db.example.net/acmems\n`;
  assertEquals(warnings(noPassword, { [FILE]: 0o644 }), []);

  const keyFile = "/etc/acmems/tsig.key";
  const key = 'key "acmems" {\n  algorithm hmac-sha256;\n  secret "c2VjcmV0LXRzaWcta2V5LTEyMzQ=";\n};\n';
  const viaFile = `${tsig.replace("tsig-algorithm = hmac-sha256\n", "")}tsig-key-file = tsig.key\n`;
  const shown = warnings(viaFile, { [FILE]: 0o600, [keyFile]: 0o644 }, { [keyFile]: key });
  assertEquals(shown.length, 1, shown.join("\n"));
  assertStringIncludes(shown[0], `tsig-key-file ${keyFile} holds the TSIG secret and is group- and world-readable`);
  assertStringIncludes(shown[0], `chmod 600 ${keyFile}`);
  assertEquals(warnings(viaFile, { [FILE]: 0o600, [keyFile]: 0o600 }, { [keyFile]: key }), []);
});

Deno.test("file modes: readableBy", () => {
  assertEquals(readableBy(0o600), null);
  assertEquals(readableBy(0o700), null);
  assertEquals(readableBy(0o620), null);
  assertEquals(readableBy(0o640), "group-readable");
  assertEquals(readableBy(0o604), "world-readable");
  assertEquals(readableBy(0o100644), "group- and world-readable");
});

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${ROOT}main.ts`, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

Deno.test("file modes: check-config and serve warn about a 0644 config holding a secret, not a 0600 one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-file-modes-" });
  try {
    const log = `${dir}/acmems.log`;
    // No account key and the terms not accepted: serve logs its start and stops before any network.
    const text =
      HMAC.replace("dir = /var/lib/acmems/account\naccept-terms-of-service = yes\n", `dir = ${dir}/account\n`) +
      `[logging]\ndestination = ${log}\n`;
    const withSecret = `${dir}/secret.ini`;
    const withoutSecret = `${dir}/plain.ini`;
    await Deno.writeTextFile(withSecret, text);
    await Deno.writeTextFile(withoutSecret, text.replace(/hmac_type.*\nhmac_key.*\n/, ""));
    const fix = `run chmod 600 ${withSecret}`;

    await Deno.chmod(withSecret, 0o644);
    await Deno.chmod(withoutSecret, 0o644);
    const checked = await run("check-config", withSecret);
    assertEquals(checked.code, 0, checked.stderr);
    assertStringIncludes(
      checked.stderr,
      `${withSecret}:7: warning: Config file ${withSecret} holds a secret (hmac_key)`,
    );
    assertStringIncludes(checked.stderr, fix);
    const served = await run("serve", withSecret);
    assertEquals(served.code, 1, served.stderr);
    const logged = (await Deno.readTextFile(log)).split("\n").filter((l) => l.includes("config warning"));
    assertEquals(logged.length, 1, await Deno.readTextFile(log));
    assertStringIncludes(logged[0], fix);
    assert(!logged[0].includes("0123456789abcdef"), "the secret itself never shows");

    const plain = await run("check-config", withoutSecret);
    assertEquals(plain.code, 0, plain.stderr);
    assert(!plain.stderr.includes("chmod"), plain.stderr);

    await Deno.chmod(withSecret, 0o600);
    await Deno.remove(log);
    const tight = await run("check-config", withSecret);
    assert(!tight.stderr.includes("chmod"), tight.stderr);
    assertEquals((await run("serve", withSecret)).code, 1);
    assert(!(await Deno.readTextFile(log)).includes("config warning"), await Deno.readTextFile(log));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
