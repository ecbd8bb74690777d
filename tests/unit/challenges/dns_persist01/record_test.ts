/** The dns-persist-01 record: RFC 8659 issue-value parsing and building, and the check the CA makes. */
import { assert, assertEquals } from "../../../support/assert.ts";
import {
  buildPersistValue,
  checkPersistRecords,
  parsePersistRecord,
  persistOwner,
  zoneLine,
} from "../../../../src/challenges/dns_persist01/record.ts";

const ACCOUNT = "https://ca.test/acme/acct/42";
const want = { issuers: ["letsencrypt.org"], accountUri: ACCOUNT, wildcard: false, now: 1_800_000_000 };

Deno.test("build: issuer, accounturi, then policy and persistUntil when set", () => {
  assertEquals(
    buildPersistValue({ issuer: "letsencrypt.org", accountUri: ACCOUNT, wildcard: false }),
    `letsencrypt.org; accounturi=${ACCOUNT}`,
  );
  assertEquals(
    buildPersistValue({ issuer: "letsencrypt.org", accountUri: ACCOUNT, wildcard: true, persistUntil: 1900000000 }),
    `letsencrypt.org; accounturi=${ACCOUNT}; policy=wildcard; persistUntil=1900000000`,
  );
  assertEquals(persistOwner("*.Example.ORG."), "_validation-persist.example.org");
  assertEquals(
    zoneLine("example.org", { issuer: "letsencrypt.org", accountUri: ACCOUNT, wildcard: false }),
    `_validation-persist.example.org. IN TXT "letsencrypt.org; accounturi=${ACCOUNT}"`,
  );
});

Deno.test("parse: round trip of what build writes", () => {
  const record = { issuer: "letsencrypt.org", accountUri: ACCOUNT, wildcard: true, persistUntil: 1900000000 };
  assertEquals(parsePersistRecord(buildPersistValue(record)), record);
});

Deno.test("parse: tags are case-insensitive, whitespace (space and tab) around parts is ignored", () => {
  assertEquals(
    parsePersistRecord(` letsencrypt.org ;\tAccountURI = ${ACCOUNT} ; POLICY=WildCard;PERSISTUNTIL=5 `),
    { issuer: "letsencrypt.org", accountUri: ACCOUNT, wildcard: true, persistUntil: 5 },
  );
});

Deno.test("parse: malformed records say why, keeping the issuer", () => {
  const cases: [string, RegExp][] = [
    ["letsencrypt.org", /accounturi is missing/],
    [`letsencrypt.org; accounturi=${ACCOUNT};`, /empty parameter/],
    ["letsencrypt.org; accounturi", /not tag=value/],
    [`letsencrypt.org; accounturi=${ACCOUNT}; accountUri=x`, /twice/],
    [`letsencrypt.org; accounturi=${ACCOUNT}; persistUntil=soon`, /not unix seconds/],
    ["letsencrypt.org; accounturi=a b", /malformed/],
    ["letsencrypt.org; accounturi=", /empty/],
  ];
  for (const [value, error] of cases) {
    const parsed = parsePersistRecord(value);
    assert("error" in parsed, value);
    assertEquals(parsed.issuer, "letsencrypt.org");
    assert(error.test(parsed.error), `${value}: ${parsed.error}`);
  }
  const none = parsePersistRecord("; accounturi=x");
  assert("error" in none && none.issuer === "");
});

Deno.test("parse: a policy other than wildcard counts as none", () => {
  const parsed = parsePersistRecord(`letsencrypt.org; accounturi=${ACCOUNT}; policy=other`);
  assert(!("error" in parsed) && parsed.wildcard === false);
});

Deno.test("check: several records at one owner, only the CA's issuer counts", () => {
  const values = [
    `other-ca.example; accounturi=https://other/acct/1`,
    "v=spf1 -all",
    `letsencrypt.org; accounturi=${ACCOUNT}`,
  ];
  const verdict = checkPersistRecords(values, want);
  assert(verdict.ok);
  assertEquals(checkPersistRecords([values[0]], want), {
    ok: false,
    state: "missing",
    reason: "no TXT record names the issuer letsencrypt.org",
  });
  assertEquals(checkPersistRecords([], want), { ok: false, state: "missing", reason: "no TXT record" });
});

Deno.test("check: another account, a missing wildcard policy, an ended persistUntil are wrong", () => {
  const other = checkPersistRecords(["letsencrypt.org; accounturi=https://ca.test/acme/acct/7"], want);
  assert(!other.ok && other.state === "wrong" && /acct\/7, not .*acct\/42/.test(other.reason), JSON.stringify(other));
  const plain = [`letsencrypt.org; accounturi=${ACCOUNT}`];
  const wildcard = checkPersistRecords(plain, { ...want, wildcard: true });
  assert(!wildcard.ok && /policy=wildcard/.test(wildcard.reason));
  assert(checkPersistRecords([`${plain[0]}; policy=wildcard`], { ...want, wildcard: true }).ok);
  const ended = checkPersistRecords([`${plain[0]}; persistUntil=${want.now - 1}`], want);
  assert(!ended.ok && /persistUntil=1799999999/.test(ended.reason));
  assert(checkPersistRecords([`${plain[0]}; persistUntil=${want.now}`], want).ok);
  const malformed = checkPersistRecords(["letsencrypt.org; accounturi"], want);
  assert(!malformed.ok && malformed.state === "wrong" && /malformed/.test(malformed.reason));
});
