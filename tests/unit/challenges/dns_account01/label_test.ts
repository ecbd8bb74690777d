/**
 * dns-account-01's account label (draft-ietf-acme-dns-account-label): the draft's example, RFC 4648's base32
 * vectors, and pebble 2.10's derivation (va/va.go validateDNSAccount01:
 * strings.ToLower(base32.StdEncoding.EncodeToString(sha256(accountURL)[0:10]))). That pebble validates what acmems
 * writes is tests/integration/dns_account01_test.ts.
 */
import { assertEquals, assertRejects } from "../../../support/assert.ts";
import { accountLabel, base32Lower, dnsAccountOwner } from "../../../../src/challenges/dns_account01/label.ts";

Deno.test("dns-account-01 label: the draft's example account", async () => {
  assertEquals(await accountLabel("https://example.com/acme/acct/ExampleAccount"), "ujmmovf2vn55tgye");
  assertEquals(
    await dnsAccountOwner("https://example.com/acme/acct/ExampleAccount", "example.org"),
    "_ujmmovf2vn55tgye._acme-challenge.example.org",
  );
});

Deno.test("dns-account-01 label: a pebble account URL, as pebble's VA derives it", async () => {
  // python3: base64.b32encode(hashlib.sha256(b"https://localhost:14000/my-account/1").digest()[:10]).lower()
  assertEquals(await accountLabel("https://localhost:14000/my-account/1"), "bpjsk7g2c3iuj47a");
  // 16 characters from [a-z2-7], no padding, for any URL.
  for (const url of ["https://ca.test/acct/1", "https://ca.test/acct/2", "x"]) {
    assertEquals(/^[a-z2-7]{16}$/.test(await accountLabel(url)), true, url);
  }
});

Deno.test("dns-account-01 label: base32 is RFC 4648's alphabet, lowercase, unpadded", () => {
  const vectors: [string, string][] = [
    ["", ""],
    ["f", "my"],
    ["fo", "mzxq"],
    ["foo", "mzxw6"],
    ["foob", "mzxw6yq"],
    ["fooba", "mzxw6ytb"],
    ["foobar", "mzxw6ytboi"],
  ];
  for (const [input, expected] of vectors) assertEquals(base32Lower(new TextEncoder().encode(input)), expected);
});

Deno.test("dns-account-01 label: an empty account URL is refused", async () => {
  const error = await assertRejects(() => accountLabel(""));
  assertEquals(error instanceof TypeError && error.message.includes("account URL"), true, String(error));
});
