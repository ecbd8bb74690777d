/**
 * `acmems serve`'s advice when the account needs the operator: the `acmems register` command for each problem kind
 * of the session, with the config files as shell words.
 */
import { assertEquals } from "../../support/assert.ts";
import { registerCommand } from "../../../cli/serve.ts";

Deno.test("serve: registerCommand names the flags each account problem needs", () => {
  assertEquals(
    registerCommand(["/etc/acmems/acmems.ini"], "terms-not-accepted"),
    "acmems register --register --accept-terms-of-service /etc/acmems/acmems.ini",
  );
  assertEquals(
    registerCommand(["a.ini", "my conf.ini"], "eab-required"),
    "acmems register --register --accept-terms-of-service --eab-kid KID --eab-hmac-key-file FILE a.ini 'my conf.ini'",
  );
});
