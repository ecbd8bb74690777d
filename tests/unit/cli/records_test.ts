/** `acmems records`: one record per glob from the stored account, its formats, and exit 1 without an account. */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "../../support/assert.ts";
import { parseRecordsArgs, recordsCommand, render } from "../../../cli/records.ts";
import { UsageError } from "../../../cli/usage.ts";
import { issuerDomainName, planRecords } from "../../../src/challenges/dns_persist01/records.ts";
import { saveRegistration } from "../../../src/account/store.ts";
import { load } from "../config/helpers.ts";

const ACCOUNT = "https://acme-v02.api.letsencrypt.org/acme/acct/123";
const LE = "https://acme-v02.api.letsencrypt.org/directory";
const CONFIG = (dir: string) =>
  `[account]\ndir = ${dir}\nacme-server = ${LE}\naccept-terms-of-service = yes\n` +
  `[verification "p"]\ntype = dns-persist01\n[verification "h"]\ntype = http01\n` +
  `[auth "a"]\nip = 127.0.0.1\ndomain = *.example.org\ndomain = example.org\ndomain = www.example.net\n` +
  `domain = web?.example.com\nverification = p\n[auth "b"]\nip = 127.0.0.1\ndomain = *.http.test\nverification = h\n`;

Deno.test("plan: one record per glob, a name and its wildcard share one with policy=wildcard", () => {
  const config = load(CONFIG("/acct")).config!;
  const v = config.verifications.get("p")!;
  assert(v.type === "dns-persist01");
  assertEquals(issuerDomainName(v, LE), { value: "letsencrypt.org" });
  const plan = planRecords(config, ACCOUNT, new Map([["p", "letsencrypt.org"]]));
  assertEquals(plan.records.map((r) => [r.owner, r.names, r.value]), [
    [
      "_validation-persist.example.org",
      ["*.example.org", "example.org"],
      `letsencrypt.org; accounturi=${ACCOUNT}; policy=wildcard`,
    ],
    ["_validation-persist.www.example.net", ["www.example.net"], `letsencrypt.org; accounturi=${ACCOUNT}`],
  ]);
  assertEquals(plan.skipped.map((s) => s.name), ["web?.example.com"]);
  const named = planRecords(config, ACCOUNT, new Map([["p", "letsencrypt.org"]]), ["a.example.org", "x.http.test"]);
  assertEquals(named.records.map((r) => r.owner), ["_validation-persist.a.example.org"]);
  assertEquals(named.skipped.map((s) => s.name), ["x.http.test"]);
});

Deno.test("issuer-domain-name is required for a CA other than Let's Encrypt", () => {
  const config = load(CONFIG("/acct").replace(LE, "https://ca.example/dir")).config!;
  const issuer = issuerDomainName(config.verifications.get("p") as never, "https://ca.example/dir");
  assert("error" in issuer && issuer.error.includes("needs issuer-domain-name"), JSON.stringify(issuer));
});

Deno.test("render: zone lines, nsupdate commands, json", () => {
  const config = load(CONFIG("/acct")).config!;
  const { records } = planRecords(config, ACCOUNT, new Map([["p", "letsencrypt.org"]]), ["*.example.org"]);
  assertEquals(render(records, "zone").split("\n"), [
    '; [verification "p"] *.example.org',
    `_validation-persist.example.org. 3600 IN TXT "letsencrypt.org; accounturi=${ACCOUNT}; policy=wildcard"`,
  ]);
  assertEquals(render(records, "nsupdate").split("\n"), [
    '; [verification "p"] *.example.org',
    `update add _validation-persist.example.org. 3600 IN TXT "letsencrypt.org; accounturi=${ACCOUNT}; policy=wildcard"`,
    "send",
  ]);
  assertEquals(JSON.parse(render(records, "json")).records[0].record.wildcard, true);
});

Deno.test("args: files vs names, --format", () => {
  const isFile = (p: string) => p.endsWith(".ini");
  assertEquals(parseRecordsArgs(["a.ini", "*.example.org", "--format", "json", "--check"], isFile), {
    files: ["a.ini"],
    names: ["*.example.org"],
    format: "json",
    check: true,
  });
  assert(
    assertThrows(() => parseRecordsArgs(["--format=bind", "a.ini"], isFile), /zone, nsupdate or json/) instanceof
      UsageError,
  );
  assert(assertThrows(() => parseRecordsArgs(["example.org"], isFile), /no config file/) instanceof UsageError);
});

Deno.test("run: no account yet → exit 1 naming register; with one, the records", async () => {
  const dir = await Deno.makeTempDir({ prefix: "acmems-records-" });
  const errors: string[] = [];
  const out: string[] = [];
  const { error, log } = console;
  console.error = (...a: unknown[]) => void errors.push(a.join(" "));
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  try {
    const file = `${dir}/acmems.ini`;
    await Deno.writeTextFile(file, CONFIG(`${dir}/account`));
    assertEquals(await recordsCommand.run([file]), 1);
    assertStringIncludes(errors.join("\n"), `run acmems register ${file} first`);
    await Deno.mkdir(`${dir}/account`);
    await saveRegistration(`${dir}/account`, {
      url: ACCOUNT,
      directoryUrl: LE,
      account: { status: "valid" } as never,
      updatedAt: new Date().toISOString(),
    });
    assertEquals(await recordsCommand.run([file, "www.example.net"]), 0);
    assertStringIncludes(
      out.join("\n"),
      `_validation-persist.www.example.net. 3600 IN TXT "letsencrypt.org; accounturi=${ACCOUNT}"`,
    );
    assertEquals(await recordsCommand.run([file, "nobody.example.com"]), 1, "a name no block covers");

    // Another CA without issuer-domain-name and no account there yet: `register` is named first, then the option.
    const other = `${dir}/other.ini`;
    await Deno.writeTextFile(
      other,
      CONFIG(`${dir}/other-account`).replace(`acme-server = ${LE}`, "acme-server = https://ca.example/dir"),
    );
    errors.length = 0;
    assertEquals(await recordsCommand.run([other]), 1);
    assertStringIncludes(errors.join("\n"), `run acmems register ${other} first`);
    await Deno.mkdir(`${dir}/other-account`);
    await saveRegistration(`${dir}/other-account`, {
      url: "https://ca.example/acct/1",
      directoryUrl: "https://ca.example/dir",
      account: { status: "valid" } as never,
      updatedAt: new Date().toISOString(),
    });
    errors.length = 0;
    assertEquals(await recordsCommand.run([other]), 1);
    assertStringIncludes(errors.join("\n"), "needs issuer-domain-name");
  } finally {
    console.error = error;
    console.log = log;
    await Deno.remove(dir, { recursive: true });
  }
});
