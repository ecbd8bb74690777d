/**
 * `[account] ca-origins` (issue 13 item 5): the origins the CA's URLs may use besides the directory's. Bare
 * origins, repeatable and several to a line; http: only beside an http: acme-server (a test CA).
 */
import { assert, assertEquals } from "../../support/assert.ts";
import { BASE, load } from "./helpers.ts";

Deno.test("ca-origins: none by default; origins listed on one or several lines, normalised, without duplicates", () => {
  assertEquals(load(BASE).config!.account.caOrigins, []);
  const result = load(`${BASE}[account]
ca-origins = https://certs.ca.example  https://ARI.ca.example:8443/
ca-origins = https://certs.ca.example
`);
  assert(result.ok, JSON.stringify(result.errors));
  assertEquals(result.config!.account.caOrigins, ["https://certs.ca.example", "https://ari.ca.example:8443"]);
});

Deno.test("ca-origins: what is not a bare https: origin is an error naming the value and the fix", () => {
  const cases: [string, RegExp][] = [
    [
      "https://certs.ca.example/acme",
      /ca-origins "https:\/\/certs\.ca\.example\/acme" is not an origin: .*https:\/\/certs\.ca\.example$/,
    ],
    ["certs.ca.example", /ca-origins "certs\.ca\.example" is not an origin: write it as https:\/\/host/],
    ["file:///etc", /ca-origins "file:\/\/\/etc" is not an https: origin/],
    [
      "http://certs.ca.example",
      /ca-origins "http:\/\/certs\.ca\.example" is not an https: origin .*acme-server is http:/,
    ],
  ];
  for (const [value, message] of cases) {
    const result = load(`${BASE}[account]\nacme-server = https://acme.ca.example/directory\nca-origins = ${value}\n`);
    assert(!result.ok, value);
    assert(result.errors.some((e) => message.test(e.message)), `${value}: ${result.errors.map((e) => e.message)}`);
  }
});

Deno.test("ca-origins: an http: origin beside an http: test CA is fine", () => {
  const result = load(`${BASE}[account]
acme-server = http://127.0.0.1:14000/dir
ca-origins = http://127.0.0.1:14001
`);
  assert(result.ok, JSON.stringify(result.errors));
  assertEquals(result.config!.account.caOrigins, ["http://127.0.0.1:14001"]);
});
