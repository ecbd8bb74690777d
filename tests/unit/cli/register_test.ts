/**
 * `acmems register` against the in-process stub CA: the terms-of-service decision (any URL scheme, exact match) and
 * the recovery of a registered key whose registration.json is missing (onlyReturnExisting before newAccount).
 * The same flows against pebble are in tests/integration/register_test.ts.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes, assertThrows } from "../../support/assert.ts";
import { json, problem, startStubCa, type StubCa, type StubRequest } from "../acme/_stub_ca.ts";
import { fromBase64Any } from "../../../src/acme/encoding.ts";
import { type Output, parseRegisterArgs, runRegister, termsDecision } from "../../../cli/register.ts";

const PEBBLE_TOS = "data:text/plain,Do%20what%20thou%20wilt";

function capture(): Output & { all(): string } {
  const lines: string[] = [];
  return { info: (l) => lines.push(l), error: (l) => lines.push(l), all: () => lines.join("\n") };
}

/** A stub CA with pebble's data: terms that knows accounts by key and answers onlyReturnExisting like RFC 8555. */
async function startCa(): Promise<StubCa> {
  const known = new Set<string>();
  const stub = await startStubCa({
    "GET /dir": (_req, s) =>
      json({
        newNonce: `${s.origin}/nonce`,
        newAccount: `${s.origin}/new-acct`,
        newOrder: `${s.origin}/new-order`,
        revokeCert: `${s.origin}/revoke`,
        meta: { termsOfService: PEBBLE_TOS },
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
  return stub;
}

async function withConfig(stub: StubCa, account: string, fn: (config: string, dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "acmems-register-unit-" });
  try {
    const config = `${dir}/acmems.ini`;
    await Deno.writeTextFile(
      config,
      `[account]\nacme-server = ${stub.directoryUrl}\ndir = account\n${account}` +
        '[auth "a"]\nip = 127.0.0.1\ndomain = *.example.test\n',
    );
    await fn(config, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function register(args: string[]): Promise<{ code: number; text: string }> {
  const out = capture();
  const code = await runRegister(parseRegisterArgs(args), out);
  return { code, text: out.all() };
}

/** The newAccount requests seen: "lookup" (onlyReturnExisting) or "create". */
function newAccounts(stub: StubCa): string[] {
  return stub.requests.filter((r: StubRequest) => r.method === "POST" && r.path === "/new-acct")
    .map((r) => (r.payload as { onlyReturnExisting?: boolean }).onlyReturnExisting ? "lookup" : "create");
}

Deno.test("register: config accept-terms-of-service = the CA's data: URL counts as agreement", async () => {
  await using stub = await startCa();
  await withConfig(stub, `accept-terms-of-service = ${PEBBLE_TOS}\n`, async (config, dir) => {
    const { code, text } = await register(["--gen-key", "--register", config]);
    assertEquals(code, 0, text);
    assertStringIncludes(text, `Registered a new account at ${stub.directoryUrl}`);
    assertStringIncludes(text, `Agreed to the terms of service at ${PEBBLE_TOS}.`);
    assertEquals(newAccounts(stub), ["lookup", "create"]);
    const create = stub.requests.filter((r) => r.path === "/new-acct").at(-1)!;
    assertEquals((create.payload as { termsOfServiceAgreed?: boolean }).termsOfServiceAgreed, true);
    const registration = JSON.parse(await Deno.readTextFile(`${dir}/account/registration.json`));
    assertEquals(registration.termsOfServiceAgreed, PEBBLE_TOS);
  });
});

Deno.test("register: other terms in the config are not agreement; the message names the CA's", async () => {
  await using stub = await startCa();
  await withConfig(stub, "accept-terms-of-service = data:text/plain,Older%20terms\n", async (config) => {
    const { code, text } = await register(["--gen-key", "--register", config]);
    assertEquals(code, 1, text);
    assertStringIncludes(text, `The CA's terms of service are now ${PEBBLE_TOS}, not data:text/plain,Older%20terms`);
    assertEquals(newAccounts(stub), ["lookup"]);
  });
});

Deno.test("register: a registered key without registration.json is recovered with onlyReturnExisting", async () => {
  await using stub = await startCa();
  await withConfig(stub, "", async (config, dir) => {
    const first = await register(["--gen-key", "--register", "--accept-terms-of-service", config]);
    assertEquals(first.code, 0, first.text);
    const url = JSON.parse(await Deno.readTextFile(`${dir}/account/registration.json`)).url;
    await Deno.remove(`${dir}/account/registration.json`);
    const before = newAccounts(stub).length;

    const again = await register(["--register", "--accept-terms-of-service", "--email", "ops@example.test", config]);
    assertEquals(again.code, 0, again.text);
    assertStringIncludes(
      again.text,
      `Recovered the existing account of this key from the CA and wrote registration.json: ${url}`,
    );
    assertStringIncludes(again.text, "Updated the contacts");
    assert(!again.text.includes("already has an account"), again.text);
    // Only the lookup: no newAccount that could create an account is sent.
    assertEquals(newAccounts(stub).slice(before), ["lookup"]);
    const back = JSON.parse(await Deno.readTextFile(`${dir}/account/registration.json`));
    assertEquals([back.url, back.account.contact], [url, ["mailto:ops@example.test"]]);

    // Also without the terms agreed, and with --accept-terms-of-service alone (no --register).
    await Deno.remove(`${dir}/account/registration.json`);
    const plain = await register(["--register", config]);
    assertEquals(plain.code, 0, plain.text);
    assertStringIncludes(plain.text, "Recovered the existing account");
    await Deno.remove(`${dir}/account/registration.json`);
    const tosOnly = await register([`--accept-terms-of-service=${PEBBLE_TOS}`, config]);
    assertEquals(tosOnly.code, 0, tosOnly.text);
    assertStringIncludes(tosOnly.text, "Recovered the existing account");
    assertEquals(newAccounts(stub).slice(before), ["lookup", "lookup", "lookup"]);
  });
});

Deno.test("termsDecision: exact string comparison, any scheme", () => {
  const urls = (...list: string[]) => ({ kind: "urls" as const, urls: list, source: { file: "a.ini", line: 3 } });
  assertEquals(termsDecision(PEBBLE_TOS, undefined, urls(PEBBLE_TOS)), { agreed: true });
  assertEquals(termsDecision(PEBBLE_TOS, PEBBLE_TOS, { kind: "none" }), { agreed: true });
  assertEquals(termsDecision("urn:ca:terms:2", undefined, urls("urn:ca:terms:2")), { agreed: true });
  assertEquals(termsDecision(undefined, undefined, { kind: "none" }), { agreed: true });
  const decoded = termsDecision(PEBBLE_TOS, undefined, urls("data:text/plain,Do what thou wilt"));
  assertEquals(decoded.agreed, false);
  assertMatch(decoded.reason!, /--accept-terms-of-service=data:text\/plain,Do%20what%20thou%20wilt CONFIG/);
  const none = termsDecision(PEBBLE_TOS, undefined, { kind: "none" });
  assertMatch(none.reason!, /You need to accept the terms of service at data:.*: run acmems register --accept/);
});

Deno.test("parseRegisterArgs: --accept-terms-of-service=URL is kept as written; a non-URL is a usage error", () => {
  assertEquals(parseRegisterArgs([`--accept-terms-of-service=${PEBBLE_TOS}`, "a.ini"]).acceptTos, PEBBLE_TOS);
  assertEquals(
    parseRegisterArgs(["--accept-terms-of-service=https://CA.example/tos", "a.ini"]).acceptTos,
    "https://CA.example/tos",
  );
  assertEquals(parseRegisterArgs(["--accept-terms-of-service", "a.ini"]).acceptTos, true);
  assertThrows(() => parseRegisterArgs(["--accept-terms-of-service=terms.pdf", "a.ini"]), /must be the terms' URL/);
});

// --- external account binding: the MAC key from a file ----------------------------------------------------------------

const EAB_KEY = "c2VjcmV0LWVhYi1rZXktZm9yLXRoZS10ZXN0LTAxMjM0NQ";

/** A stub CA that requires EAB and accepts a newAccount only when its binding is MACed with EAB_KEY for kid-1. */
async function startEabCa(): Promise<StubCa> {
  return await startStubCa({
    "GET /dir": (_req, s) =>
      json({
        newNonce: `${s.origin}/nonce`,
        newAccount: `${s.origin}/new-acct`,
        newOrder: `${s.origin}/new-order`,
        revokeCert: `${s.origin}/revoke`,
        meta: { termsOfService: PEBBLE_TOS, externalAccountRequired: true },
      }),
    "POST /new-acct": async (req, s) => {
      const payload = req.payload as {
        onlyReturnExisting?: boolean;
        externalAccountBinding?: { protected: string; payload: string; signature: string };
      };
      if (payload.onlyReturnExisting) return problem(400, "accountDoesNotExist", "no account for this key");
      const eab = payload.externalAccountBinding;
      if (!eab) return problem(400, "externalAccountRequired", "an external account binding is required");
      const key = await crypto.subtle.importKey(
        "raw",
        fromBase64Any(EAB_KEY),
        { name: "HMAC", hash: "SHA-256" },
        false,
        [
          "verify",
        ],
      );
      const ok = await crypto.subtle.verify(
        "HMAC",
        key,
        fromBase64Any(eab.signature),
        new TextEncoder().encode(`${eab.protected}.${eab.payload}`),
      );
      const kid = JSON.parse(new TextDecoder().decode(fromBase64Any(eab.protected))).kid;
      if (!ok || kid !== "kid-1") return problem(401, "unauthorized", "external account binding MAC is wrong");
      return json({ status: "valid", contact: [] }, 201, { location: `${s.origin}/acct/1` });
    },
  });
}

Deno.test("register: --eab-hmac-key-file reads the MAC key from a file (trimmed); the CA accepts the binding", async () => {
  await using stub = await startEabCa();
  await withConfig(stub, "", async (config, dir) => {
    const keyFile = `${dir}/eab.key`;
    await Deno.writeTextFile(keyFile, `  ${EAB_KEY}\n`, { mode: 0o600 });
    const { code, text } = await register([
      "--gen-key",
      "--register",
      "--accept-terms-of-service",
      "--eab-kid",
      "kid-1",
      "--eab-hmac-key-file",
      keyFile,
      config,
    ]);
    assertEquals(code, 0, text);
    assertStringIncludes(text, `Registered a new account at ${stub.directoryUrl}`);
    assert(!text.includes("Warning"), text);
    assert(!text.includes(EAB_KEY), "the key is not printed");
  });
});

Deno.test("register: an unreadable or empty --eab-hmac-key-file is an error naming the file; nothing is sent", async () => {
  await using stub = await startEabCa();
  await withConfig(stub, "", async (config, dir) => {
    const base = ["--gen-key", "--register", "--accept-terms-of-service", "--eab-kid", "kid-1"];
    const missing = await register([...base, "--eab-hmac-key-file", `${dir}/none.key`, config]);
    assertEquals(missing.code, 1, missing.text);
    assertMatch(missing.text, new RegExp(`Cannot read --eab-hmac-key-file ${dir}/none\\.key: .*Give a file`));
    await Deno.writeTextFile(`${dir}/empty.key`, "\n \n");
    const empty = await register([...base, "--eab-hmac-key-file", `${dir}/empty.key`, config]);
    assertEquals(empty.code, 1, empty.text);
    assertStringIncludes(empty.text, `--eab-hmac-key-file ${dir}/empty.key is empty`);
    assertEquals(stub.requests.length, 0, "the CA was not contacted");
  });
});

Deno.test("register: --eab-hmac-key still works, with a warning that it is visible in the process list", async () => {
  await using stub = await startEabCa();
  await withConfig(stub, "", async (config) => {
    const { code, text } = await register([
      "--gen-key",
      "--register",
      "--accept-terms-of-service",
      "--eab-kid",
      "kid-1",
      "--eab-hmac-key",
      EAB_KEY,
      config,
    ]);
    assertEquals(code, 0, text);
    assertStringIncludes(text, "Warning: --eab-hmac-key puts the MAC key where every local user can read it");
    assertStringIncludes(text, "use --eab-hmac-key-file FILE");
  });
});

Deno.test("parseRegisterArgs: --eab-hmac-key-file goes with --eab-kid and excludes --eab-hmac-key", () => {
  assertEquals(
    parseRegisterArgs(["--eab-kid", "k", "--eab-hmac-key-file=/etc/acmems/eab.key", "a.ini"]).eabHmacKeyFile,
    "/etc/acmems/eab.key",
  );
  assertThrows(() => parseRegisterArgs(["--eab-hmac-key-file", "f", "a.ini"]), /--eab-kid and --eab-hmac-key-file/);
  assertThrows(() => parseRegisterArgs(["--eab-kid", "k", "a.ini"]), /go together/);
  assertThrows(
    () => parseRegisterArgs(["--eab-kid", "k", "--eab-hmac-key", "x", "--eab-hmac-key-file", "f", "a.ini"]),
    /not both/,
  );
});

Deno.test("parseRegisterArgs: --rollover-key [--key-type ec|rsa|…], --deactivate --yes, and what goes alone", () => {
  const rolled = parseRegisterArgs(["--rollover-key", "a.ini"]);
  assertEquals([rolled.rolloverKey, rolled.keyType], [true, undefined]);
  assertEquals(parseRegisterArgs(["--rollover-key", "--key-type", "rsa", "a.ini"]).keyType, "rsa-2048");
  assertEquals(parseRegisterArgs(["--rollover-key", "--key-type=ec", "a.ini"]).keyType, "ec-p256");
  assertEquals(parseRegisterArgs(["--rollover-key", "--key-type", "ec-p384", "a.ini"]).keyType, "ec-p384");
  assertEquals(parseRegisterArgs(["--gen-key", "--key-type", "rsa", "a.ini"]).keyType, "rsa-2048");
  const deactivate = parseRegisterArgs(["--deactivate", "--yes", "a.ini"]);
  assertEquals([deactivate.deactivate, deactivate.yes], [true, true]);
  assertThrows(
    () => parseRegisterArgs(["--key-type", "rsa", "a.ini"]),
    /only applies with --gen-key or --rollover-key/,
  );
  assertThrows(() => parseRegisterArgs(["--yes", "a.ini"]), /--yes only applies with --deactivate/);
  assertThrows(() => parseRegisterArgs(["--rollover-key", "--deactivate", "a.ini"]), /go alone/);
  assertThrows(() => parseRegisterArgs(["--rollover-key", "--register", "a.ini"]), /go alone/);
  assertThrows(() => parseRegisterArgs(["--deactivate", "--gen-key", "a.ini"]), /go alone/);
  assertThrows(() => parseRegisterArgs(["--rollover-key", "--key-type", "dsa", "a.ini"]), /is not one of ec, rsa/);
});

Deno.test("register --deactivate without --yes refuses before asking the CA", async () => {
  await using stub = await startCa();
  await withConfig(stub, "", async (config) => {
    const { code, text } = await register(["--deactivate", config]);
    assertEquals(code, 1, text);
    assertStringIncludes(text, "Not deactivating: --deactivate ends the account of");
    assertStringIncludes(text, "acmems register --deactivate --yes");
    assertEquals(stub.requests.length, 0);
  });
});
