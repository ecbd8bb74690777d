/** `N/window` parsing, Let's Encrypt's built-in limits and the `[account]` / `[auth]` limit options. */
import { describeCaLimits, parseLimitOrOff, parseRateLimit, resolveCaLimits } from "../../../src/ca/limits.ts";
import { registeredDomain, registeredDomains } from "../../../src/ca/psl.ts";
import { load } from "../config/helpers.ts";
import { assert, assertEquals, assertMatch } from "../../support/assert.ts";

const LE = "https://acme-v02.api.letsencrypt.org/directory";
const LE_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";
const PEBBLE = "https://127.0.0.1:14000/dir";

Deno.test("parseRateLimit: N/window with s, m, h, d", () => {
  assertEquals(parseRateLimit("300/3h"), { value: { count: 300, windowSeconds: 10_800, text: "300/3h" } });
  assertEquals(parseRateLimit("50/7d"), { value: { count: 50, windowSeconds: 604_800, text: "50/7d" } });
  assertEquals(parseRateLimit("5/1h"), { value: { count: 5, windowSeconds: 3600, text: "5/1h" } });
  assertEquals(parseRateLimit("20/1d"), { value: { count: 20, windowSeconds: 86_400, text: "20/1d" } });
  assertEquals(parseRateLimit("2/90s"), { value: { count: 2, windowSeconds: 90, text: "2/90s" } });
  assertEquals(parseRateLimit("10/15m"), { value: { count: 10, windowSeconds: 900, text: "10/15m" } });
});

Deno.test("parseRateLimit: errors name the value and show the expected form", () => {
  for (const bad of ["300", "300/3", "3h", "300/3w", "-1/1h", "x/1h", "0/1h", "5/0h", "5/400d", ""]) {
    const parsed = parseRateLimit(bad);
    assert("error" in parsed, `${bad} should be refused`);
    assert(parsed.error.includes(`"${bad}"`), parsed.error);
    assertMatch(parsed.error, /300\/3h/);
  }
});

Deno.test("parseLimitOrOff: off switches one limit off", () => {
  assertEquals(parseLimitOrOff("off"), { value: null });
  assertEquals(parseLimitOrOff("OFF"), { value: null });
  const bad = parseLimitOrOff("never");
  assert("error" in bad);
  assertMatch(bad.error, /"never".*off/);
});

Deno.test("resolveCaLimits: Let's Encrypt's limits are built in for its directory URLs only", () => {
  for (const url of [LE, LE_STAGING]) {
    const limits = resolveCaLimits(url);
    assertEquals(describeCaLimits(limits), [
      "limit-orders = 300/3h",
      "limit-registered-domain = 50/7d",
      "limit-exact-set = 5/7d",
      "limit-failed-authorizations = 5/1h",
    ]);
  }
  assertEquals(resolveCaLimits(PEBBLE), { off: false });
});

Deno.test("resolveCaLimits: overrides replace one limit, off removes one, rate-limits = off removes all", () => {
  const two = parseRateLimit("2/1h");
  assert("value" in two);
  const limits = resolveCaLimits(LE, { orders: two.value, exactSet: null });
  assertEquals(limits.orders?.text, "2/1h");
  assertEquals(limits.exactSet, undefined);
  assertEquals(limits.registeredDomain?.text, "50/7d");
  assertEquals(resolveCaLimits(PEBBLE, { orders: two.value }).orders?.text, "2/1h");
  assertEquals(resolveCaLimits(LE, { enabled: false }).off, true);
  assertEquals(describeCaLimits(resolveCaLimits(LE, { enabled: false })), ["rate-limits = off"]);
});

Deno.test("config: [account] limit options and [auth] budgets", () => {
  const result = load(`[account]
dir = /acct
acme-server = ${LE}
limit-orders = 2/1h
limit-exact-set = off
[auth "office"]
all = yes
domain = *.example.org
limit-orders = 20/1d
limit-orders-per-client = 5/1d
`);
  assert(result.ok, JSON.stringify(result.errors));
  const config = result.config!;
  assertEquals(config.account.limits.orders?.text, "2/1h");
  assertEquals(config.account.limits.exactSet, undefined);
  assertEquals(config.account.limits.failedAuthorizations?.text, "5/1h");
  assertEquals(config.auth[0].limitOrders, { count: 20, windowSeconds: 86_400, text: "20/1d" });
  assertEquals(config.auth[0].limitOrdersPerClient, { count: 5, windowSeconds: 86_400, text: "5/1d" });
});

Deno.test("config: a bad limit is an error at its line naming the option and the form", () => {
  const result = load(`[account]
dir = /acct
limit-orders = lots
rate-limits = maybe
[auth "office"]
all = yes
domain = *.example.org
limit-orders-per-client = 5 per day
`);
  assert(!result.ok);
  const lines = result.errors.map((e) => `${e.line}: ${e.message}`);
  assert(lines.some((l) => /^3: \[account\] limit-orders: "lots" is not a rate limit/.test(l)), lines.join("\n"));
  assert(lines.some((l) => /^4: \[account\] rate-limits: "maybe" is not on or off/.test(l)), lines.join("\n"));
  assert(
    lines.some((l) => /^8: \[auth "office"\] limit-orders-per-client: "5 per day" .*300\/3h/.test(l)),
    lines.join("\n"),
  );
});

Deno.test("registeredDomain: the Public Suffix List (ICANN and private), wildcards, IP addresses", () => {
  assertEquals(registeredDomain("www.example.co.uk"), "example.co.uk");
  assertEquals(registeredDomain("a.b.example.org"), "example.org");
  assertEquals(registeredDomain("x.y.github.io"), "y.github.io");
  assertEquals(registeredDomain("*.shop.example.com.au"), "example.com.au");
  assertEquals(registeredDomain("192.0.2.7"), "192.0.2.7");
  assertEquals(registeredDomain("2001:db8::1"), "2001:db8::1");
  assertEquals(registeredDomains(["a.example.org", "b.example.org", "example.net"]), ["example.net", "example.org"]);
});
