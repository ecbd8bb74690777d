/**
 * `acmems register` against a real pebble: key generation, registration, ToS, EAB, recovery, show.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../support/assert.ts";
import { type ConfigSpec, ipAuth, type Options, writeConfig } from "../support/config.ts";
import { type Pebble, startPebble } from "../support/pebble.ts";
import { type Output, parseRegisterArgs, runRegister } from "../../cli/register.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const EAB_KEY = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
/** pebble 2.10's terms of service, as its directory lists them. */
const PEBBLE_TOS = "data:text/plain,Do%20what%20thou%20wilt";

function capture(): Output & { lines: string[]; errors: string[]; all(): string } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    info: (l) => lines.push(l),
    error: (l) => errors.push(l),
    all: () => [...lines, ...errors].join("\n"),
  };
}

/** `[account]` for pebble (terms not accepted unless `extra` says so) and one auth block. */
function registerConfig(pebble: Pebble, extra: Options = {}): ConfigSpec {
  return {
    account: { "acme-server": pebble.directoryUrl, dir: "account", "ca-file": pebble.caFile, ...extra },
    auth: { a: ipAuth() },
  };
}

async function setup(pebble: Pebble, extra: Options = {}): Promise<{ dir: string; config: string }> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-register-" });
  const config = await writeConfig(`${dir}/acmems.ini`, registerConfig(pebble, extra));
  return { dir, config };
}

async function register(args: string[]): Promise<{ code: number; out: ReturnType<typeof capture> }> {
  const out = capture();
  const code = await runRegister(parseRegisterArgs(args), out);
  return { code, out };
}

