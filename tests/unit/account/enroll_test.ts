/**
 * Enrollment (src/account/enroll.ts) against the in-process stub CA: every outcome kind, that the lookup comes
 * before any newAccount, and that refusals write no registration.json. The printed messages of each outcome are
 * tested through `acmems register` (tests/unit/cli/register_test.ts) and `acmems serve` (tests/e2e/serve_cli_test.ts).
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { json, problem, startStubCa, type StubCa } from "../acme/_stub_ca.ts";
import { AcmeClient, generateKeyPair } from "../../../src/acme/mod.ts";
import { enroll, type EnrollRequest, registrationFor, termsAgreement } from "../../../src/account/enroll.ts";
import { loadConfig } from "../../../src/config/load.ts";
import type { AccountConfig } from "../../../src/config/types.ts";

const TOS = "https://ca.example/terms-2";

/** A stub CA with terms that knows accounts by key; `eab` makes it require external account binding. */
async function startCa(opts: { eab?: boolean; known?: boolean } = {}): Promise<StubCa> {
  const known = new Set<string>();
  return await startStubCa({
    "GET /dir": (_req, s) =>
      json({
        newNonce: `${s.origin}/nonce`,
        newAccount: `${s.origin}/new-acct`,
        newOrder: `${s.origin}/new-order`,
        meta: { termsOfService: TOS, ...(opts.eab ? { externalAccountRequired: true } : {}) },
      }),
    "POST /new-acct": (req, s) => {
      const key = JSON.stringify(req.header!.jwk);
      const payload = req.payload as { onlyReturnExisting?: boolean; contact?: string[] };
      const location = { location: `${s.origin}/acct/1` };
      if (known.has(key) || opts.known) return json({ status: "valid", contact: [] }, 200, location);
      if (payload.onlyReturnExisting) return problem(400, "accountDoesNotExist", "no account for this key");
      known.add(key);
      return json({ status: "valid", contact: payload.contact ?? [] }, 201, location);
    },
    "POST /acct/1": (req) => json({ status: "valid", contact: (req.payload as { contact?: string[] }).contact ?? [] }),
  });
}

/** The newAccount requests seen: "lookup" (onlyReturnExisting) or "create". */
function newAccounts(stub: StubCa): string[] {
  return stub.requests.filter((r) => r.method === "POST" && r.path === "/new-acct")
    .map((r) => (r.payload as { onlyReturnExisting?: boolean }).onlyReturnExisting ? "lookup" : "create");
}

