/** `acmems register --ca NAME`: the account of one `[ca "NAME"]` (issue 15), against two in-process stub CAs. */
import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { json, problem, startStubCa, type StubCa } from "../acme/_stub_ca.ts";
import { type Output, parseRegisterArgs, runRegister } from "../../../cli/register.ts";

async function startCa(): Promise<StubCa> {
  const known = new Set<string>();
  return await startStubCa({
    "GET /dir": (_req, s) =>
      json({ newNonce: `${s.origin}/nonce`, newAccount: `${s.origin}/new-acct`, newOrder: `${s.origin}/new-order` }),
    "POST /new-acct": (req, s) => {
      const key = JSON.stringify(req.header!.jwk);
      const location = { location: `${s.origin}/acct/1` };
      if (known.has(key)) return json({ status: "valid", contact: [] }, 200, location);
      if ((req.payload as { onlyReturnExisting?: boolean }).onlyReturnExisting) {
        return problem(400, "accountDoesNotExist", "no account for this key");
      }
      known.add(key);
      return json({ status: "valid", contact: [] }, 201, location);
    },
  });
}

async function register(args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const out: Output = { info: (l) => lines.push(l), error: (l) => lines.push(l) };
  const code = await runRegister(parseRegisterArgs(args), out);
  return { code, text: lines.join("\n") };
}

Deno.test("register --ca NAME registers that CA's account in its own dir; the default CA is left alone", async () => {
  await using a = await startCa();
  await using b = await startCa();
  const dir = await Deno.makeTempDir({ prefix: "acmems-register-ca-" });
  try {
    const config = `${dir}/acmems.ini`;
    await Deno.writeTextFile(
      config,
      `[account]\nacme-server = ${a.directoryUrl}\ndir = account-a\naccept-terms-of-service = yes\n` +
        `[ca "b"]\nacme-server = ${b.directoryUrl}\ndir = account-b\naccept-terms-of-service = yes\n` +
        '[auth "x"]\nip = 127.0.0.1\ndomain = *.example.test\nca = default, b\n',
    );
    const done = await register(["--ca", "b", "--gen-key", "--register", config]);
    assertEquals(done.code, 0, done.text);
    assertStringIncludes(done.text, `Registered a new account at ${b.directoryUrl}`);
    const registration = JSON.parse(await Deno.readTextFile(`${dir}/account-b/registration.json`));
    assertEquals(registration.directoryUrl, b.directoryUrl);
    assert(!a.requests.some((r) => r.path === "/new-acct"), "the default CA was not asked");
    assert((await Deno.stat(`${dir}/account-a`).catch(() => null)) === null, "no key made for the default CA");

    // Without --ca: the default CA ([account]).
    const plain = await register(["--gen-key", "--register", config]);
    assertEquals(plain.code, 0, plain.text);
    assertStringIncludes(plain.text, `Registered a new account at ${a.directoryUrl}`);

    const unknown = await register(["--ca", "gts", config]);
    assertEquals(unknown.code, 1, unknown.text);
    assertStringIncludes(unknown.text, '--ca "gts" names no CA');
    assertStringIncludes(unknown.text, "the CAs there are default, b");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
