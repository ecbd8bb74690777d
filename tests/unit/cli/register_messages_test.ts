/**
 * What `acmems register` prints around the account (issue 18, item 8): no "No [auth] block" warning (register needs
 * no auth block; serve and check-config still warn), the config paths actually given in its "Next:" and "run …"
 * hints (never a CONFIG placeholder), and `--accept-terms-of-service=URL` with other terms than the CA's current ones
 * named as such, with both URLs and the command that fixes it.
 */
import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { json, problem, startStubCa, type StubCa } from "../acme/_stub_ca.ts";
import { type Output, parseRegisterArgs, runRegister } from "../../../cli/register.ts";
import { loadConfig } from "../../../src/config/load.ts";

const CA_TOS = "https://ca.example.test/terms/v2.pdf";
const OLD_TOS = "https://ca.example.test/terms/v1.pdf";

/** A stub CA with terms that knows accounts by key and answers onlyReturnExisting like RFC 8555. */
function startCa(): Promise<StubCa> {
  const known = new Set<string>();
  return startStubCa({
    "GET /dir": (_req, s) =>
      json({
        newNonce: `${s.origin}/nonce`,
        newAccount: `${s.origin}/new-acct`,
        newOrder: `${s.origin}/new-order`,
        revokeCert: `${s.origin}/revoke`,
        meta: { termsOfService: CA_TOS },
      }),
    "POST /new-acct": (req, s) => {
      const key = JSON.stringify(req.header!.jwk);
      const payload = req.payload as { onlyReturnExisting?: boolean; contact?: string[] };
      const location = { location: `${s.origin}/acct/1` };
      if (known.has(key)) return json({ status: "valid", contact: [] }, 200, location);
      if (payload.onlyReturnExisting) return problem(400, "accountDoesNotExist", "no account for this key");
      known.add(key);
      return json({ status: "valid", contact: payload.contact ?? [] }, 201, location);
    },
    "POST /acct/1": (req) => json({ status: "valid", contact: (req.payload as { contact?: string[] }).contact ?? [] }),
  });
}

async function register(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const output: Output = { info: (l) => out.push(l), error: (l) => err.push(l) };
  const code = await runRegister(parseRegisterArgs(args), output);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** A config with [account] only (no [auth] block) in a directory whose name has a space. */
async function withAccountOnlyConfig(stub: StubCa, fn: (config: string, dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "acmems register messages " });
  try {
    const config = `${dir}/acmems.ini`;
    await Deno.writeTextFile(config, `[account]\nacme-server = ${stub.directoryUrl}\ndir = account\n`);
    await fn(config, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("register: no 'No [auth] block' warning, while serve and check-config still get it", async () => {
  await using stub = await startCa();
  await withAccountOnlyConfig(stub, async (config) => {
    const loaded = await loadConfig([config]);
    assert(loaded.warnings.some((w) => w.message.includes('No [auth "name"] block')), "the config layer warns");
    const r = await register(["--gen-key", "--register", "--accept-terms-of-service", config]);
    assertEquals(r.code, 0, `${r.out}\n${r.err}`);
    assert(!`${r.out}\n${r.err}`.includes("[auth"), `register mentions auth blocks: ${r.err}`);
    const shown = await register([config]);
    assertEquals(shown.code, 0, shown.err);
    assert(!shown.err.includes("[auth"), shown.err);
  });
});

Deno.test("register: the Next: hints name the config files given, quoted for the shell", async () => {
  await using stub = await startCa();
  await withAccountOnlyConfig(stub, async (config, dir) => {
    const extra = `${dir}/extra.ini`;
    await Deno.writeTextFile(extra, "# nothing\n");
    const quoted = `'${config}' '${extra}'`;
    const gen = await register(["--gen-key", config, extra]);
    assertEquals(gen.code, 0, gen.err);
    assertStringIncludes(gen.out, `Next: acmems register --register --accept-terms-of-service ${quoted}`);
    const created = await register(["--register", "--accept-terms-of-service", config, extra]);
    assertEquals(created.code, 0, created.err);
    assertStringIncludes(created.out, `Next: acmems serve ${quoted}`);
    for (const r of [gen, created]) assert(!`${r.out}\n${r.err}`.includes("CONFIG"), `${r.out}\n${r.err}`);
  });
});

Deno.test("register: --accept-terms-of-service=URL that is not the CA's current terms says so", async () => {
  await using stub = await startCa();
  await withAccountOnlyConfig(stub, async (config) => {
    const wrong = await register(["--gen-key", "--register", `--accept-terms-of-service=${OLD_TOS}`, config]);
    assertEquals(wrong.code, 1, wrong.out);
    assertStringIncludes(wrong.err, `--accept-terms-of-service=${OLD_TOS} is not the CA's current terms of service`);
    assertStringIncludes(wrong.err, `${stub.directoryUrl} now has ${CA_TOS}`);
    assertStringIncludes(wrong.err, `run acmems register --accept-terms-of-service=${CA_TOS} '${config}'`);
    assert(!wrong.err.includes("CONFIG"), wrong.err);

    // The same command with the CA's URL registers.
    const right = await register(["--register", `--accept-terms-of-service=${CA_TOS}`, config]);
    assertEquals(right.code, 0, right.err);
    assertStringIncludes(right.out, "Registered a new account");

    // An account that exists already: nothing is agreed, and the mismatch is named all the same.
    for (const args of [["--register"], []]) {
      const known = await register([...args, `--accept-terms-of-service=${OLD_TOS}`, config]);
      assertEquals(known.code, 0, known.err);
      assertStringIncludes(known.err, `--accept-terms-of-service=${OLD_TOS} is not the CA's current terms of service`);
      assertStringIncludes(known.err, CA_TOS);
    }
  });
});