async function withAccount(
  directoryUrl: string,
  extra: string,
  fn: (account: AccountConfig, client: AcmeClient) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "acmems-enroll-" });
  try {
    await Deno.writeTextFile(
      `${dir}/acmems.ini`,
      `[account]\nacme-server = ${directoryUrl}\ndir = ${dir}/account\n${extra}` +
        '[auth "a"]\nip = 127.0.0.1\ndomain = *.example.test\n',
    );
    const result = await loadConfig([`${dir}/acmems.ini`]);
    assert(result.ok && result.config, JSON.stringify(result.errors));
    const client = new AcmeClient({ directoryUrl, accountKey: await generateKeyPair("ec-p256") });
    try {
      await fn(result.config.account, client);
    } finally {
      client.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const request = (account: AccountConfig, more: Partial<EnrollRequest> = {}): EnrollRequest => ({
  account,
  registration: null,
  mode: "create",
  refresh: false,
  contact: ["mailto:ops@example.test"],
  ...more,
});

Deno.test("enroll: lookup only: no-account, one lookup, nothing written", async () => {
  await using stub = await startCa();
  await withAccount(stub.directoryUrl, "", async (account, client) => {
    const outcome = await enroll(client, request(account, { mode: "lookup" }));
    assertEquals(outcome.kind, "no-account");
    assertEquals(newAccounts(stub), ["lookup"]);
    assertEquals((await registrationFor(account)).registration, null);
  });
});

Deno.test("enroll: terms not accepted: the CA's terms and the accepted ones, nothing created or written", async () => {
  await using stub = await startCa();
  await withAccount(stub.directoryUrl, "accept-terms-of-service = https://ca.example/terms-1\n", async (account, c) => {
    const outcome = await enroll(c, request(account));
    assert(outcome.kind === "terms-not-accepted", outcome.kind);
    assertEquals([outcome.tosUrl, outcome.accepted], [TOS, ["https://ca.example/terms-1"]]);
    assertEquals(newAccounts(stub), ["lookup"]);
    assertEquals((await registrationFor(account)).registration, null);
  });
});

Deno.test("enroll: external account binding required and not given: eab-required after the terms", async () => {
  await using stub = await startCa({ eab: true });
  await withAccount(stub.directoryUrl, "accept-terms-of-service = yes\n", async (account, client) => {
    assertEquals((await enroll(client, request(account))).kind, "eab-required");
    assertEquals(newAccounts(stub), ["lookup"]);
  });
});

Deno.test("enroll: created, then known without asking the CA, then recovered with the contacts updated", async () => {
  await using stub = await startCa();
  await withAccount(stub.directoryUrl, `accept-terms-of-service = ${TOS}\n`, async (account, client) => {
    const created = await enroll(client, request(account));
    assertEquals(created.kind, "created");
    assertEquals(newAccounts(stub), ["lookup", "create"]);
    const { registration } = await registrationFor(account);
    assertEquals([registration?.url, registration?.termsOfServiceAgreed], [`${stub.origin}/acct/1`, TOS]);

    const before = stub.requests.length;
    const known = await enroll(client, request(account, { registration }));
    assert(known.kind === "known" && !known.account && !known.contactsUpdated, known.kind);
    assert(stub.requests.slice(before).every((r) => r.method === "GET"), "only the directory is read");

    await Deno.remove(`${account.dir}/registration.json`);
    const recovered = await enroll(client, request(account, { updateContact: true }));
    assert(recovered.kind === "recovered" && recovered.contactsUpdated, recovered.kind);
    assertEquals(recovered.account.contact, ["mailto:ops@example.test"]);
    assertEquals(newAccounts(stub), ["lookup", "create", "lookup"]);
    assertEquals((await registrationFor(account)).registration?.url, `${stub.origin}/acct/1`);
  });
});

Deno.test("enroll: an unreachable CA is a ca-error without meta; a refusal after the directory keeps meta", async () => {
  await withAccount("https://127.0.0.1:9/dir", "", async (account, client) => {
    const outcome = await enroll(client, request(account));
    assert(outcome.kind === "ca-error" && outcome.meta === undefined, outcome.kind);
  });
  await using stub = await startCa();
  stub.routes.set("POST /new-acct", () => problem(500, "serverInternal", "down"));
  await withAccount(stub.directoryUrl, "", async (account, client) => {
    const outcome = await enroll(client, request(account));
    assert(outcome.kind === "ca-error" && outcome.meta?.termsOfService === TOS, outcome.kind);
  });
});

Deno.test("termsAgreement: no terms, any, the flag's URL or the config's URLs agree; others list what was accepted", () => {
  const urls = (...list: string[]) => ({ kind: "urls" as const, urls: list, source: { file: "a.ini", line: 3 } });
  assertEquals(termsAgreement(undefined, undefined, { kind: "none" }), { agreed: true });
  assertEquals(termsAgreement(TOS, true, { kind: "none" }), { agreed: true });
  assertEquals(termsAgreement(TOS, undefined, { kind: "any", source: { file: "a.ini", line: 3 } }), { agreed: true });
  assertEquals(termsAgreement(TOS, TOS, { kind: "none" }), { agreed: true });
  assertEquals(termsAgreement(TOS, "https://ca.example/old", urls("https://ca.example/older")), {
    agreed: false,
    accepted: ["https://ca.example/old", "https://ca.example/older"],
  });
});