Deno.test("register against pebble", async (t) => {
  const pebble = await startPebble();
  try {
    await t.step("--gen-key --register --accept-terms-of-service creates an account, key mode 0600", async () => {
      const { dir, config } = await setup(pebble, { email: "ops@example.test" });
      try {
        const { code, out } = await register(["--gen-key", "--register", "--accept-terms-of-service", config]);
        assertEquals(code, 0, out.all());
        assertMatch(out.all(), /Generated a new EC P-256 account key in .*account\.pem \(mode 0600\)/);
        assertMatch(
          out.all(),
          /Registered a new account at https:\/\/127\.0\.0\.1:\d+\/dir: https:\/\/.*\/my-account\//,
        );
        const stat = await Deno.stat(`${dir}/account/account.pem`);
        assertEquals(stat.mode! & 0o777, 0o600);
        const registration = JSON.parse(await Deno.readTextFile(`${dir}/account/registration.json`));
        assertMatch(registration.url, /^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
        assertEquals(registration.account.status, "valid");
        assertEquals(registration.account.contact, ["mailto:ops@example.test"]);
        assertEquals((await Deno.stat(`${dir}/account/registration.json`)).mode! & 0o777, 0o600);

        // Show: URL, status, contacts, ToS.
        const shown = await register([config]);
        assertEquals(shown.code, 0, shown.out.all());
        assertStringIncludes(shown.out.all(), `Account:  ${registration.url}`);
        assertStringIncludes(shown.out.all(), "Status:   valid");
        assertStringIncludes(shown.out.all(), "Contacts: mailto:ops@example.test");
        assertMatch(shown.out.all(), /Terms: {4}data:.* \(agreed\)/);

        // --register again with a new e-mail updates the contacts.
        const again = await register(["--register", "--email", "new@example.test", config]);
        assertEquals(again.code, 0, again.out.all());
        assertStringIncludes(again.out.all(), "Updated the contacts");
        assertStringIncludes(again.out.all(), "already registered");

        // registration.json lost: show recovers it with onlyReturnExisting.
        await Deno.remove(`${dir}/account/registration.json`);
        const recovered = await register([config]);
        assertEquals(recovered.code, 0, recovered.out.all());
        assertStringIncludes(recovered.out.all(), "Recovered the existing account");
        const back = JSON.parse(await Deno.readTextFile(`${dir}/account/registration.json`));
        assertEquals(back.url, registration.url);
        assertEquals(back.account.contact, ["mailto:new@example.test"]);

        // Lost again: --register --accept-terms-of-service recovers it too instead of a plain newAccount.
        await Deno.remove(`${dir}/account/registration.json`);
        const viaRegister = await register(["--register", "--accept-terms-of-service", config]);
        assertEquals(viaRegister.code, 0, viaRegister.out.all());
        assertStringIncludes(viaRegister.out.all(), "Recovered the existing account");
        assert(!viaRegister.out.all().includes("already has an account"), viaRegister.out.all());
        assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/account/registration.json`)).url, registration.url);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("--gen-key refuses to overwrite without --force; --force replaces the key", async () => {
      const { dir, config } = await setup(pebble);
      try {
        assertEquals((await register(["--gen-key", config])).code, 0);
        const before = await Deno.readTextFile(`${dir}/account/account.pem`);
        const refused = await register(["--gen-key", config]);
        assertEquals(refused.code, 1);
        assertMatch(refused.out.all(), /An account key already exists at .*account\.pem: pass --force/);
        assertEquals(await Deno.readTextFile(`${dir}/account/account.pem`), before);
        const forced = await register(["--gen-key", "--force", "--key-type", "rsa-2048", config]);
        assertEquals(forced.code, 0, forced.out.all());
        assertStringIncludes(forced.out.all(), "RSA 2048");
        const after = await Deno.readTextFile(`${dir}/account/account.pem`);
        assert(after !== before);
        assertMatch(after, /^-----BEGIN PRIVATE KEY-----/);
        assertEquals((await Deno.stat(`${dir}/account/account.pem`)).mode! & 0o777, 0o600);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("without accepting the terms it says where they are and what to run", async () => {
      const { dir, config } = await setup(pebble);
      try {
        const { code, out } = await register(["--gen-key", "--register", config]);
        assertEquals(code, 1);
        assertMatch(
          out.all(),
          /You need to accept the terms of service at data:.*: run acmems register --accept-terms-of-service \S/,
        );
        // The hint names the config file given, not a placeholder.
        assertStringIncludes(out.all(), `--accept-terms-of-service ${config}`);
        // accept-terms-of-service = yes in the config counts too.
        await writeConfig(config, registerConfig(pebble, { "accept-terms-of-service": true }));
        const ok = await register(["--register", config]);
        assertEquals(ok.code, 0, ok.out.all());
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("config accept-terms-of-service = pebble's data: URL counts as agreement", async () => {
      const { dir, config } = await setup(pebble, { "accept-terms-of-service": PEBBLE_TOS });
      try {
        const { code, out } = await register(["--gen-key", "--register", config]);
        assertEquals(code, 0, out.all());
        assertStringIncludes(out.all(), `Agreed to the terms of service at ${PEBBLE_TOS}.`);
        const registration = JSON.parse(await Deno.readTextFile(`${dir}/account/registration.json`));
        assertEquals(registration.termsOfServiceAgreed, PEBBLE_TOS);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("no key: show says to run --gen-key; no account: show says to register", async () => {
      const { dir, config } = await setup(pebble);
      try {
        const noKey = await register([config]);
        assertEquals(noKey.code, 1);
        assertMatch(noKey.out.all(), /No account key at .*account\.pem: run acmems register --gen-key --register/);
        assertEquals((await register(["--gen-key", config])).code, 0);
        const noAccount = await register([config]);
        assertEquals(noAccount.code, 1);
        assertMatch(
          noAccount.out.all(),
          /has no account at .*: run acmems register --register --accept-terms-of-service/,
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("an RSA key in PKCS#1 from an ACMEMS installation is accepted; a readable key warns", async () => {
      const { dir, config } = await setup(pebble);
      try {
        await Deno.mkdir(`${dir}/account`);
        const gen = await new Deno.Command("openssl", {
          args: ["genrsa", "-traditional", "-out", `${dir}/account/account.pem`, "2048"],
          stderr: "null",
        }).output();
        assert(gen.success);
        assertMatch(await Deno.readTextFile(`${dir}/account/account.pem`), /BEGIN RSA PRIVATE KEY/);
        await Deno.chmod(`${dir}/account/account.pem`, 0o644);
        const { code, out } = await register(["--register", "--accept-terms-of-service", config]);
        assertEquals(code, 0, out.all());
        assertMatch(out.all(), /account\.pem is readable by others \(mode 0644\): run chmod 600/);
        assertStringIncludes(out.all(), "Registered a new account");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  } finally {
    await pebble.stop();
  }
});

Deno.test("register with external account binding (EAB required)", async () => {
  const pebble = await startPebble({ eabRequired: true, eabKeys: { "kid-1": EAB_KEY } });
  try {
    const { dir, config } = await setup(pebble, { "accept-terms-of-service": true });
    try {
      assertEquals((await register(["--gen-key", config])).code, 0);
      const missing = await register(["--register", config]);
      assertEquals(missing.code, 1);
      assertMatch(missing.out.all(), /The CA requires external account binding: pass --eab-kid and --eab-hmac-key/);

      const wrongKey = "A".repeat(64);
      const wrong = await register(["--register", "--eab-kid", "kid-1", "--eab-hmac-key", wrongKey, config]);
      assertEquals(wrong.code, 1);
      assertMatch(wrong.out.all(), /refused|rejected/);
      assert(!wrong.out.all().includes(wrongKey), "the EAB key must not be printed");

      const right = await register(["--register", "--eab-kid", "kid-1", "--eab-hmac-key", EAB_KEY, config]);
      assertEquals(right.code, 0, right.out.all());
      assertStringIncludes(right.out.all(), "Registered a new account");
      assert(!right.out.all().includes(EAB_KEY), "the EAB key must not be printed");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    await pebble.stop();
  }
});

Deno.test("acmems register as a subprocess: the documented one-liner, exit codes", async () => {
  const pebble = await startPebble();
  const { dir, config } = await setup(pebble);
  try {
    const run = async (...args: string[]) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", `${ROOT}main.ts`, "register", ...args],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
      return { code: output.code, text };
    };
    const ok = await run("--gen-key", "--register", "--accept-terms-of-service", config);
    assertEquals(ok.code, 0, ok.text);
    assertEquals((await Deno.stat(`${dir}/account/account.pem`)).mode! & 0o777, 0o600);
    const usage = await run("--key-type", "dsa", config);
    assertEquals(usage.code, 2, usage.text);
    assertStringIncludes(usage.text, '--key-type "dsa" is not one of');
    const badConfig = await run(`${dir}/missing.ini`);
    assertEquals(badConfig.code, 1, badConfig.text);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await pebble.stop();
  }
});
