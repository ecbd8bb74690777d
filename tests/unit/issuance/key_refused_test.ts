/** Which CA problems mean "the CA refused our key's signature" (src/issuance/key_refused.ts). */
import { AcmeProblem } from "../../../src/acme/mod.ts";
import { isKeyRefused } from "../../../src/issuance/key_refused.ts";
import { assertEquals } from "../../support/assert.ts";

const problem = (type: string, detail: string) =>
  new AcmeProblem({ type: `urn:ietf:params:acme:error:${type}`, detail, status: 400 });

Deno.test("isKeyRefused: pebble's and Boulder's JWS verification errors; nothing else", () => {
  const cases: [unknown, boolean][] = [
    [problem("malformed", "JWS verification error: go-jose/go-jose: error in cryptographic primitive"), true],
    [problem("malformed", "JWS verification error"), true],
    [problem("unauthorized", "The JWS signature is invalid"), true],
    [problem("malformed", "Request payload did not parse as JSON"), false],
    [problem("badNonce", "JWS has an invalid anti-replay nonce"), false],
    [problem("unauthorized", 'Account is not valid, has status "deactivated"'), false],
    [new Error("JWS verification error"), false],
  ];
  for (const [error, refused] of cases) assertEquals(isKeyRefused(error), refused, String(error));
});
