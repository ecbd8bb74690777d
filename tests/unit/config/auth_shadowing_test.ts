/**
 * check-config warns when an `[auth]` block without HMAC covers the networks and names of an HMAC block (a missing
 * or wrong HMAC falls through to a later block; an earlier one is simply tried first), naming both places.
 */
import { assert, assertEquals, assertStringIncludes } from "../../support/assert.ts";
import { authorize } from "../../../src/policy/authorize.ts";
import { parseIpAddress } from "../../../src/lib/ip.ts";
import { errorLines, load } from "./helpers.ts";

const ACCOUNT = "[account]\ndir = /var/lib/acmems/account\naccept-terms-of-service = yes\n";
const PROD = '[auth "prod"]\nip = 10.1.2.3\nhmac_type = sha256\nhmac_key = prod-key-0123456789abcdef\n' +
  "domain = *.prod.example.org\n";
const INTERNAL = '[auth "internal"]\nip = 10.0.0.0/8\ndomain = *.example.org\n';

function shadowWarnings(text: string): string[] {
  const result = load(text);
  assert(result.ok, errorLines(result).join("\n"));
  return result.warnings.filter((w) => w.message.includes("has no HMAC")).map((w) =>
    `${w.file}:${w.line}: ${w.message}`
  );
}

Deno.test("auth shadowing: the issue's example warns, naming both blocks' FILE:LINE", async () => {
  const text = ACCOUNT + PROD + INTERNAL;
  assertEquals(shadowWarnings(text), [
    '/etc/acmems/a.ini:9: [auth "internal"] has no HMAC and comes later than the HMAC block [auth "prod"] at ' +
    "/etc/acmems/a.ini:4, yet admits its clients (10.1.2.3 is inside 10.0.0.0/8) for its names (*.example.org " +
    "covers *.prod.example.org): a request with a missing or wrong HMAC falls through to it, so those names need no " +
    "HMAC from there. Narrow this block's ip or domain lines, or give it hmac_type and hmac_key too",
  ]);
  // What the warning says is what the policy does: no Authentication header, admitted by "internal".
  const decision = await authorize(load(text).config!.auth, {
    peer: parseIpAddress("10.1.2.3")!,
    authentication: null,
    body: new TextEncoder().encode("csr"),
    names: ["db.prod.example.org"],
  });
  assert(decision.ok && decision.block.name === "internal");
});

Deno.test("auth shadowing: an earlier block without HMAC, a block without ip, across files", () => {
  const [earlier] = shadowWarnings(ACCOUNT + INTERNAL + PROD);
  assertStringIncludes(earlier, '/etc/acmems/a.ini:4: [auth "internal"] has no HMAC and comes earlier than');
  assertStringIncludes(earlier, "at /etc/acmems/a.ini:7");
  assertStringIncludes(earlier, "it is tried first and needs no HMAC");

  const anyClient = '[auth "open"]\ndomain = *.example.org\n';
  const [open] = shadowWarnings(ACCOUNT + PROD + anyClient);
  assertStringIncludes(open, "(10.1.2.3: this block has no ip line)");

  const result = load([ACCOUNT + PROD, INTERNAL]);
  const [across] = result.warnings.filter((w) => w.message.includes("has no HMAC"));
  assertEquals(`${across.file}:${across.line}`, "/etc/acmems/b.ini:1");
  assertStringIncludes(across.message, "/etc/acmems/a.ini:4");
});

Deno.test("auth shadowing: no warning when the other block does not cover networks and names", () => {
  const cases: [string, string][] = [
    ["other network", '[auth "other"]\nip = 192.0.2.0/24\ndomain = *.example.org\n'],
    ["narrower names", '[auth "other"]\nip = 10.0.0.0/8\ndomain = www.example.org\n'],
    ["other names", '[auth "other"]\nip = 10.0.0.0/8\ndomain = *.example.net\n'],
    ["a smaller network only", '[auth "other"]\nip = 10.1.2.4\ndomain = *.example.org\n'],
    [
      "an HMAC block too",
      '[auth "other"]\nip = 10.0.0.0/8\nhmac_type = sha256\nhmac_key = other-key-0123456789ab\ndomain = *.example.org\n',
    ],
  ];
  for (const [what, other] of cases) assertEquals(shadowWarnings(ACCOUNT + PROD + other), [], what);
  // An HMAC block without ip (any client with the key) is not covered by a block limited to some networks.
  const anywhere = PROD.replace("ip = 10.1.2.3\n", "");
  assertEquals(shadowWarnings(ACCOUNT + anywhere + INTERNAL), []);
});
