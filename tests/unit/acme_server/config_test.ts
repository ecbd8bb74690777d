/** `[auth] acme-eab-kid` / `acme-eab-hmac-key`: both or neither, base64url of 16 bytes or more, a unique kid, a secret. */
import { assert, assertEquals } from "../../support/assert.ts";
import { load } from "../config/helpers.ts";
import { configSecrets } from "../../../src/config/secrets.ts";
import { configSummary, configToJson } from "../../../src/config/summary.ts";

const HEAD = `[account]
dir = /var/lib/acmems/account
accept-terms-of-service = yes
`;
const KEY = "c2VjcmV0LWtleS1mb3ItdGhlLWFjbWUtZnJvbnQtZW5k";

function errors(text: string): string[] {
  return load(HEAD + text).errors.map((e) => e.message);
}

Deno.test("config: acme-eab-kid and acme-eab-hmac-key bind a block, the key decoded and kept secret", () => {
  const result = load(
    HEAD + `[auth "acme"]\ndomain = *.example.org\nacme-eab-kid = kid-1\nacme-eab-hmac-key = ${KEY}\n`,
  );
  assert(result.ok, JSON.stringify(result.errors));
  const block = result.config!.auth[0];
  assertEquals(block.acmeEab?.kid, "kid-1");
  assertEquals(new TextDecoder().decode(block.acmeEab!.hmacKey), "secret-key-for-the-acme-front-end");
  assert(configSecrets(result.config!).includes(KEY), "the key is scrubbed from logs");
});

Deno.test("config: acme-eab-kid without acme-eab-hmac-key (and the reverse) is an error", () => {
  assert(
    errors(`[auth "a"]\ndomain = *.example.org\nacme-eab-kid = kid-1\n`).some((m) =>
      m.includes("acme-eab-kid needs acme-eab-hmac-key")
    ),
  );
  assert(
    errors(`[auth "a"]\ndomain = *.example.org\nacme-eab-hmac-key = ${KEY}\n`).some((m) =>
      m.includes("acme-eab-hmac-key needs acme-eab-kid")
    ),
  );
});

Deno.test("config: a short or non-base64url acme-eab-hmac-key is an error that does not echo it", () => {
  const short = errors(`[auth "a"]\ndomain = *.example.org\nacme-eab-kid = k\nacme-eab-hmac-key = c2hvcnQ\n`);
  assert(short.some((m) => m.includes("at least 16")), short.join("\n"));
  const bad = errors(`[auth "a"]\ndomain = *.example.org\nacme-eab-kid = k\nacme-eab-hmac-key = not*base64!!\n`);
  assert(bad.some((m) => m.includes("not base64url")), bad.join("\n"));
  assert(!bad.some((m) => m.includes("not*base64")), "the key is never echoed");
});

Deno.test("config: one acme-eab-kid in two blocks is an error naming both", () => {
  const text = `[auth "a"]\ndomain = *.a.org\nacme-eab-kid = same\nacme-eab-hmac-key = ${KEY}\n` +
    `[auth "b"]\ndomain = *.b.org\nacme-eab-kid = same\nacme-eab-hmac-key = ${KEY}\n`;
  const found = errors(text);
  assert(found.some((m) => m.includes(`auth "b"`) && m.includes(`auth "a"`) && m.includes("same")), found.join("\n"));
});

Deno.test("config: the summary names the EAB key id and never shows the key", () => {
  const result = load(
    HEAD + `[auth "acme"]\ndomain = *.example.org\nacme-eab-kid = kid-1\nacme-eab-hmac-key = ${KEY}\n`,
  );
  assert(result.ok);
  const text = configSummary(result.config!);
  assert(text.includes("EAB key id kid-1 (key ***)"), text);
  assert(!text.includes(KEY));
  const json = JSON.stringify(configToJson(result.config!));
  assert(json.includes(`"acmeEab":{"kid":"kid-1","key":"***"}`), json);
  assert(!json.includes(KEY));
});

Deno.test("config: a block whose only credential is its EAB pair gets no 'admits every client' warning", () => {
  const result = load(
    HEAD +
      `[auth "signed"]\ndomain = *.example.org\nhmac_type = sha256\nhmac_key = a-long-enough-hmac-key-1234\n` +
      `[auth "acme"]\ndomain = *.example.org\nacme-eab-kid = kid-1\nacme-eab-hmac-key = ${KEY}\n`,
  );
  assert(result.ok, JSON.stringify(result.errors));
  const warnings = result.warnings.map((w) => w.message).join("\n");
  assert(!warnings.includes("admits every client"), warnings);
  assert(!/auth "acme".*hmac|HMAC.*auth "acme"/i.test(warnings), `no shadowing warning: ${warnings}`);
});
