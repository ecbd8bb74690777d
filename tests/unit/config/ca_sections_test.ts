/** `[ca "name"]` sections and an auth block's `ca =` preference (issue 15, item 1). */
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";
import { ACCOUNT_OPTIONS, OPTION_TABLES } from "../../../src/config/schema.ts";
import { configSummary, configToJson } from "../../../src/config/summary.ts";
import { errorLines, load } from "./helpers.ts";

const TWO_CAS = `[account]
acme-server = https://acme-v02.api.letsencrypt.org/directory
dir = /var/lib/acmems/le
accept-terms-of-service = yes
[ca "gts"]
acme-server = https://dv.acme-v02.api.pki.goog/directory
dir = /var/lib/acmems/gts
accept-terms-of-service = yes
eab-kid = kid-1
eab-hmac-key = c2VjcmV0LWtleS1mcm9tLWdvb2dsZQ
profile = shortlived
[auth "a"]
ip = 127.0.0.1
domain = *.example.org
ca = gts, default
[auth "b"]
ip = 127.0.0.1
domain = *.example.net
`;

Deno.test("[account] is the CA named default; [ca] sections add more, each with the [account] options", () => {
  const result = load(TWO_CAS);
  assertEquals(errorLines(result), []);
  const config = result.config!;
  assertEquals([...config.cas.keys()], ["default", "gts"]);
  assertEquals(config.defaultCa, "default");
  assert(config.account === config.cas.get("default"));
  const gts = config.cas.get("gts")!;
  assertEquals(gts.acmeServer, "https://dv.acme-v02.api.pki.goog/directory");
  assertEquals(gts.dir, "/var/lib/acmems/gts");
  assertEquals(gts.eabKid, "kid-1");
  assertEquals(gts.profile, "shortlived");
  assertEquals(config.auth[0].cas, ["gts", "default"]);
  assertEquals(config.auth[1].cas, undefined);
});

Deno.test("a [ca] section takes exactly the options of [account] (one table)", () => {
  assert(OPTION_TABLES['[ca "name"]'].includes(ACCOUNT_OPTIONS));
  const result = load(`${TWO_CAS}[ca "x"]\ndir = /x\nacme-server = https://x.example/dir\nbogus = 1\n`);
  assertMatch(errorLines(result).join("\n"), /Unknown option "bogus" in \[ca "x"\]/);
});

Deno.test('[ca "default"] beside [account] is an error naming both lines', () => {
  const result = load(`${TWO_CAS}[ca "default"]\ndir = /other\n`);
  const errors = errorLines(result);
  assertEquals(errors.length, 1, errors.join("\n"));
  assertMatch(
    errors[0],
    /^19: \[ca "default"\] is the CA that \[account\] already defines \(at \/etc\/acmems\/a.ini:1\)/,
  );
});

Deno.test("two CAs with the same directory URL or account dir: an error naming both", () => {
  const sameUrl = load(`${TWO_CAS}[ca "x"]\nacme-server = https://dv.acme-v02.api.pki.goog/directory\ndir = /x\n`);
  assertMatch(
    errorLines(sameUrl).join("\n"),
    /^20: \[ca "x"\] acme-server https:\/\/dv\.acme-v02\.api\.pki\.goog\/directory is also the directory of \[ca "gts"\] \(at \/etc\/acmems\/a\.ini:6\)/,
  );
  const sameDir = load(`${TWO_CAS}[ca "x"]\nacme-server = https://x.example/dir\ndir = /var/lib/acmems/le\n`);
  assertMatch(
    errorLines(sameDir).join("\n"),
    /^21: \[ca "x"\] dir \/var\/lib\/acmems\/le is also the account directory of \[ca "default"\] \(at \/etc\/acmems\/a\.ini:3\)/,
  );
});

Deno.test("ca = with an unknown name is an error naming it and the known CAs", () => {
  const result = load(TWO_CAS.replace("ca = gts, default", "ca = le, gts"));
  assertMatch(
    errorLines(result).join("\n"),
    /^15: \[auth "a"\] ca "le" names no CA \(known CAs: default, gts\)/,
  );
  assertMatch(errorLines(load(TWO_CAS.replace("ca = gts, default", "ca = gts, gts"))).join("\n"), /listed twice/);
});

Deno.test('without [account], [ca "default"] or else the first [ca] is the default CA', () => {
  const result = load(
    `[ca "le"]\ndir = /le\naccept-terms-of-service = yes\n[ca "b"]\ndir = /b\n` +
      `acme-server = https://b.example/dir\n[auth "a"]\nip = 127.0.0.1\ndomain = *.example.org\n`,
  );
  assertEquals(errorLines(result), []);
  assertEquals(result.config!.defaultCa, "le");
  assertEquals(result.config!.account.dir, "/le");
  const withDefault = load(
    `[ca "b"]\ndir = /b\nacme-server = https://b.example/dir\n[ca "default"]\ndir = /d\n` +
      `[auth "a"]\nip = 127.0.0.1\ndomain = *.example.org\n`,
  );
  assertEquals(errorLines(withDefault), []);
  assertEquals(withDefault.config!.defaultCa, "default");
  assertEquals(withDefault.config!.account.dir, "/d");
});

Deno.test("check-config's summary and --json list each CA (name, directory, account dir, profile)", () => {
  const config = load(TWO_CAS).config!;
  const json = configToJson(config);
  assertEquals((json.cas as Record<string, unknown>[]).map((c) => [c.name, c.directory, c.accountDir, c.profile]), [
    ["default", "https://acme-v02.api.letsencrypt.org/directory", "/var/lib/acmems/le", null],
    ["gts", "https://dv.acme-v02.api.pki.goog/directory", "/var/lib/acmems/gts", "shortlived"],
  ]);
  assert(!JSON.stringify(json).includes("c2VjcmV0LWtleS1mcm9tLWdvb2dsZQ"));
  const summary = configSummary(config);
  assertMatch(
    summary,
    /default \(default\): https:\/\/acme-v02\.api\.letsencrypt\.org\/directory; account dir \/var\/lib\/acmems\/le/,
  );
  assertMatch(
    summary,
    /gts: https:\/\/dv\.acme-v02\.api\.pki\.goog\/directory; account dir \/var\/lib\/acmems\/gts; profile shortlived/,
  );
  assertMatch(summary, /\[auth "a"\] orders from: gts, default/);
});

Deno.test("ca = with another CA on a dns-persist01 verification: a note that acmems records covers the default CA only", () => {
  const persist = (ca: string) =>
    TWO_CAS.replace('[auth "a"]', '[verification "p"]\ntype = dns-persist01\n[auth "a"]') +
    `[auth "c"]\nip = 127.0.0.1\ndomain = *.example.com\nverification = p\n${ca}`;
  // p is the only verification, so block "a" (ca = gts, default) uses it too: only block "c" is looked at here.
  const notesOf = (text: string) =>
    load(text).notes.map((n) => n.message).filter((m) => m.startsWith('[auth "c"]') && m.includes("dns-persist01"));
  const notes = notesOf(persist("ca = default, gts\n"));
  assertEquals(notes.length, 1, notes.join("\n"));
  assertMatch(notes[0], /\[auth "c"\] orders from CA "gts" with dns-persist01 verification "p"/);
  assertMatch(notes[0], /records for the default CA "default" only/);
  assertMatch(notes[0], /acmems register --ca NAME shows the account URL/);
  assertEquals(notesOf(persist("ca = default\n")), [], "the default CA only: no note");
  assertEquals(notesOf(persist("")), [], "no ca =: no note");
  assertEquals(errorLines(load(persist("ca = default, gts\n"))), []);
});
