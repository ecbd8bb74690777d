/** `acmems check-config` as an operator runs it: a real subprocess, exit codes, stderr, JSON. */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../../support/assert.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;

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

async function withTempConfig(text: string, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-check-config-" });
  try {
    const path = `${dir}/acmems.ini`;
    await Deno.writeTextFile(path, text);
    await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("check-config: the shipped example is valid", async () => {
  const { code, stdout, stderr } = await run("check-config", "configs/acmems.example.ini");
  assertEquals(code, 0, stderr);
  assertStringIncludes(stdout, "mail-secure: ip 198.51.100.21 and hmac sha256 (key ***)");
  assertStringIncludes(stdout, "file (file, default): /var/lib/acmems/cache");
  assertStringIncludes(stdout, "Config is valid");
  assert(!stdout.includes("A1YP67armNf3cBrecyJHdb035") && !stderr.includes("A1YP67armNf3cBrecyJHdb035"));
});

Deno.test("check-config: the seed README's example reports exactly its real defects", async () => {
  const { code, stderr } = await run("check-config", "tests/fixtures/seed-example.ini");
  assertEquals(code, 1);
  // Errors are FILE:LINE: message; warnings and notes say which they are.
  const errors = stderr.split("\n").filter((l) => /^\S+:\d+: /.test(l) && !/^\S+:\d+: (warning|note): /.test(l));
  assertEquals(errors.length, 1, stderr);
  assertMatch(errors[0], /^tests\/fixtures\/seed-example\.ini:4: \[account\] acme-server .*retired ACME v1 endpoint/);
  assertMatch(stderr, /seed-example\.ini:11: note: \[mgmt\] mgmt = is read as listener =/);
  assertMatch(stderr, /accept-terms-of-service is not set/);
});

Deno.test("check-config: the seed's accept-terms-of-service line with its inline comment", async () => {
  await withTempConfig(
    '[account]\ndir = /tmp/acct\naccept-terms-of-service = yes # or true\n[auth "a"]\nip = 127.0.0.1\ndomain = x.org\n',
    async (path) => {
      const { code, stderr } = await run("check-config", path);
      assertEquals(code, 1);
      assertStringIncludes(stderr, `${path}:3: accept-terms-of-service "yes # or true" is neither yes/no`);
      assertStringIncludes(stderr, `${path}:3: warning: Inline comments are not supported`);
    },
  );
});

Deno.test("check-config: a typo in an [auth] option exits 1 naming the line", async () => {
  await withTempConfig(
    '[account]\ndir = /tmp/acct\n[auth "a"]\nip = 127.0.0.1\ndomian = x.org\n',
    async (path) => {
      const { code, stderr } = await run("check-config", path);
      assertEquals(code, 1);
      assertStringIncludes(stderr, `${path}:5: Unknown option "domian" in [auth "a"]: did you mean "domain"?`);
      assert(!stderr.includes(": error: "), stderr);
    },
  );
});

Deno.test("check-config --json: one object, maxSize in bytes, secrets as ***", async () => {
  await withTempConfig(
    `[account]
dir = /tmp/acct
eab-kid = kid-1
eab-hmac-key = c2VjcmV0LWVhYi1rZXktdmFsdWU
[mgmt]
max-size = 16k
[verification "d"]
type = dns01-dnsUpdate
dns-server = 127.0.0.1:5353
tsig-key-name = acmems-key
tsig-secret = 3hYIGgFoN0Oh8BlsJXywGe+tRHiJXElBYQGJj8UoKbY=
[auth "a"]
ip = 127.0.0.1
hmac_type = sha256
hmac_key = super-secret-hmac-key-value
domain = x.org
`,
    async (path) => {
      for (const args of [["check-config", "--json", path], ["check-config", path]]) {
        const { code, stdout, stderr } = await run(...args);
        assertEquals(code, 0, stderr);
        for (const secret of ["c2VjcmV0LWVhYi1rZXktdmFsdWU", "3hYIGgFoN0Oh8BlsJXywGe", "super-secret-hmac-key-value"]) {
          assert(!stdout.includes(secret) && !stderr.includes(secret), `secret ${secret} leaked by ${args.join(" ")}`);
        }
        if (args.includes("--json")) {
          const json = JSON.parse(stdout);
          assertEquals(json.ok, true);
          // The effective config at the top level (issue 2 §4) and, as before, under config.
          assertEquals(json.mgmt.maxSize, 16384);
          assertEquals(json.config.mgmt.maxSize, 16384);
          assertEquals(json.account, json.config.account);
          assertEquals(json.auth, json.config.auth);
          assertEquals(json.config.account.eabHmacKey, "***");
          assertEquals(json.config.verifications[0].tsig.secret, "***");
          assertEquals(json.config.auth[0].hmac, { type: "sha256", key: "***" });
        }
      }
    },
  );
});

Deno.test("check-config --json: errors and warnings carry file and line; exit 1", async () => {
  await withTempConfig("[account]\ndir = /a\n[mgmt]\nmax-size = lots\n", async (path) => {
    const { code, stdout } = await run("check-config", "--json", path);
    assertEquals(code, 1);
    const json = JSON.parse(stdout);
    assertEquals(json.ok, false);
    assertEquals(json.errors[0].file, path);
    assertEquals(json.errors[0].line, 4);
    assertMatch(json.errors[0].message, /max-size: "lots" is not a size/);
    assertEquals(json.config, null);
    assertEquals(json.mgmt, undefined);
  });
});

Deno.test("check-config: the 0.0.0.0/[::] listener collapse is a warning, in text and in --json warnings[]", async () => {
  await withTempConfig(
    "[account]\ndir = /tmp/acct\naccept-terms-of-service = yes\n[mgmt]\nlistener = 0.0.0.0:1313\nlistener = [::]:1313\n" +
      '[auth "a"]\nip = 127.0.0.1\ndomain = x.org\n',
    async (path) => {
      const text = await run("check-config", path);
      assertEquals(text.code, 0, text.stderr);
      assertStringIncludes(text.stderr, `${path}:5: warning: Listeners 0.0.0.0:1313 and [::]:1313 collapse`);
      assertStringIncludes(text.stdout, "Config is valid (1 warning(s)).");
      const { code, stdout } = await run("check-config", "--json", path);
      assertEquals(code, 0);
      const json = JSON.parse(stdout);
      assertEquals(json.warnings.length, 1, stdout);
      assertEquals([json.warnings[0].file, json.warnings[0].line], [path, 5]);
      assertMatch(json.warnings[0].message, /collapse into one \[::\]:1313 listener/);
      assertEquals(json.mgmt.listeners, ["[::]:1313"]);
    },
  );
});

Deno.test("check-config: secrets never appear, also in errors and warnings about their lines", async () => {
  const secrets = {
    hmac: "hm4c-s3cret-value-xyz",
    tsig: "c2VjcmV0LXRzaWc=",
    eab: "ZWFiLXNlY3JldC1rZXk",
    token: "t0ken-in-the-path",
    password: "pg-passw0rd",
  };
  const cases: [string, string][] = [
    [
      "inline comments after secret values",
      `[account]\ndir = /tmp/acct\neab-kid = k\neab-hmac-key = ${secrets.eab} #x\n` +
      `[verification "d"]\ntype = dns01-dnsUpdate\ndns-server = 127.0.0.1\ntsig-key-name = k\n` +
      `tsig-secret = ${secrets.tsig} ;x\n` +
      `[storage "p"]\ntype = postgres\nurl = postgres://u:${secrets.password}@db/acmems #x\n` +
      `[notify "n"]\ntype = webhook\nurl = https://hooks.example/${secrets.token} #x\nevents = expiring\n` +
      `[auth "a"]\nip = 127.0.0.1\ndomain = x.org\nhmac_type = sha256\nhmac_key = ${secrets.hmac} #x\n`,
    ],
    [
      "secret options written with a colon instead of =",
      `[account]\ndir = /tmp/acct\neab-hmac-key: ${secrets.eab}\n[auth "a"]\ndomain = x.org\n` +
      `hmac_key: ${secrets.hmac}\nhmac-key ${secrets.hmac}\n[storage "p"]\ntype = postgres\n` +
      `url: postgres://u:${secrets.password}@db/acmems\n`,
    ],
    [
      "an invalid webhook url and a misspelt secret option",
      `[account]\ndir = /tmp/acct\n[notify "n"]\ntype = webhook\nurl = ftp://hooks.example/${secrets.token}\n` +
      `events = expiring\n[auth "a"]\ndomain = x.org\nhmac-key = ${secrets.hmac} #x\n`,
    ],
  ];
  for (const [name, text] of cases) {
    await withTempConfig(text, async (path) => {
      for (const args of [["check-config", path], ["check-config", "--json", path]]) {
        const { stdout, stderr } = await run(...args);
        for (const [what, secret] of Object.entries(secrets)) {
          assert(!stdout.includes(secret) && !stderr.includes(secret), `${name}: ${what} leaked by ${args.join(" ")}`);
        }
        if (args.includes("--json")) JSON.parse(stdout);
        else assertMatch(stderr, /\*\*\*|not shown/, `${name}: the lines are still named`);
      }
    });
  }
});

Deno.test("acmems: usage errors exit 2; help and version exit 0", async () => {
  const cases: [string[], number, RegExp, "stdout" | "stderr"][] = [
    [[], 2, /Usage: acmems/, "stderr"],
    [["frobnicate"], 2, /unknown subcommand "frobnicate"/, "stderr"],
    [["--bogus"], 2, /unknown option "--bogus"/, "stderr"],
    [["check-config"], 2, /no config file given/, "stderr"],
    [["check-config", "--yaml", "x.ini"], 2, /unknown option "--yaml"/, "stderr"],
    [
      ["check-config", "/nonexistent/acmems.ini"],
      1,
      /Cannot read config file \/nonexistent\/acmems.ini: no such file/,
      "stderr",
    ],
    [["--help"], 0, /Subcommands:/, "stdout"],
    [["--version"], 0, /^acmems \d+\.\d+\.\d+/, "stdout"],
    [["help", "check-config"], 0, /Usage: acmems check-config/, "stdout"],
    [["check-config", "--help"], 0, /Usage: acmems check-config/, "stdout"],
    [["help", "nope"], 2, /unknown subcommand "nope"/, "stderr"],
  ];
  for (const [args, expectedCode, pattern, stream] of cases) {
    const result = await run(...args);
    assertEquals(result.code, expectedCode, `acmems ${args.join(" ")}: ${result.stderr}`);
    assertMatch(result[stream], pattern, `acmems ${args.join(" ")}`);
  }
});
