/** check-config shows each CA's limits, each block's budget and where the ledger lives (text and --json). */
import { retentionMs } from "../../../src/ca/ledger_config.ts";
import { configSummary, resultToJson } from "../../../src/config/summary.ts";
import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { load } from "../config/helpers.ts";

const CONFIG = `[account]
dir = /acct
acme-server = https://acme-v02.api.letsencrypt.org/directory
limit-exact-set = off
limit-orders = 100/3h
[storage "cache"]
type = file
directory = /var/cache/acmems
[auth "office"]
all = yes
domain = *.example.org
limit-orders = 20/1d
limit-orders-per-client = 5/1d
`;

Deno.test("check-config text: each CA's limits, each block's budget, where the ledger lives", () => {
  const result = load(CONFIG);
  assert(result.ok, JSON.stringify(result.errors));
  const text = configSummary(result.config!);
  assertStringIncludes(text, "rate limits (ledger in storage cache (file)):");
  assertStringIncludes(
    text,
    "  CA default: limit-orders = 100/3h, limit-registered-domain = 50/7d, limit-exact-set = off, " +
      "limit-failed-authorizations = 5/1h",
  );
  assertStringIncludes(text, "  auth office: limit-orders = 20/1d, limit-orders-per-client = 5/1d");
});

Deno.test("check-config --json: rateLimits and the blocks' budgets", () => {
  const result = load(CONFIG);
  const json = resultToJson(result) as Record<string, unknown>;
  assertEquals(json.rateLimits, {
    ledger: "storage cache (file)",
    cas: [{
      ca: "default",
      rateLimits: "on",
      limitOrders: "100/3h",
      limitRegisteredDomain: "50/7d",
      limitExactSet: "off",
      limitFailedAuthorizations: "5/1h",
    }],
    blocks: [{ block: "office", limitOrders: "20/1d", limitOrdersPerClient: "5/1d" }],
  });
  const auth = json.auth as Record<string, unknown>[];
  assertEquals(auth[0].limitOrders, "20/1d");
});

Deno.test("check-config: another CA has no limits, rate-limits = off shows off, no storage keeps it in memory", () => {
  const result = load(`[account]
dir = /acct
acme-server = https://ca.example/dir
[mgmt]
default-storage = none
[storage "none"]
type = none
[auth "a"]
all = yes
domain = *.example.org
`);
  assert(result.ok, JSON.stringify(result.errors));
  const text = configSummary(result.config!);
  assertStringIncludes(text, "rate limits (ledger in memory");
  assertStringIncludes(text, "  CA default: limit-orders = off, limit-registered-domain = off");
  const off = load(`[account]\ndir = /acct\nrate-limits = off\n[auth "a"]\nall = yes\ndomain = x.org\n`);
  assertStringIncludes(configSummary(off.config!), "  CA default: rate-limits = off");
});

Deno.test("retentionMs: the longest window, at least an hour", () => {
  const result = load(CONFIG);
  const config = result.config!;
  assertEquals(
    retentionMs(new Map([["default", config.account.limits]]), new Map()),
    7 * 86_400_000,
  );
  assertEquals(retentionMs(new Map([["x", { off: false }]]), new Map()), 3_600_000);
});
