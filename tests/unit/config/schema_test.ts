/** The option tables and the one parse-or-report step the section builders share. */
import { assert, assertEquals } from "../../support/assert.ts";
import { collectOptions, Diagnostics, readOption } from "../../../src/config/diagnostics.ts";
import type { IniEntry } from "../../../src/config/ini.ts";
import {
  DNS_UPDATE_OPTIONS,
  MGMT_OPTIONS,
  NOTIFY_OPTIONS,
  OPTION_TABLES,
  TYPE_OPTION,
} from "../../../src/config/schema.ts";
import { isSecretOption, SECRET_OPTIONS } from "../../../src/config/secrets.ts";
import type { DnsUpdateVerification, MgmtConfig, NotifyConfig } from "../../../src/config/types.ts";

function entries(lines: [string, string][]): IniEntry[] {
  return lines.map(([key, value], i) => ({ key, value, source: { file: "/etc/acmems/a.ini", line: i + 2 } }));
}

Deno.test("schema: the secrets are the options marked secret, and the urls are never echoed", () => {
  assertEquals([...SECRET_OPTIONS].sort(), ["acme-eab-hmac-key", "eab-hmac-key", "hmac_key", "tsig-secret"]);
  for (const key of ["hmac_key", "hmac-key", "tsig_secret", "eab-hmac-key", "url"]) assert(isSecretOption(key), key);
  for (const key of ["domain", "dir", "listener", "type"]) assert(!isSecretOption(key), key);
});

Deno.test("schema: within a table every name and alias is used once; typed tables start with type", () => {
  for (const [heading, tables] of Object.entries(OPTION_TABLES)) {
    for (const table of tables) {
      const names = Object.values(table).flatMap((rule) => [rule.key, ...(rule.aliases ?? [])]);
      assertEquals(new Set(names).size, names.length, `${heading}: ${names.join(", ")}`);
      if (heading.includes('"name"') && heading !== '[auth "name"]' && heading !== '[ca "name"]') {
        assertEquals(Object.values(table)[0], TYPE_OPTION, heading);
      }
    }
  }
});

Deno.test("readOption: an error is LABEL KEY: ERROR (unit) at its line; a value is assigned", () => {
  const diag = new Diagnostics();
  const o = collectOptions(
    entries([["type", "dns01-dnsUpdate"], ["ttl", "-5"], ["timeout", "20s"]]),
    DNS_UPDATE_OPTIONS,
    '[verification "d"]',
    diag,
  );
  const v = { ttl: 60, timeoutMs: 30_000 } as DnsUpdateVerification;
  readOption(o, DNS_UPDATE_OPTIONS.ttl, v, '[verification "d"]', diag);
  readOption(o, DNS_UPDATE_OPTIONS.timeout, v, '[verification "d"]', diag);
  assertEquals(diag.errors, [{
    file: "/etc/acmems/a.ini",
    line: 3,
    message: '[verification "d"] ttl: "-5" is not a whole number from 0 to 2147483647 (seconds)',
  }]);
  assertEquals([v.ttl, v.timeoutMs], [60, 20_000]);
});

Deno.test("readOption: a multi option reads every line, reporting the bad ones in order", () => {
  const diag = new Diagnostics();
  const o = collectOptions(
    entries([["trusted-proxy", "192.0.2.0/24"], ["trusted-proxy", "nope"], ["trusted-proxy", "::1"]]),
    MGMT_OPTIONS,
    "[mgmt]",
    diag,
  );
  const mgmt = { trustedProxies: [] } as unknown as MgmtConfig;
  readOption(o, MGMT_OPTIONS.trustedProxy, mgmt, "[mgmt]", diag);
  assertEquals(mgmt.trustedProxies.map((n) => n.text), ["192.0.2.0/24", "::1"]);
  assertEquals(diag.errors.map((e) => [e.line, e.message.startsWith("[mgmt] trusted-proxy: ")]), [[3, true]]);
});

Deno.test("readOption: an absent option leaves the default", () => {
  const diag = new Diagnostics();
  const o = collectOptions(entries([["type", "webhook"]]), NOTIFY_OPTIONS, '[notify "n"]', diag);
  const notifier = { retries: 3 } as NotifyConfig;
  readOption(o, NOTIFY_OPTIONS.retries, notifier, '[notify "n"]', diag);
  assertEquals([notifier.retries, diag.errors.length], [3, 0]);
});
